// AVX-512 sparse product. A row of D floats is held in up to four zmm accumulators (64
// columns) while the L links stream in; wider rows take several passes. Tails are masked.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <utility>
#include <vector>

#include "engine/parallel.h"
#include "engine/threads.h"
#include "ops/paramixer/mix_kernels.h"

namespace ops {
namespace {

inline __mmask16 tail_mask(int64_t left) {
  return left >= 16 ? __mmask16(0xFFFF) : left <= 0 ? __mmask16(0) : __mmask16((1u << left) - 1);
}

// The shared inner loop of every kernel here: for RR rows at once,
//   out(r)[c0 .. c0+16*NV) = [scale(r) *] ([out(r)] + [self(r)] + sum_k coef(r, k) * row(r, k)[c0 ..])
// masked to D columns (scale(r) may be nullptr). RR * NV independent accumulator chains hide the FMA latency (one row
// of D = 32 alone would give only two). `job` supplies coef, row, self (or nullptr) and out.
template <int RR, int NV, class Job>
inline void weighted_rows_block(int64_t K, int64_t D, int64_t c0, const Job& job, int64_t r, bool accumulate) {
  __mmask16 m[NV];
  __m512 acc[RR][NV];
  for (int c = 0; c < NV; ++c) m[c] = tail_mask(D - c0 - 16 * c);
  for (int q = 0; q < RR; ++q) {
    const float* self = job.self(r + q);
    float* o = job.out(r + q) + c0;
    for (int c = 0; c < NV; ++c) {
      acc[q][c] = accumulate ? _mm512_maskz_loadu_ps(m[c], o + 16 * c) : _mm512_setzero_ps();
      if (self) acc[q][c] = _mm512_add_ps(acc[q][c], _mm512_maskz_loadu_ps(m[c], self + c0 + 16 * c));
    }
  }
  for (int64_t k = 0; k < K; ++k) {
#pragma GCC unroll 4
    for (int q = 0; q < RR; ++q) {
      const __m512 wk = _mm512_set1_ps(job.coef(r + q, k));
      const float* src = job.row(r + q, k) + c0;
#pragma GCC unroll 4
      for (int c = 0; c < NV; ++c) acc[q][c] = _mm512_fmadd_ps(wk, _mm512_maskz_loadu_ps(m[c], src + 16 * c), acc[q][c]);
    }
  }
  for (int q = 0; q < RR; ++q) {
    const float* scale = job.scale(r + q);
    for (int c = 0; c < NV; ++c) {
      if (scale) acc[q][c] = _mm512_mul_ps(acc[q][c], _mm512_maskz_loadu_ps(m[c], scale + c0 + 16 * c));
      _mm512_mask_storeu_ps(job.out(r + q) + c0 + 16 * c, m[c], acc[q][c]);
    }
  }
}

template <int RR, class Job>
inline void weighted_rows_cols(int64_t K, int64_t D, const Job& job, int64_t r, bool accumulate) {
  for (int64_t c0 = 0; c0 < D; c0 += 64) {
    const int64_t left = D - c0;
    if (left > 48)
      weighted_rows_block<RR, 4>(K, D, c0, job, r, accumulate);
    else if (left > 32)
      weighted_rows_block<RR, 3>(K, D, c0, job, r, accumulate);
    else if (left > 16)
      weighted_rows_block<RR, 2>(K, D, c0, job, r, accumulate);
    else
      weighted_rows_block<RR, 1>(K, D, c0, job, r, accumulate);
  }
}

// Rows [r0, r1): RR at a time, then one at a time. RR > 1 pays when the rows share their
// `row(k)` loads (a weight matrix); the sparse product's gathers are load-bound, so RR = 1.
template <int RR, class Job>
inline void weighted_rows(int64_t K, int64_t D, const Job& job, int64_t r0, int64_t r1, bool accumulate) {
  int64_t r = r0;
  if constexpr (RR > 1)
    for (; r + RR <= r1; r += RR) weighted_rows_cols<RR>(K, D, job, r, accumulate);
  for (; r < r1; ++r) weighted_rows_cols<1>(K, D, job, r, accumulate);
}

// Past mix_prefetch_gathers' threshold each gathered row's successor kPrefetchRows rows on is
// prefetched: BM_ChordForwardBackward 1 thread N = 2^14 65 -> 46 ms, 2^16 327 -> 232 ms; below
// it the prefetches only cost (forward at 2^10 0.28 -> 0.32 ms).
constexpr int64_t kPrefetchRows = 8;

inline void prefetch(const float* p) { _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0); }

// How far ahead the fused dW + dV pass fetches its own rows of V when the gathers need no
// prefetch: the Paramixer step at N = 1024, 2 threads, 41.6-43.8 -> 39.9-40.6 ms at 16 rows
// (8: 40.1-41.3, 32: 39.5-40.7, 64: 40.3-41.1; `longmix scaling --workload train`, A/B).
constexpr int64_t kStatePrefetchRows = 16;

// Which rows a kernel gathers: the product's rows read row (i + o_k) mod N (up), dV's gather
// (i - o_k) mod N (down).
enum class Gather { up, down };

// The most links the wrap-free kernels take (Chord has log2(N) + 1, CDIL 9).
constexpr int64_t kMaxRunLinks = 32;

// Calls body(first, i0, i1, shift) for the runs of rows [r0, r1): each inside one batch element
// (whose first row is `first`) and cut wherever a link's source wraps past the element's end,
// so that within a run link k reads row i + shift[k] of the element for every i in [i0, i1).
template <class Body>
inline void for_each_wrap_free_run(const MixDims& d, const int64_t* offsets, Gather gather, int64_t r0, int64_t r1,
                                   Body&& body) {
  int64_t cuts[kMaxRunLinks + 1], shift[kMaxRunLinks];
  for (int64_t r = r0; r < r1;) {
    const int64_t first = r / d.N * d.N, i_begin = r - first, i_end = std::min(r1, first + d.N) - first;
    int n = 0;
    for (int64_t k = 0; k < d.L; ++k) {
      const int64_t o = offsets[k], at = gather == Gather::up ? d.N - o : o;  // the first row past the wrap
      if (o != 0 && at > i_begin && at < i_end) cuts[n++] = at;
    }
    cuts[n++] = i_end;
    std::sort(cuts, cuts + n);
    for (int64_t c = 0, i0 = i_begin; c < n; ++c) {
      if (cuts[c] == i0) continue;
      for (int64_t k = 0; k < d.L; ++k)
        shift[k] = (gather == Gather::up ? mix_src(i0, offsets[k], d.N) : mix_dst(i0, offsets[k], d.N)) - i0;
      body(first, i0, cuts[c], static_cast<const int64_t*>(shift));
      i0 = cuts[c];
    }
    r = first + i_end;
  }
}

// A run's addresses: row i's link k has its weight at coef[k][i * L] and its row at
// src[k] + i * D; self (or nullptr) and out at + i * D.
struct RunRows {
  const float* coef[kMaxRunLinks];
  const float* src[kMaxRunLinks];
  const float* self;
  float* out;
};

// Rows [i0, i1) of one run, D = 16 * NV (D = 16, 32, 48, 64: every preset's width), whole
// vectors without masks:
//   out(i) = [out(i) if accumulate] + [self(i)] + sum_k coef(i, k) * src(i, k)
// Each address is one multiply-add from the run's bases, with no wrap test per link and no
// division per row, and below the prefetch threshold the links are unrolled: against per-row
// jobs with mix_src per link, BM_ChordForward at N = 1024 0.27 -> 0.20 ms on 1 thread, 0.22 ->
// 0.12-0.14 ms on 2 (one element in cache: 8.1 -> 5.3 us); 4096 and up unchanged.
template <Gather G, int NV, bool Prefetch>
inline void wrap_free_rows(const RunRows& p, int64_t L, int64_t D, int64_t i0, int64_t i1, bool accumulate) {
  for (int64_t i = i0; i < i1; ++i) {
    float* o = p.out + i * D;
    __m512 acc[NV], odd[NV];  // odd links in a second chain: half the FMA latency per row
    for (int c = 0; c < NV; ++c) {
      acc[c] = accumulate ? _mm512_loadu_ps(o + 16 * c) : _mm512_setzero_ps();
      if (p.self) acc[c] = _mm512_add_ps(acc[c], _mm512_loadu_ps(p.self + i * D + 16 * c));
      odd[c] = _mm512_setzero_ps();
    }
    auto add_link = [&](int64_t k, __m512* to) {
      // up: the row's own weights, one pointer (coef[k] = coef[0] + k) for all links
      const __m512 wk = _mm512_set1_ps(G == Gather::up ? p.coef[0][i * L + k] : p.coef[k][i * L]);
      const float* src = p.src[k] + i * D;
      if constexpr (Prefetch)
        for (int c = 0; c < NV; ++c) prefetch(src + kPrefetchRows * 16 * NV + 16 * c);
      for (int c = 0; c < NV; ++c) to[c] = _mm512_fmadd_ps(wk, _mm512_loadu_ps(src + 16 * c), to[c]);
    };
    if constexpr (Prefetch) {  // a loop over link pairs: unrolled, the streaming sizes ran 1.5x slower
      int64_t k = 0;
      for (; k + 1 < L; k += 2) {
        add_link(k, acc);
        add_link(k + 1, odd);
      }
      if (k < L) add_link(k, acc);
    } else {
#pragma GCC unroll 32
      for (int k = 0; k < kMaxRunLinks; ++k)
        if (k < L) add_link(k, k % 2 ? odd : acc);
    }
    for (int c = 0; c < NV; ++c) _mm512_storeu_ps(o + 16 * c, _mm512_add_ps(acc[c], odd[c]));
  }
}

template <Gather G, bool Prefetch>
inline void wrap_free_rows(const RunRows& p, int64_t L, int64_t D, int64_t i0, int64_t i1, bool accumulate) {
  switch (D) {
    case 16: return wrap_free_rows<G, 1, Prefetch>(p, L, D, i0, i1, accumulate);
    case 32: return wrap_free_rows<G, 2, Prefetch>(p, L, D, i0, i1, accumulate);
    case 48: return wrap_free_rows<G, 3, Prefetch>(p, L, D, i0, i1, accumulate);
    default: return wrap_free_rows<G, 4, Prefetch>(p, L, D, i0, i1, accumulate);
  }
}

// Rows [r0, r1) of the product (Gather::up: out = [rows(i)] + sum_k w[i, k] rows(i + o_k)) or of
// dV's gather (Gather::down: sum_k w[s_k, k] rows(s_k), s_k = i - o_k), rows being v or dout,
// through wrap_free_rows when D is 16, 32, 48 or 64 and L <= kMaxRunLinks; returns false
// (having done nothing) otherwise.
template <Gather G>
inline bool full_width(const MixDims& d, const int64_t* offsets, const float* w, const float* rows, bool residual,
                       float* out, int64_t r0, int64_t r1, bool accumulate) {
  if (d.D % 16 != 0 || d.D > 64 || d.L > kMaxRunLinks) return false;
  const bool prefetch_rows = mix_prefetch_gathers(d);
  for_each_wrap_free_run(d, offsets, G, r0, r1, [&](int64_t first, int64_t i0, int64_t i1, const int64_t* shift) {
    RunRows p;
    for (int64_t k = 0; k < d.L; ++k) {
      p.src[k] = rows + (first + shift[k]) * d.D;
      p.coef[k] = w + (first + (G == Gather::up ? 0 : shift[k])) * d.L + k;
    }
    p.self = residual ? rows + first * d.D : nullptr;
    p.out = out + first * d.D;
    if (prefetch_rows)
      wrap_free_rows<G, true>(p, d.L, d.D, i0, i1, accumulate);
    else
      wrap_free_rows<G, false>(p, d.L, d.D, i0, i1, accumulate);
  });
  return true;
}

// out[r] = [v[r]] + sum_k w[r,k] v[src(r,k)]. The job is made per row, so that the row's
// position i = r mod N is divided out once, not once per link (a 64-bit division per link
// cost more than the row's loads and FMAs together).
void forward(const MixDims& d, const int64_t* offsets, const float* w, const float* v, bool residual,
             float* out) {
  struct Job {
    const MixDims& d;
    const int64_t* offsets;
    const float *w, *v;
    bool residual;
    float* o;
    int64_t first, i;  // the row's batch starts at row `first`; the row is `i` within it
    float coef(int64_t r, int64_t k) const { return w[r * d.L + k]; }
    const float* row(int64_t, int64_t k) const { return v + (first + mix_src(i, offsets[k], d.N)) * d.D; }
    const float* self(int64_t r) const { return residual ? v + r * d.D : nullptr; }
    const float* scale(int64_t) const { return nullptr; }
    float* out(int64_t r) const { return o + r * d.D; }
  };
  engine::parallel_ranges(d.B * d.N, mix_row_grain(d), [&](int64_t r0, int64_t r1) {
    if (full_width<Gather::up>(d, offsets, w, v, residual, out, r0, r1, false)) return;
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t i = r % d.N;
      weighted_rows_cols<1>(d.L, d.D, Job{d, offsets, w, v, residual, out, r - i, i}, r, false);
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
// With Prefetch, each source's row `prefetch_ahead` floats on is fetched (mix_prefetch_gathers).
template <int NV, bool Prefetch>
inline void link_dots16(int64_t D, const __m512 g[NV], const float* const src[16], int64_t nk, bool accumulate,
                        int64_t prefetch_ahead, float* out) {
  __m512 acc[16];
#pragma GCC unroll 16
  for (int k = 0; k < 16; ++k) {
    acc[k] = _mm512_setzero_ps();
    if (k < nk) {
#pragma GCC unroll 4
      for (int c = 0; c < NV; ++c) {
        if constexpr (Prefetch) prefetch(src[k] + prefetch_ahead + 16 * c);
        acc[k] = _mm512_fmadd_ps(g[c], _mm512_maskz_loadu_ps(tail_mask(D - 16 * c), src[k] + 16 * c), acc[k]);
      }
    }
  }
  const __mmask16 km = tail_mask(nk);
  const __m512 prior = accumulate ? _mm512_maskz_loadu_ps(km, out) : _mm512_setzero_ps();
  _mm512_mask_storeu_ps(out, km, _mm512_add_ps(prior, sum_lanes16(acc)));
}

template <int NV, bool Prefetch>
void backward_w_rows(const MixDims& d, const int64_t* offsets, const float* dout, const float* v, bool accumulate,
                     float* dw, int64_t r0, int64_t r1) {
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
        link_dots16<NV, Prefetch>(width, g, src, nk, accumulate || c0 > 0, kPrefetchRows * d.D,
                                  dw + r * d.L + k0);  // later passes add
      }
    }
  }
}

template <bool Prefetch>
void backward_w_width(const MixDims& d, const int64_t* offsets, const float* dout, const float* v, bool accumulate,
                      float* dw, int64_t r0, int64_t r1) {
  if (d.D <= 16)
    backward_w_rows<1, Prefetch>(d, offsets, dout, v, accumulate, dw, r0, r1);
  else if (d.D <= 32)
    backward_w_rows<2, Prefetch>(d, offsets, dout, v, accumulate, dw, r0, r1);
  else if (d.D <= 48)
    backward_w_rows<3, Prefetch>(d, offsets, dout, v, accumulate, dw, r0, r1);
  else
    backward_w_rows<4, Prefetch>(d, offsets, dout, v, accumulate, dw, r0, r1);
}

void backward_w(const MixDims& d, const int64_t* offsets, const float* dout, const float* v, bool accumulate,
                float* dw) {
  engine::parallel_ranges(d.B * d.N, mix_row_grain(d), [&](int64_t r0, int64_t r1) {
    if (mix_prefetch_gathers(d))
      backward_w_width<true>(d, offsets, dout, v, accumulate, dw, r0, r1);
    else
      backward_w_width<false>(d, offsets, dout, v, accumulate, dw, r0, r1);
  });
}

// dv[j] += [dout[j]] + sum_k w[s,k] dout[s], s = (j - o_k) mod N: a gather, rows of dv owned.
void backward_v(const MixDims& d, const int64_t* offsets, const float* dout, const float* w, bool residual,
                bool accumulate, float* dv) {
  struct Job {  // made per row, as in forward
    const MixDims& d;
    const int64_t* offsets;
    const float *dout, *w;
    bool residual;
    float* dv;
    int64_t first, j;
    int64_t src(int64_t k) const { return first + mix_dst(j, offsets[k], d.N); }
    float coef(int64_t, int64_t k) const { return w[src(k) * d.L + k]; }
    const float* row(int64_t, int64_t k) const { return dout + src(k) * d.D; }
    const float* self(int64_t r) const { return residual ? dout + r * d.D : nullptr; }
    const float* scale(int64_t) const { return nullptr; }
    float* out(int64_t r) const { return dv + r * d.D; }
  };
  engine::parallel_ranges(d.B * d.N, mix_row_grain(d), [&](int64_t r0, int64_t r1) {
    if (full_width<Gather::down>(d, offsets, w, dout, residual, dv, r0, r1, accumulate)) return;
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t j = r % d.N;
      weighted_rows_cols<1>(d.L, d.D, Job{d, offsets, dout, w, residual, dv, r - j, j}, r, accumulate);
    }
  });
}

