#include "nn/attention.h"

#include "engine/check.h"
#include "ops/attention/heads.h"

namespace nn {

AttentionKind attention_kind_from_name(const std::string& name) {
  if (name == "mra") return AttentionKind::mra;
  if (name == "transformer" || name == "exact") return AttentionKind::exact;
  throw engine::Error("unknown attention '" + name + "' (available: mra, exact)");
}

MultiHeadAttention::MultiHeadAttention(const AttentionConfig& c, engine::Rng& rng)
    : cfg_(c), qkv_(c.dim, 3 * c.dim, rng), out_(c.dim, c.dim, rng) {
  LONGMIX_CHECK(c.heads >= 1 && c.dim % c.heads == 0,
                "attention: width " << c.dim << " is not a multiple of " << c.heads << " heads");
  LONGMIX_CHECK(!c.rotary || (c.dim / c.heads) % 2 == 0,
                "attention: rotary positions turn pairs of features, but the head width " << c.dim / c.heads
                                                                                          << " is odd");
  cfg_.mra.heads = c.heads;
  register_module("qkv", qkv_);
  register_module("out", out_);
}

Tensor MultiHeadAttention::forward(const Tensor& x, const Tensor& key_mask) const {
  const Tensor qkv = qkv_.forward(x);
  const int64_t h = cfg_.heads;
  Tensor q = ops::split_heads(qkv, h, 0, 3), k = ops::split_heads(qkv, h, 1, 3);
  const Tensor v = ops::split_heads(qkv, h, 2, 3);
  if (cfg_.rotary) {
    const int64_t N = x.dim(1), d = cfg_.dim / h;
    if (!rotary_table_ || rotary_table_->seq_len() != N) rotary_table_ = std::make_shared<ops::RotaryTable>(N, d);
    q = ops::rotary(q, rotary_table_);
    k = ops::rotary(k, rotary_table_);
  }
  if (cfg_.kind == AttentionKind::exact) return out_.forward(ops::merge_heads(ops::softmax_attention(q, k, v, key_mask, h), h));
  if (hold_selection_ && !held_selection_) held_selection_ = ops::mra_selection(q, k, v, key_mask, cfg_.mra);
  const Tensor y = ops::mra_attention(q, k, v, key_mask, cfg_.mra, hold_selection_ ? held_selection_ : nullptr);
  return out_.forward(ops::merge_heads(y, h));
}

void MultiHeadAttention::hold_selection(bool on) {
  hold_selection_ = on;
  held_selection_.reset();
}

}  // namespace nn
