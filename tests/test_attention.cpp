// Exact softmax attention and MRA-2: a dense oracle, MRA-2 with every block equals exact,
// float64 finite differences (selection held fixed), the fused float32 path against the
// reference, every ISA variant of the block kernels against the scalar one, thread-count
// independence, and the errors a caller can make.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "engine/cpu.h"
#include "engine/tape.h"
#include "engine/threads.h"
#include "ops/attention/attention.h"
#include "ops/attention/block_attention.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"
#include "ops/softmax.h"
#include "tests/test_util.h"

using engine::DType;
using engine::Tensor;

namespace {

// Test-only oracle: dense softmax attention with a key mask, in double, one row at a time.
Tensor dense_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, int64_t heads) {
  const int64_t BH = q.dim(0), N = q.dim(1), d = q.dim(2);
  Tensor out = Tensor::zeros({BH, N, d}, DType::f64);
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  auto present = [&](int64_t bh, int64_t j) { return !mask.defined() || mask.at_flat((bh / heads) * N + j) != 0; };
  for (int64_t bh = 0; bh < BH; ++bh)
    for (int64_t i = 0; i < N; ++i) {
      if (!present(bh, i)) continue;
      std::vector<double> s(static_cast<size_t>(N), -INFINITY);
      double mx = -INFINITY;
      for (int64_t j = 0; j < N; ++j) {
        if (!present(bh, j)) continue;
        double acc = 0;
        for (int64_t t = 0; t < d; ++t) acc += q.at_flat((bh * N + i) * d + t) * k.at_flat((bh * N + j) * d + t);
        s[static_cast<size_t>(j)] = scale * acc;
        mx = std::max(mx, scale * acc);
      }
      double z = 0;
      for (int64_t j = 0; j < N; ++j) z += present(bh, j) ? std::exp(s[static_cast<size_t>(j)] - mx) : 0.0;
      for (int64_t j = 0; j < N; ++j) {
        if (!present(bh, j)) continue;
        const double p = std::exp(s[static_cast<size_t>(j)] - mx) / z;
        for (int64_t t = 0; t < d; ++t) out.data<double>()[(bh * N + i) * d + t] += p * v.at_flat((bh * N + j) * d + t);
      }
    }
  return out;
}

// A (B, N) mask with a few absent tokens, including a whole absent stretch at the end of row 1.
Tensor test_mask(int64_t B, int64_t N) {
  std::vector<double> m(static_cast<size_t>(B * N), 1.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < N; ++i)
      if ((i * 7 + b * 3) % 11 == 0 || (b == 1 && i >= N - N / 3)) m[static_cast<size_t>(b * N + i)] = 0.0;
  return Tensor::from_data({B, N}, m);
}

// ||got - want|| / ||want|| over all elements.
double relative_error(const Tensor& got, const Tensor& want) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    num += (got.at_flat(i) - want.at_flat(i)) * (got.at_flat(i) - want.at_flat(i));
    den += want.at_flat(i) * want.at_flat(i);
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

struct Qkv {
  Tensor q, k, v;
};
Qkv random_qkv(int64_t BH, int64_t N, int64_t d, engine::Rng& rng, DType dt = DType::f64) {
  return {testing_util::randn({BH, N, d}, rng, dt), testing_util::randn({BH, N, d}, rng, dt),
          testing_util::randn({BH, N, d}, rng, dt)};
}

TEST(SoftmaxAttention, MatchesDenseOracleWithAndWithoutMask) {
  engine::Rng rng(1);
  for (int64_t N : {1, 5, 37, 70})
    for (bool masked : {false, true}) {
      const Qkv x = random_qkv(4, N, 7, rng);
      const Tensor mask = masked ? test_mask(2, N) : Tensor();
      const Tensor want = dense_attention(x.q, x.k, x.v, mask, 2);
      EXPECT_TRUE(testing_util::all_close(ops::softmax_attention(x.q, x.k, x.v, mask, 2), want, 1e-12, 1e-10))
          << "f64 N " << N;
      const Tensor got32 = ops::softmax_attention(x.q.to(DType::f32), x.k.to(DType::f32), x.v.to(DType::f32), mask, 2);
      EXPECT_TRUE(testing_util::all_close(got32, want, 2e-5, 2e-5)) << "f32 N " << N;
    }
}

