#include "ops/attention/block_attention.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "engine/cpu.h"
#include "engine/flop_counter.h"
#include "engine/parallel.h"
#include "engine/tensor.h"

namespace ops {
namespace {

using engine::Tensor;

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

struct Block {
  int64_t first, size;  // token range of a block
};
Block block_range(const BlockAttentionProblem& p, int64_t I) {
  const int64_t first = I * p.block;
  return {first, std::min(p.block, p.N - first)};
}

// Bit c set when token first + c of batch-head bh is present.
uint32_t present_bits(const BlockAttentionProblem& p, int64_t bh, Block b) {
  if (!p.key_valid) return b.size >= 32 ? 0xFFFFFFFFu : (1u << b.size) - 1;
  const uint8_t* valid = p.key_valid + (bh / p.heads) * p.N + b.first;
  uint32_t bits = 0;
  for (int64_t c = 0; c < b.size; ++c) bits |= valid[c] ? (1u << c) : 0u;
  return bits;
}

// Every block of x (BH, N, d) as a packed tile (block_kernels.h): (BH * nb, d, kTile).
Tensor pack_tiles(const BlockAttentionProblem& p, const float* x) {
  const int64_t nb = p.num_blocks(), d = p.d;
  Tensor packed = Tensor::empty({p.BH * nb, d, kTile});
  float* dst = packed.data<float>();
  engine::parallel_for(p.BH * nb, 16, [&](int64_t t0, int64_t t1) {
    for (int64_t tile = t0; tile < t1; ++tile) {
      const int64_t bh = tile / nb;
      const Block b = block_range(p, tile % nb);
      const float* src = x + (bh * p.N + b.first) * d;
      float* out = dst + tile * d * kTile;
      // Row by row of the tile (contiguous stores); zeros only past a short last block.
      for (int64_t t = 0; t < d; ++t) {
        for (int64_t c = 0; c < b.size; ++c) out[t * kTile + c] = src[c * d + t];
        for (int64_t c = b.size; c < kTile; ++c) out[t * kTile + c] = 0.f;
      }
    }
  });
  return packed;
}

// Work items are (batch-head, block) pairs of uneven cost (MRA-2 selects unevenly), so they
// are handed out dynamically; each writes only its own rows, whichever thread runs it.
template <class Body>
void for_each_block(int64_t items, Body&& body) {
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t item = 0; item < items; ++item) body(item);
}

// FLOPs of one block x block tile product of width d, times the selected tiles.
double tile_product_flops(const BlockAttentionProblem& p) {
  return double(p.selection->count()) * 2.0 * double(p.block) * double(p.block) * double(p.d);
}

struct alignas(64) Scratch {
  float s[kTile * kTile], dp[kTile * kTile], p[kTile * kTile], ds[kTile * kTile];
  float m[kTile], l[kTile], alpha[kTile];
};

}  // namespace

