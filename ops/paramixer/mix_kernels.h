// The Paramixer sparse product (SPEC 1.2) on raw row-major buffers, one variant per ISA:
//   out[b,i,:] = sum_k w[b,i,k] * v[b, (i + o_k) mod N, :]      w (B,N,L), v and out (B,N,D)
// Offsets arrive normalized to [0, N). Forward overwrites `out`; backward kernels accumulate
// into dw / dv, or with accumulate = false overwrite them (a fresh gradient buffer).
// Every variant splits work over the rows it writes (no atomics): results do not depend on
// the thread count. No tape; no allocation per call (two kernels keep a thread_local
// scratch that grows once: link_values' transposed w2, the fused dW pass's (L, N) dW).
#pragma once
#include <algorithm>
#include <cstdint>

namespace ops {

struct MixDims {
  int64_t B, N, L, D;
};

// With `residual`, forward computes v + P(W, V) and backward_v adds dout itself (the identity
// path), saving the separate add and its memory pass.
struct MixKernels {
  void (*forward)(const MixDims& d, const int64_t* offsets, const float* w, const float* v,
                  bool residual, float* out);
  // dw[b,i,k] [+]= < dout[b,i,:], v[b, (i + o_k) mod N, :] >
  void (*backward_w)(const MixDims& d, const int64_t* offsets, const float* dout, const float* v,
                     bool accumulate, float* dw);
  // dv[b,j,:] [+]= [dout[b,j,:]] + sum_k w[b,s,k] * dout[b,s,:],  s = (j - o_k) mod N  (a gather)
  void (*backward_v)(const MixDims& d, const int64_t* offsets, const float* dout, const float* w,
                     bool residual, bool accumulate, float* dv);
  // backward_w and backward_v in one pass, with the same bits, for the dims the variant fuses
  // (returns false, having done nothing, for others); nullptr in variants without one.
  bool (*backward_wv)(const MixDims& d, const int64_t* offsets, const float* dout, const float* v, const float* w,
                      bool residual, bool dw_accumulate, float* dw, bool dv_accumulate, float* dv);
  const char* name;
};

// dW and dV of one product: the variant's fused pass when it has one for d, else its two kernels.
void mix_backward_both(const MixKernels& k, const MixDims& d, const int64_t* offsets, const float* dout,
                       const float* v, const float* w, bool residual, bool dw_accumulate, float* dw,
                       bool dv_accumulate, float* dv);

// The second layers of the M factor MLPs (the "link heads"), on n rows of the shared hidden
// layer h (n, M*H); dout and out hold factor m's rows at m * factor_stride:
//   values:      out[m, r, :] = b2[m] + h[r, m*H:(m+1)*H] @ w2[m]^T                (overwrites)
//   dhidden:     dh[r, m*H:(m+1)*H] = scale[r, m*H:(m+1)*H] * (dout[m, r, :] @ w2[m])  (overwrites)
//   weight_grad: dw2[m] += dout[m]^T @ h[:, m*H:(m+1)*H],  db2[m] += sum_r dout[m, r, :]
// dh and scale are (n, M*H) (scale = GELU'(pre), so dh comes out as the gradient of the first
// layer's output). These products have L ~ 11 links and K or N = H ~ 32: oneDNN, one call per
// factor per chunk of rows, ran them at ~30 GFLOP/s; broadcasts into register accumulators do
// better. values and dhidden split over rows; weight_grad runs on the calling thread, adding
// the rows in order (the caller owns dw2 and db2 and fixes the order of its partial sums).
struct LinkDims {
  int64_t n, M, H, L, factor_stride;
};

struct LinkKernels {
  void (*values)(const LinkDims& d, const float* h, const float* w2, const float* b2, float* out);
  void (*dhidden)(const LinkDims& d, const float* dout, const float* w2, const float* scale, float* dh);
  void (*weight_grad)(const LinkDims& d, const float* dout, const float* h, float* dw2, float* db2);
  const char* name;
};

LinkKernels link_kernels_ref();
LinkKernels link_kernels_avx2();
LinkKernels link_kernels_avx512();
const LinkKernels& link_kernels();

MixKernels mix_kernels_ref();
MixKernels mix_kernels_avx2();
MixKernels mix_kernels_avx512();
const MixKernels& mix_kernels();  // the variant for engine::active_isa()

// The scalar reference for any element type (float64 gradient checks use double).
template <class T>
void mix_forward_ref(const MixDims& d, const int64_t* offsets, const T* w, const T* v, bool residual,
                     T* out);
template <class T>
void mix_backward_w_ref(const MixDims& d, const int64_t* offsets, const T* dout, const T* v, bool accumulate,
                        T* dw);
template <class T>
void mix_backward_v_ref(const MixDims& d, const int64_t* offsets, const T* dout, const T* w,
                        bool residual, bool accumulate, T* dv);

// Row i's k-th source row, and the row whose k-th source is j. Offsets are in [0, n).
static inline int64_t mix_src(int64_t i, int64_t offset, int64_t n) {
  const int64_t s = i + offset;
  return s >= n ? s - n : s;
}
static inline int64_t mix_dst(int64_t j, int64_t offset, int64_t n) {
  const int64_t s = j - offset;
  return s < 0 ? s + n : s;
}

// Shared by the SIMD variants. The gathers read L rows far apart (offsets up to N/2): more
// streams than the hardware prefetchers follow, so once one batch element's rows leave L2
// (N * D floats over 256 KB) the kernels prefetch them by hand. The fused dW + dV pass
// scatters dW and revisits each of its lines L times: it pays only while a batch element's dW
// stays in L2 (at N = 2^16, 2.9 MB, it was 1.14x slower than the two kernels; at 2^14, 1.4x faster).
static inline bool mix_prefetch_gathers(const MixDims& d) { return d.N * d.D * int64_t(sizeof(float)) > 256 * 1024; }
static inline bool mix_dw_stays_in_l2(const MixDims& d) { return d.N * d.L * int64_t(sizeof(float)) <= 1024 * 1024; }

// dhidden reads dout's M factor blocks as M streams, more than the hardware prefetchers follow,
// and dout has left L2 (the chain's backward wrote it): without help a quarter of a training
// step's dhidden time at N = 1024 was waiting for it. Row-block kernels prefetch the next block's
// rows of a factor before its current ones; row-at-a-time kernels, kLinkPrefetchRows rows ahead.
constexpr int64_t kLinkPrefetchRows = 16;
static inline void link_prefetch_next_rows(const LinkDims& d, const float* factor_rows, int64_t r0, int64_t r1) {
  const int64_t floats = std::min(r1 - r0, d.n - r1) * d.L;
  for (int64_t f = 0; f < floats; f += 16) __builtin_prefetch(factor_rows + r1 * d.L + f);
}

// Rows per parallel chunk (parallel_ranges merges each thread's chunks into one call): enough
// work per chunk to amortize scheduling.
static inline int64_t mix_row_grain(const MixDims& d) {
  const int64_t work = (d.L + 1) * (d.D + 1);
  return work >= 4096 ? 1 : 4096 / work;
}

}  // namespace ops
