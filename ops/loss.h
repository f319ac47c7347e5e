// Losses, each returning a 1-element tensor (the mean over examples).
#pragma once
#include "engine/tensor.h"

namespace ops {

using engine::Tensor;

// logits (..., C) float, targets int32 with logits' leading shape and values in [0, C).
Tensor cross_entropy(const Tensor& logits, const Tensor& targets);
// mean((prediction - target)^2) over all elements; shapes must match.
Tensor mse(const Tensor& prediction, const Tensor& target);

}  // namespace ops
