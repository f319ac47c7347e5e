// Which key blocks each query block attends to at full resolution, per batch-head, stored in
// both directions (query block -> key blocks for forward and dQ, key block -> query blocks for
// dK and dV, so every backward pass writes only its own rows).
#pragma once
#include <cstdint>
#include <vector>

namespace ops {

struct BlockList {
  const int32_t* index;
  int64_t size;
};

struct BlockSelection {
  int64_t BH = 0, nb = 0;
  bool all = false;  // every block (exact attention): the lists below stay empty
  std::vector<int32_t> all_blocks;            // 0 .. nb-1, for `all`
  std::vector<int64_t> row_start, col_start;  // (BH * nb + 1) offsets into keys / queries
  std::vector<int32_t> keys, queries;         // ascending within each list
  std::vector<int64_t> query_slots;           // per entry of `queries`: its pair's index in `keys`

  static BlockSelection every_block(int64_t BH, int64_t nb);
  // mask holds BH * nb * nb flags, mask[(bh * nb + I) * nb + J] = 1 when (I, J) is selected.
  static BlockSelection from_mask(int64_t BH, int64_t nb, const std::vector<uint8_t>& mask);

  BlockList keys_of(int64_t bh, int64_t I) const;
  BlockList queries_of(int64_t bh, int64_t J) const;
  bool selected(int64_t bh, int64_t I, int64_t J) const;
  // A dense index of every selected pair (0 .. count()-1), reached from either direction: the
  // n-th key block of (bh, I), or the n-th query block of (bh, J).
  int64_t key_slot(int64_t bh, int64_t I, int64_t n) const;
  int64_t query_slot(int64_t bh, int64_t J, int64_t n) const;
  int64_t count() const;  // selected pairs over all batch-heads
  int64_t pairs_before(int64_t bh) const;  // selected pairs of batch-heads 0 .. bh-1 (slots start there)
};

}  // namespace ops
