// Softmax and log-softmax over the last axis, computed with the row maximum subtracted.
#pragma once
#include "engine/tensor.h"

namespace ops {

using engine::Tensor;

Tensor softmax(const Tensor& x);
Tensor log_softmax(const Tensor& x);

}  // namespace ops