// t[q] <- column q of the 16 x 16 matrix whose rows are t[0 .. 15].
inline void transpose16(__m512 t[16]) {
  __m512 a[16];
  for (int i = 0; i < 8; ++i) {  // pairs of rows interleaved within 128-bit lanes
    a[2 * i] = _mm512_unpacklo_ps(t[2 * i], t[2 * i + 1]);
    a[2 * i + 1] = _mm512_unpackhi_ps(t[2 * i], t[2 * i + 1]);
  }
  for (int g = 0; g < 4; ++g)  // u[4g + m]: column 4l + m of rows 4g .. 4g+3, in lane l
    for (int h = 0; h < 2; ++h) {
      const __m512d x = _mm512_castps_pd(a[4 * g + h]), y = _mm512_castps_pd(a[4 * g + 2 + h]);
      t[4 * g + 2 * h] = _mm512_castpd_ps(_mm512_unpacklo_pd(x, y));
      t[4 * g + 2 * h + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(x, y));
    }
  for (int m = 0; m < 4; ++m) {  // the four lanes l of column 4l + m brought together
    const __m512 v = _mm512_shuffle_f32x4(t[m], t[4 + m], 0x88), w = _mm512_shuffle_f32x4(t[m], t[4 + m], 0xDD);
    const __m512 x = _mm512_shuffle_f32x4(t[8 + m], t[12 + m], 0x88),
                 y = _mm512_shuffle_f32x4(t[8 + m], t[12 + m], 0xDD);
    a[m] = _mm512_shuffle_f32x4(v, x, 0x88);
    a[8 + m] = _mm512_shuffle_f32x4(v, x, 0xDD);
    a[4 + m] = _mm512_shuffle_f32x4(w, y, 0x88);
    a[12 + m] = _mm512_shuffle_f32x4(w, y, 0xDD);
  }
  for (int q = 0; q < 16; ++q) t[q] = a[q];
}

