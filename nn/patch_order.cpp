#include "nn/patch_order.h"

#include <cstring>

#include "engine/check.h"

namespace nn {

std::vector<int64_t> patch_order(int64_t side, int64_t patch_rows, int64_t patch_cols) {
  LONGMIX_CHECK(side > 0 && side % patch_rows == 0 && side % patch_cols == 0,
                "patch order: a " << side << " x " << side << " image does not tile into " << patch_rows << " x "
                                  << patch_cols << " patches (pad it to 32 x 32)");
  std::vector<int64_t> order;
  order.reserve(static_cast<size_t>(side * side));
  for (int64_t pr = 0; pr < side; pr += patch_rows)
    for (int64_t pc = 0; pc < side; pc += patch_cols)
      for (int64_t r = pr; r < pr + patch_rows; ++r)
        for (int64_t c = pc; c < pc + patch_cols; ++c) order.push_back(r * side + c);
  return order;
}

engine::Tensor reorder_positions(const engine::Tensor& inputs, const std::vector<int64_t>& order) {
  const int64_t N = static_cast<int64_t>(order.size());
  LONGMIX_CHECK(inputs.ndim() >= 2 && inputs.dim(1) == N,
                "patch order: inputs " << inputs.shape() << " do not have " << N << " positions");
  engine::Tensor out = engine::Tensor::empty(inputs.shape(), inputs.dtype());
  const size_t row = inputs.nbytes() / static_cast<size_t>(inputs.dim(0) * N);
  const char* src = static_cast<const char*>(inputs.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  for (int64_t b = 0; b < inputs.dim(0); ++b)
    for (int64_t p = 0; p < N; ++p)
      std::memcpy(dst + (b * N + p) * row, src + (b * N + order[static_cast<size_t>(p)]) * row, row);
  return out;
}

}  // namespace nn
