// AVX2 GELU: 8 lanes; the tail goes through the same vector code on a padded copy, so every
// element gets the same arithmetic wherever it sits.
#include <immintrin.h>

#include <cstring>

#include "ops/gelu_kernels.h"

namespace ops {
namespace {

#include "ops/simd_traits_avx2_inl.h"

#include "ops/simd_math_inl.h"

// Copies up to 8 floats into a zero-padded register-sized buffer.
inline __m256 load_tail(const float* p, int64_t left) {
  alignas(32) float buf[8] = {};
  std::memcpy(buf, p, static_cast<size_t>(left) * sizeof(float));
  return _mm256_load_ps(buf);
}
inline void store_tail(float* p, __m256 v, int64_t left) {
  alignas(32) float buf[8];
  _mm256_store_ps(buf, v);
  std::memcpy(p, buf, static_cast<size_t>(left) * sizeof(float));
}

void forward(int64_t n, const float* x, float* y) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, vgelu<V>(_mm256_loadu_ps(x + i)));
  if (i < n) store_tail(y + i, vgelu<V>(load_tail(x + i, n - i)), n - i);
}

void backward(int64_t n, const float* x, const float* dy, bool accumulate, float* dx) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dx + i, _mm256_fmadd_ps(_mm256_loadu_ps(dy + i), vgelu_grad<V>(_mm256_loadu_ps(x + i)),
                                             accumulate ? _mm256_loadu_ps(dx + i) : _mm256_setzero_ps()));
  if (i < n) {
    const int64_t left = n - i;
    const __m256 r = _mm256_fmadd_ps(load_tail(dy + i, left), vgelu_grad<V>(load_tail(x + i, left)),
                                     accumulate ? load_tail(dx + i, left) : _mm256_setzero_ps());
    store_tail(dx + i, r, left);
  }
}

void value_and_derivative(int64_t n, const float* x, float* y, float* dydx) {
  int64_t i = 0;
  __m256 v, d;
  for (; i + 8 <= n; i += 8) {
    vgelu_value_and_derivative<V>(_mm256_loadu_ps(x + i), v, d);
    _mm256_storeu_ps(y + i, v);
    _mm256_storeu_ps(dydx + i, d);
  }
  if (i < n) {
    vgelu_value_and_derivative<V>(load_tail(x + i, n - i), v, d);
    store_tail(y + i, v, n - i);
    store_tail(dydx + i, d, n - i);
  }
}

}  // namespace

GeluKernels gelu_kernels_avx2() { return {forward, backward, value_and_derivative, "avx2"}; }

}  // namespace ops
