// AVX2 block-attention micro-kernels: a tile row of 32 scores is four ymm registers; two rows
// are worked at once (eight FMA chains). Invalid lanes are cleared with blend masks.
#include <immintrin.h>

#include <cmath>
#include <limits>

#include "ops/attention/block_kernels.h"

namespace ops {
namespace {

#include "ops/simd_traits_avx2_inl.h"

#include "ops/simd_math_inl.h"

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// All-ones lanes where bit (8 * part + lane) of `bits` is set.
inline __m256 lane_mask(uint32_t bits, int part) {
  const __m256i b = _mm256_set1_epi32(static_cast<int>((bits >> (8 * part)) & 0xFFu));
  const __m256i lane_bits = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  return _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(b, lane_bits), lane_bits));
}
// Integer lane mask for the first `left` of 8 columns (maskload/maskstore).
inline __m256i first_lanes(int64_t left) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(left < 0 ? 0 : left > 8 ? 8 : left)), idx);
}
inline uint32_t first_bits(int n) { return n >= 32 ? 0xFFFFFFFFu : (1u << n) - 1; }

inline float hsum(__m256 x) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
}
inline float hmax(__m256 x) {
  const __m128 s = _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
  const __m128 t = _mm_max_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_max_ss(t, _mm_shuffle_ps(t, t, 1)));
}

template <int RR>
inline void scores_rows(int r, int64_t d, const float* a, int64_t lda, const float* packed, float scale, float* s) {
  __m256 acc[RR][4];
  for (int q = 0; q < RR; ++q)
    for (int c = 0; c < 4; ++c) acc[q][c] = _mm256_setzero_ps();
  for (int64_t t = 0; t < d; ++t) {
    __m256 b[4];
    for (int c = 0; c < 4; ++c) b[c] = _mm256_load_ps(packed + t * kTile + 8 * c);
    for (int q = 0; q < RR; ++q) {
      const __m256 x = _mm256_set1_ps(a[(r + q) * lda + t]);
      for (int c = 0; c < 4; ++c) acc[q][c] = _mm256_fmadd_ps(x, b[c], acc[q][c]);
    }
  }
  const __m256 sc = _mm256_set1_ps(scale);
  for (int q = 0; q < RR; ++q)
    for (int c = 0; c < 4; ++c) _mm256_storeu_ps(s + (r + q) * kTile + 8 * c, _mm256_mul_ps(sc, acc[q][c]));
}

void scores(int rows, int64_t d, const float* a, int64_t lda, const float* packed, float scale, float* s) {
  int r = 0;
  for (; r + 2 <= rows; r += 2) scores_rows<2>(r, d, a, lda, packed, scale, s);
  for (; r < rows; ++r) scores_rows<1>(r, d, a, lda, packed, scale, s);
}

void online_softmax_cols(int rows, uint32_t valid_rows, float* s, float* m, float* l, float* alpha) {
  const __m256 neg_inf = _mm256_set1_ps(kNegInf);
  __m256 mx[4], old[4], sum[4];
  for (int h = 0; h < 4; ++h) old[h] = mx[h] = _mm256_loadu_ps(m + 8 * h);
  for (int k = 0; k < rows; ++k)
    if ((valid_rows >> k) & 1u)
      for (int h = 0; h < 4; ++h) mx[h] = _mm256_max_ps(mx[h], _mm256_loadu_ps(s + k * kTile + 8 * h));
  for (int h = 0; h < 4; ++h) {
    const __m256 started = _mm256_cmp_ps(old[h], neg_inf, _CMP_NEQ_OQ);  // exactly 0 from the empty start
    const __m256 a = _mm256_and_ps(started, vexp<V>(_mm256_sub_ps(old[h], mx[h])));
    _mm256_storeu_ps(alpha + 8 * h, a);
    sum[h] = _mm256_mul_ps(a, _mm256_loadu_ps(l + 8 * h));
    _mm256_storeu_ps(m + 8 * h, mx[h]);
  }
  for (int k = 0; k < rows; ++k) {
    float* row = s + k * kTile;
    const bool valid = (valid_rows >> k) & 1u;
    for (int h = 0; h < 4; ++h) {
      const __m256 p = valid ? vexp<V>(_mm256_sub_ps(_mm256_loadu_ps(row + 8 * h), mx[h])) : _mm256_setzero_ps();
      _mm256_storeu_ps(row + 8 * h, p);
      sum[h] = _mm256_add_ps(sum[h], p);
    }
  }
  for (int h = 0; h < 4; ++h) _mm256_storeu_ps(l + 8 * h, sum[h]);
}

