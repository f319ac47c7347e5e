// AVX2 sparse product: 8-float vectors, up to four accumulators (32 columns) per pass, and a
// scalar tail for the columns past the last full vector.
#include <immintrin.h>

#include <cmath>
#include <vector>

#include "engine/parallel.h"
#include "ops/paramixer/mix_kernels.h"

namespace ops {
namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// o[c0 .. c0+8*NV) (all full vectors) = [o] + [self] + sum_k coef(k) * row(k)[c0 ..]
template <int NV, class Coef, class Row>
inline void weighted_vectors(int64_t L, int64_t c0, Coef coef, Row row, const float* self, float* o,
                             bool accumulate) {
  __m256 acc[NV];
  for (int c = 0; c < NV; ++c) {
    acc[c] = accumulate ? _mm256_loadu_ps(o + c0 + 8 * c) : _mm256_setzero_ps();
    if (self) acc[c] = _mm256_add_ps(acc[c], _mm256_loadu_ps(self + c0 + 8 * c));
  }
  for (int64_t k = 0; k < L; ++k) {
    const __m256 wk = _mm256_set1_ps(coef(k));
    const float* src = row(k) + c0;
    for (int c = 0; c < NV; ++c) acc[c] = _mm256_fmadd_ps(wk, _mm256_loadu_ps(src + 8 * c), acc[c]);
  }
  for (int c = 0; c < NV; ++c) _mm256_storeu_ps(o + c0 + 8 * c, acc[c]);
}

template <class Coef, class Row>
inline void weighted_row(int64_t L, int64_t D, Coef coef, Row row, const float* self, float* o,
                         bool accumulate) {
  int64_t c0 = 0;
  for (; c0 + 32 <= D; c0 += 32) weighted_vectors<4>(L, c0, coef, row, self, o, accumulate);
  const int64_t full = (D - c0) / 8;
  if (full == 3) weighted_vectors<3>(L, c0, coef, row, self, o, accumulate);
  if (full == 2) weighted_vectors<2>(L, c0, coef, row, self, o, accumulate);
  if (full == 1) weighted_vectors<1>(L, c0, coef, row, self, o, accumulate);
  c0 += 8 * full;
  for (int64_t c = c0; c < D; ++c) {  // scalar tail, same order of terms
    float s = (accumulate ? o[c] : 0.f) + (self ? self[c] : 0.f);
    for (int64_t k = 0; k < L; ++k) s = std::fma(coef(k), row(k)[c], s);
    o[c] = s;
  }
}

void forward(const MixDims& d, const int64_t* offsets, const float* w, const float* v, bool residual,
             float* out) {
  engine::parallel_ranges(d.B * d.N, mix_row_grain(d), [&](int64_t r0, int64_t r1) {
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

void backward_w(const MixDims& d, const int64_t* offsets, const float* dout, const float* v, bool accumulate,
                float* dw) {
  engine::parallel_ranges(d.B * d.N, mix_row_grain(d), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / d.N, i = r % d.N;
      const float* g = dout + r * d.D;
      for (int64_t k = 0; k < d.L; ++k) {
        const float* src = v + (b * d.N + mix_src(i, offsets[k], d.N)) * d.D;
        __m256 acc = _mm256_setzero_ps();
        int64_t c = 0;
        for (; c + 8 <= d.D; c += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(g + c), _mm256_loadu_ps(src + c), acc);
        float dot = hsum(acc);
        for (; c < d.D; ++c) dot += g[c] * src[c];
        dw[r * d.L + k] = (accumulate ? dw[r * d.L + k] : 0.f) + dot;
      }
    }
  });
}

void backward_v(const MixDims& d, const int64_t* offsets, const float* dout, const float* w, bool residual,
                bool accumulate, float* dv) {
  engine::parallel_ranges(d.B * d.N, mix_row_grain(d), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / d.N, j = r % d.N;
      const int64_t base = b * d.N;
      weighted_row(
          d.L, d.D, [&](int64_t k) { return w[(base + mix_dst(j, offsets[k], d.N)) * d.L + k]; },
          [&](int64_t k) { return dout + (base + mix_dst(j, offsets[k], d.N)) * d.D; },
          residual ? dout + r * d.D : nullptr, dv + r * d.D, accumulate);
    }
  });
}

