// The attention encoder of SPEC 2 (MRA-2) and 3 (exact softmax), pre-norm:
//   X <- X + Dropout(Wo Attention(LN(X)))
//   X <- X + Dropout(Linear(F, D)(Dropout(GELU(Linear(D, F)(LN(X))))))
// and the network around it: token Embedding or Linear input, learned positional embedding,
// the blocks, a final LayerNorm, pooling over positions (mean, or flatten: the head sees each
// position's features, N*D of them) and a head (linear, or an MLP: nn::Head).
#pragma once
#include <memory>
#include <vector>

#include "nn/attention.h"
#include "nn/head.h"
#include "nn/input_embedding.h"
#include "nn/layers.h"

namespace nn {

struct EncoderBlockConfig {
  AttentionConfig attention;
  int64_t ffn = 128;  // F
  double dropout = 0;
};

class EncoderBlock : public Module {
 public:
  EncoderBlock(const EncoderBlockConfig& config, engine::Rng& rng, uint64_t dropout_seed);
  Tensor forward(const Tensor& x, const Tensor& key_mask);  // (B, N, D) -> (B, N, D)
  void hold_selection(bool on) { attention_.hold_selection(on); }

 private:
  LayerNorm norm_attention_, norm_ffn_;
  MultiHeadAttention attention_;
  Linear ffn_in_, ffn_out_;
  Gelu act_;
  Dropout drop_attention_, drop_hidden_, drop_ffn_;
};

// What the head sees: the (masked) mean over positions; all N*D features; or the first
// position's features alone, as a CLS token (in ListOps the outermost operator), whose
// attention chooses what to gather where the mean weighs every position alike.
enum class EncoderPooling { mean, flatten, first };

struct EncoderNetConfig {
  EncoderBlockConfig block;
  int64_t seq_len = 1024;
  int64_t layers = 2;
  int64_t vocab = 0;           // > 0: token ids through an Embedding
  double embedding_std = 1.0;  // its initial N(0, std^2) (nn::Embedding)
  int64_t input_features = 0;  // > 0: continuous inputs through a Linear
  int64_t outputs = 1;
  int64_t head_hidden = 0;     // > 0: an MLP head of this width (nn::Head), else linear
  EncoderPooling pooling = EncoderPooling::mean;
  bool image_patches = false;  // reorder a square image's tokens into 4 x 8 patches first
  // > 0: built for masked-token pretraining: a Linear(D, token_vocab) over each position's
  // features ("token_head") in place of the pooling and the head (token_logits, not forward).
  int64_t token_vocab = 0;
};

class EncoderNet : public Module {
 public:
  EncoderNet(const EncoderNetConfig& config, engine::Rng& rng);
  // inputs int32 (B, N) or float (B, N, F); key_mask (B, N) or undefined -> (B, outputs).
  // Masked positions are left out of attention (as keys) and of the mean pooling (flatten keeps
  // them: their features are a function of the pad token and position, as in the Paramixer net).
  Tensor forward(const Tensor& inputs, const Tensor& key_mask = Tensor());
  // Masked-token pretraining: the token logits (M, token_vocab) at `positions`, int32 (M) flat
  // indices b * N + n into the inputs (no --patches).
  Tensor token_logits(const Tensor& inputs, const Tensor& key_mask, const Tensor& positions);
  // MRA-2: reuse each layer's first block selection while on (see MultiHeadAttention).
  void hold_attention_selection(bool on);

 private:
  EncoderNetConfig cfg_;
  std::unique_ptr<InputEmbedding> embedding_;
  Tensor positional_;  // (N, D)
  std::vector<std::unique_ptr<EncoderBlock>> blocks_;
  LayerNorm final_norm_;
  std::unique_ptr<Head> head_;         // unless token_vocab > 0
  std::unique_ptr<Linear> token_head_;  // token_vocab > 0
  std::vector<int64_t> patch_order_;  // empty unless image_patches

  void check_sequence_length(const Tensor& inputs) const;
  // (B, N) or (B, N, ...) in the model's position order: the patch order with --patches.
  Tensor in_model_order(const Tensor& by_position) const;
  // (B, N, D) after the final norm, from inputs and key mask already in the model's order.
  Tensor features(const Tensor& inputs, const Tensor& key_mask);
};

}  // namespace nn
