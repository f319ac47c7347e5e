// AVX-512 block-attention micro-kernels: a tile row of 32 scores is two zmm registers; four
// rows are worked at once so that eight independent FMA chains hide the latency.
#include <immintrin.h>

#include <cmath>
#include <limits>

#include "ops/attention/block_kernels.h"

namespace ops {
namespace {

#include "ops/simd_traits_avx512_inl.h"

#include "ops/simd_math_inl.h"

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

inline __mmask16 tail_mask(int64_t left) {
  return left >= 16 ? __mmask16(0xFFFF) : left <= 0 ? __mmask16(0) : __mmask16((1u << left) - 1);
}
inline __mmask16 low_half(uint32_t bits) { return __mmask16(bits & 0xFFFFu); }
inline __mmask16 high_half(uint32_t bits) { return __mmask16(bits >> 16); }
inline uint32_t first_bits(int n) { return n >= 32 ? 0xFFFFFFFFu : (1u << n) - 1; }

template <int RR>
inline void scores_rows(int r, int64_t d, const float* a, int64_t lda, const float* packed, float scale, float* s) {
  __m512 acc[RR][2];
  for (int q = 0; q < RR; ++q) acc[q][0] = acc[q][1] = _mm512_setzero_ps();
  for (int64_t t = 0; t < d; ++t) {
    const __m512 b0 = _mm512_load_ps(packed + t * kTile);
    const __m512 b1 = _mm512_load_ps(packed + t * kTile + 16);
#pragma GCC unroll 8
    for (int q = 0; q < RR; ++q) {
      const __m512 x = _mm512_set1_ps(a[(r + q) * lda + t]);
      acc[q][0] = _mm512_fmadd_ps(x, b0, acc[q][0]);
      acc[q][1] = _mm512_fmadd_ps(x, b1, acc[q][1]);
    }
  }
  const __m512 sc = _mm512_set1_ps(scale);
  for (int q = 0; q < RR; ++q) {
    _mm512_storeu_ps(s + (r + q) * kTile, _mm512_mul_ps(sc, acc[q][0]));
    _mm512_storeu_ps(s + (r + q) * kTile + 16, _mm512_mul_ps(sc, acc[q][1]));
  }
}

void scores(int rows, int64_t d, const float* a, int64_t lda, const float* packed, float scale, float* s) {
  int r = 0;
  for (; r + 8 <= rows; r += 8) scores_rows<8>(r, d, a, lda, packed, scale, s);
  for (; r + 4 <= rows; r += 4) scores_rows<4>(r, d, a, lda, packed, scale, s);
  for (; r < rows; ++r) scores_rows<1>(r, d, a, lda, packed, scale, s);
}

void online_softmax_cols(int rows, uint32_t valid_rows, float* s, float* m, float* l, float* alpha) {
  const __m512 neg_inf = _mm512_set1_ps(kNegInf);
  __m512 mx[2], old[2];
  for (int h = 0; h < 2; ++h) old[h] = mx[h] = _mm512_loadu_ps(m + 16 * h);
  for (int k = 0; k < rows; ++k)
    if ((valid_rows >> k) & 1u)
      for (int h = 0; h < 2; ++h) mx[h] = _mm512_max_ps(mx[h], _mm512_loadu_ps(s + k * kTile + 16 * h));
  __m512 sum[2];
  for (int h = 0; h < 2; ++h) {
    // exp(m - mx), but exactly 0 where m is the empty start -inf.
    const __mmask16 started = _mm512_cmp_ps_mask(old[h], neg_inf, _CMP_NEQ_OQ);
    const __m512 a = _mm512_maskz_mov_ps(started, vexp<V>(_mm512_sub_ps(old[h], mx[h])));
    _mm512_storeu_ps(alpha + 16 * h, a);
    sum[h] = _mm512_mul_ps(a, _mm512_loadu_ps(l + 16 * h));
    _mm512_storeu_ps(m + 16 * h, mx[h]);
  }
  for (int k = 0; k < rows; ++k) {
    float* row = s + k * kTile;
    if (!((valid_rows >> k) & 1u)) {
      _mm512_storeu_ps(row, _mm512_setzero_ps());
      _mm512_storeu_ps(row + 16, _mm512_setzero_ps());
      continue;
    }
    for (int h = 0; h < 2; ++h) {
      const __m512 p = vexp<V>(_mm512_sub_ps(_mm512_loadu_ps(row + 16 * h), mx[h]));
      _mm512_storeu_ps(row + 16 * h, p);
      sum[h] = _mm512_add_ps(sum[h], p);
    }
  }
  for (int h = 0; h < 2; ++h) _mm512_storeu_ps(l + 16 * h, sum[h]);
}

// Transposed: weights p[c * kTile + r]; Overwrite: o is not read.
template <int RR, bool Transposed = false, bool Overwrite = false>
inline void accumulate_rows(int r, int cols, int64_t d, const float* p, const float* v, int64_t ldv,
                            const float* alpha, float* o, int64_t ldo) {
  for (int64_t j0 = 0; j0 < d; j0 += 32) {
    const __mmask16 m0 = tail_mask(d - j0), m1 = tail_mask(d - j0 - 16);
    __m512 acc[RR][2];
    for (int q = 0; q < RR; ++q) {
      float* orow = o + (r + q) * ldo + j0;
      acc[q][0] = Overwrite ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m0, orow);
      acc[q][1] = Overwrite ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m1, orow + 16);
      if (alpha) {
        const __m512 a = _mm512_set1_ps(alpha[r + q]);
        acc[q][0] = _mm512_mul_ps(a, acc[q][0]);
        acc[q][1] = _mm512_mul_ps(a, acc[q][1]);
      }
    }
    for (int c = 0; c < cols; ++c) {
      const __m512 v0 = _mm512_maskz_loadu_ps(m0, v + c * ldv + j0);
      const __m512 v1 = _mm512_maskz_loadu_ps(m1, v + c * ldv + j0 + 16);
#pragma GCC unroll 8
      for (int q = 0; q < RR; ++q) {
        const __m512 w = _mm512_set1_ps((Transposed ? p[c * kTile + r + q] : p[(r + q) * kTile + c]));
        acc[q][0] = _mm512_fmadd_ps(w, v0, acc[q][0]);
        acc[q][1] = _mm512_fmadd_ps(w, v1, acc[q][1]);
      }
    }
    for (int q = 0; q < RR; ++q) {
      float* orow = o + (r + q) * ldo + j0;
      _mm512_mask_storeu_ps(orow, m0, acc[q][0]);
      _mm512_mask_storeu_ps(orow + 16, m1, acc[q][1]);
    }
  }
}

