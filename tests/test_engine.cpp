// Tensor, allocator, tape, RNG and ISA selection.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/allocator.h"
#include "engine/cpu.h"
#include "engine/denormals.h"
#include "engine/parallel.h"
#include "engine/rng.h"
#include "engine/tape.h"
#include "engine/tensor.h"
#include "engine/threads.h"
#include "ops/activations.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"
#include "tests/test_util.h"

using engine::DType;
using engine::Shape;
using engine::Tensor;

namespace {

TEST(Tensor, StorageIs64ByteAligned) {
  for (int64_t n : {1, 3, 17, 1000, 100003}) {
    Tensor t = Tensor::empty({n});
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % 64, 0u) << n;
  }
}

TEST(Tensor, ReshapeViewSharesStorage) {
  Tensor t = Tensor::from_data({2, 3}, std::vector<float>{0, 1, 2, 3, 4, 5});
  Tensor v = t.reshape_view({3, 2});
  v.data<float>()[5] = 42;
  EXPECT_EQ(t.data<float>()[5], 42);
  EXPECT_EQ(v.shape(), Shape({3, 2}));
  EXPECT_THROW(t.reshape_view({4, 2}), engine::Error);
}

TEST(Tensor, FourDimensionsAtMost) {
  EXPECT_NO_THROW(Tensor::zeros({1, 2, 3, 4}));
  try {
    Shape({1, 2, 3, 4, 5});
    FAIL() << "a 5-D shape was accepted";
  } catch (const engine::Error& e) {
    EXPECT_NE(std::string(e.what()).find("at most 4"), std::string::npos) << e.what();
  }
}

TEST(Tensor, DtypeMismatchIsAnError) {
  Tensor t = Tensor::zeros({3}, DType::f64);
  EXPECT_THROW(t.data<float>(), engine::Error);
  EXPECT_NO_THROW(t.data<double>());
}

TEST(Tensor, ConvertInPlaceIsSeenByEveryHandle) {
  Tensor t = Tensor::from_data({2}, std::vector<float>{1.5f, -2});
  Tensor other = t;
  t.convert_in_place(DType::f64);
  EXPECT_EQ(other.dtype(), DType::f64);
  EXPECT_EQ(other.data<double>()[1], -2.0);
}

TEST(Allocator, FreedBlocksAreReused) {
  engine::release_cached_blocks();
  const void* first;
  {
    Tensor a = Tensor::empty({12345});
    first = a.raw_data();
  }
  const int64_t system_before = engine::allocator_stats().system_allocs;
  Tensor b = Tensor::empty({12345});
  EXPECT_EQ(b.raw_data(), first);
  EXPECT_EQ(engine::allocator_stats().system_allocs, system_before);
}

TEST(Allocator, TracksPeakBytes) {
  engine::reset_peak_in_use();
  const int64_t before = engine::allocator_stats().bytes_in_use;
  { Tensor big = Tensor::empty({1 << 20}); }
  const auto s = engine::allocator_stats();
  EXPECT_GE(s.peak_in_use - before, int64_t{4} << 20);
  EXPECT_EQ(s.bytes_in_use, before);
}

TEST(Rng, SeededStreamsRepeatAndStateRoundTrips) {
  engine::Rng a(7), b(7), c(8);
  EXPECT_EQ(a.next_u64(), b.next_u64());
  EXPECT_NE(a.next_u64(), c.next_u64());
  const auto state = a.state();
  const double x = a.normal();
  a.set_state(state);
  EXPECT_EQ(a.normal(), x);
}

TEST(Rng, NormalHasUnitVariance) {
  engine::Rng rng(3);
  double sum = 0, sq = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double x = rng.normal();
    sum += x;
    sq += x * x;
  }
  EXPECT_NEAR(sum / n, 0, 0.01);
  EXPECT_NEAR(sq / n, 1, 0.02);
}

TEST(Tape, BackwardAccumulatesIntoLeavesAndClearsTape) {
  Tensor x = Tensor::from_data({3}, std::vector<double>{1, 2, 3}).set_requires_grad();
  // y = sum(x * x + x): dy/dx = 2x + 1; x is used twice, so both paths must add.
  Tensor y = ops::sum_all(ops::add(ops::mul(x, x), x));
  EXPECT_GT(engine::tape_size(), 0u);
  engine::backward(y);
  EXPECT_EQ(engine::tape_size(), 0u);
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{3, 5, 7}));
  // A second backward accumulates until zero_grad.
  engine::backward(ops::sum_all(x));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{4, 6, 8}));
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
}

TEST(Tape, NoGradGuardRecordsNothing) {
  Tensor x = Tensor::from_data({2}, std::vector<double>{1, 2}).set_requires_grad();
  engine::clear_tape();
  {
    engine::NoGradGuard guard;
    Tensor y = ops::exp(x);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_EQ(engine::tape_size(), 0u);
  }
  Tensor z = ops::exp(x);
  EXPECT_TRUE(z.requires_grad());
  EXPECT_EQ(engine::tape_size(), 1u);
  engine::clear_tape();
}

TEST(Tape, BackwardNeedsAScalarOrAnOutputGradient) {
  Tensor x = Tensor::from_data({2}, std::vector<double>{1, 2}).set_requires_grad();
  Tensor y = ops::exp(x);
  EXPECT_THROW(engine::backward(y), engine::Error);
  EXPECT_THROW(engine::backward(y, Tensor::zeros({3}, DType::f64)), engine::Error);
  engine::backward(y, Tensor::full({2}, 1.0, DType::f64));
  EXPECT_NEAR(x.grad().at_flat(1), std::exp(2.0), 1e-12);
}

