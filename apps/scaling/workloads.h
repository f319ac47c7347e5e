// The workloads a scaling study times: one repetition each, with its inputs built beforehand.
//   product    the Paramixer sparse product with the residual, forward + backward (dW, dV)
//   mra        MRA-2 attention (fused), forward + backward
//   attention  exact softmax attention (fused), forward + backward
//   train      one whole training step (forward, loss, backward, optimizer) of a model from
//              `longmix train`'s flags and presets, on a batch of its task
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "apps/flags.h"
#include "engine/rng.h"
#include "engine/tensor.h"

namespace apps {

class Workload {
 public:
  virtual ~Workload() = default;
  virtual void run() = 0;  // one repetition
  // Minimum memory traffic of one repetition in bytes (every operand read or written once),
  // or 0 where no such bound is meaningful (a whole training step).
  virtual double min_bytes() const { return 0; }
  virtual std::string describe() const = 0;  // the shape, for the report
};

// (BH, N, d) random walks along the sequence: locally correlated, as real activations are (on
// i.i.d. noise MRA-2's block means carry no information). Attention benchmarks' inputs.
engine::Tensor random_walk(int64_t BH, int64_t N, int64_t d, engine::Rng& rng);

// The flags a workload reads, added to the scaling command's: the model flags of `longmix
// train`, --config, --task and fashion-mnist's flags (for `train`), and the shapes of the
// kernels. The scaling command itself declares --seq-len and --threads, as lists.
void add_workload_flags(Flags& flags);

// The `longmix train` flags of the train workload: the --config preset, then the scaling
// command's model and task flags, then the model's published preset (seq-len left to the caller).
Flags train_step_flags(const Flags& scaling_flags);

// Names: product, mra, attention, train. Throws engine::Error naming an unknown one.
std::unique_ptr<Workload> make_workload(const std::string& name, const Flags& flags, int64_t seq_len);

}  // namespace apps
