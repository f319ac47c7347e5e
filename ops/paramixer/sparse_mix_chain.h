// A Paramixer layer's whole chain of sparse products as one op:
//   V_0 = v;  V_{m+1} = V_m + P_m(W_m, V_m)  for m = 0 .. M-1;  returns V_M
// with W_m factor m of the stacked link values w_all (M, B*N, L) and offsets[m] its offsets.
// The chain runs one batch element at a time (its N x D state, 128 KB at N = 1024 and D = 32,
// stays in the core's cache from factor to factor) instead of one factor at a time over the
// whole batch (M round trips of B x N x D through memory). Backward walks the factors in
// reverse per batch element with the running gradient in cache: no per-factor gradient
// buffers. The intermediate states V_1 .. V_{M-1} are kept for backward (ChainStates::keep,
// (M-1) x B x N x D values), or recomputed there one batch element at a time
// (ChainStates::recompute: one more forward of the products and, in backward, an (M-1) x N x D scratch
// per element being worked on, for none of that memory). Either way equal to M calls of sparse_mix_factor (same kernels, same rounding).
#pragma once
#include <cstdint>
#include <vector>

#include "engine/tensor.h"

namespace ops {

enum class ChainStates { keep, recompute };

engine::Tensor sparse_mix_chain(const engine::Tensor& w_all, const engine::Tensor& v,
                                const std::vector<std::vector<int64_t>>& offsets,
                                ChainStates states = ChainStates::keep);

}  // namespace ops
