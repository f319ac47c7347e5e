// Multi-head self-attention, exact softmax or MRA-2 (SPEC 2, 3): one fused QKV projection
// (D -> 3D), heads of width d = D / heads, optionally rotary position embedding of q and k
// (ops/attention/rotary.h), the attention op, the output projection Wo.
#pragma once
#include <cstdint>

#include "engine/rng.h"
#include "nn/layers.h"
#include "ops/attention/attention.h"
#include "ops/attention/rotary.h"

namespace nn {

enum class AttentionKind { exact, mra };
AttentionKind attention_kind_from_name(const std::string& name);  // "transformer"/"exact" or "mra"

struct AttentionConfig {
  int64_t dim = 64, heads = 2;
  AttentionKind kind = AttentionKind::mra;
  ops::MraOptions mra;  // its `heads` is set from `heads`
  bool rotary = false;  // rotate q and k by their positions (needs an even head width)
};

class MultiHeadAttention : public Module {
 public:
  MultiHeadAttention(const AttentionConfig& config, engine::Rng& rng);
  // x (B, N, D), key_mask (B, N) or undefined -> (B, N, D)
  Tensor forward(const Tensor& x, const Tensor& key_mask) const;
  // MRA-2 only: while held, the first forward's block selection is reused by later ones (finite
  // differences perturb the inputs of a top-k that has no gradient). Releasing drops it.
  void hold_selection(bool on);

 private:
  AttentionConfig cfg_;
  Linear qkv_, out_;
  bool hold_selection_ = false;
  mutable std::shared_ptr<const ops::BlockSelection> held_selection_;
  mutable std::shared_ptr<const ops::RotaryTable> rotary_table_;  // built for the last N seen
};

}  // namespace nn
