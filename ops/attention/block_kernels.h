// Micro-kernels of fused block attention, each on one tile of at most 32 x 32 (a query block
// against a key block), one variant per ISA. The driver (block_attention.cpp) strings them
// together; these never allocate and never thread.
//
// Layouts: a score tile is rows x kTile floats, row-major (columns beyond the block are
// ignored). A "packed" tile holds a block of rows of X transposed: d rows of kTile floats,
// packed[t * kTile + c] = X[c, t], zero beyond the block, so a row of scores is d broadcasts
// and FMAs over contiguous memory.
#pragma once
#include <cstdint>

namespace ops {

constexpr int kTile = 32;  // the widest block the kernels take (a 32-bit validity mask)

struct BlockKernels {
  // s[r, c] = scale * sum_t a[r * lda + t] * packed[t * kTile + c]  for r < rows, c < kTile.
  void (*scores)(int rows, int64_t d, const float* a, int64_t lda, const float* packed, float scale,
                 float* s);
  // Online softmax down the columns of a transposed tile (rows = keys, columns = the kTile
  // queries): rows whose bit is clear in valid_rows do not exist, and at least one does. Per
  // column q, with mx = max(m[q], the column's valid maximum): alpha[q] = exp(m[q] - mx) (0
  // when m[q] = -inf, the empty start), s[k, q] <- exp(s[k, q] - mx) (0 for invalid rows),
  // l[q] <- alpha[q] * l[q] + sum_k s[k, q], m[q] <- mx. Column-wise, the maxima and sums are
  // plain vector operations across 16 (or 8) queries at once.
  void (*online_softmax_cols)(int rows, uint32_t valid_rows, float* s, float* m, float* l, float* alpha);
  // o[r * ldo + j] += sum_{c < cols} p[r * kTile + c] * v[c * ldv + j] for j < d.
  void (*accumulate)(int rows, int cols, int64_t d, const float* p, const float* v, int64_t ldv, float* o,
                     int64_t ldo);
  // o[r * ldo + j] = sum_{c < cols} p[r * kTile + c] * v[c * ldv + j]: as accumulate, but
  // OVERWRITING o.
  void (*product)(int rows, int cols, int64_t d, const float* p, const float* v, int64_t ldv, float* o,
                  int64_t ldo);
  // o[r * ldo + j] = [alpha[r] *] o[r * ldo + j] + sum_{c < cols} p[c * kTile + r] * v[c * ldv + j]:
  // the weights read transposed (alpha may be nullptr: 1).
  void (*accumulate_transposed)(int rows, int cols, int64_t d, const float* p, const float* v, int64_t ldv,
                                const float* alpha, float* o, int64_t ldo);
  // Score gradient with statistics per row (rows = queries): P = exp(s - m[r]) * inv_z[r] on
  // valid columns, 0 elsewhere; ds[r, c] = scale * P * (dp[r, c] - delta[r]); P to p unless
  // p is nullptr.
  void (*dscores_by_row)(int rows, uint32_t valid_cols, const float* s, const float* dp, const float* m,
                         const float* inv_z, const float* delta, float scale, float* p, float* ds);
  // The same on a transposed tile (rows = keys, columns = queries, statistics per column, cols
  // of them): rows whose bit is clear in valid_rows give 0. Writes P to p as well.
  void (*dscores_by_col)(int rows, uint32_t valid_rows, int cols, const float* s, const float* dp,
                         const float* m, const float* inv_z, const float* delta, float scale, float* p,
                         float* ds);
  const char* name;
};

BlockKernels block_kernels_ref();
BlockKernels block_kernels_avx2();
BlockKernels block_kernels_avx512();
const BlockKernels& block_kernels();  // the variant for engine::active_isa()

}  // namespace ops
