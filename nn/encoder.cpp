#include "nn/encoder.h"

#include <cmath>

#include "engine/check.h"
#include "nn/patch_order.h"
#include "ops/elementwise.h"
#include "ops/embedding.h"
#include "ops/reduce.h"
#include "ops/shape_ops.h"

namespace nn {

EncoderBlock::EncoderBlock(const EncoderBlockConfig& c, engine::Rng& rng, uint64_t dropout_seed)
    : norm_attention_(c.attention.dim),
      norm_ffn_(c.attention.dim),
      attention_(c.attention, rng),
      ffn_in_(c.attention.dim, c.ffn, rng),
      ffn_out_(c.ffn, c.attention.dim, rng),
      drop_attention_(c.dropout, dropout_seed),
      drop_hidden_(c.dropout, dropout_seed + 1),
      drop_ffn_(c.dropout, dropout_seed + 2) {
  register_module("norm_attention", norm_attention_);
  register_module("attention", attention_);
  register_module("norm_ffn", norm_ffn_);
  register_module("ffn_in", ffn_in_);
  register_module("ffn_out", ffn_out_);
  register_module("drop_attention", drop_attention_);
  register_module("drop_hidden", drop_hidden_);
  register_module("drop_ffn", drop_ffn_);
}

Tensor EncoderBlock::forward(const Tensor& x, const Tensor& key_mask) {
  Tensor h = ops::add(x, drop_attention_.forward(attention_.forward(norm_attention_.forward(x), key_mask)));
  const Tensor hidden = drop_hidden_.forward(act_.forward(ffn_in_.forward(norm_ffn_.forward(h))));
  return ops::add(h, drop_ffn_.forward(ffn_out_.forward(hidden)));
}

EncoderNet::EncoderNet(const EncoderNetConfig& c, engine::Rng& rng) : cfg_(c), final_norm_(c.block.attention.dim) {
  const int64_t D = c.block.attention.dim, N = c.seq_len;
  LONGMIX_CHECK(N >= 1 && D >= 1 && c.layers >= 1 && c.block.ffn >= 1 && c.outputs >= 1,
                "encoder: seq-len, dim, layers, ffn width and outputs must be >= 1");
  if (c.image_patches) {
    const int64_t side = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(N))));
    LONGMIX_CHECK(side * side == N, "encoder: --patches needs a square image, but " << N << " tokens is not one");
    patch_order_ = patch_order(side);
  }
  embedding_ = std::make_unique<InputEmbedding>("encoder", c.vocab, c.input_features, D, rng, c.embedding_std);
  register_module("embedding", *embedding_);
  positional_ = Tensor::randn({N, D}, rng, engine::DType::f32, 0.02);
  register_parameter("positional", positional_);
  for (int64_t l = 0; l < c.layers; ++l) {
    blocks_.push_back(std::make_unique<EncoderBlock>(c.block, rng, rng.next_u64()));
    register_module("blocks." + std::to_string(l), *blocks_.back());
  }
  register_module("final_norm", final_norm_);
  if (c.token_vocab > 0) {
    // Masked positions index the task's order; patches would reorder the features under them.
    LONGMIX_CHECK(!c.image_patches, "encoder: masked-token pretraining does not take --patches");
    token_head_ = std::make_unique<Linear>(D, c.token_vocab, rng);
    register_module("token_head", *token_head_);
  } else {
    head_ = std::make_unique<Head>(c.pooling == EncoderPooling::flatten ? N * D : D, c.head_hidden, c.outputs, rng);
    register_module("head", *head_);
  }
}

void EncoderNet::hold_attention_selection(bool on) {
  for (auto& block : blocks_) block->hold_selection(on);
}

void EncoderNet::check_sequence_length(const Tensor& inputs) const {
  LONGMIX_CHECK(inputs.ndim() >= 2 && inputs.dim(1) == cfg_.seq_len,
                "encoder: inputs " << inputs.shape() << " do not have the model's sequence length " << cfg_.seq_len);
}

Tensor EncoderNet::in_model_order(const Tensor& by_position) const {
  return patch_order_.empty() || !by_position.defined() ? by_position : reorder_positions(by_position, patch_order_);
}

Tensor EncoderNet::features(const Tensor& inputs, const Tensor& key_mask) {
  Tensor x = ops::add(embedding_->forward(inputs), positional_);
  for (auto& block : blocks_) x = block->forward(x, key_mask);
  return final_norm_.forward(x);
}

Tensor EncoderNet::forward(const Tensor& inputs, const Tensor& key_mask) {
  LONGMIX_CHECK(head_, "encoder: this model was built for masked-token pretraining (--pretrain masked-tokens) and "
                       "has no classification head; train a classifier from it with --init-from");
  check_sequence_length(inputs);
  const Tensor mask = in_model_order(key_mask);
  const Tensor normed = features(in_model_order(inputs), mask);
  const int64_t B = normed.dim(0), D = normed.dim(2);
  switch (cfg_.pooling) {
    case EncoderPooling::flatten: return head_->forward(ops::reshape(normed, {B, -1}));
    case EncoderPooling::first: return head_->forward(ops::reshape(ops::slice(normed, 1, 0, 1), {B, D}));
    case EncoderPooling::mean: break;
  }
  return head_->forward(mask.defined() ? ops::masked_mean(normed, mask) : ops::mean(normed, 1));
}

Tensor EncoderNet::token_logits(const Tensor& inputs, const Tensor& key_mask, const Tensor& positions) {
  LONGMIX_CHECK(token_head_, "encoder: token_logits needs a model built for masked-token pretraining (token_vocab > 0)");
  LONGMIX_CHECK(positions.defined() && positions.dtype() == engine::DType::i32 && positions.ndim() == 1,
                "encoder: masked positions must be an int32 vector");
  check_sequence_length(inputs);
  const Tensor normed = features(inputs, key_mask);  // no patches: already in the model's order
  const int64_t B = normed.dim(0), N = cfg_.seq_len;
  // Gathering the masked rows (ops::embedding over the features as a table; it checks the
  // positions) keeps the head and the loss at M rows instead of B * N.
  return token_head_->forward(ops::embedding(ops::reshape(normed, {B * N, normed.dim(2)}), positions));
}

}  // namespace nn
