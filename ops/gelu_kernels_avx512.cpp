// AVX-512 GELU: 16 lanes, masked tail.
#include <immintrin.h>

#include "ops/gelu_kernels.h"

namespace ops {
namespace {

#include "ops/simd_traits_avx512_inl.h"

#include "ops/simd_math_inl.h"

inline __mmask16 tail_mask(int64_t left) {
  return left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
}

void forward(int64_t n, const float* x, float* y) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    _mm512_mask_storeu_ps(y + i, m, vgelu<V>(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

void backward(int64_t n, const float* x, const float* dy, bool accumulate, float* dx) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    const __m512 g = vgelu_grad<V>(_mm512_maskz_loadu_ps(m, x + i));
    const __m512 prior = accumulate ? _mm512_maskz_loadu_ps(m, dx + i) : _mm512_setzero_ps();
    const __m512 r = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, dy + i), g, prior);
    _mm512_mask_storeu_ps(dx + i, m, r);
  }
}

void value_and_derivative(int64_t n, const float* x, float* y, float* dydx) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    __m512 v, d;
    vgelu_value_and_derivative<V>(_mm512_maskz_loadu_ps(m, x + i), v, d);
    _mm512_mask_storeu_ps(y + i, m, v);
    _mm512_mask_storeu_ps(dydx + i, m, d);
  }
}

}  // namespace

GeluKernels gelu_kernels_avx512() { return {forward, backward, value_and_derivative, "avx512"}; }

}  // namespace ops
