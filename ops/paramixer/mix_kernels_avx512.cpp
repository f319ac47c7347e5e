// AVX-512 sparse product. A row of D floats is held in up to four zmm accumulators (64
// columns) while the L links stream in; wider rows take several passes. Tails are masked.
#include <immintrin.h>

#include <algorithm>

#include "engine/parallel.h"
#include "ops/paramixer/mix_kernels.h"

namespace ops {
namespace {

inline __mmask16 tail_mask(int64_t left) {
  return left >= 16 ? __mmask16(0xFFFF) : left <= 0 ? __mmask16(0) : __mmask16((1u << left) - 1);
}

// o[c0 .. c0+16*NV) = [o] + [self] + sum_k coef(k) * row(k)[c0 ..], masked to D.
template <int NV, class Coef, class Row>
inline void weighted_row_sum(int64_t L, int64_t D, int64_t c0, Coef coef, Row row, const float* self,
                             float* o, bool accumulate) {
  __mmask16 m[NV];
  __m512 acc[NV];
  for (int c = 0; c < NV; ++c) {
    m[c] = tail_mask(D - c0 - 16 * c);
    acc[c] = accumulate ? _mm512_maskz_loadu_ps(m[c], o + c0 + 16 * c) : _mm512_setzero_ps();
    if (self) acc[c] = _mm512_add_ps(acc[c], _mm512_maskz_loadu_ps(m[c], self + c0 + 16 * c));
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
inline void weighted_row(int64_t L, int64_t D, Coef coef, Row row, const float* self, float* o,
                         bool accumulate) {
  for (int64_t c0 = 0; c0 < D; c0 += 64) {
    const int64_t left = D - c0;
    if (left > 48)
      weighted_row_sum<4>(L, D, c0, coef, row, self, o, accumulate);
    else if (left > 32)
      weighted_row_sum<3>(L, D, c0, coef, row, self, o, accumulate);
    else if (left > 16)
      weighted_row_sum<2>(L, D, c0, coef, row, self, o, accumulate);
    else
      weighted_row_sum<1>(L, D, c0, coef, row, self, o, accumulate);
  }
}

void forward(const MixDims& d, const int64_t* offsets, const float* w, const float* v, bool residual,
             float* out) {
  engine::parallel_for(d.B * d.N, mix_row_grain(d), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / d.N, i = r % d.N;
      const float* vb = v + b * d.N * d.D;
      const float* wr = w + r * d.L;
      weighted_row(
          d.L, d.D, [&](int64_t k) { return wr[k]; },
          [&](int64_t k) { return vb + mix_src(i, offsets[k], d.N) * d.D; },
          residual ? vb + i * d.D : nullptr, out + r * d.D, false);
    }
  });
}

// Sums the lanes of each of 16 vectors: result lane k = sum of a[k]'s lanes. A transpose-
// reduction tree (pairs interleaved by 32 bits, then 64 bits, then 128-bit lanes): 45
// instructions for 16 dot products instead of a horizontal sum each.
inline __m512 sum_lanes16(__m512 a[16]) {
  __m512 b[8], c[4], d[2];
  for (int j = 0; j < 8; ++j)
    b[j] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * j], a[2 * j + 1]), _mm512_unpackhi_ps(a[2 * j], a[2 * j + 1]));
  for (int j = 0; j < 4; ++j) {
    const __m512d lo = _mm512_unpacklo_pd(_mm512_castps_pd(b[2 * j]), _mm512_castps_pd(b[2 * j + 1]));
    const __m512d hi = _mm512_unpackhi_pd(_mm512_castps_pd(b[2 * j]), _mm512_castps_pd(b[2 * j + 1]));
    c[j] = _mm512_add_ps(_mm512_castpd_ps(lo), _mm512_castpd_ps(hi));
  }
  for (int j = 0; j < 2; ++j)
    d[j] = _mm512_add_ps(_mm512_shuffle_f32x4(c[2 * j], c[2 * j + 1], 0x88),
                         _mm512_shuffle_f32x4(c[2 * j], c[2 * j + 1], 0xDD));
  return _mm512_add_ps(_mm512_shuffle_f32x4(d[0], d[1], 0x88), _mm512_shuffle_f32x4(d[0], d[1], 0xDD));
}

