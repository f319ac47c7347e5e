// AVX-512 sparse product. A row of D floats is held in up to four zmm accumulators (64
// columns) while the L links stream in; wider rows take several passes. Tails are masked.
#include <immintrin.h>

#include "engine/parallel.h"
#include "ops/paramixer/mix_kernels.h"

namespace ops {
namespace {

inline __mmask16 tail_mask(int64_t left) {
  return left >= 16 ? __mmask16(0xFFFF) : left <= 0 ? __mmask16(0) : __mmask16((1u << left) - 1);
}

// Horizontal sum (GCC 12's _mm512_reduce_add_ps warns about an uninitialized operand).
inline float hsum(__m512 v) {
  const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v),
                                 _mm512_castps512_ps256(_mm512_shuffle_f32x4(v, v, 0xEE)));
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// o[c0 .. c0+16*NV) = sum_k coef(k) * row(k)[c0 ..], masked to D.
template <int NV, class Coef, class Row>
inline void weighted_row_sum(int64_t L, int64_t D, int64_t c0, Coef coef, Row row, float* o,
                             bool accumulate) {
  __mmask16 m[NV];
  __m512 acc[NV];
  for (int c = 0; c < NV; ++c) {
    m[c] = tail_mask(D - c0 - 16 * c);
    acc[c] = accumulate ? _mm512_maskz_loadu_ps(m[c], o + c0 + 16 * c) : _mm512_setzero_ps();
  }
  for (int64_t k = 0; k < L; ++k) {
    const __m512 wk = _mm512_set1_ps(coef(k));
    const float* src = row(k) + c0;
    for (int c = 0; c < NV; ++c)
      acc[c] = _mm512_fmadd_ps(wk, _mm512_maskz_loadu_ps(m[c], src + 16 * c), acc[c]);
  }
  for (int c = 0; c < NV; ++c) _mm512_mask_storeu_ps(o + c0 + 16 * c, m[c], acc[c]);
}

template <class Coef, class Row>
inline void weighted_row(int64_t L, int64_t D, Coef coef, Row row, float* o, bool accumulate) {
  for (int64_t c0 = 0; c0 < D; c0 += 64) {
    const int64_t left = D - c0;
    if (left > 48)
      weighted_row_sum<4>(L, D, c0, coef, row, o, accumulate);
    else if (left > 32)
      weighted_row_sum<3>(L, D, c0, coef, row, o, accumulate);
    else if (left > 16)
      weighted_row_sum<2>(L, D, c0, coef, row, o, accumulate);
    else
      weighted_row_sum<1>(L, D, c0, coef, row, o, accumulate);
  }
}

void forward(const MixDims& d, const int64_t* offsets, const float* w, const float* v, float* out) {
  engine::parallel_for(d.B * d.N, mix_row_grain(d), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / d.N, i = r % d.N;
      const float* vb = v + b * d.N * d.D;
      const float* wr = w + r * d.L;
      weighted_row(
          d.L, d.D, [&](int64_t k) { return wr[k]; },
          [&](int64_t k) { return vb + mix_src(i, offsets[k], d.N) * d.D; }, out + r * d.D, false);
    }
  });
}

void backward_w(const MixDims& d, const int64_t* offsets, const float* dout, const float* v, float* dw) {
  engine::parallel_for(d.B * d.N, mix_row_grain(d), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / d.N, i = r % d.N;
      const float* g = dout + r * d.D;
      for (int64_t k = 0; k < d.L; ++k) {
        const float* src = v + (b * d.N + mix_src(i, offsets[k], d.N)) * d.D;
        __m512 acc = _mm512_setzero_ps();
        for (int64_t c = 0; c < d.D; c += 16) {
          const __mmask16 m = tail_mask(d.D - c);
          acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, g + c), _mm512_maskz_loadu_ps(m, src + c), acc);
        }
        dw[r * d.L + k] += hsum(acc);
      }
    }
  });
}

void backward_v(const MixDims& d, const int64_t* offsets, const float* dout, const float* w, float* dv) {
  engine::parallel_for(d.B * d.N, mix_row_grain(d), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / d.N, j = r % d.N;
      const int64_t base = b * d.N;
      weighted_row(
          d.L, d.D, [&](int64_t k) { return w[(base + mix_dst(j, offsets[k], d.N)) * d.L + k]; },
          [&](int64_t k) { return dout + (base + mix_dst(j, offsets[k], d.N)) * d.D; },
          dv + r * d.D, true);
    }
  });
}

}  // namespace

MixKernels mix_kernels_avx512() { return {forward, backward_w, backward_v, "avx512"}; }

}  // namespace ops
