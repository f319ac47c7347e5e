// G independent linear layers over the G column blocks of one input:
//   out[g] = x[:, g*H:(g+1)*H] @ weight[g]^T + bias[g]
// x (R, G*H), weight (G, L, H), bias (G, L) -> out (G, R, L). Each group is one GEMM that
// reads its block of x in place (no copy). Paramixer's M factor MLPs use it for their second
// layers, after one shared GEMM for all their first layers.
#pragma once
#include "engine/tensor.h"

namespace ops {

engine::Tensor grouped_linear(const engine::Tensor& x, const engine::Tensor& weight,
                              const engine::Tensor& bias);

}  // namespace ops