// Rows j0 .. j0+n-1 of a batch element (n <= 16, j0 a multiple of 16): sums[q] holds row
// j0+q's dots, lane k for link k, which belong at dwt[k, (j0 + q - o_k) mod N]: for each link
// 16 consecutive entries, split in two where they wrap past the element's first row.
inline void store_link_group(const MixDims& d, const int64_t* offsets, int64_t j0, int64_t n, const float (*sums)[16],
                             float* dwt) {
  __m512 t[16];
  for (int q = 0; q < 16; ++q) t[q] = _mm512_load_ps(sums[q]);  // rows past n: stale, masked out
  transpose16(t);
  const __mmask16 rows = tail_mask(n);
  for (int64_t k = 0; k < d.L; ++k) {
    const int64_t start = j0 - offsets[k];
    float* col = dwt + k * d.N;
    if (start >= 0) {
      _mm512_mask_storeu_ps(col + start, rows, t[k]);
    } else {  // lanes q < -start wrap to the element's end; the rest start at its row 0
      const __mmask16 wrapped = rows & tail_mask(-start), rest = rows & __mmask16(~wrapped);
      _mm512_mask_storeu_ps(col + start + d.N, wrapped, t[k]);
      _mm512_mask_storeu_ps(col, tail_mask(__builtin_popcount(rest)), _mm512_maskz_compress_ps(rest, t[k]));
    }
  }
}