TEST(MraAttention, EveryBlockSelectedEqualsExactAttention) {
  engine::Rng rng(2);
  for (int64_t N : {37, 96, 130})
    for (bool full : {true, false})
      for (bool masked : {false, true})
        for (DType dt : {DType::f64, DType::f32}) {
          const Qkv x = random_qkv(4, N, 16, rng, dt);
          const Tensor mask = masked ? test_mask(2, N) : Tensor();
          ops::MraOptions o;
          o.heads = 2;
          o.full = full;
          o.blocks_per_row = (N + 31) / 32;  // the budget covers the whole grid
          const Tensor mra = ops::mra_attention(x.q, x.k, x.v, mask, o);
          const Tensor exact = ops::softmax_attention(x.q, x.k, x.v, mask, 2);
          EXPECT_LT(relative_error(mra, exact), 1e-5) << "N " << N << " full " << full << " masked " << masked;
        }
}

TEST(SoftmaxAttention, Gradcheck) {
  engine::Rng rng(3);
  for (int64_t N : {5, 37})
    for (bool masked : {false, true}) {
      const Qkv x = random_qkv(4, N, 5, rng);
      const Tensor mask = masked ? test_mask(2, N) : Tensor();
      EXPECT_GRADCHECK([&] { return ops::softmax_attention(x.q, x.k, x.v, mask, 2); }, {x.q, x.k, x.v});
    }
}

TEST(MraAttention, GradcheckFullAndSparseWithSelectionFixed) {
  engine::Rng rng(4);
  for (int64_t block : {4, 8})
    for (bool full : {true, false})
      for (bool masked : {false, true}) {
        const int64_t N = 37;
        const Qkv x = random_qkv(4, N, 5, rng);
        const Tensor mask = masked ? test_mask(2, N) : Tensor();
        ops::MraOptions o;
        o.heads = 2;
        o.block = block;
        o.blocks_per_row = 2;
        o.full = full;
        const auto selection = ops::mra_selection(x.q, x.k, x.v, mask, o);
        ASSERT_LT(selection->count(), 4 * 10 * 10) << "the selection must leave blocks to the low resolution";
        const auto r = engine::gradcheck([&] { return ops::mra_attention(x.q, x.k, x.v, mask, o, selection); },
                                         {x.q, x.k, x.v});
        EXPECT_TRUE(r.ok) << "block " << block << " full " << full << " masked " << masked << "\n" << r.report;
      }
}

// The selection's priors: with prior_diagonal = 1 every diagonal block is taken first; the same
// budget without it leaves some to the low resolution on these inputs.
TEST(MraAttention, DiagonalPriorTakesTheDiagonalBlocks) {
  engine::Rng rng(9);
  const int64_t N = 250, block = 32, nb = 8;  // N not a multiple of the block
  const Qkv x = random_qkv(4, N, 6, rng);
  ops::MraOptions o;
  o.heads = 2;
  o.block = block;
  o.blocks_per_row = 2;
  o.prior_first = 0;
  auto diagonal_taken = [&](int64_t prior_diagonal) {
    o.prior_diagonal = prior_diagonal;
    const auto selection = ops::mra_selection(x.q, x.k, x.v, Tensor(), o);
    int64_t taken = 0;
    for (int64_t bh = 0; bh < 4; ++bh)
      for (int64_t I = 0; I < nb; ++I) taken += selection->selected(bh, I, I) ? 1 : 0;
    return taken;
  };
  EXPECT_EQ(diagonal_taken(1), 4 * nb);
  EXPECT_LT(diagonal_taken(0), 4 * nb);
}

// Output and input gradients of an attention function, for a fixed random output weighting.
struct Result {
  Tensor out, dq, dk, dv;
};
template <class F>
Result run_with_grads(const Qkv& x, F&& attention, const Tensor& weight) {
  for (const Tensor& t : {x.q, x.k, x.v}) const_cast<Tensor&>(t).zero_grad();
  Tensor out = attention(x.q, x.k, x.v);
  engine::backward(ops::sum_all(ops::mul(out, weight)));
  return {out.detach().clone(), x.q.grad().clone(), x.k.grad().clone(), x.v.grad().clone()};
}

Qkv as_f32(const Qkv& x) {
  return {x.q.to(DType::f32).set_requires_grad(), x.k.to(DType::f32).set_requires_grad(),
          x.v.to(DType::f32).set_requires_grad()};
}

