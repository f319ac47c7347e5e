// oneDNN matmul through ops::matmul (primitive cached), float32, with the thread count as an
// argument. Counter: GFLOP/s (2*M*N*K per product). Compare 1 vs 2 threads in one run.
#include <benchmark/benchmark.h>

#include "engine/rng.h"
#include "engine/tape.h"
#include "engine/threads.h"
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

}  // namespace