// dW and dV in one pass over the rows j of dV (full-width rows, L <= 16). Row j gathers
// dY[s_k], s_k = (j - o_k) mod N, for dV[j] as backward_v does, and the same loads give
// dW[s_k, k] = < dY[s_k], V[j] >, since V[s_k + o_k] is row j's own V: the separate dW pass's
// gathers of V and loads of dY go away. Each element of dW is written by exactly one row j
// (no atomics). Operands and order are those of backward_w and backward_v: the same bits.
//
// Transposed: rows r0 .. r1 are one batch element's, and dw is that element's (L, N) scratch:
// dots[k] goes to dw[k, s_k], written whole (no accumulate), for transpose_links_into_dw.
// Sixteen rows' sums are gathered first and written as one vector per link (store_link_group):
// in dW's own (N, L) layout each row stores L scalars, and every line of dW is written by L
// rows up to N/2 apart (at N = 1024 a quarter of the pass was those stores and their L1 misses).
template <int NV, bool Prefetch, bool Transposed>
void backward_wv_rows(const MixDims& d, const int64_t* offsets, const float* dout, const float* v, const float* w,
                      bool residual, bool dw_accumulate, float* dw, bool dv_accumulate, float* dv, int64_t r0,
                      int64_t r1) {
  alignas(64) float group[16][16];  // Transposed: the current 16 rows' sums
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t first = r / d.N * d.N, j = r - first;
    const float *dout_b = dout + first * d.D, *w_b = w + first * d.L;
    float* dw_b = Transposed ? dw : dw + first * d.L;
    __m512 vj[NV], even[NV], odd[NV], dots[16];
    for (int c = 0; c < NV; ++c) {
      vj[c] = _mm512_loadu_ps(v + r * d.D + 16 * c);
      even[c] = dv_accumulate ? _mm512_loadu_ps(dv + r * d.D + 16 * c) : _mm512_setzero_ps();
      if (residual) even[c] = _mm512_add_ps(even[c], _mm512_loadu_ps(dout + r * d.D + 16 * c));
      odd[c] = _mm512_setzero_ps();
    }
    // The row's own V streams from memory (the chain's kept states were written a whole
    // forward earlier) and the hardware prefetchers fetched it too late: in a training step at
    // N = 1024 a third of this kernel's samples (perf) sat on these two loads.
    for (int c = 0; c < NV; ++c) prefetch(v + (r + (Prefetch ? kPrefetchRows : kStatePrefetchRows)) * d.D + 16 * c);
    float* dw_of[16];  // where dots[k] goes: dW[s_k, k]
#pragma GCC unroll 16
    for (int k = 0; k < 16; ++k) {
      dots[k] = _mm512_setzero_ps();
      if (k < d.L) {
        const int64_t s = mix_dst(j, offsets[k], d.N);
        if constexpr (!Transposed) dw_of[k] = dw_b + s * d.L + k;
        const float* y = dout_b + s * d.D;
        const __m512 wk = _mm512_set1_ps(w_b[s * d.L + k]);
        if constexpr (Prefetch) {
          for (int c = 0; c < NV; ++c) prefetch(y + kPrefetchRows * d.D + 16 * c);
          prefetch(w_b + (s + kPrefetchRows) * d.L + k);
        }
        __m512* to = k % 2 ? odd : even;
#pragma GCC unroll 4
        for (int c = 0; c < NV; ++c) {
          const __m512 yc = _mm512_loadu_ps(y + 16 * c);
          to[c] = _mm512_fmadd_ps(wk, yc, to[c]);
          dots[k] = _mm512_fmadd_ps(yc, vj[c], dots[k]);
        }
      }
    }
    for (int c = 0; c < NV; ++c) _mm512_storeu_ps(dv + r * d.D + 16 * c, _mm512_add_ps(even[c], odd[c]));
    if constexpr (Transposed) {
      const int64_t q = j % 16;
      _mm512_store_ps(group[q], sum_lanes16(dots));
      if (q == 15 || j == d.N - 1) store_link_group(d, offsets, j - q, q + 1, group, dw_b);
      continue;
    }
    alignas(64) float sums[16];
    _mm512_store_ps(sums, sum_lanes16(dots));
    // Unrolled scalar stores: left as a loop, GCC vectorized it into vpmullq and vscatterqps,
    // a third of the kernel's time.
#pragma GCC unroll 16
    for (int k = 0; k < 16; ++k)
      if (k < d.L) *dw_of[k] = (dw_accumulate ? *dw_of[k] : 0.f) + sums[k];
  }
}

