#include "nn/layers.h"

#include "nn/init.h"
#include "ops/activations.h"
#include "ops/dropout.h"
#include "ops/embedding.h"
#include "ops/layernorm.h"
#include "ops/matmul.h"
#include "ops/paramixer/factor_mlp.h"

namespace nn {

Linear::Linear(int64_t in, int64_t out, engine::Rng& rng, bool bias)
    : weight_(init::uniform_fan_in({out, in}, in, rng)) {
  register_parameter("weight", weight_);
  if (bias) {
    bias_ = init::uniform_fan_in({out}, in, rng);
    register_parameter("bias", bias_);
  }
}

Tensor Linear::forward(const Tensor& x) const { return ops::linear(x, weight_, bias_); }

Tensor Gelu::forward(const Tensor& x) const { return ops::gelu(x); }

LayerNorm::LayerNorm(int64_t dim, double eps)
    : gamma_(Tensor::full({dim}, 1.0)), beta_(Tensor::zeros({dim})), eps_(eps) {
  register_parameter("weight", gamma_);
  register_parameter("bias", beta_);
}

Tensor LayerNorm::forward(const Tensor& x) const { return ops::layer_norm(x, gamma_, beta_, eps_); }

Embedding::Embedding(int64_t vocab, int64_t dim, engine::Rng& rng, double std)
    : weight_(Tensor::randn({vocab, dim}, rng, engine::DType::f32, std)) {
  register_parameter("weight", weight_);
}

Tensor Embedding::forward(const Tensor& ids) const { return ops::embedding(weight_, ids); }

Dropout::Dropout(double p, uint64_t seed) : p_(p), rng_(seed) {
  LONGMIX_CHECK(p >= 0 && p < 1, "Dropout: probability must be in [0, 1), got " << p);
  register_rng("rng", rng_);
}

Tensor Dropout::forward(const Tensor& x, uint64_t seed) const {
  if (!active()) return x;
  return ops::dropout(x, p_, seed, true);
}

Mlp::Mlp(int64_t in, int64_t hidden, int64_t out, engine::Rng& rng)
    : fc1_(in, hidden, rng), fc2_(hidden, out, rng) {
  register_module("0", fc1_);  // torch.nn.Sequential numbering: 0 Linear, 1 GELU, 2 Linear
  register_module("2", fc2_);
}

// One fused op (the hidden layer lives only in cache, chunk by chunk, and is recomputed in
// backward): the same function as fc2(gelu(fc1(x))).
Tensor Mlp::forward(const Tensor& x) const {
  return ops::gelu_mlp(x, fc1_.weight(), fc1_.bias(), fc2_.weight(), fc2_.bias());
}

}  // namespace nn
