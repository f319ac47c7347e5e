#include "nn/paramixer.h"

#include "engine/check.h"
#include "engine/checkpoint.h"
#include "nn/init.h"
#include "ops/activations.h"
#include "ops/elementwise.h"
#include "ops/paramixer/factor_mlp.h"
#include "ops/paramixer/sparse_mix_chain.h"
#include "ops/reduce.h"
#include "ops/shape_ops.h"

namespace nn {
namespace {

// The chain of products keeps its M-1 intermediate states for backward while they take at
// most this much memory per layer (B = 32, D = 32: N up to 4096); beyond, it recomputes them
// in backward one batch element at a time (ops::ChainStates): at N = 16384 that is 872 MB per
// layer saved for one more forward of the products.
constexpr int64_t kKeptChainStatesLimit = int64_t{256} << 20;

}  // namespace

ParamixerLayer::ParamixerLayer(const ParamixerConfig& c, engine::Rng& rng, uint64_t dropout_seed)
    : N_(c.seq_len),
      H_(c.hidden),
      L_(ops::protocol_links(c.protocol, c.seq_len)),
      recompute_(c.recompute),
      g_(c.dim, c.hidden, c.dim, rng),
      factor_hidden_(c.dim, ops::num_factors(c.seq_len) * c.hidden, rng),
      dropout_(c.dropout, dropout_seed) {
  const int64_t M = ops::num_factors(c.seq_len);
  for (int64_t m = 0; m < M; ++m) offsets_.push_back(ops::protocol_offsets(c.protocol, N_, m));
  factor_weight_ = init::uniform_fan_in({M, L_, H_}, H_, rng);
  factor_bias_ = init::uniform_fan_in({M, L_}, H_, rng);
  register_module("g", g_);
  register_module("factors_hidden", factor_hidden_);
  register_parameter("factors_out.weight", factor_weight_);
  register_parameter("factors_out.bias", factor_bias_);
  register_module("dropout", dropout_);
}

Tensor ParamixerLayer::forward(const Tensor& v_in, const Tensor& x) {
  LONGMIX_CHECK(v_in.ndim() == 3 && v_in.dim(1) == N_ && x.shape() == v_in.shape(),
                "paramixer layer: v " << v_in.shape() << " and x " << x.shape()
                                      << " must both be (B, " << N_ << ", D)");
  const uint64_t seed = dropout_.next_seed();  // outside the body: a recomputation reuses it
  if (!recompute_) return forward_body(v_in, x, seed);
  return engine::checkpoint(
      [this, seed](const std::vector<Tensor>& in) { return forward_body(in[0], in[1], seed); }, {v_in, x});
}

Tensor ParamixerLayer::forward_body(const Tensor& v_in, const Tensor& x, uint64_t dropout_seed) const {
  const int64_t B = x.dim(0), M = num_factors();
  Tensor v = g_.forward(v_in);
  // All factors' link values at once: (M, B*N, L).
  Tensor w_all = ops::factor_mlp(ops::reshape(x, {B * N_, -1}), factor_hidden_.weight(),
                                 factor_hidden_.bias(), factor_weight_, factor_bias_);
  const int64_t states_bytes = (M - 1) * v.numel() * static_cast<int64_t>(engine::dtype_size(v.dtype()));
  const ops::ChainStates states =
      states_bytes <= kKeptChainStatesLimit ? ops::ChainStates::keep : ops::ChainStates::recompute;
  v = ops::sparse_mix_chain(w_all, v, offsets_, states);  // V <- V + P_m(W_m, V) for m = 0 .. M-1
  return dropout_.forward(v, dropout_seed);
}

ParamixerNet::ParamixerNet(const ParamixerNetConfig& c, engine::Rng& rng) : cfg_(c) {
  const int64_t D = c.layer.dim, N = c.layer.seq_len;
  LONGMIX_CHECK(N >= 2, "paramixer: --seq-len must be >= 2, got " << N);
  LONGMIX_CHECK(D >= 1 && c.layer.hidden >= 1 && c.layers >= 1 && c.outputs >= 1,
                "paramixer: dim, hidden, layers and outputs must be >= 1");
  embedding_ = std::make_unique<InputEmbedding>("paramixer", c.vocab, c.input_features, D, rng, c.embedding_std);
  register_module("embedding", *embedding_);
  if (c.positional) {
    positional_ = Tensor::randn({N, D}, rng, engine::DType::f32, 0.02);
    register_parameter("positional", positional_);
  }
  for (int64_t l = 0; l < c.layers; ++l) {
    layers_.push_back(std::make_unique<ParamixerLayer>(c.layer, rng, rng.next_u64()));
    register_module("layers." + std::to_string(l), *layers_.back());
  }
  head_ = std::make_unique<Head>(c.mean_pool ? D : N * D, c.head_hidden, c.outputs, rng);
  register_module("head", *head_);
}

Tensor ParamixerNet::forward(const Tensor& inputs) {
  const int64_t N = cfg_.layer.seq_len;
  LONGMIX_CHECK(inputs.ndim() >= 2 && inputs.dim(1) == N,
                "paramixer: inputs " << inputs.shape() << " do not have the model's sequence length "
                                     << N);
  Tensor x = embedding_->forward(inputs);
  if (positional_.defined()) x = ops::add(x, positional_);
  Tensor v = x;
  for (auto& layer : layers_) v = layer->forward(v, x);
  const int64_t B = inputs.dim(0);
  Tensor pooled = cfg_.mean_pool ? ops::mean(v, 1) : ops::reshape(v, {B, -1});
  return head_->forward(pooled);
}

}  // namespace nn