// dw_b (N, L) [+]= the transpose of dwt (L, N), 16 rows at a time; the same
// (accumulate ? dw : 0) + dot as the direct stores, so the same bits.
void transpose_links_into_dw(const MixDims& d, const float* dwt, bool accumulate, float* dw_b) {
  const __mmask16 links = tail_mask(d.L);
  for (int64_t s0 = 0; s0 < d.N; s0 += 16) {
    const __mmask16 rows = tail_mask(d.N - s0);
    __m512 t[16];
    for (int k = 0; k < 16; ++k)
      t[k] = k < d.L ? _mm512_maskz_loadu_ps(rows, dwt + k * d.N + s0) : _mm512_setzero_ps();
    transpose16(t);
    for (int64_t q = 0; q < std::min<int64_t>(16, d.N - s0); ++q) {
      float* out = dw_b + (s0 + q) * d.L;
      const __m512 prior = accumulate ? _mm512_maskz_loadu_ps(links, out) : _mm512_setzero_ps();
      _mm512_mask_storeu_ps(out, links, _mm512_add_ps(prior, t[q]));
    }
  }
}

bool backward_wv(const MixDims& d, const int64_t* offsets, const float* dout, const float* v, const float* w,
                 bool residual, bool dw_accumulate, float* dw, bool dv_accumulate, float* dv) {
  using Rows = void (*)(const MixDims&, const int64_t*, const float*, const float*, const float*, bool, bool, float*,
                        bool, float*, int64_t, int64_t);
  if (d.L > 16 || d.D % 16 != 0 || d.D > 64 || !mix_dw_stays_in_l2(d)) return false;
  static constexpr Rows kRows[2][2][4] = {
      {{backward_wv_rows<1, false, false>, backward_wv_rows<2, false, false>, backward_wv_rows<3, false, false>,
        backward_wv_rows<4, false, false>},
       {backward_wv_rows<1, true, false>, backward_wv_rows<2, true, false>, backward_wv_rows<3, true, false>,
        backward_wv_rows<4, true, false>}},
      {{backward_wv_rows<1, false, true>, backward_wv_rows<2, false, true>, backward_wv_rows<3, false, true>,
        backward_wv_rows<4, false, true>},
       {backward_wv_rows<1, true, true>, backward_wv_rows<2, true, true>, backward_wv_rows<3, true, true>,
        backward_wv_rows<4, true, true>}}};
  // Whole batch elements per thread when there are enough of them (the chain's calls, one
  // element each inside its own parallel loop, always): dW through the transposed scratch.
  // Else rows split over the threads, dW stored in place.
  const bool per_element = d.B >= engine::threads_here();
  const Rows rows = kRows[per_element][mix_prefetch_gathers(d)][d.D / 16 - 1];
  if (!per_element) {
    engine::parallel_ranges(d.B * d.N, mix_row_grain(d), [&](int64_t r0, int64_t r1) {
      rows(d, offsets, dout, v, w, residual, dw_accumulate, dw, dv_accumulate, dv, r0, r1);
    });
    return true;
  }
  engine::parallel_for(d.B, 1, [&](int64_t b0, int64_t b1) {
    thread_local std::vector<float> dwt;  // (L, N): grows once, then reused
    dwt.resize(d.L * d.N);
    for (int64_t b = b0; b < b1; ++b) {
      rows(d, offsets, dout, v, w, residual, false, dwt.data(), dv_accumulate, dv, b * d.N, (b + 1) * d.N);
      transpose_links_into_dw(d, dwt.data(), dw_accumulate, dw + b * d.N * d.L);
    }
  });
  return true;
}

