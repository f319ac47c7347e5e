// The Paramixer sparse product: finite differences for Chord and CDIL, equality with a dense
// N x N product, every ISA variant against the scalar reference, thread-count independence.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <utility>
#include <vector>

#include "engine/cpu.h"
#include "engine/tape.h"
#include "engine/threads.h"
#include "ops/elementwise.h"
#include "ops/matmul.h"
#include "ops/paramixer/mix_kernels.h"
#include "ops/paramixer/protocols.h"
#include "ops/paramixer/sparse_mix.h"
#include "ops/paramixer/sparse_mix_chain.h"
#include "tests/test_util.h"

using engine::DType;
using engine::Tensor;

namespace {

// Test-only oracle: the dense (B, N, N) matrix with duplicates added, as a sparse matrix would.
Tensor mix_to_dense(const Tensor& w, const std::vector<int64_t>& offsets) {
  const int64_t B = w.dim(0), N = w.dim(1), L = w.dim(2);
  Tensor dense = Tensor::zeros({B, N, N}, DType::f64);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < N; ++i)
      for (int64_t k = 0; k < L; ++k) {
        const int64_t j = ((i + offsets[k]) % N + N) % N;
        dense.data<double>()[(b * N + i) * N + j] += w.at_flat((b * N + i) * L + k);
      }
  return dense;
}

std::vector<std::vector<int64_t>> all_offset_lists(int64_t N) {
  std::vector<std::vector<int64_t>> lists{ops::chord_offsets(N)};
  for (int64_t m = 0; m < ops::num_factors(N); ++m) lists.push_back(ops::cdil_offsets(N, m));
  return lists;
}

TEST(SparseMix, GradcheckChordAndCdil) {
  engine::Rng rng(1);
  for (int64_t N : {5, 16, 37})
    for (int64_t D : {1, 7, 17})
      for (const auto& offsets : all_offset_lists(N)) {
        const int64_t L = static_cast<int64_t>(offsets.size());
        Tensor w = testing_util::randn({2, N, L}, rng), v = testing_util::randn({2, N, D}, rng);
        const auto r = engine::gradcheck([&] { return ops::sparse_mix(w, v, offsets); }, {w, v});
        EXPECT_TRUE(r.ok) << "N " << N << " D " << D << " L " << L << "\n" << r.report;
      }
}

TEST(SparseMix, EqualsDenseProductIncludingWrappedDuplicates) {
  engine::Rng rng(2);
  // N = 3 with CDIL dilation 2: offsets 0, 2, 4, 6, 8, -2, ... land on repeated columns.
  for (int64_t N : {3, 5, 16, 37}) {
    for (const auto& offsets : all_offset_lists(N)) {
      const int64_t L = static_cast<int64_t>(offsets.size());
      Tensor w = testing_util::randn({2, N, L}, rng, DType::f64, false);
      Tensor v = testing_util::randn({2, N, 7}, rng, DType::f64, false);
      EXPECT_TRUE(testing_util::all_close(ops::sparse_mix(w, v, offsets),
                                          ops::matmul(mix_to_dense(w, offsets), v), 1e-12, 1e-12))
          << "N " << N << " L " << L;
    }
  }
}

TEST(SparseMix, ResidualAddsTheInputForwardAndBackward) {
  engine::Rng rng(6);
  for (int64_t N : {5, 37}) {
    const auto offsets = ops::cdil_offsets(N, 1);
    Tensor w = testing_util::randn({2, N, 9}, rng), v = testing_util::randn({2, N, 7}, rng);
    const auto r = engine::gradcheck([&] { return ops::sparse_mix(w, v, offsets, true); }, {w, v});
    EXPECT_TRUE(r.ok) << r.report;
    engine::NoGradGuard no_grad;
    for (DType t : {DType::f64, DType::f32}) {
      Tensor wt = w.to(t), vt = v.to(t);
      EXPECT_TRUE(testing_util::all_close(ops::sparse_mix(wt, vt, offsets, true),
                                          ops::add(ops::sparse_mix(wt, vt, offsets), vt), 1e-6, 1e-6));
    }
  }
}

