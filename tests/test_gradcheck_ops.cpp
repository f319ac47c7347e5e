// Finite-difference checks in float64 of every differentiable op, on odd sizes.
#include <gtest/gtest.h>

#include "ops/activations.h"
#include "ops/dropout.h"
#include "ops/elementwise.h"
#include "ops/embedding.h"
#include "ops/grouped_linear.h"
#include "ops/layernorm.h"
#include "ops/loss.h"
#include "ops/matmul.h"
#include "ops/reduce.h"
#include "ops/shape_ops.h"
#include "ops/softmax.h"
#include "tests/test_util.h"

using engine::DType;
using engine::Tensor;
using testing_util::randn;

namespace {

engine::Rng rng_for(uint64_t seed) { return engine::Rng(seed); }

TEST(Gradcheck, AddSameShape) {
  auto rng = rng_for(1);
  Tensor a = randn({3, 5, 7}, rng), b = randn({3, 5, 7}, rng);
  EXPECT_GRADCHECK([&] { return ops::add(a, b); }, {a, b});
}

TEST(Gradcheck, SubTrailingVector) {
  auto rng = rng_for(2);
  Tensor a = randn({4, 3, 5}, rng), b = randn({3, 5}, rng);
  EXPECT_GRADCHECK([&] { return ops::sub(a, b); }, {a, b});
}

TEST(Gradcheck, MulScalarTensorAndVector) {
  auto rng = rng_for(3);
  Tensor a = randn({6, 7}, rng), s = randn({1}, rng), v = randn({7}, rng);
  EXPECT_GRADCHECK([&] { return ops::mul(ops::mul(a, s), v); }, {a, s, v});
}

TEST(Gradcheck, DivVector) {
  auto rng = rng_for(4);
  Tensor a = randn({5, 9}, rng);
  Tensor b = Tensor::uniform({9}, rng, 0.5, 2.0, DType::f64).set_requires_grad();
  EXPECT_GRADCHECK([&] { return ops::div(a, b); }, {a, b});
}

TEST(Gradcheck, ScalarOverloads) {
  auto rng = rng_for(5);
  Tensor a = randn({4, 3}, rng);
  EXPECT_GRADCHECK([&] { return ops::add(ops::mul(a, -2.5), 0.75); }, {a});
}

TEST(Gradcheck, Matmul2D) {
  auto rng = rng_for(6);
  Tensor a = randn({5, 7}, rng), b = randn({7, 3}, rng);
  EXPECT_GRADCHECK([&] { return ops::matmul(a, b); }, {a, b});
}

TEST(Gradcheck, MatmulTransposedOperands) {
  auto rng = rng_for(7);
  Tensor a = randn({7, 5}, rng), b = randn({3, 7}, rng);
  EXPECT_GRADCHECK([&] { return ops::matmul(a, b, true, true); }, {a, b});
}

TEST(Gradcheck, BatchedMatmul4D) {
  auto rng = rng_for(8);
  Tensor a = randn({2, 3, 5, 4}, rng), b = randn({2, 3, 5, 6}, rng);
  EXPECT_GRADCHECK([&] { return ops::matmul(a, b, true, false); }, {a, b});
}

TEST(Gradcheck, LinearWithBias) {
  auto rng = rng_for(9);
  Tensor x = randn({2, 5, 7}, rng), w = randn({3, 7}, rng), b = randn({3}, rng);
  EXPECT_GRADCHECK([&] { return ops::linear(x, w, b); }, {x, w, b});
}

TEST(Gradcheck, TransposeAndReshape) {
  auto rng = rng_for(10);
  Tensor x = randn({2, 3, 5}, rng);
  EXPECT_GRADCHECK([&] { return ops::reshape(ops::transpose(x), {-1, 3}); }, {x});
}

TEST(Gradcheck, SliceMiddleAxis) {
  auto rng = rng_for(11);
  Tensor x = randn({3, 7, 2}, rng);
  EXPECT_GRADCHECK([&] { return ops::slice(x, 1, 2, 4); }, {x});
}

TEST(Gradcheck, ConcatLastAxis) {
  auto rng = rng_for(12);
  Tensor a = randn({3, 2}, rng), b = randn({3, 5}, rng);
  // The same tensor twice: gradients from both uses must add.
  EXPECT_GRADCHECK([&] { return ops::concat({a, b, a}, -1); }, {a, b});
}

TEST(Gradcheck, SumAndMeanOverEachAxis) {
  auto rng = rng_for(13);
  Tensor x = randn({3, 4, 5}, rng);
  for (int axis = 0; axis < 3; ++axis) {
    EXPECT_GRADCHECK([&] { return ops::sum(x, axis); }, {x});
    EXPECT_GRADCHECK([&] { return ops::mean(x, axis); }, {x});
  }
  EXPECT_GRADCHECK([&] { return ops::mean_all(x); }, {x});
}

TEST(Gradcheck, MaskedMeanOverPresentPositions) {
  auto rng = rng_for(31);
  Tensor x = randn({3, 4, 5}, rng);
  // Row 0 full, row 1 with two padded positions, row 2 empty (output 0, no gradient).
  const Tensor mask = Tensor::from_data({3, 4}, std::vector<double>{1, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0});
  EXPECT_GRADCHECK([&] { return ops::masked_mean(x, mask); }, {x});
  const Tensor y = ops::masked_mean(x, mask);
  EXPECT_NEAR(y.at_flat(5 + 2), (x.at_flat(20 + 2) + x.at_flat(30 + 2)) / 2, 1e-12);
  EXPECT_EQ(y.at_flat(10), 0.0);
  EXPECT_THROW(ops::masked_mean(x, Tensor::zeros({3, 5})), engine::Error);
}

TEST(Gradcheck, ExpLogTanh) {
  auto rng = rng_for(14);
  Tensor x = randn({4, 5}, rng);
  Tensor pos = Tensor::uniform({4, 5}, rng, 0.3, 3.0, DType::f64).set_requires_grad();
  EXPECT_GRADCHECK([&] { return ops::exp(x); }, {x});
  EXPECT_GRADCHECK([&] { return ops::log(pos); }, {pos});
  EXPECT_GRADCHECK([&] { return ops::tanh(x); }, {x});
}

TEST(Gradcheck, GeluAndRelu) {
  auto rng = rng_for(15);
  Tensor x = randn({5, 7}, rng);
  EXPECT_GRADCHECK([&] { return ops::gelu(x); }, {x});
  // Keep ReLU's inputs away from its kink at 0, where finite differences are meaningless.
  Tensor y = Tensor::uniform({5, 7}, rng, 0.1, 2.0, DType::f64);
  for (int64_t i = 0; i < y.numel(); i += 2) y.data<double>()[i] *= -1;
  y.set_requires_grad();
  EXPECT_GRADCHECK([&] { return ops::relu(y); }, {y});
}

TEST(Gradcheck, SoftmaxAndLogSoftmax) {
  auto rng = rng_for(16);
  Tensor x = randn({3, 4, 9}, rng);
  EXPECT_GRADCHECK([&] { return ops::softmax(x); }, {x});
  EXPECT_GRADCHECK([&] { return ops::log_softmax(x); }, {x});
}

TEST(Gradcheck, LayerNorm) {
  auto rng = rng_for(17);
  Tensor x = randn({2, 3, 11}, rng), g = randn({11}, rng), b = randn({11}, rng);
  EXPECT_GRADCHECK([&] { return ops::layer_norm(x, g, b); }, {x, g, b});
}

TEST(Gradcheck, EmbeddingWithRepeatedIds) {
  auto rng = rng_for(18);
  Tensor w = randn({7, 5}, rng);
  Tensor ids = Tensor::from_data({2, 4}, std::vector<int32_t>{0, 3, 3, 6, 1, 0, 3, 2});
  EXPECT_GRADCHECK([&] { return ops::embedding(w, ids); }, {w});
}

TEST(Gradcheck, DropoutTraining) {
  auto rng = rng_for(19);
  Tensor x = randn({6, 13}, rng);
  EXPECT_GRADCHECK([&] { return ops::dropout(x, 0.3, 99, true); }, {x});
}

TEST(Gradcheck, CrossEntropy) {
  auto rng = rng_for(20);
  Tensor logits = randn({2, 3, 5}, rng);
  Tensor targets = Tensor::from_data({2, 3}, std::vector<int32_t>{0, 4, 2, 2, 1, 3});
  EXPECT_GRADCHECK([&] { return ops::cross_entropy(logits, targets); }, {logits});
}

TEST(Gradcheck, Mse) {
  auto rng = rng_for(21);
  Tensor p = randn({4, 3}, rng), t = randn({4, 3}, rng);
  EXPECT_GRADCHECK([&] { return ops::mse(p, t); }, {p, t});
}

}  // namespace

