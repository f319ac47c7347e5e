// MRA-2 (fused) and exact softmax attention: forward, and forward + backward, 8 batch x 2 heads,
// d = 32, N = 2^10 .. 2^15 (exact to 2^14: it is quadratic), 8 blocks per row, 1 and 2 threads.
// Inputs are locally correlated (random walks, where a block mean stands for its block), and
// MRA-2's relative error ||mra - exact|| / ||exact|| is printed beside its time (N <= 2^13,
// where the exact reference is affordable). Then an encoder training step of the ListOps
// shape (B = 32, N = 2048, D = 64, 2 heads, F = 128, 2 layers, 10 classes, Adam), MRA-2 vs
// exact: sequences/s and the peak bytes held by tensors. Also rotary positions on q and k.
#include <benchmark/benchmark.h>

#include <cmath>
#include <map>
#include <memory>

#include "apps/scaling/workloads.h"
#include "engine/allocator.h"
#include "engine/rng.h"
#include "engine/tape.h"
#include "engine/threads.h"
#include "nn/encoder.h"
#include "nn/optim.h"
#include "ops/attention/attention.h"
#include "ops/attention/rotary.h"
#include "ops/elementwise.h"
#include "ops/loss.h"
#include "ops/reduce.h"

namespace {

using engine::Tensor;

constexpr int64_t kBatchHeads = 16, kHeads = 2, kHeadWidth = 32;

Tensor random_walk(int64_t N, engine::Rng& rng) { return apps::random_walk(kBatchHeads, N, kHeadWidth, rng); }

double relative_error(const Tensor& got, const Tensor& want) {
  double num = 0, den = 0;
  const float *g = got.data<float>(), *w = want.data<float>();
  for (int64_t i = 0; i < want.numel(); ++i) {
    num += (double(g[i]) - w[i]) * (double(g[i]) - w[i]);
    den += double(w[i]) * w[i];
  }
  return std::sqrt(num / den);
}

void run_attention(benchmark::State& state, bool mra, bool with_backward) {
  const int64_t N = int64_t{1} << state.range(0);
  engine::set_num_threads(static_cast<int>(state.range(1)));
  engine::Rng rng(1);
  Tensor q = random_walk(N, rng), k = random_walk(N, rng), v = random_walk(N, rng);
  ops::MraOptions o;
  o.heads = kHeads;
  auto attend = [&] { return mra ? ops::mra_attention(q, k, v, Tensor(), o) : ops::softmax_attention(q, k, v, Tensor(), kHeads); };
  if (mra && N <= 8192) {
    engine::NoGradGuard no_grad;
    state.counters["rel_error"] = relative_error(attend(), ops::softmax_attention(q, k, v, Tensor(), kHeads));
  }
  for (Tensor* t : {&q, &k, &v}) t->set_requires_grad(with_backward);
  const Tensor dout = Tensor::randn({kBatchHeads, N, kHeadWidth}, rng);
  auto run = [&] {
    Tensor out = attend();
    if (with_backward) {
      engine::backward(out, dout);
      for (Tensor* t : {&q, &k, &v}) t->zero_grad();
    }
  };
  run();  // warm-up: buffers allocated and first touched outside the timing
  for (auto _ : state) run();
  state.counters["seq/s"] = benchmark::Counter(double(kBatchHeads / kHeads), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_MraForward(benchmark::State& s) { run_attention(s, true, false); }
void BM_MraForwardBackward(benchmark::State& s) { run_attention(s, true, true); }
void BM_ExactForward(benchmark::State& s) { run_attention(s, false, false); }
void BM_ExactForwardBackward(benchmark::State& s) { run_attention(s, false, true); }

#define ATTENTION_ARGS(max_log2) \
  ArgNames({"log2N", "threads"})->ArgsProduct({benchmark::CreateDenseRange(10, max_log2, 1), {1, 2}}) \
      ->UseRealTime()->Unit(benchmark::kMillisecond)
BENCHMARK(BM_MraForward)->ATTENTION_ARGS(15);
BENCHMARK(BM_MraForwardBackward)->ATTENTION_ARGS(15);
BENCHMARK(BM_ExactForward)->ATTENTION_ARGS(14);
BENCHMARK(BM_ExactForwardBackward)->ATTENTION_ARGS(14);

// Rotary positions on q and k (--rotary), forward + backward, on the same shapes: what they add to
// an attention call. Each pass reads and writes every element once: bytes/s against the
// memory bandwidth.
void BM_RotaryQkForwardBackward(benchmark::State& state) {
  const int64_t N = int64_t{1} << state.range(0);
  engine::set_num_threads(static_cast<int>(state.range(1)));
  engine::Rng rng(1);
  Tensor q = random_walk(N, rng), k = random_walk(N, rng);
  for (Tensor* t : {&q, &k}) t->set_requires_grad(true);
  const auto table = std::make_shared<const ops::RotaryTable>(N, kHeadWidth);
  const Tensor dout = Tensor::randn({kBatchHeads, N, kHeadWidth}, rng);
  auto run = [&] {
    for (Tensor* t : {&q, &k}) {
      engine::backward(ops::rotary(*t, table), dout);
      t->zero_grad();
    }
  };
  run();
  for (auto _ : state) run();
  // q and k, forward and backward, each a read and a write of B*H x N x d floats.
  state.SetBytesProcessed(state.iterations() * 2 * 2 * 2 * kBatchHeads * N * kHeadWidth * int64_t{sizeof(float)});
}
BENCHMARK(BM_RotaryQkForwardBackward)->ATTENTION_ARGS(15);

void BM_EncoderTrainStep(benchmark::State& state) {
  const int64_t B = 32, N = 2048;
  engine::set_num_threads(static_cast<int>(state.range(1)));
  engine::Rng rng(1);
  nn::EncoderNetConfig c;
  c.seq_len = N;
  c.vocab = 20;
  c.outputs = 10;
  c.block.attention.kind = state.range(0) ? nn::AttentionKind::mra : nn::AttentionKind::exact;
  nn::EncoderNet net(c, rng);
  nn::Adam adam(net.named_parameters());
  std::vector<int32_t> ids(static_cast<size_t>(B * N)), labels(static_cast<size_t>(B));
  for (auto& t : ids) t = static_cast<int32_t>(rng.next_u64() % 20);
  for (auto& t : labels) t = static_cast<int32_t>(rng.next_u64() % 10);
  const Tensor x = Tensor::from_data({B, N}, ids), y = Tensor::from_data({B}, labels);
  auto step = [&] {
    net.zero_grad();
    engine::backward(ops::cross_entropy(net.forward(x), y));
    adam.step(1e-4);
  };
  step();
  engine::reset_peak_in_use();
  const int64_t base = engine::allocator_stats().bytes_in_use;
  for (auto _ : state) step();
  state.SetLabel(state.range(0) ? "mra" : "exact");
  state.counters["seq/s"] = benchmark::Counter(double(B), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_MB"] = static_cast<double>(engine::allocator_stats().peak_in_use - base) / 1e6;
}
BENCHMARK(BM_EncoderTrainStep)
    ->ArgNames({"mra", "threads"})
    ->ArgsProduct({{1, 0}, {1, 2}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
