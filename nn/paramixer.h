// The Paramixer layer and network (SPEC 1.3, 1.4).
//
// Layer, with X the embedded input (the same for every layer) and V the running state:
//   V <- g(V)                      g = Linear(D,H) - GELU - Linear(H,D)
//   for m in 0..M-1:  W_m = f_m(X);  V <- P_m(W_m, V) + V
//   V <- Dropout(V)
// The M factor MLPs f_m = Linear(D,H) - GELU - Linear(H,L) all read the same X, so their first
// layers run as one GEMM (D -> M*H) and their second layers as one grouped linear op.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "nn/head.h"
#include "nn/input_embedding.h"
#include "nn/layers.h"
#include "ops/paramixer/protocols.h"

namespace nn {

struct ParamixerConfig {
  int64_t seq_len = 1024;
  int64_t dim = 32;     // D
  int64_t hidden = 32;  // H of g and of the factor MLPs
  ops::Protocol protocol = ops::Protocol::chord;
  double dropout = 0;
  // Keep only each layer's inputs and recompute its insides during backward: memory for
  // compute (about one more forward pass), for long sequences.
  bool recompute = false;
};

class ParamixerLayer : public Module {
 public:
  ParamixerLayer(const ParamixerConfig& config, engine::Rng& rng, uint64_t dropout_seed);
  Tensor forward(const Tensor& v, const Tensor& x);  // (B,N,D), (B,N,D) -> (B,N,D)
  int64_t num_factors() const { return static_cast<int64_t>(offsets_.size()); }

 private:
  Tensor forward_body(const Tensor& v, const Tensor& x, uint64_t dropout_seed) const;
  int64_t N_, H_, L_;
  bool recompute_;
  Mlp g_;
  Linear factor_hidden_;     // D -> M*H: every factor's first layer in one GEMM
  Tensor factor_weight_;     // (M, L, H): the second layers
  Tensor factor_bias_;       // (M, L)
  Dropout dropout_;
  std::vector<std::vector<int64_t>> offsets_;  // per factor
};

struct ParamixerNetConfig {
  ParamixerConfig layer;
  int64_t layers = 2;
  int64_t vocab = 0;           // > 0: token ids through an Embedding
  double embedding_std = 1.0;  // its initial N(0, std^2) (nn::Embedding)
  int64_t input_features = 0;  // > 0: continuous inputs through a Linear
  bool positional = false;     // learned positional embedding (N, D)
  bool mean_pool = false;      // head: mean over positions, else flatten (N*D)
  int64_t head_hidden = 0;     // > 0: an MLP head of this width (nn::Head), else linear
  int64_t outputs = 1;
};

class ParamixerNet : public Module {
 public:
  ParamixerNet(const ParamixerNetConfig& config, engine::Rng& rng);
  // inputs int32 (B,N) token ids or float (B,N,F) -> (B, outputs)
  Tensor forward(const Tensor& inputs);

 private:
  ParamixerNetConfig cfg_;
  std::unique_ptr<InputEmbedding> embedding_;
  Tensor positional_;  // (N, D) when enabled
  std::vector<std::unique_ptr<ParamixerLayer>> layers_;
  std::unique_ptr<Head> head_;
};

}  // namespace nn
