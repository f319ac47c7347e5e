// Modules, optimizers, schedule and clipping.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/gradcheck.h"
#include "engine/tape.h"
#include "nn/layers.h"
#include "nn/optim.h"
#include "ops/elementwise.h"
#include "ops/loss.h"
#include "ops/reduce.h"
#include "tests/test_util.h"

using engine::DType;
using engine::Tensor;

namespace {

class TwoLayer : public nn::Module {
 public:
  explicit TwoLayer(engine::Rng& rng) : norm(5), mlp(5, 8, 3, rng) {
    register_module("norm", norm);
    register_module("mlp", mlp);
  }
  Tensor forward(const Tensor& x) const { return mlp.forward(norm.forward(x)); }
  nn::LayerNorm norm;
  nn::Mlp mlp;
};

TEST(Module, NamedParametersAreDottedPaths) {
  engine::Rng rng(1);
  TwoLayer m(rng);
  std::vector<std::string> names;
  for (auto& [name, t] : m.named_parameters()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"norm.weight", "norm.bias", "mlp.0.weight",
                                             "mlp.0.bias", "mlp.2.weight", "mlp.2.bias"}));
  EXPECT_EQ(m.num_parameters(), 5 + 5 + 8 * 5 + 8 + 3 * 8 + 3);
}

TEST(Module, WholeModuleGradcheckInFloat64) {
  engine::Rng rng(2);
  TwoLayer m(rng);
  m.to(DType::f64);
  Tensor x = Tensor::randn({4, 5}, rng, DType::f64).set_requires_grad();
  std::vector<Tensor> inputs{x};
  std::vector<std::string> names{"x"};
  for (auto& [name, t] : m.named_parameters()) {
    inputs.push_back(t);
    names.push_back(name);
  }
  const auto r = engine::gradcheck([&] { return m.forward(x); }, inputs, {}, names);
  EXPECT_TRUE(r.ok) << r.report;
}

TEST(Module, DropoutIsIdentityInEvalMode) {
  nn::Dropout d(0.5, 3);
  Tensor x = Tensor::full({1000}, 1.0);
  d.eval();
  EXPECT_TRUE(d.forward(x).same(x));
  d.train();
  Tensor y = d.forward(x);
  int zeros = 0;
  for (int64_t i = 0; i < y.numel(); ++i) {
    zeros += y.at_flat(i) == 0;
    if (y.at_flat(i) != 0) {
      EXPECT_EQ(y.at_flat(i), 2.0);
    }
  }
  EXPECT_NEAR(zeros, 500, 60);
  engine::clear_tape();
}

// Minimizes sum((w - target)^2) and checks convergence.
template <class Opt>
double minimize(Opt& opt, Tensor& w, const Tensor& target, int steps, double lr) {
  double loss = 0;
  for (int i = 0; i < steps; ++i) {
    w.zero_grad();
    Tensor l = ops::mse(w, target);
    loss = l.item();
    engine::backward(l);
    opt.step(lr);
  }
  return loss;
}

TEST(Optim, SgdMomentumAndAdamConverge) {
  Tensor target = Tensor::from_data({3}, std::vector<float>{1, -2, 0.5f});
  Tensor w1 = Tensor::zeros({3}).set_requires_grad();
  nn::Sgd sgd({{"w", w1}}, {0.9, 0});
  EXPECT_LT(minimize(sgd, w1, target, 200, 0.05), 1e-6);
  Tensor w2 = Tensor::zeros({3}).set_requires_grad();
  nn::Adam adam({{"w", w2}});
  EXPECT_LT(minimize(adam, w2, target, 400, 0.05), 1e-4);
  EXPECT_EQ(adam.steps_taken(), 400);
}

TEST(Optim, AdamFirstStepMovesEachWeightByLr) {
  // With bias correction, Adam's first update is lr * sign(grad) (up to eps).
  Tensor w = Tensor::from_data({2}, std::vector<double>{0, 0}).set_requires_grad();
  nn::Adam adam({{"w", w}});
  Tensor target = Tensor::from_data({2}, std::vector<double>{3, -1});
  minimize(adam, w, target, 1, 0.1);
  EXPECT_NEAR(w.at_flat(0), 0.1, 1e-6);
  EXPECT_NEAR(w.at_flat(1), -0.1, 1e-6);
}

TEST(Optim, AdamWDecaysWeightsWithoutGradientCoupling) {
  Tensor w = Tensor::from_data({1}, std::vector<double>{2}).set_requires_grad();
  nn::AdamOptions o;
  o.weight_decay = 0.5;
  o.decoupled_weight_decay = true;
  nn::Adam adamw({{"w", w}}, o);
  w.zero_grad();
  engine::backward(ops::mul(ops::sum_all(w), 0.0));  // zero gradient: only decay acts
  adamw.step(0.1);
  EXPECT_NEAR(w.at_flat(0), 2 * (1 - 0.1 * 0.5), 1e-12);
  EXPECT_EQ(adamw.state().size(), 2u);
  EXPECT_EQ(adamw.state()[0].first, "exp_avg.w");
}

TEST(Optim, ClipGradNormScalesToMaxNorm) {
  Tensor a = Tensor::from_data({2}, std::vector<double>{0, 0}).set_requires_grad();
  Tensor b = Tensor::from_data({1}, std::vector<double>{0}).set_requires_grad();
  // Gradients 3, 0 and 4: global norm 5.
  engine::backward(ops::add(ops::sum_all(ops::mul(a, Tensor::from_data({2}, std::vector<double>{3, 0}))),
                            ops::mul(ops::sum_all(b), 4.0)));
  const double norm = nn::clip_grad_norm({{"a", a}, {"b", b}}, 1.0);
  EXPECT_NEAR(norm, 5, 1e-12);
  EXPECT_NEAR(a.grad().at_flat(0), 0.6, 1e-6);
  EXPECT_NEAR(b.grad().at_flat(0), 0.8, 1e-6);
}

TEST(Schedule, LinearWarmupThenLinearDecay) {
  nn::LinearWarmupDecay s{1.0, 4, 12, true};
  EXPECT_DOUBLE_EQ(s.lr(0), 0.25);
  EXPECT_DOUBLE_EQ(s.lr(3), 1.0);
  EXPECT_DOUBLE_EQ(s.lr(4), 1.0);
  EXPECT_DOUBLE_EQ(s.lr(8), 0.5);
  EXPECT_DOUBLE_EQ(s.lr(12), 0.0);
  nn::LinearWarmupDecay constant{2.0, 0, 12, false};
  EXPECT_DOUBLE_EQ(constant.lr(11), 2.0);
}

}  // namespace
