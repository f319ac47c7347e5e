// AVX-512 GELU: 16 lanes, masked tail.
#include <immintrin.h>

#include "ops/gelu_kernels.h"

namespace ops {
namespace {

struct V {
  using reg = __m512;
  static reg set1(float a) { return _mm512_set1_ps(a); }
  static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  static reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
  static reg div(reg a, reg b) { return _mm512_div_ps(a, b); }
  static reg min(reg a, reg b) { return _mm512_min_ps(a, b); }
  static reg max(reg a, reg b) { return _mm512_max_ps(a, b); }
  static reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static reg floor(reg a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }
  static reg exp2i(reg n) {
    const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_castsi512_ps(e);
  }
};

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

void backward(int64_t n, const float* x, const float* dy, float* dx) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    const __m512 g = vgelu_grad<V>(_mm512_maskz_loadu_ps(m, x + i));
    const __m512 r = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, dy + i), g, _mm512_maskz_loadu_ps(m, dx + i));
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
