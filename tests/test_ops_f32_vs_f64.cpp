// Every op agrees between float32 and float64, forward and backward (the float32 paths are
// the fast ones: oneDNN, SIMD kernels; float64 is what the gradient checks validate).
#include <gtest/gtest.h>

#include <functional>

#include "engine/tape.h"
#include "ops/activations.h"
#include "ops/dropout.h"
#include "ops/elementwise.h"
#include "ops/embedding.h"
#include "ops/layernorm.h"
#include "ops/loss.h"
#include "ops/matmul.h"
#include "ops/reduce.h"
#include "ops/shape_ops.h"
#include "ops/softmax.h"
#include "tests/test_util.h"

using engine::DType;
using engine::Tensor;
using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

namespace {

// Runs fn on float64 inputs and on their float32 copies; compares outputs and the gradients
// of sum(out * R) with respect to every input.
void expect_agree(const Fn& fn, const std::vector<Tensor>& inputs64, double tol = 2e-5) {
  std::vector<Tensor> in64, in32;
  for (const Tensor& t : inputs64) {
    in64.push_back(t.clone().set_requires_grad());
    in32.push_back(t.to(DType::f32).set_requires_grad());
  }
  // backward() consumes the whole tape, so each precision runs forward and backward in turn.
  Tensor out64 = fn(in64);
  engine::Rng rng(5);
  Tensor r64 = Tensor::randn(out64.shape(), rng, DType::f64);
  engine::backward(out64, r64);
  Tensor out32 = fn(in32);
  engine::backward(out32, r64.to(DType::f32));
  EXPECT_TRUE(testing_util::all_close(out32, out64, tol, tol)) << "forward";
  for (size_t i = 0; i < in64.size(); ++i)
    EXPECT_TRUE(testing_util::all_close(in32[i].grad(), in64[i].grad(), tol * 10, tol * 10))
        << "gradient of input " << i;
}

Tensor rnd(const engine::Shape& s, uint64_t seed) {
  engine::Rng rng(seed);
  return Tensor::randn(s, rng, DType::f64);
}

TEST(F32VsF64, Binary) {
  expect_agree([](const auto& x) { return ops::add(x[0], x[1]); }, {rnd({33, 17}, 1), rnd({17}, 2)});
  expect_agree([](const auto& x) { return ops::sub(x[0], x[1]); }, {rnd({5, 31}, 3), rnd({5, 31}, 4)});
  expect_agree([](const auto& x) { return ops::mul(x[0], x[1]); }, {rnd({70001}, 5), rnd({1}, 6)});
  expect_agree([](const auto& x) { return ops::div(x[0], ops::add(ops::exp(x[1]), 0.5)); },
               {rnd({9, 19}, 7), rnd({19}, 8)});
}

TEST(F32VsF64, MatmulAndLinear) {
  expect_agree([](const auto& x) { return ops::matmul(x[0], x[1]); }, {rnd({37, 29}, 9), rnd({29, 23}, 10)}, 1e-4);
  expect_agree([](const auto& x) { return ops::matmul(x[0], x[1], false, true); },
               {rnd({3, 17, 33}, 11), rnd({3, 19, 33}, 12)}, 1e-4);
  expect_agree([](const auto& x) { return ops::linear(x[0], x[1], x[2]); },
               {rnd({2, 45, 31}, 13), rnd({7, 31}, 14), rnd({7}, 15)}, 1e-4);
}

TEST(F32VsF64, ShapeOps) {
  expect_agree([](const auto& x) { return ops::transpose(ops::reshape(x[0], {3, -1, 5})); }, {rnd({3, 7, 5}, 16)});
  expect_agree([](const auto& x) { return ops::concat({ops::slice(x[0], 0, 1, 2), x[1]}, 0); },
               {rnd({4, 6}, 17), rnd({3, 6}, 18)});
}

TEST(F32VsF64, Reductions) {
  expect_agree([](const auto& x) { return ops::sum(x[0], 1); }, {rnd({4, 33, 3}, 19)});
  expect_agree([](const auto& x) { return ops::mean(x[0], -1); }, {rnd({4, 33}, 20)});
  expect_agree([](const auto& x) { return ops::mean_all(x[0]); }, {rnd({1001}, 21)});
}

TEST(F32VsF64, Activations) {
  for (auto f : {ops::exp, ops::tanh, ops::gelu, ops::relu})
    expect_agree([f](const auto& x) { return f(x[0]); }, {rnd({41, 3}, 22)});
  expect_agree([](const auto& x) { return ops::log(ops::add(ops::exp(x[0]), 0.1)); }, {rnd({41}, 23)});
}

TEST(F32VsF64, SoftmaxLayerNormDropout) {
  expect_agree([](const auto& x) { return ops::softmax(x[0]); }, {rnd({6, 37}, 24)});
  expect_agree([](const auto& x) { return ops::log_softmax(x[0]); }, {rnd({6, 37}, 25)});
  expect_agree([](const auto& x) { return ops::layer_norm(x[0], x[1], x[2]); },
               {rnd({9, 35}, 26), rnd({35}, 27), rnd({35}, 28)}, 1e-4);
  expect_agree([](const auto& x) { return ops::dropout(x[0], 0.25, 3, true); }, {rnd({50, 17}, 29)});
}

TEST(F32VsF64, EmbeddingAndLosses) {
  Tensor ids = Tensor::from_data({5}, std::vector<int32_t>{4, 0, 4, 2, 1});
  expect_agree([ids](const auto& x) { return ops::embedding(x[0], ids); }, {rnd({5, 19}, 30)});
  Tensor targets = Tensor::from_data({3}, std::vector<int32_t>{0, 6, 3});
  expect_agree([targets](const auto& x) { return ops::cross_entropy(x[0], targets); }, {rnd({3, 7}, 31)});
  expect_agree([](const auto& x) { return ops::mse(x[0], x[1]); }, {rnd({4, 5}, 32), rnd({4, 5}, 33)});
}

}  // namespace