// dw[r, k0 .. k0+16) += < dout row, v[src(k)] > for up to 16 links at a time. The dout row is
// held in NV registers (D <= 16 * NV) and the 16 accumulators are unrolled into registers.
template <int NV>
inline void link_dots16(int64_t D, const __m512 g[NV], const float* const src[16], int64_t nk, float* out) {
  __m512 acc[16];
#pragma GCC unroll 16
  for (int k = 0; k < 16; ++k) {
    acc[k] = _mm512_setzero_ps();
    if (k < nk) {
#pragma GCC unroll 4
      for (int c = 0; c < NV; ++c)
        acc[k] = _mm512_fmadd_ps(g[c], _mm512_maskz_loadu_ps(tail_mask(D - 16 * c), src[k] + 16 * c), acc[k]);
    }
  }
  const __mmask16 km = tail_mask(nk);
  _mm512_mask_storeu_ps(out, km, _mm512_add_ps(_mm512_maskz_loadu_ps(km, out), sum_lanes16(acc)));
}

template <int NV>
void backward_w_rows(const MixDims& d, const int64_t* offsets, const float* dout, const float* v, float* dw,
                     int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t b = r / d.N, i = r % d.N;
    const float* vb = v + b * d.N * d.D;
    for (int64_t c0 = 0; c0 < d.D; c0 += 16 * NV) {  // more than one pass only when D > 64
      const int64_t width = std::min<int64_t>(16 * NV, d.D - c0);
      __m512 g[NV];
      for (int c = 0; c < NV; ++c) g[c] = _mm512_maskz_loadu_ps(tail_mask(width - 16 * c), dout + r * d.D + c0 + 16 * c);
      for (int64_t k0 = 0; k0 < d.L; k0 += 16) {
        const int64_t nk = std::min<int64_t>(16, d.L - k0);
        const float* src[16];
        for (int64_t k = 0; k < nk; ++k) src[k] = vb + mix_src(i, offsets[k0 + k], d.N) * d.D + c0;
        link_dots16<NV>(width, g, src, nk, dw + r * d.L + k0);
      }
    }
  }
}

void backward_w(const MixDims& d, const int64_t* offsets, const float* dout, const float* v, float* dw) {
  engine::parallel_for(d.B * d.N, mix_row_grain(d), [&](int64_t r0, int64_t r1) {
    if (d.D <= 16)
      backward_w_rows<1>(d, offsets, dout, v, dw, r0, r1);
    else if (d.D <= 32)
      backward_w_rows<2>(d, offsets, dout, v, dw, r0, r1);
    else if (d.D <= 48)
      backward_w_rows<3>(d, offsets, dout, v, dw, r0, r1);
    else
      backward_w_rows<4>(d, offsets, dout, v, dw, r0, r1);
  });
}

void backward_v(const MixDims& d, const int64_t* offsets, const float* dout, const float* w, bool residual,
                float* dv) {
  engine::parallel_for(d.B * d.N, mix_row_grain(d), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / d.N, j = r % d.N;
      const int64_t base = b * d.N;
      weighted_row(
          d.L, d.D, [&](int64_t k) { return w[(base + mix_dst(j, offsets[k], d.N)) * d.L + k]; },
          [&](int64_t k) { return dout + (base + mix_dst(j, offsets[k], d.N)) * d.D; },
          residual ? dout + r * d.D : nullptr, dv + r * d.D, true);
    }
  });
}

}  // namespace

MixKernels mix_kernels_avx512() { return {forward, backward_w, backward_v, "avx512"}; }

}  // namespace ops
