// Activation checkpointing: trade compute for memory.
//
//   Tensor y = engine::checkpoint([&](const std::vector<Tensor>& in) { return layer(in[0], in[1]); },
//                                 {v, x});
//
// Forward runs fn without recording, so none of its intermediates stay alive; only the inputs
// are kept. Backward reruns fn with the tape on and backpropagates through the rerun.
// Parameters that fn reads directly get their gradients during that rerun. fn must compute the
// same thing both times: draw random numbers (dropout seeds) outside it.
#pragma once
#include <functional>
#include <vector>

#include "engine/tensor.h"

namespace engine {

using CheckpointFn = std::function<Tensor(const std::vector<Tensor>&)>;

Tensor checkpoint(const CheckpointFn& fn, const std::vector<Tensor>& inputs);

}  // namespace engine
