#include "ops/attention/mra_selection.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "engine/parallel.h"

namespace ops {
namespace {

// Maps a float to 32 bits whose unsigned order is the float's order reversed (largest first).
uint32_t descending_bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  const uint32_t ascending = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return ~ascending;
}

}  // namespace

template <class T>
BlockSelection select_mra_blocks(const BlockAttentionProblem& p, const LowResolution& lr, const MraSelectionRule& rule) {
  const int64_t nb = p.num_blocks(), grid = nb * nb;
  const int64_t budget = std::min(rule.blocks_per_row * nb, grid);
  const T* logits = lr.logits.data<T>();
  const T* row_max = lr.row_max.data<T>();
  const T* count = lr.count.data<T>();
  std::vector<uint8_t> mask(static_cast<size_t>(p.BH * grid), 0);
  engine::parallel_for(p.BH, 1, [&](int64_t b0, int64_t b1) {
    // Candidates as 64-bit keys: the float score's bits made order-preserving (descending) in
    // the high half, the cell index in the low half, so plain integer order is "higher score
    // first, then lower index" and nth_element runs without an indirect comparator.
    std::vector<uint64_t> keys;
    keys.reserve(static_cast<size_t>(grid));
    for (int64_t bh = b0; bh < b1; ++bh) {
      keys.clear();
      for (int64_t I = 0; I < nb; ++I) {
        if (count[(bh / p.heads) * nb + I] == 0) continue;
        for (int64_t J = 0; J < nb; ++J) {
          const int64_t cell = I * nb + J;
          const double s = static_cast<double>(logits[bh * grid + cell]);
          if (!std::isfinite(s)) continue;
          const bool prior = I < rule.prior_first || J < rule.prior_first || std::abs(I - J) < rule.prior_diagonal;
          const float score = static_cast<float>(s - static_cast<double>(row_max[bh * nb + I]) + (prior ? 5e3 : 0.0));
          keys.push_back((uint64_t{descending_bits(score)} << 32) | static_cast<uint64_t>(cell));
        }
      }
      const int64_t take = std::min<int64_t>(budget, static_cast<int64_t>(keys.size()));
      std::nth_element(keys.begin(), keys.begin() + take, keys.end());
      for (int64_t n = 0; n < take; ++n) mask[static_cast<size_t>(bh * grid + (keys[static_cast<size_t>(n)] & 0xFFFFFFFFu))] = 1;
    }
  });
  return BlockSelection::from_mask(p.BH, nb, mask);
}

template BlockSelection select_mra_blocks<float>(const BlockAttentionProblem&, const LowResolution&, const MraSelectionRule&);
template BlockSelection select_mra_blocks<double>(const BlockAttentionProblem&, const LowResolution&, const MraSelectionRule&);

}  // namespace ops