// Rows per block in the link-head kernel: four rows share each w2 row load.
constexpr int kLinkRows = 4;

void link_dhidden(const LinkDims& d, const float* dout, const float* w2, const float* scale, float* dh) {
  const int64_t MH = d.M * d.H;
  engine::parallel_for(d.n, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t m = 0; m < d.M; ++m) {
      struct Job {
        const float *dout, *w2, *scale_;
        float* dh;
        int64_t MH, H, L, m, stride;
        float coef(int64_t r, int64_t k) const { return dout[m * stride + r * L + k]; }
        const float* row(int64_t, int64_t k) const { return w2 + (m * L + k) * H; }
        const float* self(int64_t) const { return nullptr; }
        const float* scale(int64_t r) const { return scale_ + r * MH + m * H; }
        float* out(int64_t r) const { return dh + r * MH + m * H; }
      } job{dout, w2, scale, dh, MH, d.H, d.L, m, d.factor_stride};
      link_prefetch_next_rows(d, dout + m * d.factor_stride, r0, r1);
      weighted_rows<kLinkRows>(d.L, d.H, job, r0, r1, false);
    }
  });
}

// RR rows of one link head with L <= 16 * NV: out[q] = bias + sum_c h[q, c] * wt[c], wt
// holding w2[m] transposed, NV 16-float vectors per hidden unit (zero past L). RR * NV
// independent accumulators hide the FMA latency; each wt vector is loaded once for RR rows.
template <int RR, int NV>
inline void link_value_rows(int64_t H, int64_t MH, int64_t L, const float* h, const float* wt,
                            const __m512 bias[NV], float* out) {
  __m512 acc[RR][NV];
#pragma GCC unroll 16
  for (int q = 0; q < RR; ++q)
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) acc[q][v] = bias[v];
  for (int64_t c = 0; c < H; ++c) {
    __m512 w[NV];
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) w[v] = _mm512_loadu_ps(wt + (c * NV + v) * 16);
#pragma GCC unroll 16
    for (int q = 0; q < RR; ++q) {
      const __m512 hq = _mm512_set1_ps(h[q * MH + c]);
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) acc[q][v] = _mm512_fmadd_ps(hq, w[v], acc[q][v]);
    }
  }
