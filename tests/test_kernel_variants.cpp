// Every SIMD variant against the scalar reference, on sizes that are not multiples of the
// vector width, and oneDNN's GEMM against the plain one.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "engine/cpu.h"
#include "engine/rng.h"
#include "ops/binary_kernels.h"
#include "ops/gemm.h"

namespace {

struct Variant {
  const char* name;
  engine::Isa isa;
  ops::BinaryKernels (*factory)();
};

std::vector<Variant> binary_variants() {
  return {{"avx2", engine::Isa::avx2, ops::binary_kernels_avx2},
          {"avx512", engine::Isa::avx512, ops::binary_kernels_avx512}};
}

class BinaryKernelVariants : public ::testing::TestWithParam<Variant> {};

std::vector<float> random_floats(int64_t n, uint64_t seed, float low = -2, float high = 2) {
  engine::Rng rng(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = static_cast<float>(rng.uniform(low, high));
  return v;
}

TEST_P(BinaryKernelVariants, MatchReferenceOnOddSizes) {
  const Variant& v = GetParam();
  if (!engine::cpu_supports(v.isa)) GTEST_SKIP() << "CPU lacks " << v.name;
  const ops::BinaryKernels ref = ops::binary_kernels_ref(), simd = v.factory();
  for (int64_t n : {1, 7, 8, 15, 16, 17, 33, 1000}) {
    const auto a = random_floats(n, 1), b = random_floats(n, 2, 0.5f, 3.f);
    for (ops::BinaryOp op : {ops::BinaryOp::add, ops::BinaryOp::sub, ops::BinaryOp::mul, ops::BinaryOp::div}) {
      // One float of guard past the end catches a tail that writes too far.
      std::vector<float> want(n + 1, -7.f), got(n + 1, -7.f);
      ref.vector_vector(op, n, a.data(), b.data(), want.data());
      simd.vector_vector(op, n, a.data(), b.data(), got.data());
      EXPECT_EQ(want, got) << v.name << " vector_vector n=" << n;
      ref.vector_scalar(op, n, a.data(), 1.7f, want.data());
      simd.vector_scalar(op, n, a.data(), 1.7f, got.data());
      EXPECT_EQ(want, got) << v.name << " vector_scalar n=" << n;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, BinaryKernelVariants, ::testing::ValuesIn(binary_variants()),
                         [](const auto& p) { return std::string(p.param.name); });

TEST(Gemm, OneDnnMatchesPlainKernelForEveryTransposeAndAccumulate) {
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (bool acc : {false, true}) {
        const ops::GemmShape s{3, 17, 33, 29, ta, tb};
        const auto A = random_floats(s.batch * s.M * s.K, 3), B = random_floats(s.batch * s.K * s.N, 4);
        const auto bias = random_floats(s.N, 5), C0 = random_floats(s.batch * s.M * s.N, 6);
        std::vector<float> want = C0, got = C0;
        ops::gemm_plain<float>(s, A.data(), B.data(), want.data(), acc, bias.data());
        ops::onednn_sgemm(s, A.data(), B.data(), got.data(), acc, bias.data());
        for (size_t i = 0; i < want.size(); ++i)
          ASSERT_NEAR(got[i], want[i], 1e-4f) << "ta " << ta << " tb " << tb << " acc " << acc << " at " << i;
      }
}

TEST(Gemm, EmptyReductionGivesBiasOnly) {
  const ops::GemmShape s{1, 2, 3, 0, false, false};
  std::vector<float> C(6, 5.f), bias{1, 2, 3};
  ops::onednn_sgemm(s, nullptr, nullptr, C.data(), false, bias.data());
  EXPECT_EQ(C, (std::vector<float>{1, 2, 3, 1, 2, 3}));
}

}  // namespace

#include "ops/gelu_kernels.h"

namespace {

struct GeluVariant {
  const char* name;
  engine::Isa isa;
  ops::GeluKernels (*factory)();
};

class GeluKernelVariants : public ::testing::TestWithParam<GeluVariant> {};

TEST_P(GeluKernelVariants, MatchReferenceAcrossTheRangeOnOddSizes) {
  const GeluVariant& v = GetParam();
  if (!engine::cpu_supports(v.isa)) GTEST_SKIP() << "CPU lacks " << v.name;
  const ops::GeluKernels ref = ops::gelu_kernels_ref(), simd = v.factory();
  // A dense sweep of [-12, 12] plus extremes, in a length that is no multiple of 8 or 16.
  std::vector<float> x;
  for (int i = 0; i <= 24001; ++i) x.push_back(-12.f + 0.001f * static_cast<float>(i));
  for (float e : {-1e4f, -100.f, -88.f, 88.f, 100.f, 1e4f, 0.f, -0.f}) x.push_back(e);
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<float> want(n + 1, 3.f), got(n + 1, 3.f);
  ref.forward(n, x.data(), want.data());
  simd.forward(n, x.data(), got.data());
  for (int64_t i = 0; i <= n; ++i)
    ASSERT_NEAR(got[i], want[i], 2e-6f * (1 + std::fabs(want[i]))) << v.name << " forward at x = " << (i < n ? x[i] : 0);
  const auto dy = random_floats(n, 7);
  std::vector<float> dx_want(n + 1, 0.5f), dx_got = dx_want;
  ref.backward(n, x.data(), dy.data(), true, dx_want.data());
  simd.backward(n, x.data(), dy.data(), true, dx_got.data());
  for (int64_t i = 0; i <= n; ++i)
    ASSERT_NEAR(dx_got[i], dx_want[i], 4e-6f * (1 + std::fabs(dx_want[i]))) << v.name << " backward at x = " << (i < n ? x[i] : 0);
  // Overwriting (a fresh gradient buffer): the prior contents are ignored, the element past n untouched.
  std::vector<float> dx_fresh(n + 1, std::nanf("")), dx_sum(n + 1, 0.5f);
  dx_fresh[n] = 0.5f;
  simd.backward(n, x.data(), dy.data(), false, dx_fresh.data());
  simd.backward(n, x.data(), dy.data(), true, dx_sum.data());
  for (int64_t i = 0; i <= n; ++i)
    ASSERT_NEAR(dx_fresh[i] + (i < n ? 0.5f : 0.f), dx_sum[i], 4e-6f * (1 + std::fabs(dx_sum[i])))
        << v.name << " overwriting backward at x = " << (i < n ? x[i] : 0);
  std::vector<float> y_got(n + 1, 3.f), d_want(n + 1, 3.f), d_got(n + 1, 3.f);
  ref.value_and_derivative(n, x.data(), want.data(), d_want.data());
  simd.value_and_derivative(n, x.data(), y_got.data(), d_got.data());
  for (int64_t i = 0; i <= n; ++i) {
    ASSERT_NEAR(y_got[i], want[i], 2e-6f * (1 + std::fabs(want[i]))) << v.name << " value at x = " << (i < n ? x[i] : 0);
    ASSERT_NEAR(d_got[i], d_want[i], 4e-6f) << v.name << " derivative at x = " << (i < n ? x[i] : 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, GeluKernelVariants,
                         ::testing::Values(GeluVariant{"avx2", engine::Isa::avx2, ops::gelu_kernels_avx2},
                                           GeluVariant{"avx512", engine::Isa::avx512, ops::gelu_kernels_avx512}),
                         [](const auto& p) { return std::string(p.param.name); });

}  // namespace

#include <omp.h>

#include "engine/threads.h"

namespace {

// oneDNN alone splits some long reductions differently for 1 and 2 threads (K = 4800 did);
// onednn_sgemm must not. Also checks that the thread setting survives the call.
TEST(Gemm, ResultsDoNotDependOnTheThreadCount) {
  for (int64_t K : {37, 512, 2048, 2049, 2400, 4800, 20000, 131072})
    for (int64_t M : {11, 32, 320, 1000})
      for (bool ta : {false, true}) {
        if (M * K > (int64_t{1} << 24)) continue;  // keeps the float64 reference quick
        const ops::GemmShape s{1, M, 32, K, ta, false};
        const auto A = random_floats(M * K, 11), B = random_floats(K * 32, 12), bias = random_floats(32, 13);
        std::vector<std::vector<float>> out;
        for (int threads : {1, 2}) {
          engine::set_num_threads(threads);
          std::vector<float> C = random_floats(M * 32, 14);
          ops::onednn_sgemm(s, A.data(), B.data(), C.data(), true, bias.data());
          EXPECT_EQ(omp_get_max_threads(), threads);
          out.push_back(C);
        }
        EXPECT_EQ(out[0], out[1]) << "K " << K << " M " << M << " trans_a " << ta;
        // Against a float64 product: float32 sums of K terms carry about K * 1e-7 of error.
        const auto C0 = random_floats(M * 32, 14);
        std::vector<double> want(C0.begin(), C0.end());
        const std::vector<double> A64(A.begin(), A.end()), B64(B.begin(), B.end()), bias64(bias.begin(), bias.end());
        ops::gemm_plain<double>(s, A64.data(), B64.data(), want.data(), true, bias64.data());
        for (size_t i = 0; i < want.size(); ++i)
          ASSERT_NEAR(out[1][i], want[i], 1e-6 * static_cast<double>(K) + 1e-5 * std::fabs(want[i])) << "K " << K << " at " << i;
      }
  engine::set_num_threads(2);
}

}  // namespace
