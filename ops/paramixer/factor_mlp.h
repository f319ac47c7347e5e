// The link values of all M sparse factors of a Paramixer layer, W_m = f_m(X), in one op:
//   f_m = Linear(D, H) - GELU - Linear(H, L)
// x (R, D), w1 (M*H, D), b1 (M*H), w2 (M, L, H), b2 (M, L) -> (M, R, L).
// All first layers run as one GEMM (they read the same X). Rows go in chunks, each owned by
// one thread from its first GEMM to its last, so its hidden layer (chunk x M*H) stays in that
// core's cache; backward recomputes it instead of keeping R x M*H activations alive (they
// would dominate a step's memory and traffic), and sums weight gradients per fixed group of
// chunks, the groups added in order (the same bits for any thread count).
// Equal to grouped_linear(gelu(linear(x, w1, b1)), w2, b2).
#pragma once
#include "engine/tensor.h"

namespace ops {

engine::Tensor factor_mlp(const engine::Tensor& x, const engine::Tensor& w1, const engine::Tensor& b1,
                          const engine::Tensor& w2, const engine::Tensor& b2);

// One Linear(D, H) - GELU - Linear(H, L): x (..., D), w1 (H, D), b1 (H), w2 (L, H), b2 (L)
// -> (..., L). factor_mlp with M = 1: the same cache-resident chunks, nothing kept for
// backward but the inputs (nn::Mlp runs on it; Paramixer's g is one).
engine::Tensor gelu_mlp(const engine::Tensor& x, const engine::Tensor& w1, const engine::Tensor& b1,
                        const engine::Tensor& w2, const engine::Tensor& b2);

}  // namespace ops
