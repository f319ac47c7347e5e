// AVX-512: 16 lanes, masked tail (no scalar loop). Compiled with -mavx512f for this file only.
#include <immintrin.h>

#include "ops/binary_kernels.h"

namespace ops {
namespace {

template <BinaryOp Op>
inline __m512 apply16(__m512 a, __m512 b) {
  if constexpr (Op == BinaryOp::add) return _mm512_add_ps(a, b);
  if constexpr (Op == BinaryOp::sub) return _mm512_sub_ps(a, b);
  if constexpr (Op == BinaryOp::mul) return _mm512_mul_ps(a, b);
  return _mm512_div_ps(a, b);
}

inline __mmask16 tail_mask(int64_t left) {
  return left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
}

template <BinaryOp Op>
void vv(int64_t n, const float* a, const float* b, float* out) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    // Masked-off lanes load zeros; a zero divisor there is never stored.
    const __m512 bv = Op == BinaryOp::div ? _mm512_mask_loadu_ps(_mm512_set1_ps(1.f), m, b + i)
                                          : _mm512_maskz_loadu_ps(m, b + i);
    _mm512_mask_storeu_ps(out + i, m, apply16<Op>(_mm512_maskz_loadu_ps(m, a + i), bv));
  }
}

template <BinaryOp Op>
void vs(int64_t n, const float* a, float s, float* out) {
  const __m512 sv = _mm512_set1_ps(s);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    _mm512_mask_storeu_ps(out + i, m, apply16<Op>(_mm512_maskz_loadu_ps(m, a + i), sv));
  }
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

BinaryKernels binary_kernels_avx512() { return {vector_vector, vector_scalar, "avx512"}; }

}  // namespace ops