TEST(SparseMix, Float32AgreesWithFloat64) {
  engine::Rng rng(3);
  const auto offsets = ops::chord_offsets(37);
  Tensor w = testing_util::randn({3, 37, 7}, rng, DType::f64, false);
  Tensor v = testing_util::randn({3, 37, 33}, rng, DType::f64, false);
  EXPECT_TRUE(testing_util::all_close(ops::sparse_mix(w.to(DType::f32), v.to(DType::f32), offsets),
                                      ops::sparse_mix(w, v, offsets), 1e-5, 1e-5));
}

TEST(SparseMix, WrongShapesAreNamed) {
  try {
    ops::sparse_mix(Tensor::zeros({2, 16, 4}), Tensor::zeros({2, 15, 8}), ops::chord_offsets(16));
    FAIL();
  } catch (const engine::Error& e) {
    EXPECT_NE(std::string(e.what()).find("sparse_mix: w (2,16,4) vs v (2,15,8)"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ops::sparse_mix(Tensor::zeros({2, 16, 4}), Tensor::zeros({2, 16, 8}), ops::chord_offsets(16)),
               engine::Error);  // chord at N = 16 has 5 links
}

// Factor m of stacked link values (M, B*N, L) is the product with that block alone; gradients
// reach exactly that block of the stack (and none leaks into the other factors' blocks).
TEST(SparseMix, FactorOfAStackEqualsTheProductWithItsBlock) {
  engine::Rng rng(8);
  const int64_t M = 3, B = 2, N = 37, D = 5;
  const auto offsets = ops::cdil_offsets(N, 2);
  const int64_t L = static_cast<int64_t>(offsets.size());
  Tensor w_all = testing_util::randn({M, B * N, L}, rng), v = testing_util::randn({B, N, D}, rng);
  const auto r = engine::gradcheck([&] { return ops::sparse_mix_factor(w_all, 1, v, offsets, true); }, {w_all, v});
  EXPECT_TRUE(r.ok) << r.report;
  for (int64_t m = 0; m < M; ++m) {
    Tensor block = Tensor::empty({B, N, L}, DType::f64);
    for (int64_t e = 0; e < B * N * L; ++e) block.data<double>()[e] = w_all.at_flat(m * B * N * L + e);
    engine::NoGradGuard no_grad;
    EXPECT_TRUE(testing_util::all_close(ops::sparse_mix_factor(w_all, m, v, offsets, true),
                                        ops::sparse_mix(block, v, offsets, true), 0, 0))
        << "factor " << m;
  }
  EXPECT_NE(testing_util::error_of([&] { ops::sparse_mix_factor(w_all, 3, v, offsets); }).find("factor 3 of w (3,74,9) is out of range"),
            std::string::npos);
}

// The fused chain equals M calls of the per-factor product (forward and every gradient, float32
// through the SIMD kernels, for batches above and below the thread count) and passes a float64
// finite-difference check.
TEST(SparseMixChain, EqualsTheFactorByFactorProductsAndGradchecks) {
  engine::Rng rng(9);
  for (int64_t B : {1, 5}) {
    const int64_t N = 37, D = 19, M = ops::num_factors(N);
    std::vector<std::vector<int64_t>> offsets;
    for (int64_t m = 0; m < M; ++m) offsets.push_back(ops::cdil_offsets(N, m));
    const int64_t L = static_cast<int64_t>(offsets[0].size());
    Tensor w32 = testing_util::randn({M, B * N, L}, rng, DType::f32), v32 = testing_util::randn({B, N, D}, rng, DType::f32);
    Tensor dout = Tensor::randn({B, N, D}, rng);
    engine::backward(ops::sparse_mix_chain(w32, v32, offsets), dout);
    const Tensor chain_dw = w32.grad(), chain_dv = v32.grad();
    w32.zero_grad();
    v32.zero_grad();
    Tensor y = v32;
    for (int64_t m = 0; m < M; ++m) y = ops::sparse_mix_factor(w32, m, y, offsets[size_t(m)], true);
    {
      engine::NoGradGuard no_grad;
      EXPECT_TRUE(testing_util::all_close(ops::sparse_mix_chain(w32, v32, offsets), y, 1e-6, 1e-6)) << "B " << B;
    }
    engine::backward(y, dout);
    EXPECT_TRUE(testing_util::all_close(chain_dw, w32.grad(), 1e-5, 1e-5)) << "B " << B;
    EXPECT_TRUE(testing_util::all_close(chain_dv, v32.grad(), 1e-5, 1e-5)) << "B " << B;
  }
  const int64_t B = 2, N = 13, D = 3, M = ops::num_factors(N);
  std::vector<std::vector<int64_t>> offsets(static_cast<size_t>(M), ops::chord_offsets(N));
  Tensor w = testing_util::randn({M, B * N, static_cast<int64_t>(offsets[0].size())}, rng);
  Tensor v = testing_util::randn({B, N, D}, rng);
  for (ops::ChainStates states : {ops::ChainStates::keep, ops::ChainStates::recompute}) {
    const auto r = engine::gradcheck([&] { return ops::sparse_mix_chain(w, v, offsets, states); }, {w, v});
    EXPECT_TRUE(r.ok) << r.report;
  }
  EXPECT_NE(testing_util::error_of([&] { ops::sparse_mix_chain(w, v, {offsets[0]}); }).find("1 offset lists for the 4 factors"),
            std::string::npos);
}

// Recomputing the intermediate states in backward instead of keeping them changes no bit of
// the output or of either gradient (same kernels on the same inputs).
TEST(SparseMixChain, RecomputedStatesGiveTheKeptStatesBits) {
  engine::Rng rng(12);
  const int64_t B = 3, N = 45, D = 21, M = ops::num_factors(N);
  std::vector<std::vector<int64_t>> offsets;
  for (int64_t m = 0; m < M; ++m) offsets.push_back(ops::cdil_offsets(N, m));
  const int64_t L = static_cast<int64_t>(offsets[0].size());
  const Tensor dout = Tensor::randn({B, N, D}, rng);
  Tensor w = testing_util::randn({M, B * N, L}, rng, DType::f32), v = testing_util::randn({B, N, D}, rng, DType::f32);
  Tensor out[2], dw[2], dv[2];
  for (int i = 0; i < 2; ++i) {
    w.zero_grad();
    v.zero_grad();
    out[i] = ops::sparse_mix_chain(w, v, offsets, i == 0 ? ops::ChainStates::keep : ops::ChainStates::recompute);
    engine::backward(out[i], dout);
    dw[i] = w.grad().clone();
    dv[i] = v.grad().clone();
  }
  EXPECT_TRUE(testing_util::bitwise_equal(out[0], out[1]));
  EXPECT_TRUE(testing_util::bitwise_equal(dw[0], dw[1]));
  EXPECT_TRUE(testing_util::bitwise_equal(dv[0], dv[1]));
}

struct MixVariant {
  const char* name;
  engine::Isa isa;
  ops::MixKernels (*factory)();
};

class MixKernelVariants : public ::testing::TestWithParam<MixVariant> {};

std::vector<float> random_floats(int64_t n, engine::Rng& rng) {
  std::vector<float> x(static_cast<size_t>(n));
  for (float& f : x) f = static_cast<float>(rng.normal());
  return x;
}

void expect_near_vectors(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 1e-4f * (1 + std::fabs(want[i]))) << what << " at " << i;
}

TEST_P(MixKernelVariants, MatchReferenceOnOddSizes) {
  const MixVariant& p = GetParam();
  if (!engine::cpu_supports(p.isa)) GTEST_SKIP() << "CPU lacks " << p.name;
  const ops::MixKernels ref = ops::mix_kernels_ref(), simd = p.factory();
  engine::Rng rng(4);
  // N = 16: a length equal to one AVX-512 vector; 20 links with repeats: more links than one
  // reduction tree takes (the AVX-512 dW kernel sums 16 links' dot products per tree);
  // D = 257: more than four vectors of columns (several column passes).
  auto twenty_links = [](int64_t N) {
    std::vector<int64_t> o;
    for (int64_t k = 0; k < 20; ++k) o.push_back((k * 7) % N);
    return o;
  };
  // The last sizes hold more than 256 KB per batch element: the prefetching gathers
  // (mix_prefetch_gathers; full-width rows at D = 32 and 64, the general path at D = 33).
  std::vector<std::pair<int64_t, int64_t>> sizes;
  for (int64_t N : {5, 16, 37, 100})
    for (int64_t D : {1, 7, 8, 15, 16, 17, 32, 33, 48, 64, 65, 100, 257}) sizes.emplace_back(N, D);
  for (auto large : {std::pair<int64_t, int64_t>{2053, 32}, {2053, 33}, {1100, 64}}) sizes.push_back(large);
  int fused_cases = 0;
  for (const auto& [N, D] : sizes)
    for (const auto& signed_offsets : {ops::chord_offsets(N), ops::cdil_offsets(N, 1), twenty_links(N)}) {
      std::vector<int64_t> offsets;
      for (int64_t o : signed_offsets) offsets.push_back(((o % N) + N) % N);
      const ops::MixDims d{2, N, static_cast<int64_t>(offsets.size()), D};
      const auto w = random_floats(d.B * N * d.L, rng), v = random_floats(d.B * N * D, rng);
      const auto dout = random_floats(d.B * N * D, rng);
      for (bool residual : {false, true}) {
      const std::string what = std::string(p.name) + " N " + std::to_string(N) + " D " +
                               std::to_string(D) + (residual ? " residual" : "");
      // Guard element past the end catches a masked tail that writes too far.
      std::vector<float> want(d.B * N * D + 1, 9.f), got = want;
      ref.forward(d, offsets.data(), w.data(), v.data(), residual, want.data());
      simd.forward(d, offsets.data(), w.data(), v.data(), residual, got.data());
      expect_near_vectors(got, want, "forward " + what);
      // Accumulating into 0.5 / 0.25, and overwriting a buffer of NaN (a fresh gradient)
      // whose guard element must stay 0.5 / 0.25.
      for (bool accumulate : {true, false}) {
        const std::string how = what + (accumulate ? " accumulating" : " overwriting");
        std::vector<float> dw_want(d.B * N * d.L + 1, 0.5f), dw_got = dw_want;
        if (!accumulate) std::fill(dw_got.begin(), dw_got.end() - 1, std::nanf(""));
        ref.backward_w(d, offsets.data(), dout.data(), v.data(), true, dw_want.data());
        simd.backward_w(d, offsets.data(), dout.data(), v.data(), accumulate, dw_got.data());
        if (!accumulate)
          for (size_t i = 0; i + 1 < dw_want.size(); ++i) dw_want[i] -= 0.5f;
        expect_near_vectors(dw_got, dw_want, "backward_w " + how);
        std::vector<float> dv_want(d.B * N * D + 1, 0.25f), dv_got = dv_want;
        if (!accumulate) std::fill(dv_got.begin(), dv_got.end() - 1, std::nanf(""));
        ref.backward_v(d, offsets.data(), dout.data(), w.data(), residual, true, dv_want.data());
        simd.backward_v(d, offsets.data(), dout.data(), w.data(), residual, accumulate, dv_got.data());
        if (!accumulate)
          for (size_t i = 0; i + 1 < dv_want.size(); ++i) dv_want[i] -= 0.25f;
        expect_near_vectors(dv_got, dv_want, "backward_v " + how);
        // The fused pass, where the variant has one for these dims: the two kernels' bits.
        if (simd.backward_wv) {
          std::vector<float> dw_fused(dw_want.size(), 0.5f), dv_fused(dv_want.size(), 0.25f);
          if (!accumulate) {
            std::fill(dw_fused.begin(), dw_fused.end() - 1, std::nanf(""));
            std::fill(dv_fused.begin(), dv_fused.end() - 1, std::nanf(""));
          }
          if (simd.backward_wv(d, offsets.data(), dout.data(), v.data(), w.data(), residual, accumulate,
                               dw_fused.data(), accumulate, dv_fused.data())) {
            ++fused_cases;
            ASSERT_EQ(0, std::memcmp(dw_fused.data(), dw_got.data(), dw_got.size() * sizeof(float)))
                << "backward_wv dW " << how;
            ASSERT_EQ(0, std::memcmp(dv_fused.data(), dv_got.data(), dv_got.size() * sizeof(float)))
                << "backward_wv dV " << how;
            // Batch element 0 alone, with more threads than elements: rows split over the
            // threads and dW stored in place (not through the AVX-512 per-element scratch).
            const ops::MixDims one{1, N, d.L, D};
            const int threads = engine::num_threads();
            engine::set_num_threads(2);
            std::vector<float> dw_one(N * d.L, accumulate ? 0.5f : std::nanf(""));
            std::vector<float> dv_one(N * D, accumulate ? 0.25f : std::nanf(""));
            simd.backward_wv(one, offsets.data(), dout.data(), v.data(), w.data(), residual, accumulate,
                             dw_one.data(), accumulate, dv_one.data());
            engine::set_num_threads(threads);
            ASSERT_EQ(0, std::memcmp(dw_one.data(), dw_got.data(), dw_one.size() * sizeof(float)))
                << "backward_wv dW, one element, rows split " << how;
            ASSERT_EQ(0, std::memcmp(dv_one.data(), dv_got.data(), dv_one.size() * sizeof(float)))
                << "backward_wv dV, one element, rows split " << how;
          }
        }
      }
      }
    }
  // The fused variants take D = 16, 32, 48, 64 with at most 16 links (AVX-512) and D = 8 .. 32
  // in steps of 8 (AVX2); the test must reach them.
  if (simd.backward_wv) {
    EXPECT_GT(fused_cases, 0) << p.name;
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, MixKernelVariants,
                         ::testing::Values(MixVariant{"avx2", engine::Isa::avx2, ops::mix_kernels_avx2},
                                           MixVariant{"avx512", engine::Isa::avx512, ops::mix_kernels_avx512}),
                         [](const auto& p) { return std::string(p.param.name); });

TEST(SparseMix, ResultsDoNotDependOnTheThreadCount) {
  engine::Rng rng(5);
  const auto offsets = ops::chord_offsets(1000);
  Tensor w0 = Tensor::randn({4, 1000, 11}, rng), v0 = Tensor::randn({4, 1000, 32}, rng);
  Tensor r0 = Tensor::randn({4, 1000, 32}, rng);
  std::vector<Tensor> results;
  for (int threads : {1, 2}) {
    engine::set_num_threads(threads);
    Tensor w = w0.clone().set_requires_grad(), v = v0.clone().set_requires_grad();
    Tensor out = ops::sparse_mix(w, v, offsets, true);
    engine::backward(out, r0);
    results.insert(results.end(), {out.detach(), w.grad(), v.grad()});
  }
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(testing_util::bitwise_equal(results[i], results[i + 3])) << i;
}

}  // namespace

#include "ops/activations.h"
#include "ops/grouped_linear.h"
#include "ops/paramixer/factor_mlp.h"

namespace {

TEST(FactorMlp, Gradcheck) {
  engine::Rng rng(7);
  // R = 70 rows, M = 3 factors, H = 5, L = 4, D = 6.
  Tensor x = testing_util::randn({70, 6}, rng), w1 = testing_util::randn({15, 6}, rng),
         b1 = testing_util::randn({15}, rng), w2 = testing_util::randn({3, 4, 5}, rng),
         b2 = testing_util::randn({3, 4}, rng);
  const auto r = engine::gradcheck([&] { return ops::factor_mlp(x, w1, b1, w2, b2); }, {x, w1, b1, w2, b2},
                                   {}, {"x", "w1", "b1", "w2", "b2"});
  EXPECT_TRUE(r.ok) << r.report;
}

// The fused op and the same function composed of separate ops, each on copies of the inputs
// and backward from r: equal outputs and gradients (float32 tolerances).
using MlpOf = std::function<Tensor(const std::vector<Tensor>&)>;
void expect_fused_equals_composed(const std::vector<Tensor>& inputs, const Tensor& r, const MlpOf& fused,
                                  const MlpOf& composed) {
  std::vector<std::vector<Tensor>> grads;
  std::vector<Tensor> outs;
  for (const MlpOf* run : {&fused, &composed}) {
    std::vector<Tensor> in;
    for (const Tensor& t : inputs) {
      in.push_back(t.clone());
      in.back().set_requires_grad();
    }
    Tensor out = (*run)(in);
    ASSERT_EQ(out.shape(), r.shape());
    engine::backward(out, r);
    outs.push_back(out.detach());
    grads.emplace_back();
    for (Tensor& t : in) grads.back().push_back(t.grad());
  }
  EXPECT_TRUE(testing_util::all_close(outs[0], outs[1], 1e-5, 1e-5));
  for (size_t i = 0; i < inputs.size(); ++i)
    EXPECT_TRUE(testing_util::all_close(grads[0][i], grads[1][i], 2e-3, 1e-4)) << "gradient " << i;
}

TEST(FactorMlp, EqualsTheComposedLayersOverSeveralChunks) {
  engine::Rng rng(8);
  // 20000 rows make 64 chunks of 313 (the last one partial), each its own gradient group.
  const int64_t R = 20000, D = 7, M = 4, H = 16, L = 9;
  const std::vector<Tensor> inputs{Tensor::randn({R, D}, rng), Tensor::randn({M * H, D}, rng, DType::f32, 0.3),
                                   Tensor::randn({M * H}, rng), Tensor::randn({M, L, H}, rng, DType::f32, 0.3),
                                   Tensor::randn({M, L}, rng)};
  expect_fused_equals_composed(
      inputs, Tensor::randn({M, R, L}, rng),
      [](const std::vector<Tensor>& in) { return ops::factor_mlp(in[0], in[1], in[2], in[3], in[4]); },
      [](const std::vector<Tensor>& in) {
        return ops::grouped_linear(ops::gelu(ops::linear(in[0], in[1], in[2])), in[3], in[4]);
      });
}

TEST(GeluMlp, Gradcheck) {
  engine::Rng rng(17);
  // x (2, 9, 6) -> (2, 9, 7) through H = 5.
  Tensor x = testing_util::randn({2, 9, 6}, rng), w1 = testing_util::randn({5, 6}, rng),
         b1 = testing_util::randn({5}, rng), w2 = testing_util::randn({7, 5}, rng), b2 = testing_util::randn({7}, rng);
  const auto r = engine::gradcheck([&] { return ops::gelu_mlp(x, w1, b1, w2, b2); }, {x, w1, b1, w2, b2}, {},
                                   {"x", "w1", "b1", "w2", "b2"});
  EXPECT_TRUE(r.ok) << r.report;
}

// float32 through the link-head kernels (L = 37: three vectors per output row) against the
// composed Linear - GELU - Linear, over many chunks.
TEST(GeluMlp, EqualsLinearGeluLinear) {
  engine::Rng rng(18);
  const int64_t B = 3, N = 1001, D = 13, H = 33, L = 37;
  const std::vector<Tensor> inputs{Tensor::randn({B, N, D}, rng), Tensor::randn({H, D}, rng, DType::f32, 0.3),
                                   Tensor::randn({H}, rng), Tensor::randn({L, H}, rng, DType::f32, 0.3),
                                   Tensor::randn({L}, rng)};
  expect_fused_equals_composed(
      inputs, Tensor::randn({B, N, L}, rng),
      [](const std::vector<Tensor>& in) { return ops::gelu_mlp(in[0], in[1], in[2], in[3], in[4]); },
      [](const std::vector<Tensor>& in) {
        return ops::linear(ops::gelu(ops::linear(in[0], in[1], in[2])), in[3], in[4]);
      });
}

TEST(GeluMlp, MismatchedShapesAreNamed) {
  const Tensor x = Tensor::zeros({4, 6}), w1 = Tensor::zeros({5, 6}), b1 = Tensor::zeros({5});
  try {
    ops::gelu_mlp(x, w1, b1, Tensor::zeros({7, 4}), Tensor::zeros({7}));
    FAIL() << "no error";
  } catch (const engine::Error& e) {
    EXPECT_NE(std::string(e.what()).find("gelu_mlp: x (4,6), w1 (5,6), b1 (5), w2 (7,4), b2 (7) do not match"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace

namespace {

struct LinkVariant {
  const char* name;
  engine::Isa isa;
  ops::LinkKernels (*factory)();
};

class LinkKernelVariants : public ::testing::TestWithParam<LinkVariant> {};

TEST_P(LinkKernelVariants, MatchReferenceOnOddSizes) {
  const LinkVariant& p = GetParam();
  if (!engine::cpu_supports(p.isa)) GTEST_SKIP() << "CPU lacks " << p.name;
  const ops::LinkKernels ref = ops::link_kernels_ref(), simd = p.factory();
  engine::Rng rng(9);
  for (int64_t H : {1, 7, 16, 17, 33})
    for (int64_t L : {1, 9, 11, 17, 20, 32, 45, 64, 70}) {
      const int64_t n = 37, M = 3, R = 45;  // rows r0 = 5 .. 41 of R
      const ops::LinkDims d{n, M, H, L, R * L};
      const auto w2 = random_floats(M * L * H, rng), dout = random_floats(M * R * L, rng);
      const auto scale = random_floats(n * M * H, rng);
      const std::string what = std::string(p.name) + " H " + std::to_string(H) + " L " + std::to_string(L);
      std::vector<float> dh_want(n * M * H + 1, 4.f), dh_got = dh_want;
      ref.dhidden(d, dout.data() + 5 * L, w2.data(), scale.data(), dh_want.data());
      simd.dhidden(d, dout.data() + 5 * L, w2.data(), scale.data(), dh_got.data());
      expect_near_vectors(dh_got, dh_want, "link dhidden " + what);

      // The forward heads write factor m's rows at m * R * L (rows 5 .. 41 of R); the rest stays.
      const auto h = random_floats(n * M * H, rng), b2 = random_floats(M * L, rng);
      std::vector<float> out_want(M * R * L, 4.f), out_got = out_want;
      ref.values(d, h.data(), w2.data(), b2.data(), out_want.data() + 5 * L);
      simd.values(d, h.data(), w2.data(), b2.data(), out_got.data() + 5 * L);
      expect_near_vectors(out_got, out_want, "link values " + what);

      // The weight gradients add to what dw2 and db2 hold.
      std::vector<float> dw2_want = random_floats(M * L * H, rng), dw2_got = dw2_want;
      std::vector<float> db2_want = random_floats(M * L, rng), db2_got = db2_want;
      ref.weight_grad(d, dout.data() + 5 * L, h.data(), dw2_want.data(), db2_want.data());
      simd.weight_grad(d, dout.data() + 5 * L, h.data(), dw2_got.data(), db2_got.data());
      expect_near_vectors(dw2_got, dw2_want, "link dw2 " + what);
      expect_near_vectors(db2_got, db2_want, "link db2 " + what);
    }
}

INSTANTIATE_TEST_SUITE_P(Isa, LinkKernelVariants,
                         ::testing::Values(LinkVariant{"avx2", engine::Isa::avx2, ops::link_kernels_avx2},
                                           LinkVariant{"avx512", engine::Isa::avx512, ops::link_kernels_avx512}),
                         [](const auto& p) { return std::string(p.param.name); });

}  // namespace
