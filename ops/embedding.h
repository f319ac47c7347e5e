// Embedding lookup: out[..., :] = weight[ids[...], :].
#pragma once
#include "engine/tensor.h"

namespace ops {

using engine::Tensor;

// weight (V, D) float; ids int32 of any shape with values in [0, V) -> (ids..., D).
Tensor embedding(const Tensor& weight, const Tensor& ids);

}  // namespace ops