void block_attention_forward(const BlockAttentionProblem& p, const BlockKernels& k, const float* q,
                             const float* key, const float* v, const BlockStart<float>* start, float* out,
                             float* row_max, float* inv_z) {
  const int64_t nb = p.num_blocks(), d = p.d;
  const float scale = static_cast<float>(p.scale), eps = static_cast<float>(p.eps);
  engine::count_flops(2 * tile_product_flops(p));  // scores and the weighted sum of V
  // Tiles are transposed (rows = keys, columns = queries) so that the softmax runs down the
  // columns with plain vector maxima and sums, and the weighted sum of V reads its weights
  // one cache line at a time.
  const Tensor packed_q = pack_tiles(p, q);
  const float* pq = packed_q.data<float>();
  for_each_block(p.BH * nb, [&](int64_t item) {
    Scratch w;
    const int64_t bh = item / nb, I = item % nb;
    const Block qb = block_range(p, I);
    const int64_t row0 = bh * p.N + qb.first;
    const uint32_t queries = present_bits(p, bh, qb);
    float* o = out + row0 * d;
    const int rows = static_cast<int>(qb.size);
    for (int r = 0; r < kTile; ++r) {  // every lane: the softmax works on whole tile rows
      w.m[r] = start ? start->m[item] : kNegInf;
      w.l[r] = start ? start->l[item] : 0.f;
    }
    for (int r = 0; r < rows; ++r) {
      if (start) std::memcpy(o + r * d, start->o + item * d, static_cast<size_t>(d) * sizeof(float));
      else std::memset(o + r * d, 0, static_cast<size_t>(d) * sizeof(float));
    }
    if (queries != 0) {
      const BlockList ks = p.selection->keys_of(bh, I);
      for (int64_t n = 0; n < ks.size; ++n) {
        const Block kb = block_range(p, ks.index[n]);
        const uint32_t keys = present_bits(p, bh, kb);
        if (keys == 0) continue;
        const int krows = static_cast<int>(kb.size);
        k.scores(krows, d, key + (bh * p.N + kb.first) * d, d, pq + item * d * kTile, scale, w.s);
        k.online_softmax_cols(krows, keys, w.s, w.m, w.l, w.alpha);
        k.accumulate_transposed(rows, krows, d, w.s, v + (bh * p.N + kb.first) * d, d, w.alpha, o, d);
      }
    }
    for (int r = 0; r < rows; ++r) {
      const bool live = ((queries >> r) & 1u) && w.m[r] != kNegInf;
      const float iz = live ? 1.f / (w.l[r] + eps) : 0.f;
      for (int64_t t = 0; t < d; ++t) o[r * d + t] *= iz;
      row_max[row0 + r] = live ? w.m[r] : 0.f;
      inv_z[row0 + r] = iz;
    }
  });
}