#pragma GCC unroll 16
  for (int q = 0; q < RR; ++q)
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) _mm512_mask_storeu_ps(out + q * L + 16 * v, tail_mask(L - 16 * v), acc[q][v]);
}

// Every factor's rows [r0, r1): wt is (M, H, NV * 16), w2 transposed and zero-padded.
template <int NV>
void link_value_range(const LinkDims& d, const float* h, const float* wt, const float* b2, float* out, int64_t r0,
                      int64_t r1) {
  constexpr int RR = NV <= 2 ? 8 : 4;  // at most 16 accumulators
  const int64_t MH = d.M * d.H;
  for (int64_t m = 0; m < d.M; ++m) {
    __m512 bias[NV];
    for (int v = 0; v < NV; ++v) bias[v] = _mm512_maskz_loadu_ps(tail_mask(d.L - 16 * v), b2 + m * d.L + 16 * v);
    const float *hm = h + m * d.H, *wm = wt + m * d.H * NV * 16;
    float* om = out + m * d.factor_stride;
    int64_t r = r0;
    for (; r + RR <= r1; r += RR) link_value_rows<RR, NV>(d.H, MH, d.L, hm + r * MH, wm, bias, om + r * d.L);
    for (; r < r1; ++r) link_value_rows<1, NV>(d.H, MH, d.L, hm + r * MH, wm, bias, om + r * d.L);
  }
}

void link_values(const LinkDims& d, const float* h, const float* w2, const float* b2, float* out) {
  const int64_t MH = d.M * d.H, NV = (d.L + 15) / 16;
  if (NV > 4) {  // heads wider than 64: one reduction per output
    engine::parallel_for(d.n, 64, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t m = 0; m < d.M; ++m)
          for (int64_t l = 0; l < d.L; ++l) {
            __m512 acc = _mm512_setzero_ps();
            const float *hr = h + r * MH + m * d.H, *wr = w2 + (m * d.L + l) * d.H;
            for (int64_t c = 0; c < d.H; c += 16)
              acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail_mask(d.H - c), hr + c),
                                    _mm512_maskz_loadu_ps(tail_mask(d.H - c), wr + c), acc);
            out[m * d.factor_stride + r * d.L + l] = b2[m * d.L + l] + _mm512_reduce_add_ps(acc);
          }
    });
    return;
  }
  // Every factor's weights transposed once per call, (M, H, NV * 16), for the whole row range.
  thread_local std::vector<float> wt;  // grows once, then reused
  const int64_t Lp = NV * 16;
  wt.assign(d.M * d.H * Lp, 0.f);
  for (int64_t m = 0; m < d.M; ++m)
    for (int64_t l = 0; l < d.L; ++l)
      for (int64_t c = 0; c < d.H; ++c) wt[(m * d.H + c) * Lp + l] = w2[(m * d.L + l) * d.H + c];
  const float* wt_data = wt.data();
  engine::parallel_for(d.n, 64, [&](int64_t r0, int64_t r1) {
    switch (NV) {
      case 1: return link_value_range<1>(d, h, wt_data, b2, out, r0, r1);
      case 2: return link_value_range<2>(d, h, wt_data, b2, out, r0, r1);
      case 3: return link_value_range<3>(d, h, wt_data, b2, out, r0, r1);
      default: return link_value_range<4>(d, h, wt_data, b2, out, r0, r1);
    }
  });
}

