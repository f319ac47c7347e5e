// oneDNN matmul through ops::matmul (primitive cached), float32, with the thread count as an
// argument. Counter: GFLOP/s (2*M*N*K per product). Compare 1 vs 2 threads in one run.
#include <benchmark/benchmark.h>

#include "engine/rng.h"
#include "engine/tape.h"
#include "engine/threads.h"
#include "ops/gemm.h"
#include "ops/matmul.h"

namespace {

using engine::Tensor;

void BM_Matmul(benchmark::State& state) {
  const int64_t M = state.range(0), K = state.range(1), N = state.range(2);
  engine::set_num_threads(static_cast<int>(state.range(3)));
  engine::Rng rng(1);
  const Tensor a = Tensor::randn({M, K}, rng), b = Tensor::randn({K, N}, rng);
  engine::NoGradGuard no_grad;
  for (auto _ : state) benchmark::DoNotOptimize(ops::matmul(a, b).raw_data());
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * M * N * K * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
  state.counters["threads"] = static_cast<double>(state.range(3));
}

// Square products, and the tall K = 32 shapes of the Paramixer factor MLPs (B*N rows).
BENCHMARK(BM_Matmul)
    ->ArgNames({"M", "K", "N", "threads"})
    ->ArgsProduct({{512}, {512}, {512}, {1, 2}})
    ->ArgsProduct({{32768}, {32}, {32}, {1, 2}})
    ->ArgsProduct({{32768}, {32}, {128}, {1, 2}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// Batched products on raw buffers through ops::gemm: MRA-2's low resolution at N = 16384
// (16 batch-heads, nb = 512 blocks, d = 32): the block logits Q^ K^T (512 x 512, K = 32), and
// its backward's dS K^ (512 x 32, K = 512) and dS^T Q^ (the same with A transposed).
void BM_BatchedGemm(benchmark::State& state) {
  ops::GemmShape s;
  s.batch = state.range(0);
  s.M = state.range(1);
  s.N = state.range(2);
  s.K = state.range(3);
  s.trans_a = state.range(4) == 1;
  s.trans_b = state.range(4) == 2;
  engine::set_num_threads(static_cast<int>(state.range(5)));
  engine::Rng rng(1);
  const Tensor a = Tensor::randn({s.batch, s.M * s.K}, rng), b = Tensor::randn({s.batch, s.K * s.N}, rng);
  Tensor c = Tensor::zeros({s.batch, s.M * s.N});
  for (auto _ : state) {
    ops::gemm<float>(s, a.data<float>(), b.data<float>(), c.data<float>(), false);
    benchmark::DoNotOptimize(c.data<float>());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * s.batch * s.M * s.N * s.K * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_BatchedGemm)
    ->ArgNames({"batch", "M", "N", "K", "trans", "threads"})  // trans: 1 = A transposed, 2 = B
    ->ArgsProduct({{16}, {512}, {512}, {32}, {2}, {1, 2}})
    ->ArgsProduct({{16}, {512}, {32}, {512}, {0, 1}, {1, 2}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// ops::linear forward + backward (dx, dW, db) at the Paramixer adding preset's thin layers,
// B = 32, N = 1024, D = 32: the input layer (32768 rows, 2 features -> 32; no dx: it is data)
// and the flatten head (32 rows, 32768 -> 1).
void BM_LinearForwardBackward(benchmark::State& state) {
  const int64_t rows = state.range(0), in = state.range(1), out = state.range(2);
  const bool input_grad = state.range(3) == 1;
  engine::set_num_threads(static_cast<int>(state.range(4)));
  engine::Rng rng(1);
  Tensor x = Tensor::randn({rows, in}, rng), w = Tensor::randn({out, in}, rng), b = Tensor::randn({out}, rng);
  x.set_requires_grad(input_grad);
  w.set_requires_grad(true);
  b.set_requires_grad(true);
  const Tensor dy = Tensor::randn({rows, out}, rng);
  for (auto _ : state) {
    engine::backward(ops::linear(x, w, b), dy);
    benchmark::DoNotOptimize(w.grad().raw_data());
  }
  state.counters["threads"] = static_cast<double>(state.range(4));
}
BENCHMARK(BM_LinearForwardBackward)
    ->ArgNames({"rows", "in", "out", "dx", "threads"})
    ->ArgsProduct({{32768}, {2}, {32}, {0}, {1, 2}})
    ->ArgsProduct({{32}, {32768}, {1}, {1}, {1, 2}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// The three GEMMs of one factor-MLP chunk at the adding preset (307 rows, M*H = 320, D = 32),
// one thread, as ops::factor_mlp calls them: 0 the first layer (x w1^T + b1), 1 its weight
// gradient (dh^T x, accumulated), 2 the input gradient (dh w1). Counter: GFLOP/s.
void BM_FactorChunkGemm(benchmark::State& state) {
  const int64_t n = 307, MH = 320, D = 32;
  const int kind = static_cast<int>(state.range(0));
  engine::set_num_threads(1);
  engine::Rng rng(1);
  const Tensor x = Tensor::randn({n, D}, rng), w1 = Tensor::randn({MH, D}, rng);
  const Tensor b1 = Tensor::randn({MH}, rng), dh = Tensor::randn({n, MH}, rng);
  Tensor pre = Tensor::zeros({n, MH}), dw1 = Tensor::zeros({MH, D}), dx = Tensor::zeros({n, D});
  const float *xp = x.data<float>(), *w1p = w1.data<float>(), *dhp = dh.data<float>();
  for (auto _ : state) {
    if (kind == 0) ops::gemm<float>({1, n, MH, D, false, true}, xp, w1p, pre.data<float>(), false, b1.data<float>());
    if (kind == 1) ops::gemm<float>({1, MH, D, n, true, false}, dhp, xp, dw1.data<float>(), true);
    if (kind == 2) ops::gemm<float>({1, n, D, MH, false, false}, dhp, w1p, dx.data<float>(), true);
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * n * MH * D * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_FactorChunkGemm)->ArgName("kind")->DenseRange(0, 2)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
