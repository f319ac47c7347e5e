// Elementwise kernels, float32. Add with a broadcast bias: every ISA variant of the binary
// kernel family through the op layer (LONGMIX_ISA picks it), and the raw kernels one by one;
// counter GB/s (two reads and a write per element). GELU: each variant's forward and
// value-and-derivative on one factor-MLP chunk's hidden layer (cache-resident, so the counter,
// elements per second, measures the arithmetic).
#include <benchmark/benchmark.h>

#include <vector>

#include "engine/cpu.h"
#include "engine/rng.h"
#include "engine/tape.h"
#include "engine/threads.h"
#include "ops/binary_kernels.h"
#include "ops/elementwise.h"
#include "ops/gelu_kernels.h"

namespace {

using engine::Tensor;

void BM_AddBias(benchmark::State& state) {
  const int64_t rows = state.range(0), cols = state.range(1);
  engine::set_num_threads(static_cast<int>(state.range(2)));
  engine::Rng rng(1);
  const Tensor x = Tensor::randn({rows, cols}, rng), b = Tensor::randn({cols}, rng);
  engine::NoGradGuard no_grad;
  for (auto _ : state) benchmark::DoNotOptimize(ops::add(x, b).raw_data());
  state.counters["GB/s"] = benchmark::Counter(8.0 * rows * cols * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(ops::binary_kernels().name);
}
BENCHMARK(BM_AddBias)
    ->ArgNames({"rows", "cols", "threads"})
    ->ArgsProduct({{32768}, {32, 33}, {1, 2}})
    ->UseRealTime();

void BM_BinaryKernel(benchmark::State& state, ops::BinaryKernels (*factory)(), engine::Isa isa) {
  if (!engine::cpu_supports(isa)) {
    state.SkipWithError("CPU lacks this ISA");
    return;
  }
  const ops::BinaryKernels k = factory();
  const int64_t n = state.range(0);
  std::vector<float> a(n, 1.f), b(n, 2.f), out(n);
  for (auto _ : state) {
    k.vector_vector(ops::BinaryOp::mul, n, a.data(), b.data(), out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["GB/s"] = benchmark::Counter(12.0 * n * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK_CAPTURE(BM_BinaryKernel, ref, ops::binary_kernels_ref, engine::Isa::ref)->Arg(4099)->UseRealTime();
BENCHMARK_CAPTURE(BM_BinaryKernel, avx2, ops::binary_kernels_avx2, engine::Isa::avx2)->Arg(4099)->UseRealTime();
BENCHMARK_CAPTURE(BM_BinaryKernel, avx512, ops::binary_kernels_avx512, engine::Isa::avx512)->Arg(4099)->UseRealTime();

void BM_GeluKernel(benchmark::State& state, ops::GeluKernels (*factory)(), engine::Isa isa) {
  if (!engine::cpu_supports(isa)) {
    state.SkipWithError("CPU lacks this ISA");
    return;
  }
  const ops::GeluKernels k = factory();
  const int64_t n = state.range(0);
  const bool with_derivative = state.range(1) != 0;
  std::vector<float> x(n), y(n), dydx(n);
  for (int64_t i = 0; i < n; ++i) x[i] = -4.f + 8.f * static_cast<float>(i % 1009) / 1009.f;
  for (auto _ : state) {
    if (with_derivative)
      k.value_and_derivative(n, x.data(), y.data(), dydx.data());
    else
      k.forward(n, x.data(), y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::DoNotOptimize(dydx.data());
  }
  state.counters["elements/s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}
// 307 x 320: the rows x M*H of one factor-MLP chunk at N = 1024 (D = H = 32, 10 factors).
BENCHMARK_CAPTURE(BM_GeluKernel, ref, ops::gelu_kernels_ref, engine::Isa::ref)
    ->ArgNames({"n", "derivative"})->ArgsProduct({{307 * 320}, {0, 1}})->UseRealTime();
BENCHMARK_CAPTURE(BM_GeluKernel, avx2, ops::gelu_kernels_avx2, engine::Isa::avx2)
    ->ArgNames({"n", "derivative"})->ArgsProduct({{307 * 320}, {0, 1}})->UseRealTime();
BENCHMARK_CAPTURE(BM_GeluKernel, avx512, ops::gelu_kernels_avx512, engine::Isa::avx512)
    ->ArgNames({"n", "derivative"})->ArgsProduct({{307 * 320}, {0, 1}})->UseRealTime();

}  // namespace