// dW and dV in one pass over the rows j of dV, as in the AVX-512 variant (see there): row j's
// gathered dY[s_k], s_k = (j - o_k) mod N, also give dW[s_k, k] = < dY[s_k], V[j] >. Rows of
// D = 8 * NV <= 32; operands and order are backward_w's and backward_v's: the same bits.
// When a batch element's rows exceed 256 KB, the gathered rows are prefetched 8 rows ahead.
template <int NV, bool Prefetch>
void backward_wv_rows(const MixDims& d, const int64_t* offsets, const float* dout, const float* v, const float* w,
                      bool residual, bool dw_accumulate, float* dw, bool dv_accumulate, float* dv, int64_t r0,
                      int64_t r1) {
  constexpr int64_t kAhead = 8, kOwnAhead = Prefetch ? 8 : 16;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t first = r / d.N * d.N, j = r - first;
    __m256 vj[NV], acc[NV];
    // The row's own V, ahead: it streams from memory (as in the AVX-512 variant).
    _mm_prefetch(reinterpret_cast<const char*>(v + (r + kOwnAhead) * d.D), _MM_HINT_T0);
    if (NV > 2) _mm_prefetch(reinterpret_cast<const char*>(v + (r + kOwnAhead) * d.D + 16), _MM_HINT_T0);
    for (int c = 0; c < NV; ++c) {
      vj[c] = _mm256_loadu_ps(v + r * d.D + 8 * c);
      acc[c] = dv_accumulate ? _mm256_loadu_ps(dv + r * d.D + 8 * c) : _mm256_setzero_ps();
      if (residual) acc[c] = _mm256_add_ps(acc[c], _mm256_loadu_ps(dout + r * d.D + 8 * c));
    }
    for (int64_t k = 0; k < d.L; ++k) {
      const int64_t s = first + mix_dst(j, offsets[k], d.N);
      const float* y = dout + s * d.D;
      if constexpr (Prefetch) _mm_prefetch(reinterpret_cast<const char*>(y + kAhead * d.D), _MM_HINT_T0);
      const __m256 wk = _mm256_set1_ps(w[s * d.L + k]);
      __m256 dot = _mm256_setzero_ps();
      for (int c = 0; c < NV; ++c) {
        const __m256 yc = _mm256_loadu_ps(y + 8 * c);
        acc[c] = _mm256_fmadd_ps(wk, yc, acc[c]);
        dot = _mm256_fmadd_ps(yc, vj[c], dot);
      }
      float& t = dw[s * d.L + k];
      t = (dw_accumulate ? t : 0.f) + hsum(dot);
    }
    for (int c = 0; c < NV; ++c) _mm256_storeu_ps(dv + r * d.D + 8 * c, acc[c]);
  }
}

bool backward_wv(const MixDims& d, const int64_t* offsets, const float* dout, const float* v, const float* w,
                 bool residual, bool dw_accumulate, float* dw, bool dv_accumulate, float* dv) {
  using Rows = void (*)(const MixDims&, const int64_t*, const float*, const float*, const float*, bool, bool, float*,
                        bool, float*, int64_t, int64_t);
  if (d.D % 8 != 0 || d.D > 32 || !mix_dw_stays_in_l2(d)) return false;
  static constexpr Rows kRows[2][4] = {
      {backward_wv_rows<1, false>, backward_wv_rows<2, false>, backward_wv_rows<3, false>, backward_wv_rows<4, false>},
      {backward_wv_rows<1, true>, backward_wv_rows<2, true>, backward_wv_rows<3, true>, backward_wv_rows<4, true>}};
  const Rows rows = kRows[mix_prefetch_gathers(d)][d.D / 8 - 1];
  engine::parallel_ranges(d.B * d.N, mix_row_grain(d), [&](int64_t r0, int64_t r1) {
    rows(d, offsets, dout, v, w, residual, dw_accumulate, dw, dv_accumulate, dv, r0, r1);
  });
  return true;
}

