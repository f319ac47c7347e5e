// Scalar reference: the semantics every SIMD variant is tested against.
#include "ops/binary_kernels.h"

namespace ops {
namespace {

inline float apply(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::add: return a + b;
    case BinaryOp::sub: return a - b;
    case BinaryOp::mul: return a * b;
    case BinaryOp::div: return a / b;
  }
  return 0;
}

void vector_vector(BinaryOp op, int64_t n, const float* a, const float* b, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = apply(op, a[i], b[i]);
}

void vector_scalar(BinaryOp op, int64_t n, const float* a, float s, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = apply(op, a[i], s);
}

}  // namespace

BinaryKernels binary_kernels_ref() { return {vector_vector, vector_scalar, "ref"}; }

}  // namespace ops