namespace {

// Selected pairs of the batch-head with the most.
int64_t largest_head_pairs(const BlockSelection& sel, int64_t BH) {
  int64_t largest = 0;
  for (int64_t bh = 0; bh < BH; ++bh) largest = std::max(largest, sel.pairs_before(bh + 1) - sel.pairs_before(bh));
  return largest;
}

// Pointers shared by every tile of the single pass (pk, pv: K and V as packed tiles).
struct SinglePassData {
  const float *q, *key, *dout, *pk, *pv, *row_max, *inv_z, *delta;
  float *dk, *dv;
};

// One selected (query block, key block) tile of the single pass: P and dS once; the key
// block's dV and dK rows gain P^T dO and dS^T Q; dS K is written to dq_rows (query block
// rows, stride d), or added to them with accumulate_dq.
void backward_tile(const BlockAttentionProblem& p, const BlockKernels& k, const SinglePassData& x, Scratch& w,
                   int64_t bh, Block qb, int64_t J, uint32_t keys, float* dq_rows, bool accumulate_dq) {
  const int64_t nb = p.num_blocks(), d = p.d;
  const Block kb = block_range(p, J);
  const int64_t row0 = bh * p.N + qb.first, col0 = bh * p.N + kb.first, key_tile = (bh * nb + J) * d * kTile;
  const float scale = static_cast<float>(p.scale);
  const int rows = static_cast<int>(kb.size), qrows = static_cast<int>(qb.size);
  // Query-major tile (rows = queries): statistics per row, and the key rows' products read
  // it transposed.
  k.scores(qrows, d, x.q + row0 * d, d, x.pk + key_tile, scale, w.s);
  k.scores(qrows, d, x.dout + row0 * d, d, x.pv + key_tile, 1.f, w.dp);
  k.dscores_by_row(qrows, keys, w.s, w.dp, x.row_max + row0, x.inv_z + row0, x.delta + row0, scale, w.p, w.ds);
  k.accumulate_transposed(rows, qrows, d, w.p, x.dout + row0 * d, d, nullptr, x.dv + col0 * d, d);
  k.accumulate_transposed(rows, qrows, d, w.ds, x.q + row0 * d, d, nullptr, x.dk + col0 * d, d);
  if (accumulate_dq)
    k.accumulate(qrows, rows, d, w.ds, x.key + col0 * d, d, dq_rows, d);
  else
    k.product(qrows, rows, d, w.ds, x.key + col0 * d, d, dq_rows, d);
}

// dQ by shares, for the query rows q0 .. q1 (a query row is a pair (bh, I), numbered
// bh * nb + I): each work item is a key block; every selected pair leaves its dS K in a slot
// of its own, and the slots are summed per query block in key order. For sparse selections
// (MRA-2): the slots are only the selected pairs. A key block's dK and dV take their query
// blocks' terms in ascending order, rounds of query rows ascending too: the same sums
// whatever the rounds.
void backward_by_shares(const BlockAttentionProblem& p, const BlockKernels& k, const SinglePassData& x, int64_t q0,
                        int64_t q1, float* shares, float* dq) {
  const int64_t nb = p.num_blocks(), d = p.d, share = p.block * d;
  const BlockSelection& sel = *p.selection;
  const int64_t bh0 = q0 / nb, bh1 = (q1 - 1) / nb + 1;
  const int64_t first_slot = sel.key_slot(bh0, q0 % nb, 0);
  for_each_block((bh1 - bh0) * nb, [&](int64_t item) {
    Scratch w;
    const int64_t bh = bh0 + item / nb, J = item % nb;
    const uint32_t keys = present_bits(p, bh, block_range(p, J));
    const BlockList qs = sel.queries_of(bh, J);
    for (int64_t n = 0; n < qs.size; ++n) {
      const int64_t q = bh * nb + qs.index[n];
      if (q < q0) continue;
      if (q >= q1) break;  // ascending
      const Block qb = block_range(p, qs.index[n]);
      float* dq_share = shares + (sel.query_slot(bh, J, n) - first_slot) * share;
      if (keys == 0)
        std::memset(dq_share, 0, static_cast<size_t>(qb.size * d) * sizeof(float));
      else
        backward_tile(p, k, x, w, bh, qb, J, keys, dq_share, false);
    }
  });
  for_each_block(q1 - q0, [&](int64_t item) {
    const int64_t bh = (q0 + item) / nb, I = (q0 + item) % nb;
    const Block qb = block_range(p, I);
    float* out = dq + (bh * p.N + qb.first) * d;
    const int64_t n_keys = sel.keys_of(bh, I).size, len = qb.size * d;
    for (int64_t n = 0; n < n_keys; ++n) {
      const float* src = shares + (sel.key_slot(bh, I, n) - first_slot) * share;
      for (int64_t e = 0; e < len; ++e) out[e] += src[e];
    }
  });
}

// At most this many key-block groups per batch-head in dQ by parts.
constexpr int64_t kMaxKeyGroups = 8;
int64_t key_groups(const BlockAttentionProblem& p) { return std::min(p.num_blocks(), kMaxKeyGroups); }

// dQ by parts, for batch-heads [bh0, bh1): each work item is a group of consecutive key
// blocks, which adds its dS K terms into a dQ part of its own (N x d, every query row); the
// parts are summed in group order. For dense selections (exact attention): one slot per pair
// would be N / block times more memory, written and read back once (9% of the 2-thread time).
void backward_by_parts(const BlockAttentionProblem& p, const BlockKernels& k, const SinglePassData& x,
                       int64_t bh0, int64_t bh1, float* parts, float* dq) {
  const int64_t nb = p.num_blocks(), d = p.d, G = key_groups(p), per_group = (nb + G - 1) / G;
  const int64_t part = p.N * d;
  const BlockSelection& sel = *p.selection;
  for_each_block((bh1 - bh0) * G, [&](int64_t item) {
    Scratch w;
    const int64_t bh = bh0 + item / G, g = item % G;
    float* dq_part = parts + item * part;
    std::memset(dq_part, 0, static_cast<size_t>(part) * sizeof(float));
    for (int64_t J = g * per_group; J < std::min(nb, (g + 1) * per_group); ++J) {
      const uint32_t keys = present_bits(p, bh, block_range(p, J));
      if (keys == 0) continue;
      const BlockList qs = sel.queries_of(bh, J);
      for (int64_t n = 0; n < qs.size; ++n) {
        const Block qb = block_range(p, qs.index[n]);
        backward_tile(p, k, x, w, bh, qb, J, keys, dq_part + qb.first * d, true);
      }
    }
  });
  for_each_block((bh1 - bh0) * nb, [&](int64_t item) {
    const int64_t bh = bh0 + item / nb, I = item % nb;
    const Block qb = block_range(p, I);
    float* out = dq + (bh * p.N + qb.first) * d;
    const int64_t len = qb.size * d;
    for (int64_t g = 0; g < G; ++g) {
      const float* src = parts + ((bh - bh0) * G + g) * part + qb.first * d;
      for (int64_t e = 0; e < len; ++e) out[e] += src[e];
    }
  });
}

// Backward in one pass over key blocks: each (query block, key block) tile computes its P and
// dS once and adds into the key block's dK and dV (5 tile products instead of the two passes'
// 7); dQ's terms go to shares or parts (above), whichever takes less memory. Batch-heads go in
// rounds whose buffers fit the budget and the round size (the rounds depend on the selection
// only, never on threads).
void backward_single_pass(const BlockAttentionProblem& p, const BlockKernels& k, int64_t budget_floats,
                          int64_t round_floats, bool by_parts, const float* q, const float* key, const float* v,
                          const float* dout, const float* row_max, const float* inv_z, const float* delta, float* dq,
                          float* dk, float* dv) {
  const BlockSelection& sel = *p.selection;
  const Tensor packed_k = pack_tiles(p, key), packed_v = pack_tiles(p, v);
  const SinglePassData x{q, key, dout, packed_k.data<float>(), packed_v.data<float>(), row_max, inv_z, delta, dk, dv};
  const int64_t nb = p.num_blocks(), share = p.block * p.d;
  // Rounds [first, end): of batch-heads for dQ parts; of query rows (bh * nb + I) for shares,
  // so that one batch-head's shares can be split. Each holds as many as fit the budget and
  // round_floats (at least one).
  const int64_t units = by_parts ? p.BH : p.BH * nb;
  auto unit_floats = [&](int64_t u) {
    return by_parts ? key_groups(p) * p.N * p.d : sel.keys_of(u / nb, u % nb).size * share;
  };
  std::vector<std::pair<int64_t, int64_t>> rounds;
  int64_t most = 0;  // the largest round's buffer, allocated once
  round_floats = std::min(budget_floats, round_floats);
  for (int64_t u0 = 0; u0 < units;) {
    int64_t used = unit_floats(u0), u1 = u0 + 1;
    while (u1 < units && used + unit_floats(u1) <= round_floats) used += unit_floats(u1++);
    rounds.emplace_back(u0, u1);
    most = std::max(most, used);
    u0 = u1;
  }
  Tensor buffer = Tensor::empty({std::max<int64_t>(most, 1)});
  for (const auto& [u0, u1] : rounds) {
    if (by_parts)
      backward_by_parts(p, k, x, u0, u1, buffer.data<float>(), dq);
    else
      backward_by_shares(p, k, x, u0, u1, buffer.data<float>(), dq);
  }
}

// Backward in two passes, for selections too large for the dQ shares (exact attention at
// long N): dQ over query blocks, then dK and dV over key blocks, each recomputing its tiles.
void backward_two_passes(const BlockAttentionProblem& p, const BlockKernels& k, const float* q, const float* key,
                         const float* v, const float* dout, const float* row_max, const float* inv_z,
                         const float* delta, float* dq, float* dk, float* dv) {
  const int64_t nb = p.num_blocks(), d = p.d;
  const float scale = static_cast<float>(p.scale);
  const Tensor packed_q = pack_tiles(p, q), packed_k = pack_tiles(p, key);
  const Tensor packed_v = pack_tiles(p, v), packed_dout = pack_tiles(p, dout);
  const float* pq = packed_q.data<float>();
  const float* pk = packed_k.data<float>();
  const float* pv = packed_v.data<float>();
  const float* pdo = packed_dout.data<float>();

  // dQ: per query block, over its key blocks.
  for_each_block(p.BH * nb, [&](int64_t item) {
    Scratch w;
    const int64_t bh = item / nb, I = item % nb;
    const Block qb = block_range(p, I);
    const int64_t row0 = bh * p.N + qb.first;
    if (present_bits(p, bh, qb) == 0) return;
    const int rows = static_cast<int>(qb.size);
    const BlockList ks = p.selection->keys_of(bh, I);
    for (int64_t n = 0; n < ks.size; ++n) {
      const Block kb = block_range(p, ks.index[n]);
      const uint32_t keys = present_bits(p, bh, kb);
      if (keys == 0) continue;
      const int64_t tile = (bh * nb + ks.index[n]) * d * kTile;
      k.scores(rows, d, q + row0 * d, d, pk + tile, scale, w.s);
      k.scores(rows, d, dout + row0 * d, d, pv + tile, 1.f, w.dp);
      k.dscores_by_row(rows, keys, w.s, w.dp, row_max + row0, inv_z + row0, delta + row0, scale, nullptr, w.ds);
      k.accumulate(rows, static_cast<int>(kb.size), d, w.ds, key + (bh * p.N + kb.first) * d, d,
                   dq + row0 * d, d);
    }
  });

  // dK and dV: per key block, over the query blocks that selected it (transposed tiles).
  for_each_block(p.BH * nb, [&](int64_t item) {
    Scratch w;
    const int64_t bh = item / nb, J = item % nb;
    const Block kb = block_range(p, J);
    const uint32_t keys = present_bits(p, bh, kb);
    if (keys == 0) return;
    const int64_t col0 = bh * p.N + kb.first;
    const int rows = static_cast<int>(kb.size);
    const BlockList qs = p.selection->queries_of(bh, J);
    for (int64_t n = 0; n < qs.size; ++n) {
      const Block qb = block_range(p, qs.index[n]);
      const int64_t row0 = bh * p.N + qb.first;
      const int64_t tile = (bh * nb + qs.index[n]) * d * kTile;
      k.scores(rows, d, key + col0 * d, d, pq + tile, scale, w.s);
      k.scores(rows, d, v + col0 * d, d, pdo + tile, 1.f, w.dp);
      k.dscores_by_col(rows, keys, static_cast<int>(qb.size), w.s, w.dp, row_max + row0, inv_z + row0,
                       delta + row0, scale, w.p, w.ds);
      k.accumulate(rows, static_cast<int>(qb.size), d, w.p, dout + row0 * d, d, dv + col0 * d, d);
      k.accumulate(rows, static_cast<int>(qb.size), d, w.ds, q + row0 * d, d, dk + col0 * d, d);
    }
  });
}

}  // namespace

