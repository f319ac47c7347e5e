// Rotary position embedding: gradient check in float64, the relative-position property it is
// for, float32 against float64, thread-count independence, and refusals.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "engine/tape.h"
#include "engine/threads.h"
#include "ops/attention/rotary.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"
#include "tests/test_util.h"

using engine::DType;
using engine::Tensor;

namespace {

std::shared_ptr<const ops::RotaryTable> table(int64_t N, int64_t d) {
  return std::make_shared<const ops::RotaryTable>(N, d);
}

TEST(Rotary, GradcheckOnOddSizes) {
  engine::Rng rng(1);
  for (int64_t N : {1, 37})
    for (int64_t d : {2, 6}) {
      const Tensor x = testing_util::randn({3, N, d}, rng);
      const auto t = table(N, d);
      EXPECT_GRADCHECK([&] { return ops::rotary(x, t); }, {x});
    }
}

// The same query vector at position n and key vector at m: their dot product after rotation
// depends on n - m only; at position 0 nothing turns; norms are kept.
TEST(Rotary, DotProductsDependOnThePositionsDifference) {
  const int64_t N = 45, d = 10;
  engine::Rng rng(2);
  const Tensor u = testing_util::randn({1, 1, d}, rng), w = testing_util::randn({1, 1, d}, rng);
  std::vector<double> qs, ks;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < d; ++i) {
      qs.push_back(u.data<double>()[i]);
      ks.push_back(w.data<double>()[i]);
    }
  const auto t = table(N, d);
  const Tensor q = ops::rotary(Tensor::from_data({1, N, d}, qs), t), k = ops::rotary(Tensor::from_data({1, N, d}, ks), t);
  auto dot = [&](int64_t n, int64_t m) {
    double s = 0;
    for (int64_t i = 0; i < d; ++i) s += q.data<double>()[n * d + i] * k.data<double>()[m * d + i];
    return s;
  };
  for (int64_t shift : {1, 7, 30}) {
    EXPECT_NEAR(dot(3, 9), dot(3 + shift, 9 + shift), 1e-12);
    EXPECT_NEAR(dot(10, 2), dot(10 + shift, 2 + shift), 1e-12);
  }
  EXPECT_GT(std::fabs(dot(0, 0) - dot(0, 5)), 1e-6);  // and it does depend on the difference
  double norm0 = 0, norm40 = 0;
  for (int64_t i = 0; i < d; ++i) {
    EXPECT_EQ(q.data<double>()[i], u.data<double>()[i]);
    norm0 += u.data<double>()[i] * u.data<double>()[i];
    norm40 += q.data<double>()[40 * d + i] * q.data<double>()[40 * d + i];
  }
  EXPECT_NEAR(norm40, norm0, 1e-12);
}

TEST(Rotary, Float32MatchesFloat64AndThreadsDoNotChangeBits) {
  const int64_t N = 301, d = 18;
  engine::Rng rng(3);
  const Tensor x64 = testing_util::randn({4, N, d}, rng), x32 = x64.to(DType::f32);
  const auto t = table(N, d);
  const Tensor y64 = ops::rotary(x64, t);
  const int before = engine::num_threads();
  engine::set_num_threads(1);
  const Tensor one = ops::rotary(x32, t);
  engine::set_num_threads(2);
  const Tensor two = ops::rotary(x32, t);
  engine::set_num_threads(before);
  EXPECT_TRUE(testing_util::bitwise_equal(one, two));
  for (int64_t i = 0; i < one.numel(); ++i) EXPECT_NEAR(one.data<float>()[i], y64.data<double>()[i], 1e-5);
}

TEST(Rotary, BadShapesAreRefusedByName) {
  EXPECT_NE(testing_util::error_of([] { ops::RotaryTable(10, 5); }).find("even head width"), std::string::npos);
  EXPECT_NE(testing_util::error_of([] { ops::RotaryTable(0, 4); }).find("rotary"), std::string::npos);
  engine::Rng rng(4);
  const Tensor x = testing_util::randn({2, 9, 4}, rng);
  const std::string e = testing_util::error_of([&] { ops::rotary(x, table(8, 4)); });
  EXPECT_NE(e.find("is not (batch-heads, 8, 4)"), std::string::npos) << e;
  EXPECT_NE(testing_util::error_of([&] { ops::rotary(x, nullptr); }).find("no table"), std::string::npos);
}

}  // namespace
