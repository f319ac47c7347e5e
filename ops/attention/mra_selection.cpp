#include "ops/attention/mra_selection.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/parallel.h"

namespace ops {

template <class T>
BlockSelection select_mra_blocks(const BlockAttentionProblem& p, const LowResolution& lr, const MraSelectionRule& rule) {
  const int64_t nb = p.num_blocks(), grid = nb * nb;
  const int64_t budget = std::min(rule.blocks_per_row * nb, grid);
  const T* logits = lr.logits.data<T>();
  const T* row_max = lr.row_max.data<T>();
  const T* count = lr.count.data<T>();
  std::vector<uint8_t> mask(static_cast<size_t>(p.BH * grid), 0);
  engine::parallel_for(p.BH, 1, [&](int64_t b0, int64_t b1) {
    std::vector<double> score(static_cast<size_t>(grid));
    std::vector<int32_t> order;
    for (int64_t bh = b0; bh < b1; ++bh) {
      order.clear();
      for (int64_t I = 0; I < nb; ++I)
        for (int64_t J = 0; J < nb; ++J) {
          const int64_t cell = I * nb + J;
          const double s = static_cast<double>(logits[bh * grid + cell]);
          if (!std::isfinite(s) || count[(bh / p.heads) * nb + I] == 0) continue;
          const bool prior = I < rule.prior_first || J < rule.prior_first || std::abs(I - J) < rule.prior_diagonal;
          score[static_cast<size_t>(cell)] = s - static_cast<double>(row_max[bh * nb + I]) + (prior ? 5e3 : 0.0);
          order.push_back(static_cast<int32_t>(cell));
        }
      const auto higher = [&](int32_t a, int32_t b) {
        return score[static_cast<size_t>(a)] != score[static_cast<size_t>(b)] ? score[static_cast<size_t>(a)] > score[static_cast<size_t>(b)] : a < b;
      };
      const int64_t take = std::min<int64_t>(budget, static_cast<int64_t>(order.size()));
      std::nth_element(order.begin(), order.begin() + take, order.end(), higher);
      for (int64_t n = 0; n < take; ++n) mask[static_cast<size_t>(bh * grid + order[static_cast<size_t>(n)])] = 1;
    }
  });
  return BlockSelection::from_mask(p.BH, nb, mask);
}

template BlockSelection select_mra_blocks<float>(const BlockAttentionProblem&, const LowResolution&, const MraSelectionRule&);
template BlockSelection select_mra_blocks<double>(const BlockAttentionProblem&, const LowResolution&, const MraSelectionRule&);

}  // namespace ops
