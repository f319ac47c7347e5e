// Attention ops over heads laid out as batch-heads: q, k, v are (B * heads, N, d) with the
// heads of batch entry b at rows b * heads .. b * heads + heads - 1; key_mask, when defined, is
// (B, N) with nonzero = present token (a masked query's output is 0). Any N >= 1 (a partial
// last block is handled inside, as if padded and masked). float32 runs the fused kernels of the
// CPU's ISA; float64 runs the reference (for gradient checks).
#pragma once
#include <cstdint>
#include <memory>

#include "engine/tensor.h"
#include "ops/attention/block_selection.h"

namespace ops {

// Exact softmax(q k^T / sqrt(d)) v, fused: no N x N matrix in forward or backward (SPEC 3).
engine::Tensor softmax_attention(const engine::Tensor& q, const engine::Tensor& k, const engine::Tensor& v,
                                 const engine::Tensor& key_mask, int64_t heads);

struct MraOptions {
  int64_t heads = 1;
  int64_t block = 32;          // 1 .. 32
  int64_t blocks_per_row = 8;  // budget: blocks_per_row * nb high-resolution blocks per batch-head
  int64_t prior_first = 1;     // always take the first block rows and columns
  int64_t prior_diagonal = 0;  // and the band |I - J| < prior_diagonal
  bool full = true;            // add the low-resolution complement ("full"), or not ("sparse")
};

// MRA-2 attention (SPEC 2). `fixed`, when given, replaces the selection step (gradient checks
// hold it constant); it must match the batch-heads and blocks of q.
engine::Tensor mra_attention(const engine::Tensor& q, const engine::Tensor& k, const engine::Tensor& v,
                             const engine::Tensor& key_mask, const MraOptions& options,
                             std::shared_ptr<const BlockSelection> fixed = nullptr);

// The selection mra_attention makes for these inputs.
std::shared_ptr<const BlockSelection> mra_selection(const engine::Tensor& q, const engine::Tensor& k,
                                                    const engine::Tensor& v, const engine::Tensor& key_mask,
                                                    const MraOptions& options);

}  // namespace ops
