// AVX2: 8 lanes, scalar tail. Compiled with -mavx2 -mfma for this file only.
#include <immintrin.h>

#include "ops/binary_kernels.h"

namespace ops {
namespace {

template <BinaryOp Op>
inline __m256 apply8(__m256 a, __m256 b) {
  if constexpr (Op == BinaryOp::add) return _mm256_add_ps(a, b);
  if constexpr (Op == BinaryOp::sub) return _mm256_sub_ps(a, b);
  if constexpr (Op == BinaryOp::mul) return _mm256_mul_ps(a, b);
  return _mm256_div_ps(a, b);
}

template <BinaryOp Op>
inline float apply1(float a, float b) {
  if constexpr (Op == BinaryOp::add) return a + b;
  if constexpr (Op == BinaryOp::sub) return a - b;
  if constexpr (Op == BinaryOp::mul) return a * b;
  return a / b;
}

template <BinaryOp Op>
void vv(int64_t n, const float* a, const float* b, float* out) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, apply8<Op>(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
  for (; i < n; ++i) out[i] = apply1<Op>(a[i], b[i]);
}

template <BinaryOp Op>
void vs(int64_t n, const float* a, float s, float* out) {
  const __m256 sv = _mm256_set1_ps(s);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, apply8<Op>(_mm256_loadu_ps(a + i), sv));
  for (; i < n; ++i) out[i] = apply1<Op>(a[i], s);
}

void vector_vector(BinaryOp op, int64_t n, const float* a, const float* b, float* out) {
  switch (op) {
    case BinaryOp::add: return vv<BinaryOp::add>(n, a, b, out);
    case BinaryOp::sub: return vv<BinaryOp::sub>(n, a, b, out);
    case BinaryOp::mul: return vv<BinaryOp::mul>(n, a, b, out);
    case BinaryOp::div: return vv<BinaryOp::div>(n, a, b, out);
  }
}

void vector_scalar(BinaryOp op, int64_t n, const float* a, float s, float* out) {
  switch (op) {
    case BinaryOp::add: return vs<BinaryOp::add>(n, a, s, out);
    case BinaryOp::sub: return vs<BinaryOp::sub>(n, a, s, out);
    case BinaryOp::mul: return vs<BinaryOp::mul>(n, a, s, out);
    case BinaryOp::div: return vs<BinaryOp::div>(n, a, s, out);
  }
}

}  // namespace

BinaryKernels binary_kernels_avx2() { return {vector_vector, vector_scalar, "avx2"}; }

}  // namespace ops