void accumulate(int rows, int cols, int64_t d, const float* p, const float* v, int64_t ldv, float* o, int64_t ldo) {
  int r = 0;
  for (; r + 8 <= rows; r += 8) accumulate_rows<8>(r, cols, d, p, v, ldv, nullptr, o, ldo);
  for (; r + 4 <= rows; r += 4) accumulate_rows<4>(r, cols, d, p, v, ldv, nullptr, o, ldo);
  for (; r < rows; ++r) accumulate_rows<1>(r, cols, d, p, v, ldv, nullptr, o, ldo);
}

void product(int rows, int cols, int64_t d, const float* p, const float* v, int64_t ldv, float* o, int64_t ldo) {
  int r = 0;
  for (; r + 8 <= rows; r += 8) accumulate_rows<8, false, true>(r, cols, d, p, v, ldv, nullptr, o, ldo);
  for (; r + 4 <= rows; r += 4) accumulate_rows<4, false, true>(r, cols, d, p, v, ldv, nullptr, o, ldo);
  for (; r < rows; ++r) accumulate_rows<1, false, true>(r, cols, d, p, v, ldv, nullptr, o, ldo);
}

void accumulate_transposed(int rows, int cols, int64_t d, const float* p, const float* v, int64_t ldv,
                           const float* alpha, float* o, int64_t ldo) {
  int r = 0;
  for (; r + 8 <= rows; r += 8) accumulate_rows<8, true, false>(r, cols, d, p, v, ldv, alpha, o, ldo);
  for (; r + 4 <= rows; r += 4) accumulate_rows<4, true, false>(r, cols, d, p, v, ldv, alpha, o, ldo);
  for (; r < rows; ++r) accumulate_rows<1, true, false>(r, cols, d, p, v, ldv, alpha, o, ldo);
}

