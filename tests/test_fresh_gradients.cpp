// Ops whose backward writes an input's whole gradient (engine::Grads::whole) overwrite a fresh,
// unzeroed buffer when the input has no gradient yet, and add to it otherwise. For each such
// op: an input used twice gets exactly twice the gradient of one use, and recycled memory full
// of NaN (what a fresh buffer may hold) never leaks into a gradient.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "engine/tape.h"
#include "ops/activations.h"
#include "ops/attention/heads.h"
#include "ops/elementwise.h"
#include "ops/layernorm.h"
#include "ops/matmul.h"
#include "ops/paramixer/factor_mlp.h"
#include "ops/paramixer/protocols.h"
#include "ops/paramixer/sparse_mix.h"
#include "ops/paramixer/sparse_mix_chain.h"
#include "ops/reduce.h"

namespace {

using engine::Tensor;

struct Case {
  std::string name;
  engine::Shape input;
  std::function<Tensor(const Tensor&)> op;
};

// Frees a few NaN-filled blocks of `numel` floats into the allocator's cache, which hands them
// out again (last freed, first reused) for the next buffers of that size: the gradient's too.
void leave_nan_blocks_in_cache(int64_t numel) {
  std::vector<Tensor> blocks;
  for (int i = 0; i < 4; ++i) blocks.push_back(Tensor::full({numel}, std::numeric_limits<double>::quiet_NaN()));
}

// d/dx of sum(op(x) * r) for a fixed random r, summed over `uses` separate uses of x.
Tensor gradient(const Case& c, Tensor x, const Tensor& r, int uses) {
  x.zero_grad();
  Tensor loss;
  for (int u = 0; u < uses; ++u) {
    Tensor term = ops::sum_all(ops::mul(c.op(x), r));
    loss = loss.defined() ? ops::add(loss, term) : term;
  }
  leave_nan_blocks_in_cache(x.numel());
  engine::backward(loss);
  return x.grad().clone();
}

std::vector<Case> cases() {
  static engine::Rng rng(3);
  const Tensor w13 = Tensor::randn({11, 13}, rng), b11 = Tensor::randn({11}, rng), x13 = Tensor::randn({5, 7, 13}, rng);
  const Tensor m = Tensor::randn({3, 9, 6}, rng), gamma = Tensor::randn({19}, rng), beta = Tensor::randn({19}, rng);
  const int64_t N = 37, D = 17;
  std::vector<std::vector<int64_t>> chord;
  for (int64_t f = 0; f < ops::num_factors(N); ++f) chord.push_back(ops::protocol_offsets(ops::Protocol::chord, N, f));
  const int64_t L = static_cast<int64_t>(chord[0].size()), M = ops::num_factors(N);
  const Tensor w_mix = Tensor::randn({2, N, L}, rng, engine::DType::f32, 0.3), v_mix = Tensor::randn({2, N, D}, rng);
  const Tensor w_all = Tensor::randn({M, 2 * N, L}, rng, engine::DType::f32, 0.3);
  const Tensor w1 = Tensor::randn({M * 5, D}, rng), b1 = Tensor::randn({M * 5}, rng);
  const Tensor w2 = Tensor::randn({M, L, 5}, rng), b2 = Tensor::randn({M, L}, rng);
  return {
      {"linear x", {5, 7, 13}, [=](const Tensor& x) { return ops::linear(x, w13, b11); }},
      {"linear weight", {11, 13}, [=](const Tensor& w) { return ops::linear(x13, w, b11); }},
      {"matmul a", {3, 4, 9}, [=](const Tensor& a) { return ops::matmul(a, m); }},
      {"matmul b", {3, 6, 9}, [=](const Tensor& b) { return ops::matmul(m, b, true, true); }},
      {"layer_norm", {6, 19}, [=](const Tensor& x) { return ops::layer_norm(x, gamma, beta); }},
      {"gelu", {1003}, [](const Tensor& x) { return ops::gelu(x); }},
      {"tanh", {101}, [](const Tensor& x) { return ops::tanh(x); }},
      {"merge_heads", {6, 17, 5}, [](const Tensor& x) { return ops::merge_heads(x, 3); }},
      {"sparse_mix w", {2, N, L}, [=](const Tensor& w) { return ops::sparse_mix(w, v_mix, chord[1], true); }},
      {"sparse_mix v", {2, N, D}, [=](const Tensor& v) { return ops::sparse_mix(w_mix, v, chord[1], true); }},
      {"sparse_mix_chain w", {M, 2 * N, L}, [=](const Tensor& w) { return ops::sparse_mix_chain(w, v_mix, chord); }},
      {"sparse_mix_chain v", {2, N, D}, [=](const Tensor& v) { return ops::sparse_mix_chain(w_all, v, chord); }},
      {"sparse_mix_chain v recomputed", {2, N, D},
       [=](const Tensor& v) { return ops::sparse_mix_chain(w_all, v, chord, ops::ChainStates::recompute); }},
      {"factor_mlp x", {2 * N, D}, [=](const Tensor& x) { return ops::factor_mlp(x, w1, b1, w2, b2); }},
  };
}

TEST(FreshGradients, AnInputUsedTwiceGetsTwiceTheGradientAndNoLeftovers) {
  engine::Rng rng(5);
  for (const Case& c : cases()) {
    Tensor x = Tensor::randn(c.input, rng, engine::DType::f32, 0.5);
    x.set_requires_grad();
    const Tensor r = Tensor::randn(c.op(x).shape(), rng);
    engine::clear_tape();
    const Tensor once = gradient(c, x, r, 1), twice = gradient(c, x, r, 2);
    const float *g1 = once.data<float>(), *g2 = twice.data<float>();
    double norm = 0;
    for (int64_t i = 0; i < once.numel(); ++i) {
      ASSERT_TRUE(std::isfinite(g1[i]) && std::isfinite(g2[i])) << c.name << ": element " << i << " was not written";
      ASSERT_NEAR(g2[i], 2 * g1[i], 1e-4 * (1 + std::fabs(g1[i]))) << c.name << " at " << i;
      norm += std::fabs(g1[i]);
    }
    EXPECT_GT(norm, 0) << c.name << ": the gradient is zero, so the test shows nothing";
  }
}

}  // namespace
