// Binary arithmetic with broadcasting of b: b has a's shape, one element (a scalar), or the
// shape of a's trailing dimensions (a vector added to every row, like a bias).
#pragma once
#include "engine/tensor.h"

namespace ops {

using engine::Tensor;

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);

Tensor add(const Tensor& a, double s);  // a + s
Tensor mul(const Tensor& a, double s);  // a * s

}  // namespace ops
