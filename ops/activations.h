// Elementwise functions of one tensor.
#pragma once
#include "engine/tensor.h"

namespace ops {

using engine::Tensor;

Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);   // natural log; the caller keeps x > 0
Tensor tanh(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor gelu(const Tensor& x);  // exact form: x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))

}  // namespace ops
