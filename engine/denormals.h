// Subnormal floats flushed to zero: results below the smallest normal number (1.2e-38 in
// float32) are stored as 0 (FTZ) and such inputs are read as 0 (DAZ), on every thread that
// runs longmix's kernels and oneDNN's.
//
// Why: x86 takes a microcode assist, ~100 cycles, for each operation with a subnormal
// operand or result. Softmax weights far below their row's maximum land there: MRA-2's
// low-resolution complement weights e^(S - m) at N = 16384, and every product that reads
// them, made its forward+backward 17% slower (longmix scaling --workload mra). PyTorch offers
// the same switch (torch.set_flush_denormal), TensorFlow sets it by default. It applies to
// float64 too, whose subnormals (below 2.2e-308) no gradient check comes near.
#pragma once

namespace engine {

// On the calling thread and on every thread of the OpenMP team (threads created later copy
// the state of the thread that creates them). set_num_threads calls it, and so does a static
// initializer for the main thread, before main.
void flush_denormals();

// Whether the calling thread flushes them.
bool denormals_flushed();

}  // namespace engine
