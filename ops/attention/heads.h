// Moving heads between the model's layout (B, N, heads * d) and the attention ops' layout
// (B * heads, N, d). Both are copies (a permutation), differentiable.
#pragma once
#include <cstdint>

#include "engine/tensor.h"

namespace ops {

// Columns [part * width, (part + 1) * width) of x (B, N, parts * width), width = heads * d, as
// (B * heads, N, d): with parts = 3 one fused QKV projection gives q, k and v.
engine::Tensor split_heads(const engine::Tensor& x, int64_t heads, int64_t part = 0, int64_t parts = 1);

// (B * heads, N, d) -> (B, N, heads * d).
engine::Tensor merge_heads(const engine::Tensor& x, int64_t heads);

}  // namespace ops
