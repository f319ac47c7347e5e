// Image tokens in patch order: the published MRA-2 code reorders a side x side image, read row
// by row, so that every 32 consecutive tokens form a 4 x 8 patch; a block of the attention is
// then a spatial neighbourhood rather than a strip of one row.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/tensor.h"

namespace nn {

// order[p] = the row-major position that goes to position p. side must be a multiple of 8.
std::vector<int64_t> patch_order(int64_t side, int64_t patch_rows = 4, int64_t patch_cols = 8);

// inputs (B, N, ...) of any dtype with positions permuted: out[:, p] = inputs[:, order[p]].
engine::Tensor reorder_positions(const engine::Tensor& inputs, const std::vector<int64_t>& order);

}  // namespace nn