TEST(MraAttention, FusedFloat32MatchesReference) {
  engine::Rng rng(5);
  for (int64_t N : {100, 200})
    for (int64_t d : {17, 32})
      for (int64_t block : {16, 32})
        for (int mode = 0; mode < 3; ++mode) {  // exact, MRA full, MRA sparse
          const Qkv x64 = random_qkv(4, N, d, rng);
          const Qkv x32 = as_f32(x64);
          const Tensor mask = test_mask(2, N);
          ops::MraOptions o;
          o.heads = 2;
          o.block = block;
          o.blocks_per_row = 2;
          o.full = mode == 1;
          const auto selection = ops::mra_selection(x64.q, x64.k, x64.v, mask, o);
          auto attention = [&](const Tensor& q, const Tensor& k, const Tensor& v) {
            return mode == 0 ? ops::softmax_attention(q, k, v, mask, 2) : ops::mra_attention(q, k, v, mask, o, selection);
          };
          const Tensor weight = testing_util::randn({4, N, d}, rng, DType::f64, false);
          const Result want = run_with_grads(x64, attention, weight);
          const Result got = run_with_grads(x32, attention, weight.to(DType::f32));
          const std::string what = "N " + std::to_string(N) + " d " + std::to_string(d) + " block " +
                                   std::to_string(block) + " mode " + std::to_string(mode);
          EXPECT_TRUE(testing_util::all_close(got.out, want.out, 1e-5, 1e-4)) << "out " << what;
          EXPECT_TRUE(testing_util::all_close(got.dq, want.dq, 1e-4, 1e-3)) << "dq " << what;
          EXPECT_TRUE(testing_util::all_close(got.dk, want.dk, 1e-4, 1e-3)) << "dk " << what;
          EXPECT_TRUE(testing_util::all_close(got.dv, want.dv, 1e-4, 1e-3)) << "dv " << what;
        }
}

TEST(MraAttention, ResultsDoNotDependOnThreadCount) {
  engine::Rng rng(6);
  const Qkv x = as_f32(random_qkv(4, 300, 32, rng));
  const Tensor mask = test_mask(2, 300);
  const Tensor weight = testing_util::randn({4, 300, 32}, rng, DType::f32, false);
  for (bool exact : {true, false}) {
    ops::MraOptions o;
    o.heads = 2;
    auto attention = [&](const Tensor& q, const Tensor& k, const Tensor& v) {
      return exact ? ops::softmax_attention(q, k, v, mask, 2) : ops::mra_attention(q, k, v, mask, o);
    };
    const int before = engine::num_threads();
    engine::set_num_threads(1);
    const Result one = run_with_grads(x, attention, weight);
    engine::set_num_threads(2);
    const Result two = run_with_grads(x, attention, weight);
    engine::set_num_threads(before);
    EXPECT_TRUE(testing_util::bitwise_equal(one.out, two.out)) << "exact " << exact;
    EXPECT_TRUE(testing_util::bitwise_equal(one.dq, two.dq)) << "exact " << exact;
    EXPECT_TRUE(testing_util::bitwise_equal(one.dk, two.dk)) << "exact " << exact;
    EXPECT_TRUE(testing_util::bitwise_equal(one.dv, two.dv)) << "exact " << exact;
  }
}

TEST(MraAttention, ApproximatesLocallyCorrelatedInputs) {
  // Smooth sequences (random walks) are where a block mean stands for its block; on them the
  // complement matters (about 1% error full, 25% sparse at this step size).
  engine::Rng rng(7);
  const int64_t BH = 2, N = 512, d = 32;
  Tensor x[3];
  for (Tensor& t : x) {
    t = Tensor::zeros({BH, N, d}, DType::f32);
    float* p = t.data<float>();
    for (int64_t bh = 0; bh < BH; ++bh)
      for (int64_t i = 0; i < N; ++i)
        for (int64_t c = 0; c < d; ++c)
          p[(bh * N + i) * d + c] = (i ? p[(bh * N + i - 1) * d + c] : 0.f) + 0.05f * static_cast<float>(rng.normal());
  }
  ops::MraOptions o;
  const Tensor exact = ops::softmax_attention(x[0], x[1], x[2], Tensor(), 1);
  const double err = relative_error(ops::mra_attention(x[0], x[1], x[2], Tensor(), o), exact);
  o.full = false;
  const double err_sparse = relative_error(ops::mra_attention(x[0], x[1], x[2], Tensor(), o), exact);
  EXPECT_GT(err, 0.0);
  EXPECT_LT(err, 0.2) << "full";
  EXPECT_LT(2 * err, err_sparse) << "the low-resolution complement should help here";
}

