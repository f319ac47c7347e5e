// Block-sparse softmax attention, the core shared by exact attention (every block selected) and
// MRA-2 (SPEC 2, steps 3 and 5): for every query token i of block I,
//   out[i] = (o0[I] * e^(m0[I] - M_i) + sum_{J in keys_of(I)} sum_{valid j in J} e^(s_ij - M_i) v_j)
//            / (l0[I] * e^(m0[I] - M_i) + sum ... e^(s_ij - M_i) + eps),   s_ij = scale * q_i . k_j
// where (m0, l0, o0) is an optional starting state per query block (MRA-2's low-resolution
// complement) and M_i the running maximum. Queries and keys whose mask entry is 0 are left
// out; a masked query's output is 0. Forward also returns M_i and 1 / denominator (0 where
// the output is 0) for backward, which recomputes the scores instead of storing them.
//
// The fused float32 path streams one (query block, key block) tile at a time (FlashAttention
// on CPU): forward splits over query blocks, backward over key blocks (each tile's share of dQ
// goes to a slot of its own and the shares are summed per query block in a fixed order); no
// atomics, so results do not depend on the thread count. The reference (any T) computes the
// same per token with plain loops, single-threaded.
#pragma once
#include <cstdint>

#include "ops/attention/block_kernels.h"
#include "ops/attention/block_selection.h"

namespace ops {

struct BlockAttentionProblem {
  int64_t BH, heads, N, d, block;  // batch-heads, heads per batch entry, length, head width, block size
  double scale, eps;
  const BlockSelection* selection;
  const uint8_t* key_valid;  // (BH / heads, N): 1 = token present; nullptr = all present
  int64_t num_blocks() const { return (N + block - 1) / block; }
};

template <class T>
struct BlockStart {  // per (batch-head, query block): m0, l0 (BH * nb) and o0 (BH * nb * d)
  const T* m;
  const T* l;
  const T* o;
};

// Fused float32 path. Backward ACCUMULATES into dq, dk, dv; delta = attention_row_dots(out, dout).
// Backward runs in one pass over key blocks, batch-heads grouped so that their dQ buffers fit
// `share_budget` bytes (per-pair shares for sparse selections, per-key-group parts of N x d
// for dense ones, whichever is smaller); when one batch-head's do not, in two passes (dQ by
// query blocks, then dK and dV by key blocks). A round holds at most `round_bytes` of dQ
// buffers (but at least one query row's shares, or one batch-head's parts), so that they are
// read back from the last-level cache, not memory: with all 16 batch-heads in one 64 MB round
// at N = 4096, that round trip held MRA-2's 2-thread speedup to 1.81x (4 MB rounds: 34.8 ->
// 30.4-31.3 ms, 1.84-1.90x; `longmix scaling --workload mra`). The rounds never change the
// sums. Tests shrink the budget and the rounds to reach every path.
constexpr int64_t kDefaultShareBudget = int64_t{256} << 20;
constexpr int64_t kDefaultRoundBytes = int64_t{4} << 20;
void block_attention_forward(const BlockAttentionProblem& p, const BlockKernels& k, const float* q,
                             const float* key, const float* v, const BlockStart<float>* start, float* out,
                             float* row_max, float* inv_z);
void block_attention_backward(const BlockAttentionProblem& p, const BlockKernels& k, const float* q,
                              const float* key, const float* v, const float* dout, const float* row_max,
                              const float* inv_z, const float* delta, float* dq, float* dk, float* dv,
                              int64_t share_budget = kDefaultShareBudget,
                              int64_t round_bytes = kDefaultRoundBytes);

// The reference, same contract.
template <class T>
void block_attention_forward_ref(const BlockAttentionProblem& p, const T* q, const T* key, const T* v,
                                 const BlockStart<T>* start, T* out, T* row_max, T* inv_z);
template <class T>
void block_attention_backward_ref(const BlockAttentionProblem& p, const T* q, const T* key, const T* v,
                                  const T* dout, const T* row_max, const T* inv_z, const T* delta, T* dq,
                                  T* dk, T* dv);

// sum_j dout[i, j] * out[i, j] per row i: the softmax backward's row term.
template <class T>
void attention_row_dots(int64_t rows, int64_t d, const T* out, const T* dout, T* delta);

}  // namespace ops
