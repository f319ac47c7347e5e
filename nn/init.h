// Parameter initializers (PyTorch's defaults, so published hyper-parameters carry over).
#pragma once
#include <cmath>

#include "engine/rng.h"
#include "engine/tensor.h"

namespace nn::init {

// U(-1/sqrt(fan_in), 1/sqrt(fan_in)): torch.nn.Linear's weight and bias initialization.
inline engine::Tensor uniform_fan_in(const engine::Shape& shape, int64_t fan_in, engine::Rng& rng) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(std::max<int64_t>(fan_in, 1)));
  return engine::Tensor::uniform(shape, rng, -bound, bound);
}

}  // namespace nn::init
