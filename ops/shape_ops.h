// Reshape, transpose, slice and concatenation. All but reshape copy: tensors stay contiguous.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/tensor.h"

namespace ops {

using engine::Tensor;

// A view with new dimensions; one of them may be -1 (inferred).
Tensor reshape(const Tensor& x, const std::vector<int64_t>& dims);
Tensor transpose(const Tensor& x);                             // swaps the last two axes
Tensor slice(const Tensor& x, int axis, int64_t start, int64_t length);
Tensor concat(const std::vector<Tensor>& parts, int axis);

}  // namespace ops
