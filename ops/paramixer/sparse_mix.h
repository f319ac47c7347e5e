// The Paramixer sparse product as a differentiable op (SPEC 1.2):
//   out[b,i,:] = sum_k w[b,i,k] * v[b, (i + o_k) mod N, :]
// w (B,N,L), v (B,N,D), offsets: L signed offsets (taken mod N; coinciding columns add).
// float32 runs the SIMD variant of the CPU; float64 the scalar reference.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/tensor.h"

namespace ops {

// residual = true returns v + P(W, V) in the same pass (the Paramixer layer's update).
engine::Tensor sparse_mix(const engine::Tensor& w, const engine::Tensor& v,
                          const std::vector<int64_t>& offsets, bool residual = false);

// The same product with factor m of stacked link values w_all (M, B*N, L), as the factor MLPs
// produce them: no slice, and dW lands directly in factor m's block of w_all's gradient.
engine::Tensor sparse_mix_factor(const engine::Tensor& w_all, int64_t factor, const engine::Tensor& v,
                                 const std::vector<int64_t>& offsets, bool residual = false);

}  // namespace ops
