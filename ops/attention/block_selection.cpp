#include "ops/attention/block_selection.h"

#include <algorithm>
#include <numeric>

#include "engine/check.h"

namespace ops {

BlockSelection BlockSelection::every_block(int64_t BH, int64_t nb) {
  BlockSelection s;
  s.BH = BH;
  s.nb = nb;
  s.all = true;
  s.all_blocks.resize(static_cast<size_t>(nb));
  std::iota(s.all_blocks.begin(), s.all_blocks.end(), 0);
  return s;
}

BlockSelection BlockSelection::from_mask(int64_t BH, int64_t nb, const std::vector<uint8_t>& mask) {
  LONGMIX_CHECK(static_cast<int64_t>(mask.size()) == BH * nb * nb,
                "block selection: mask of " << mask.size() << " flags for " << BH << " x " << nb << " x " << nb);
  BlockSelection s;
  s.BH = BH;
  s.nb = nb;
  s.row_start.assign(static_cast<size_t>(BH * nb + 1), 0);
  s.col_start.assign(static_cast<size_t>(BH * nb + 1), 0);
  for (int64_t bh = 0; bh < BH; ++bh)
    for (int64_t I = 0; I < nb; ++I)
      for (int64_t J = 0; J < nb; ++J)
        if (mask[static_cast<size_t>((bh * nb + I) * nb + J)]) {
          s.keys.push_back(static_cast<int32_t>(J));
          ++s.row_start[static_cast<size_t>(bh * nb + I + 1)];
          ++s.col_start[static_cast<size_t>(bh * nb + J + 1)];
        }
  std::partial_sum(s.row_start.begin(), s.row_start.end(), s.row_start.begin());
  std::partial_sum(s.col_start.begin(), s.col_start.end(), s.col_start.begin());
  // Transpose: visiting (I, J) in row-major order fills each key block's list in ascending I.
  s.queries.resize(s.keys.size());
  s.query_slots.resize(s.keys.size());
  std::vector<int64_t> fill(s.col_start.begin(), s.col_start.end() - 1);
  for (int64_t bh = 0; bh < BH; ++bh)
    for (int64_t I = 0; I < nb; ++I) {
      const BlockList ks = s.keys_of(bh, I);
      for (int64_t n = 0; n < ks.size; ++n) {
        const size_t at = static_cast<size_t>(fill[static_cast<size_t>(bh * nb + ks.index[n])]++);
        s.queries[at] = static_cast<int32_t>(I);
        s.query_slots[at] = s.row_start[static_cast<size_t>(bh * nb + I)] + n;
      }
    }
  return s;
}

BlockList BlockSelection::keys_of(int64_t bh, int64_t I) const {
  if (all) return {all_blocks.data(), nb};
  const int64_t a = row_start[static_cast<size_t>(bh * nb + I)], b = row_start[static_cast<size_t>(bh * nb + I + 1)];
  return {keys.data() + a, b - a};
}

BlockList BlockSelection::queries_of(int64_t bh, int64_t J) const {
  if (all) return {all_blocks.data(), nb};
  const int64_t a = col_start[static_cast<size_t>(bh * nb + J)], b = col_start[static_cast<size_t>(bh * nb + J + 1)];
  return {queries.data() + a, b - a};
}

bool BlockSelection::selected(int64_t bh, int64_t I, int64_t J) const {
  if (all) return true;
  const BlockList ks = keys_of(bh, I);
  return std::binary_search(ks.index, ks.index + ks.size, static_cast<int32_t>(J));
}

int64_t BlockSelection::key_slot(int64_t bh, int64_t I, int64_t n) const {
  return all ? (bh * nb + I) * nb + n : row_start[static_cast<size_t>(bh * nb + I)] + n;
}

int64_t BlockSelection::query_slot(int64_t bh, int64_t J, int64_t n) const {
  return all ? (bh * nb + n) * nb + J : query_slots[static_cast<size_t>(col_start[static_cast<size_t>(bh * nb + J)] + n)];
}

int64_t BlockSelection::pairs_before(int64_t bh) const {
  return all ? bh * nb * nb : row_start[static_cast<size_t>(bh * nb)];
}

int64_t BlockSelection::count() const { return all ? BH * nb * nb : static_cast<int64_t>(keys.size()); }

}  // namespace ops
