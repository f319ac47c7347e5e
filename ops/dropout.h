// Inverted dropout: each element is zeroed with probability p and the rest scaled by 1/(1-p).
// The mask is a function of (seed, element index) only, so it does not depend on the thread
// count and backward recomputes it instead of storing it. Identity when !training or p == 0.
#pragma once
#include <cstdint>

#include "engine/tensor.h"

namespace ops {

using engine::Tensor;

Tensor dropout(const Tensor& x, double p, uint64_t seed, bool training);

}  // namespace ops