TEST(Attention, ErrorsNameTheProblem) {
  const Tensor q = Tensor::zeros({4, 40, 8});
  auto message = [](auto&& f) {
    try {
      f();
    } catch (const engine::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  ops::MraOptions o;
  o.heads = 2;
  o.block = 64;
  EXPECT_NE(message([&] { ops::mra_attention(q, q, q, Tensor(), o); }).find("block size 64 is not supported"),
            std::string::npos);
  EXPECT_NE(message([&] { ops::softmax_attention(q, q, Tensor::zeros({4, 40, 9}), Tensor(), 2); }).find("v (4,40,9)"),
            std::string::npos);
  EXPECT_NE(message([&] { ops::softmax_attention(q, q, q, Tensor::zeros({4, 40}), 2); }).find("key_mask"),
            std::string::npos);
  EXPECT_NE(message([&] { ops::softmax_attention(q, q, q, Tensor(), 3); }).find("not a multiple of 3 heads"),
            std::string::npos);
}

// The block kernels of every ISA against the scalar ones, through the fused driver, on
// lengths that are not multiples of the block and widths that are not multiples of 16.
struct BlockVariant {
  const char* name;
  engine::Isa isa;
  ops::BlockKernels (*factory)();
};
class BlockKernelVariants : public ::testing::TestWithParam<BlockVariant> {};

TEST_P(BlockKernelVariants, MatchReferenceOnOddSizes) {
  const BlockVariant& v = GetParam();
  if (!engine::cpu_supports(v.isa)) GTEST_SKIP() << "CPU lacks " << v.name;
  const ops::BlockKernels ref = ops::block_kernels_ref(), simd = v.factory();
  engine::Rng rng(8);
  // Two thirds of the pairs selected (backward's dQ goes by key-group parts), or a fifth (by
  // per-pair shares).
  for (bool sparse : {false, true})
  for (int64_t N : {7, 45, 100})
    for (int64_t d : {1, 7, 17, 32, 40})
      for (int64_t block : {5, 32}) {
        const int64_t BH = 2, nb = (N + block - 1) / block;
        std::vector<uint8_t> valid(static_cast<size_t>(N));
        for (int64_t i = 0; i < N; ++i) valid[static_cast<size_t>(i)] = (i % 6) != 4;
        std::vector<uint8_t> pick(static_cast<size_t>(BH * nb * nb));
        for (size_t i = 0; i < pick.size(); ++i) pick[i] = sparse ? (i % 5) == 0 : (i % 3) != 1;
        const ops::BlockSelection sel = ops::BlockSelection::from_mask(BH, nb, pick);
        const ops::BlockAttentionProblem p{BH, BH, N, d, block, 1.0 / std::sqrt(double(d)), 1e-6, &sel, valid.data()};
        std::vector<std::vector<float>> in(4);
        for (auto& t : in) {
          t.resize(static_cast<size_t>(BH * N * d));
          for (float& f : t) f = static_cast<float>(rng.normal());
        }
        std::vector<float> m0(BH * nb, 0.5f), l0(BH * nb, 2.f), o0(BH * nb * d, 0.1f);
        const ops::BlockStart<float> start{m0.data(), l0.data(), o0.data()};
        auto run = [&](const ops::BlockKernels& k, int64_t budget, std::vector<float>* out,
                       int64_t round_bytes = ops::kDefaultRoundBytes) {
          std::vector<float> o(BH * N * d), mx(BH * N), iz(BH * N), delta(BH * N);
          ops::block_attention_forward(p, k, in[0].data(), in[1].data(), in[2].data(), &start, o.data(), mx.data(),
                                       iz.data());
          ops::attention_row_dots<float>(BH * N, d, o.data(), in[3].data(), delta.data());
          std::vector<float> g(3 * BH * N * d + 1, 0.25f);  // guard element past the end
          const size_t n = static_cast<size_t>(BH * N * d);
          ops::block_attention_backward(p, k, in[0].data(), in[1].data(), in[2].data(), in[3].data(), mx.data(),
                                        iz.data(), delta.data(), g.data(), g.data() + n, g.data() + 2 * n, budget,
                                        round_bytes);
          out[0] = o;
          out[1] = g;
        };
        // The reference kernels in two passes (budget 0) against the SIMD ones in two passes,
        // in one pass a batch-head at a time, and in one pass for all.
        int64_t largest = 0;
        for (int64_t bh = 0; bh < BH; ++bh) largest = std::max(largest, sel.pairs_before(bh + 1) - sel.pairs_before(bh));
        const int64_t one_head = largest * block * d * int64_t{sizeof(float)};
        std::vector<float> want[2];
        run(ref, 0, want);
        for (int64_t budget : {int64_t{0}, one_head, ops::kDefaultShareBudget}) {
          std::vector<float> got[2];
          run(simd, budget, got);
          for (int w = 0; w < 2; ++w)
            for (size_t i = 0; i < want[w].size(); ++i)
              ASSERT_NEAR(got[w][i], want[w][i], 2e-5f * (1 + std::fabs(want[w][i])))
                  << v.name << (w ? " grad" : " out") << " N " << N << " d " << d << " block " << block
                  << (sparse ? " sparse" : " dense") << " budget " << budget << " at " << i;
        }
        // Rounds of one query row (shares) or one batch-head (parts) at a time: the same bits.
        std::vector<float> whole[2], split[2];
        run(simd, ops::kDefaultShareBudget, whole);
        run(simd, ops::kDefaultShareBudget, split, 1);
        for (int w = 0; w < 2; ++w)
          ASSERT_EQ(0, std::memcmp(whole[w].data(), split[w].data(), whole[w].size() * sizeof(float)))
              << v.name << (w ? " grad" : " out") << " N " << N << " d " << d << " block " << block
              << (sparse ? " sparse" : " dense") << " in rounds of one";
      }
}

INSTANTIATE_TEST_SUITE_P(Isa, BlockKernelVariants,
                         ::testing::Values(BlockVariant{"avx2", engine::Isa::avx2, ops::block_kernels_avx2},
                                           BlockVariant{"avx512", engine::Isa::avx512, ops::block_kernels_avx512}),
                         [](const auto& p) { return std::string(p.param.name); });

}  // namespace

namespace {

bool all_finite(const engine::Tensor& t) {
  for (int64_t i = 0; i < t.numel(); ++i)
    if (!std::isfinite(t.at_flat(i))) return false;
  return true;
}

// Logits of magnitude 1e4 (q and k of norm ~170 at d = 8) keep softmax, exact attention and
// MRA-2 (full and sparse, with a key mask) finite, forward and backward: every exponent is
// taken after its running maximum is subtracted.
TEST(NumericalGuards, AttentionStaysFiniteForLogitsOfMagnitude1e4) {
  engine::Rng rng(11);
  const int64_t B = 2, heads = 1, N = 70, d = 8;
  engine::Tensor mask = engine::Tensor::full({B, N}, 1.0);
  for (int64_t i = 50; i < N; ++i) mask.data<float>()[i] = 0;  // padding at the end of the first sequence
  for (int variant = 0; variant < 3; ++variant) {
    engine::Tensor q = engine::Tensor::randn({B * heads, N, d}, rng, engine::DType::f32, 60.0).set_requires_grad();
    engine::Tensor k = engine::Tensor::randn({B * heads, N, d}, rng, engine::DType::f32, 60.0).set_requires_grad();
    engine::Tensor v = engine::Tensor::randn({B * heads, N, d}, rng, engine::DType::f32).set_requires_grad();
    ops::MraOptions o;
    o.block = 8;
    o.blocks_per_row = 2;
    o.full = variant == 1;
    const engine::Tensor out = variant == 0 ? ops::softmax_attention(q, k, v, mask, heads)
                                            : ops::mra_attention(q, k, v, mask, o);
    double largest = 0;  // the logits really are that large
    for (int64_t i = 0; i < N; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double dot = 0;
        for (int64_t c = 0; c < d; ++c) dot += q.at_flat(i * d + c) * k.at_flat(j * d + c);
        largest = std::max(largest, std::fabs(dot) / std::sqrt(double(d)));
      }
    EXPECT_GT(largest, 1e4);
    EXPECT_TRUE(all_finite(out)) << "variant " << variant;
    engine::backward(out, engine::Tensor::randn(out.shape(), rng));
    for (const engine::Tensor* t : {&q, &k, &v}) EXPECT_TRUE(all_finite(t->grad())) << "variant " << variant;
  }
  engine::Tensor logits = engine::Tensor::randn({3, 33}, rng, engine::DType::f32, 1e4).set_requires_grad();
  const engine::Tensor p = ops::softmax(logits);
  EXPECT_TRUE(all_finite(p));
  engine::backward(p, engine::Tensor::randn(p.shape(), rng));
  EXPECT_TRUE(all_finite(logits.grad()));
}

}  // namespace
