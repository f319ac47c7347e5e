// float32 elementwise binary kernels, one variant per ISA. Row-major, no allocation, no tape.
// A variant processes one contiguous run; ops/elementwise.cpp splits the work over threads.
#pragma once
#include <cstdint>

namespace ops {

enum class BinaryOp { add, sub, mul, div };

struct BinaryKernels {
  // out[i] = a[i] op b[i]
  void (*vector_vector)(BinaryOp op, int64_t n, const float* a, const float* b, float* out);
  // out[i] = a[i] op s
  void (*vector_scalar)(BinaryOp op, int64_t n, const float* a, float s, float* out);
  const char* name;
};

BinaryKernels binary_kernels_ref();
BinaryKernels binary_kernels_avx2();
BinaryKernels binary_kernels_avx512();
const BinaryKernels& binary_kernels();  // the variant for engine::active_isa()

}  // namespace ops