void link_dhidden(const LinkDims& d, const float* dout, const float* w2, const float* scale, float* dh) {
  const int64_t MH = d.M * d.H;
  engine::parallel_for(d.n, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      if (r + kLinkPrefetchRows < d.n)  // a row of dout is at most one line further per factor
        for (int64_t m = 0; m < d.M; ++m)
          __builtin_prefetch(dout + m * d.factor_stride + (r + kLinkPrefetchRows) * d.L);
      for (int64_t m = 0; m < d.M; ++m)
        weighted_row(
            d.L, d.H, [&](int64_t k) { return dout[m * d.factor_stride + r * d.L + k]; },
            [&](int64_t k) { return w2 + (m * d.L + k) * d.H; }, nullptr, dh + r * MH + m * d.H, false);
      for (int64_t c = 0; c < MH; ++c) dh[r * MH + c] *= scale[r * MH + c];
    }
  });
}

// Every factor's w2[m] (L, H) transposed into wt (M, H, L) once per call, so that a link
// head's L outputs are one weighted row: out[r] = b2[m] + sum_c h[r, c] * wt[m, c].
void link_values(const LinkDims& d, const float* h, const float* w2, const float* b2, float* out) {
  const int64_t MH = d.M * d.H;
  thread_local std::vector<float> wt;  // grows once, reused by every later call
  wt.resize(d.M * d.H * d.L);
  for (int64_t m = 0; m < d.M; ++m)
    for (int64_t l = 0; l < d.L; ++l)
      for (int64_t c = 0; c < d.H; ++c) wt[(m * d.H + c) * d.L + l] = w2[(m * d.L + l) * d.H + c];
  const float* wt_data = wt.data();
  engine::parallel_for(d.n, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t m = 0; m < d.M; ++m) {
      const float* wm = wt_data + m * d.H * d.L;
      for (int64_t r = r0; r < r1; ++r) {
        const float* hr = h + r * MH + m * d.H;
        weighted_row(
            d.H, d.L, [&](int64_t c) { return hr[c]; }, [&](int64_t c) { return wm + c * d.L; }, b2 + m * d.L,
            out + m * d.factor_stride + r * d.L, false);
      }
    }
  });
}

void link_weight_grad(const LinkDims& d, const float* dout, const float* h, float* dw2, float* db2) {
  const int64_t MH = d.M * d.H;
  for (int64_t m = 0; m < d.M; ++m)
    for (int64_t r = 0; r < d.n; ++r) {
      const float* hr = h + r * MH + m * d.H;
      for (int64_t l = 0; l < d.L; ++l) {
        const float g = dout[m * d.factor_stride + r * d.L + l];
        const __m256 gv = _mm256_set1_ps(g);
        float* o = dw2 + (m * d.L + l) * d.H;
        int64_t c = 0;
        for (; c + 8 <= d.H; c += 8)
          _mm256_storeu_ps(o + c, _mm256_fmadd_ps(gv, _mm256_loadu_ps(hr + c), _mm256_loadu_ps(o + c)));
        for (; c < d.H; ++c) o[c] = std::fma(g, hr[c], o[c]);
        db2[m * d.L + l] += g;
      }
    }
}

}  // namespace

LinkKernels link_kernels_avx2() { return {link_values, link_dhidden, link_weight_grad, "avx2"}; }

MixKernels mix_kernels_avx2() { return {forward, backward_w, backward_v, backward_wv, "avx2"}; }

}  // namespace ops