void dscores_by_row(int rows, uint32_t valid_cols, const float* s, const float* dp, const float* m,
                    const float* inv_z, const float* delta, float scale, float* p, float* ds) {
  const __mmask16 k0 = low_half(valid_cols), k1 = high_half(valid_cols);
  const __m512 sc = _mm512_set1_ps(scale);
  for (int r = 0; r < rows; ++r) {
    const int i = r * kTile;
    const __m512 vm = _mm512_set1_ps(m[r]), iz = _mm512_set1_ps(inv_z[r]), dl = _mm512_set1_ps(delta[r]);
    const __m512 p0 = _mm512_maskz_mul_ps(k0, vexp<V>(_mm512_sub_ps(_mm512_loadu_ps(s + i), vm)), iz);
    const __m512 p1 = _mm512_maskz_mul_ps(k1, vexp<V>(_mm512_sub_ps(_mm512_loadu_ps(s + i + 16), vm)), iz);
    if (p) {
      _mm512_storeu_ps(p + i, p0);
      _mm512_storeu_ps(p + i + 16, p1);
    }
    _mm512_storeu_ps(ds + i, _mm512_mul_ps(sc, _mm512_mul_ps(p0, _mm512_sub_ps(_mm512_loadu_ps(dp + i), dl))));
    _mm512_storeu_ps(ds + i + 16, _mm512_mul_ps(sc, _mm512_mul_ps(p1, _mm512_sub_ps(_mm512_loadu_ps(dp + i + 16), dl))));
  }
}

void dscores_by_col(int rows, uint32_t valid_rows, int cols, const float* s, const float* dp, const float* m,
                    const float* inv_z, const float* delta, float scale, float* p, float* ds) {
  const uint32_t colbits = first_bits(cols);
  const __mmask16 k0 = low_half(colbits), k1 = high_half(colbits);
  const __m512 m0 = _mm512_maskz_loadu_ps(k0, m), m1 = _mm512_maskz_loadu_ps(k1, m + 16);
  const __m512 z0 = _mm512_maskz_loadu_ps(k0, inv_z), z1 = _mm512_maskz_loadu_ps(k1, inv_z + 16);
  const __m512 d0 = _mm512_maskz_loadu_ps(k0, delta), d1 = _mm512_maskz_loadu_ps(k1, delta + 16);
  const __m512 sc = _mm512_set1_ps(scale);
  for (int r = 0; r < rows; ++r) {
    const int i = r * kTile;
    const __mmask16 live0 = (valid_rows >> r) & 1u ? k0 : __mmask16(0);
    const __mmask16 live1 = (valid_rows >> r) & 1u ? k1 : __mmask16(0);
    const __m512 p0 = _mm512_maskz_mul_ps(live0, vexp<V>(_mm512_sub_ps(_mm512_loadu_ps(s + i), m0)), z0);
    const __m512 p1 = _mm512_maskz_mul_ps(live1, vexp<V>(_mm512_sub_ps(_mm512_loadu_ps(s + i + 16), m1)), z1);
    _mm512_storeu_ps(p + i, p0);
    _mm512_storeu_ps(p + i + 16, p1);
    _mm512_storeu_ps(ds + i, _mm512_mul_ps(sc, _mm512_mul_ps(p0, _mm512_sub_ps(_mm512_loadu_ps(dp + i), d0))));
    _mm512_storeu_ps(ds + i + 16, _mm512_mul_ps(sc, _mm512_mul_ps(p1, _mm512_sub_ps(_mm512_loadu_ps(dp + i + 16), d1))));
  }
}

}  // namespace

BlockKernels block_kernels_avx512() {
  return {scores, online_softmax_cols, accumulate, product, accumulate_transposed, dscores_by_row, dscores_by_col, "avx512"};
}

}  // namespace ops
