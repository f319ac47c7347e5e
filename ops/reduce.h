// Sums and means over one axis (the axis is removed), and over all elements (a 1-element tensor).
#pragma once
#include "engine/tensor.h"

namespace ops {

using engine::Tensor;

Tensor sum(const Tensor& x, int axis);
Tensor mean(const Tensor& x, int axis);
Tensor sum_all(const Tensor& x);   // shape (1)
Tensor mean_all(const Tensor& x);  // shape (1)
// x (B, N, D), mask (B, N) of weights (1 = present, 0 = padding; no gradient) -> (B, D):
// the mean over the present positions (0 for a row without any).
Tensor masked_mean(const Tensor& x, const Tensor& mask);

}  // namespace ops
