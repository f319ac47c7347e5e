// Layer normalization over the last axis: y = (x - mean) / sqrt(var + eps) * gamma + beta.
#pragma once
#include "engine/tensor.h"

namespace ops {

using engine::Tensor;

Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps = 1e-5);

}  // namespace ops