namespace {

TEST(Gradcheck, GroupedLinear) {
  engine::Rng rng(22);
  Tensor x = randn({7, 3 * 5}, rng), w = randn({3, 4, 5}, rng), b = randn({3, 4}, rng);
  EXPECT_GRADCHECK([&] { return ops::grouped_linear(x, w, b); }, {x, w, b});
}

TEST(GroupedLinear, EqualsSeparateLinearLayersInFloat32) {
  engine::Rng rng(23);
  Tensor x = Tensor::randn({37, 3 * 17}, rng), w = Tensor::randn({3, 11, 17}, rng),
         b = Tensor::randn({3, 11}, rng);
  Tensor out = ops::grouped_linear(x, w, b);
  for (int64_t g = 0; g < 3; ++g) {
    Tensor xg = ops::slice(x, 1, g * 17, 17);
    Tensor wg = ops::reshape(ops::slice(w, 0, g, 1), {11, 17});
    Tensor bg = ops::reshape(ops::slice(b, 0, g, 1), {11});
    Tensor want = ops::linear(xg, wg, bg);
    Tensor got = ops::reshape(ops::slice(out, 0, g, 1), {37, 11});
    EXPECT_TRUE(testing_util::all_close(got, want, 1e-5, 1e-5)) << "group " << g;
  }
}

}  // namespace
