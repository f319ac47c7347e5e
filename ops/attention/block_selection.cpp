#include "ops/attention/block_selection.h"

#include <algorithm>
#include <numeric>

#include "engine/check.h"
#include "engine/parallel.h"

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

// Every step builds one at N / 32 blocks a side (16 batch-heads x 512^2 flags at N = 16384),
// so each pass runs over the batch-heads in parallel: a batch-head's rows, columns and slots
// are its own, and the lists come out exactly as a serial row-major scan would make them.
BlockSelection BlockSelection::from_mask(int64_t BH, int64_t nb, const std::vector<uint8_t>& mask) {
  LONGMIX_CHECK(static_cast<int64_t>(mask.size()) == BH * nb * nb,
                "block selection: mask of " << mask.size() << " flags for " << BH << " x " << nb << " x " << nb);
  BlockSelection s;
  s.BH = BH;
  s.nb = nb;
  s.row_start.assign(static_cast<size_t>(BH * nb + 1), 0);
  s.col_start.assign(static_cast<size_t>(BH * nb + 1), 0);
  auto flag = [&](int64_t bh, int64_t I, int64_t J) { return mask[static_cast<size_t>((bh * nb + I) * nb + J)] != 0; };
  engine::parallel_for(BH, 1, [&](int64_t b0, int64_t b1) {  // pairs per row and per column
    for (int64_t bh = b0; bh < b1; ++bh)
      for (int64_t I = 0; I < nb; ++I)
        for (int64_t J = 0; J < nb; ++J)
          if (flag(bh, I, J)) {
            ++s.row_start[static_cast<size_t>(bh * nb + I + 1)];
            ++s.col_start[static_cast<size_t>(bh * nb + J + 1)];
          }
  });
  std::partial_sum(s.row_start.begin(), s.row_start.end(), s.row_start.begin());
  std::partial_sum(s.col_start.begin(), s.col_start.end(), s.col_start.begin());
  const auto pairs = static_cast<size_t>(s.row_start.back());
  s.keys.resize(pairs);
  s.queries.resize(pairs);
  s.query_slots.resize(pairs);
  engine::parallel_for(BH, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t bh = b0; bh < b1; ++bh) {
      for (int64_t I = 0; I < nb; ++I) {
        int64_t at = s.row_start[static_cast<size_t>(bh * nb + I)];
        for (int64_t J = 0; J < nb; ++J)
          if (flag(bh, I, J)) s.keys[static_cast<size_t>(at++)] = static_cast<int32_t>(J);
      }
      // Transpose: visiting (I, J) in row-major order fills each key block's list in ascending I.
      std::vector<int64_t> fill(s.col_start.begin() + bh * nb, s.col_start.begin() + (bh + 1) * nb);
      for (int64_t I = 0; I < nb; ++I) {
        const BlockList ks = s.keys_of(bh, I);
        for (int64_t n = 0; n < ks.size; ++n) {
          const size_t at = static_cast<size_t>(fill[static_cast<size_t>(ks.index[n])]++);
          s.queries[at] = static_cast<int32_t>(I);
          s.query_slots[at] = s.row_start[static_cast<size_t>(bh * nb + I)] + n;
        }
      }
    }
  });
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