// backward(d, g) reads g in place (no copy) when only d's producer reads it. Here that
// producer, a residual add, passes its output gradient on to a as a's gradient, and a's other
// consumer then adds into a's gradient: that must be a copy, never g itself.
TEST(Tape, OutputGradientIsReadNotWritten) {
  Tensor x = Tensor::from_data({3}, std::vector<double>{0.1, -0.2, 0.3}).set_requires_grad();
  Tensor a = ops::exp(x);
  Tensor d = ops::add(a, ops::exp(a));
  const Tensor g = Tensor::from_data({3}, std::vector<double>{1, 2, 3});
  engine::backward(d, g);
  EXPECT_EQ(g.to_vector(), (std::vector<double>{1, 2, 3}));
  for (int i = 0; i < 3; ++i) {
    const double xi = x.at_flat(i), ai = std::exp(xi);
    EXPECT_NEAR(x.grad().at_flat(i), g.at_flat(i) * (1 + std::exp(ai)) * ai, 1e-12) << i;
  }
}

TEST(Tape, IntermediatesAreFreedAfterBackward) {
  Tensor x = Tensor::full({1 << 18}, 0.5).set_requires_grad();
  const int64_t before = engine::allocator_stats().bytes_in_use;
  {
    Tensor loss = ops::sum_all(ops::tanh(ops::exp(ops::tanh(x))));
    engine::backward(loss);
  }
  // Only x's gradient remains.
  EXPECT_EQ(engine::allocator_stats().bytes_in_use - before, int64_t{4} << 18);
}

TEST(Gradcheck, CatchesAWrongBackward) {
  // A softmax-like op whose gradient rows sum to zero; a wrong backward that returns 0 passes a
  // plain-sum check but must fail the weighted one.
  Tensor x = Tensor::from_data({4}, std::vector<double>{0.1, -0.3, 0.7, 0.2}).set_requires_grad();
  auto broken = [&] {
    Tensor y = Tensor::empty({4}, DType::f64);
    double s = 0;
    for (int i = 0; i < 4; ++i) s += std::exp(x.data<double>()[i]);
    for (int i = 0; i < 4; ++i) y.data<double>()[i] = std::exp(x.data<double>()[i]) / s;
    engine::record("broken_softmax", y, {x}, [](const Tensor&, engine::Grads&) {});
    return y;
  };
  const auto r = engine::gradcheck(broken, {x});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.report.find("FAIL"), std::string::npos);
}

TEST(Cpu, IsaNamesAndDetection) {
  EXPECT_TRUE(engine::cpu_supports(engine::Isa::ref));
  EXPECT_TRUE(engine::cpu_supports(engine::detect_isa()));
  EXPECT_STREQ(engine::isa_name(engine::Isa::avx512), "avx512");
}

}  // namespace

namespace {

TEST(Tensor, BlockViewSharesStorageAtAnOffset) {
  Tensor t = Tensor::from_data({3, 2}, std::vector<float>{0, 1, 2, 3, 4, 5});
  Tensor row = t.block_view(2, {2});
  EXPECT_EQ(row.to_vector(), (std::vector<double>{2, 3}));
  row.data<float>()[1] = 9;
  EXPECT_EQ(t.at_flat(3), 9);
  EXPECT_EQ(row.reshape_view({1, 2}).at_flat(0), 2);  // views of views keep the offset
  EXPECT_THROW(t.block_view(5, {2}), engine::Error);
}

// Subnormals are flushed (results) and read as zero (inputs) on the main thread and on every
// worker of the team, so that no kernel slows down on them, on whichever thread.
TEST(Denormals, FlushedOnEveryThread) {
  engine::set_num_threads(2);
  int flushed = 0, threads = 0;
#pragma omp parallel reduction(+ : flushed, threads)
  {
    volatile float tiny = 1e-38f, subnormal = 5e-39f;
    const float half = tiny * 0.5f, read = subnormal * 1.f;  // 5e-39 is below the smallest normal
    flushed += engine::denormals_flushed() && half == 0.f && read == 0.f;
    threads += 1;
  }
  EXPECT_EQ(threads, 2);
  EXPECT_EQ(flushed, threads);
}

// parallel_ranges: every index in exactly one call, one call per thread (contiguous ranges),
// one call over everything on one thread or inside a parallel region.
TEST(Parallel, RangesCoverEveryIndexOnceWithOneCallPerThread) {
  for (const int threads : {1, 2}) {
    engine::set_num_threads(threads);
    for (const int64_t n : {1, 7, 10, 11, 1000, 1031}) {
      for (const int64_t grain : {1, 3, 10, 2000}) {
        std::vector<int> hits(static_cast<size_t>(n), 0);
        int calls = 0;
        engine::parallel_ranges(n, grain, [&](int64_t i0, int64_t i1) {
          for (int64_t i = i0; i < i1; ++i) ++hits[static_cast<size_t>(i)];
#pragma omp atomic
          ++calls;
        });
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)], 1) << "n " << n << " grain " << grain;
        const int64_t chunks = engine::num_chunks(n, grain);
        EXPECT_EQ(calls, std::min<int64_t>(chunks, threads)) << "n " << n << " grain " << grain;
      }
    }
  }
  int nested_calls = 0;
#pragma omp parallel num_threads(2) reduction(+ : nested_calls)
  engine::parallel_ranges(100, 1, [&](int64_t i0, int64_t i1) { nested_calls += i0 == 0 && i1 == 100; });
  EXPECT_EQ(nested_calls, 2);  // each of the two threads: one call over [0, 100)
}

}  // namespace