void block_attention_backward(const BlockAttentionProblem& p, const BlockKernels& k, const float* q,
                              const float* key, const float* v, const float* dout, const float* row_max,
                              const float* inv_z, const float* delta, float* dq, float* dk, float* dv,
                              int64_t share_budget, int64_t round_bytes) {
  engine::count_flops(5 * tile_product_flops(p));  // scores, dP, dV, dK, dQ
  const int64_t budget_floats = share_budget / static_cast<int64_t>(sizeof(float));
  const int64_t round_floats = round_bytes / static_cast<int64_t>(sizeof(float));
  const int64_t head_shares = largest_head_pairs(*p.selection, p.BH) * p.block * p.d;
  const int64_t head_parts = key_groups(p) * p.N * p.d;
  const int64_t head_floats = std::min(head_shares, head_parts);
  if (head_floats <= budget_floats)
    backward_single_pass(p, k, budget_floats, round_floats, head_parts < head_shares, q, key, v, dout, row_max, inv_z,
                         delta, dq, dk, dv);
  else
    backward_two_passes(p, k, q, key, v, dout, row_max, inv_z, delta, dq, dk, dv);
}

const BlockKernels& block_kernels() {
  static const BlockKernels k = engine::select_variant(block_kernels_ref, block_kernels_avx2, block_kernels_avx512);
  return k;
}

}  // namespace ops