// Transposed: weights p[c * kTile + r]; Overwrite: o is not read.
template <int RR, bool Transposed = false, bool Overwrite = false>
inline void accumulate_rows(int r, int cols, int64_t d, const float* p, const float* v, int64_t ldv,
                            const float* alpha, float* o, int64_t ldo) {
  for (int64_t j0 = 0; j0 < d; j0 += 16) {
    const __m256i m0 = first_lanes(d - j0), m1 = first_lanes(d - j0 - 8);
    __m256 acc[RR][2];
    for (int q = 0; q < RR; ++q) {
      float* orow = o + (r + q) * ldo + j0;
      acc[q][0] = Overwrite ? _mm256_setzero_ps() : _mm256_maskload_ps(orow, m0);
      acc[q][1] = Overwrite ? _mm256_setzero_ps() : _mm256_maskload_ps(orow + 8, m1);
      if (alpha) {
        const __m256 a = _mm256_set1_ps(alpha[r + q]);
        acc[q][0] = _mm256_mul_ps(a, acc[q][0]);
        acc[q][1] = _mm256_mul_ps(a, acc[q][1]);
      }
    }
    for (int c = 0; c < cols; ++c) {
      const __m256 v0 = _mm256_maskload_ps(v + c * ldv + j0, m0);
      const __m256 v1 = _mm256_maskload_ps(v + c * ldv + j0 + 8, m1);
      for (int q = 0; q < RR; ++q) {
        const __m256 w = _mm256_set1_ps((Transposed ? p[c * kTile + r + q] : p[(r + q) * kTile + c]));
        acc[q][0] = _mm256_fmadd_ps(w, v0, acc[q][0]);
        acc[q][1] = _mm256_fmadd_ps(w, v1, acc[q][1]);
      }
    }
    for (int q = 0; q < RR; ++q) {
      float* orow = o + (r + q) * ldo + j0;
      _mm256_maskstore_ps(orow, m0, acc[q][0]);
      _mm256_maskstore_ps(orow + 8, m1, acc[q][1]);
    }
  }
}

void accumulate(int rows, int cols, int64_t d, const float* p, const float* v, int64_t ldv, float* o, int64_t ldo) {
  int r = 0;
  for (; r + 4 <= rows; r += 4) accumulate_rows<4>(r, cols, d, p, v, ldv, nullptr, o, ldo);
  for (; r < rows; ++r) accumulate_rows<1>(r, cols, d, p, v, ldv, nullptr, o, ldo);
}

void product(int rows, int cols, int64_t d, const float* p, const float* v, int64_t ldv, float* o, int64_t ldo) {
  int r = 0;
  for (; r + 4 <= rows; r += 4) accumulate_rows<4, false, true>(r, cols, d, p, v, ldv, nullptr, o, ldo);
  for (; r < rows; ++r) accumulate_rows<1, false, true>(r, cols, d, p, v, ldv, nullptr, o, ldo);
}

void accumulate_transposed(int rows, int cols, int64_t d, const float* p, const float* v, int64_t ldv,
                           const float* alpha, float* o, int64_t ldo) {
  int r = 0;
  for (; r + 4 <= rows; r += 4) accumulate_rows<4, true, false>(r, cols, d, p, v, ldv, alpha, o, ldo);
  for (; r < rows; ++r) accumulate_rows<1, true, false>(r, cols, d, p, v, ldv, alpha, o, ldo);
}

void dscores_by_row(int rows, uint32_t valid_cols, const float* s, const float* dp, const float* m,
                    const float* inv_z, const float* delta, float scale, float* p, float* ds) {
  __m256 keep[4];
  for (int c = 0; c < 4; ++c) keep[c] = lane_mask(valid_cols, c);
  const __m256 sc = _mm256_set1_ps(scale);
  for (int r = 0; r < rows; ++r) {
    const __m256 vm = _mm256_set1_ps(m[r]), iz = _mm256_set1_ps(inv_z[r]), dl = _mm256_set1_ps(delta[r]);
    for (int c = 0; c < 4; ++c) {
      const int i = r * kTile + 8 * c;
      const __m256 pv = _mm256_and_ps(keep[c], _mm256_mul_ps(vexp<V>(_mm256_sub_ps(_mm256_loadu_ps(s + i), vm)), iz));
      if (p) _mm256_storeu_ps(p + i, pv);
      _mm256_storeu_ps(ds + i, _mm256_mul_ps(sc, _mm256_mul_ps(pv, _mm256_sub_ps(_mm256_loadu_ps(dp + i), dl))));
    }
  }
}

void dscores_by_col(int rows, uint32_t valid_rows, int cols, const float* s, const float* dp, const float* m,
                    const float* inv_z, const float* delta, float scale, float* p, float* ds) {
  const uint32_t colbits = first_bits(cols);
  __m256 keep[4], mv[4], zv[4], dv[4];
  for (int c = 0; c < 4; ++c) {
    keep[c] = lane_mask(colbits, c);
    const __m256i lanes = first_lanes(cols - 8 * c);
    mv[c] = _mm256_maskload_ps(m + 8 * c, lanes);
    zv[c] = _mm256_maskload_ps(inv_z + 8 * c, lanes);
    dv[c] = _mm256_maskload_ps(delta + 8 * c, lanes);
  }
  const __m256 sc = _mm256_set1_ps(scale);
  for (int r = 0; r < rows; ++r) {
    const bool live = (valid_rows >> r) & 1u;
    for (int c = 0; c < 4; ++c) {
      const int i = r * kTile + 8 * c;
      __m256 pv = _mm256_setzero_ps();
      if (live) pv = _mm256_and_ps(keep[c], _mm256_mul_ps(vexp<V>(_mm256_sub_ps(_mm256_loadu_ps(s + i), mv[c])), zv[c]));
      _mm256_storeu_ps(p + i, pv);
      _mm256_storeu_ps(ds + i, _mm256_mul_ps(sc, _mm256_mul_ps(pv, _mm256_sub_ps(_mm256_loadu_ps(dp + i), dv[c]))));
    }
  }
}

}  // namespace

BlockKernels block_kernels_avx2() {
  return {scores, online_softmax_cols, accumulate, product, accumulate_transposed, dscores_by_row, dscores_by_col, "avx2"};
}

}  // namespace ops