// dw2[m][k0 .. k0+KB) x [c0 .. c0+16*NV) += sum over rows of dout[m, r, k] * h[r, m-block],
// the tile held in KB * NV registers while the rows stream past (rows added in order).
template <int KB, int NV>
void link_grad_tile(const LinkDims& d, int64_t k0, int64_t c0, const float* dout_m, const float* h_m, float* dw2_m) {
  const int64_t MH = d.M * d.H;
  __mmask16 mask[NV];
  __m512 acc[KB][NV];
#pragma GCC unroll 16
  for (int c = 0; c < NV; ++c) mask[c] = tail_mask(d.H - c0 - 16 * c);
#pragma GCC unroll 16
  for (int k = 0; k < KB; ++k)
#pragma GCC unroll 16
    for (int c = 0; c < NV; ++c) acc[k][c] = _mm512_maskz_loadu_ps(mask[c], dw2_m + (k0 + k) * d.H + c0 + 16 * c);
  for (int64_t r = 0; r < d.n; ++r) {
    __m512 hv[NV];
#pragma GCC unroll 16
    for (int c = 0; c < NV; ++c) hv[c] = _mm512_maskz_loadu_ps(mask[c], h_m + r * MH + c0 + 16 * c);
    const float* g = dout_m + r * d.L + k0;
#pragma GCC unroll 16
    for (int k = 0; k < KB; ++k) {
      const __m512 gk = _mm512_set1_ps(g[k]);
#pragma GCC unroll 16
      for (int c = 0; c < NV; ++c) acc[k][c] = _mm512_fmadd_ps(gk, hv[c], acc[k][c]);
    }
  }
#pragma GCC unroll 16
  for (int k = 0; k < KB; ++k)
#pragma GCC unroll 16
    for (int c = 0; c < NV; ++c) _mm512_mask_storeu_ps(dw2_m + (k0 + k) * d.H + c0 + 16 * c, mask[c], acc[k][c]);
}

// Links per tile: up to 8, so a tile of 8 links x 32 columns uses 16 accumulators.
constexpr int kGradLinks = 8;
using GradTile = void (*)(const LinkDims&, int64_t, int64_t, const float*, const float*, float*);
template <int NV, int... KB>
constexpr std::array<GradTile, sizeof...(KB)> grad_tiles(std::integer_sequence<int, KB...>) {
  return {link_grad_tile<KB + 1, NV>...};
}

void link_weight_grad(const LinkDims& d, const float* dout, const float* h, float* dw2, float* db2) {
  static constexpr auto one_vector = grad_tiles<1>(std::make_integer_sequence<int, kGradLinks>{});
  static constexpr auto two_vectors = grad_tiles<2>(std::make_integer_sequence<int, kGradLinks>{});
  for (int64_t m = 0; m < d.M; ++m) {
    const float* dout_m = dout + m * d.factor_stride;
    float* dw2_m = dw2 + m * d.L * d.H;
    for (int64_t c0 = 0; c0 < d.H; c0 += 32)
      for (int64_t k0 = 0; k0 < d.L; k0 += kGradLinks) {
        const int64_t links = std::min<int64_t>(kGradLinks, d.L - k0);
        const auto& tiles = d.H - c0 > 16 ? two_vectors : one_vector;
        tiles[links - 1](d, k0, c0, dout_m, h + m * d.H, dw2_m);
      }
    for (int64_t k0 = 0; k0 < d.L; k0 += 16) {  // db2[m]: the rows of dout[m] summed, in order
      const __mmask16 mask = tail_mask(d.L - k0);
      __m512 sum = _mm512_maskz_loadu_ps(mask, db2 + m * d.L + k0);
      for (int64_t r = 0; r < d.n; ++r) sum = _mm512_add_ps(sum, _mm512_maskz_loadu_ps(mask, dout_m + r * d.L + k0));
      _mm512_mask_storeu_ps(db2 + m * d.L + k0, mask, sum);
    }
  }
}

}  // namespace

LinkKernels link_kernels_avx512() { return {link_values, link_dhidden, link_weight_grad, "avx512"}; }

MixKernels mix_kernels_avx512() { return {forward, backward_w, backward_v, backward_wv, "avx512"}; }

}  // namespace ops
