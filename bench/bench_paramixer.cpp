// The Paramixer sparse product alone (with the residual, as the layer runs it): forward, and forward + backward (dW and dV), for Chord
// and CDIL, B = 32, D = 32, N = 2^10 .. 2^16, 1 and 2 threads. Counters: GB/s of the minimum
// memory traffic (read W and V, write Y; backward also reads dY, writes dW and dV) and
// sequences/s.
#include <benchmark/benchmark.h>

#include "engine/rng.h"
#include "engine/tape.h"
#include "engine/threads.h"
#include "ops/paramixer/mix_kernels.h"
#include "ops/paramixer/protocols.h"
#include "ops/paramixer/sparse_mix_chain.h"

namespace {

using engine::Tensor;

void run_product(benchmark::State& state, ops::Protocol protocol, bool with_backward) {
  const int64_t B = 32, D = 32, N = int64_t{1} << state.range(0);
  engine::set_num_threads(static_cast<int>(state.range(1)));
  std::vector<int64_t> offsets;
  for (int64_t o : ops::protocol_offsets(protocol, N, ops::num_factors(N) / 2))
    offsets.push_back(((o % N) + N) % N);
  const int64_t L = static_cast<int64_t>(offsets.size());
  engine::Rng rng(1);
  Tensor w = Tensor::randn({B, N, L}, rng), v = Tensor::randn({B, N, D}, rng);
  Tensor out = Tensor::zeros({B, N, D}), dout = Tensor::randn({B, N, D}, rng);  // touched before timing
  Tensor dw = Tensor::zeros({B, N, L}), dv = Tensor::zeros({B, N, D});
  const ops::MixKernels& k = ops::mix_kernels();
  const ops::MixDims d{B, N, L, D};
  for (auto _ : state) {
    k.forward(d, offsets.data(), w.data<float>(), v.data<float>(), true, out.data<float>());
    if (with_backward) {
      // Overwriting dW and dV, as the op does into fresh gradient buffers (in one fused pass
      // where the kernels have one).
      ops::mix_backward_both(k, d, offsets.data(), dout.data<float>(), v.data<float>(), w.data<float>(), true, false,
                             dw.data<float>(), false, dv.data<float>());
    }
    benchmark::ClobberMemory();
  }
  const double fwd_bytes = 4.0 * B * N * (L + 2 * D);
  const double bytes = with_backward ? fwd_bytes + 4.0 * B * N * (2 * L + 4 * D) : fwd_bytes;
  state.counters["GB/s"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["seq/s"] = benchmark::Counter(static_cast<double>(B), benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(k.name);
}

void BM_ChordForward(benchmark::State& s) { run_product(s, ops::Protocol::chord, false); }
void BM_ChordForwardBackward(benchmark::State& s) { run_product(s, ops::Protocol::chord, true); }
void BM_CdilForward(benchmark::State& s) { run_product(s, ops::Protocol::cdil, false); }
void BM_CdilForwardBackward(benchmark::State& s) { run_product(s, ops::Protocol::cdil, true); }

#define PRODUCT_ARGS                                                                 \
  ArgNames({"log2N", "threads"})->ArgsProduct({{10, 12, 14, 16}, {1, 2}})->UseRealTime() \
      ->Unit(benchmark::kMillisecond)
BENCHMARK(BM_ChordForward)->PRODUCT_ARGS;
BENCHMARK(BM_ChordForwardBackward)->PRODUCT_ARGS;
BENCHMARK(BM_CdilForward)->PRODUCT_ARGS;
BENCHMARK(BM_CdilForwardBackward)->PRODUCT_ARGS;

// The whole chain of a layer's M products as the layer runs it (sparse_mix_chain: one batch
// element's state stays in cache from factor to factor), forward + backward, Chord, B = 32,
// D = 32, states kept or recomputed. Unlike the single product above, the chain is not bound by memory
// bandwidth, so this is where the kernels' arithmetic shows.
void BM_ChordChainForwardBackward(benchmark::State& state) {
  const int64_t B = 32, D = 32, N = int64_t{1} << state.range(0), M = ops::num_factors(N);
  engine::set_num_threads(static_cast<int>(state.range(1)));
  std::vector<std::vector<int64_t>> offsets;
  for (int64_t m = 0; m < M; ++m) offsets.push_back(ops::protocol_offsets(ops::Protocol::chord, N, m));
  const int64_t L = static_cast<int64_t>(offsets[0].size());
  engine::Rng rng(1);
  Tensor w = Tensor::randn({M, B * N, L}, rng, engine::DType::f32, 0.1), v = Tensor::randn({B, N, D}, rng);
  const Tensor dout = Tensor::randn({B, N, D}, rng);
  w.set_requires_grad();
  v.set_requires_grad();
  auto pass = [&] {
    w.zero_grad();
    v.zero_grad();
    const auto states = state.range(2) ? ops::ChainStates::recompute : ops::ChainStates::keep;
    engine::backward(ops::sparse_mix_chain(w, v, offsets, states), dout);
  };
  pass();  // warm-up: allocator cache filled
  for (auto _ : state) pass();
  state.counters["seq/s"] = benchmark::Counter(static_cast<double>(B), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["s/row-link"] = benchmark::Counter(static_cast<double>(B * N * M * L),
                                                    benchmark::Counter::kIsIterationInvariantRate |
                                                        benchmark::Counter::kInvert);
  state.SetLabel(ops::mix_kernels().name);
}
// N = 128 (a batch element's 16 KB state in L1) against 1024 and 4096, 1 thread: 2.5 against
// 3.1-3.5 ns per row and link, forward + backward. Most of the kernels' cost is the core's work
// per link; moving rows between caches and memory adds about a third.
BENCHMARK(BM_ChordChainForwardBackward)
    ->ArgNames({"log2N", "threads", "recompute"})
    ->ArgsProduct({{7}, {1}, {0}})
    ->ArgsProduct({{10, 12}, {1, 2}, {0, 1}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

// A full training step of the adding preset (2 Chord layers, D = H = 32, B = 32, Adam, MSE):
// forward, backward, optimizer. Counters: sequences/s and the peak bytes held by tensors
// during the step (the caching allocator's high-water mark).
#include "engine/allocator.h"
#include "nn/optim.h"
#include "nn/paramixer.h"
#include "ops/loss.h"
#include "ops/shape_ops.h"

namespace {

void BM_ParamixerTrainStep(benchmark::State& state) {
  const int64_t B = 32, N = int64_t{1} << state.range(0);
  engine::set_num_threads(static_cast<int>(state.range(1)));
  engine::Rng rng(1);
  nn::ParamixerNetConfig c;
  c.layer.seq_len = N;
  c.layer.recompute = state.range(2) != 0;
  c.input_features = 2;
  c.layers = 2;
  nn::ParamixerNet net(c, rng);
  nn::Adam adam(net.named_parameters());
  const Tensor x = Tensor::uniform({B, N, 2}, rng, -1, 1), y = Tensor::uniform({B}, rng, 0, 1);
  auto step = [&] {
    net.zero_grad();
    Tensor loss = ops::mse(ops::reshape(net.forward(x), {B}), y);
    engine::backward(loss);
    adam.step(1e-3);
  };
  step();  // warm-up: primitives created, allocator cache filled
  engine::reset_peak_in_use();
  const int64_t base = engine::allocator_stats().bytes_in_use;
  for (auto _ : state) step();
  state.counters["seq/s"] = benchmark::Counter(static_cast<double>(B), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_MB"] = static_cast<double>(engine::allocator_stats().peak_in_use - base) / 1e6;
}
BENCHMARK(BM_ParamixerTrainStep)
    ->ArgNames({"log2N", "threads", "recompute"})
    ->ArgsProduct({{10, 12, 14}, {1, 2}, {0}})
    ->ArgsProduct({{12, 14, 16}, {2}, {1}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

// The M factor MLPs of one layer (ops::factor_mlp: the shared first layer, GELU, the M link
// heads), forward and forward + backward, as the adding preset runs them: B * N rows of
// D = 32, H = 32, Chord's L links, 1 and 2 threads. Counter: GFLOP/s of the GEMM work.
#include "ops/paramixer/factor_mlp.h"

namespace {

// Times one stacked MLP of R = B * N rows (M heads of H hidden units and L outputs each) on
// random inputs, forward or forward + backward; `op` is factor_mlp or gelu_mlp. Counter:
// GFLOP/s of the GEMM work.
template <class Op>
void run_stacked_mlp(benchmark::State& state, int64_t R, int64_t D, int64_t M, int64_t H, int64_t L,
                     const engine::Shape& w2_shape, const engine::Shape& b2_shape, Op op) {
  const bool with_backward = state.range(2) != 0;
  engine::set_num_threads(static_cast<int>(state.range(1)));
  engine::Rng rng(1);
  Tensor x = Tensor::randn({R, D}, rng), w1 = Tensor::randn({M * H, D}, rng, engine::DType::f32, 0.2);
  Tensor b1 = Tensor::randn({M * H}, rng), w2 = Tensor::randn(w2_shape, rng, engine::DType::f32, 0.2);
  Tensor b2 = Tensor::randn(b2_shape, rng);
  const Tensor dout = Tensor::randn(op(x, w1, b1, w2, b2).shape(), rng);  // (nothing requires grad yet)
  for (Tensor* t : {&x, &w1, &b1, &w2, &b2}) t->set_requires_grad();
  auto pass = [&] {
    for (Tensor* t : {&x, &w1, &b1, &w2, &b2}) t->zero_grad();
    Tensor out = op(x, w1, b1, w2, b2);
    if (with_backward) engine::backward(out, dout);
    else engine::clear_tape();  // recorded as in training, then dropped (else the tape grows)
  };
  pass();  // warm-up: primitives created, allocator cache filled
  for (auto _ : state) pass();
  const double fwd_flops = 2.0 * R * M * H * (D + L);
  const double flops = with_backward ? fwd_flops + 2.0 * R * M * H * (3 * D + 2 * L) : fwd_flops;
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_FactorMlp(benchmark::State& state) {
  const int64_t B = 32, D = 32, H = 32, N = int64_t{1} << state.range(0), M = ops::num_factors(N);
  const int64_t L = static_cast<int64_t>(ops::protocol_offsets(ops::Protocol::chord, N, 0).size());
  run_stacked_mlp(state, B * N, D, M, H, L, {M, L, H}, {M, L}, ops::factor_mlp);
}
BENCHMARK(BM_FactorMlp)
    ->ArgNames({"log2N", "threads", "backward"})
    ->ArgsProduct({{10}, {1, 2}, {0, 1}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// Paramixer's g (ops::gelu_mlp: Linear(D, H) - GELU - Linear(H, D)) at the adding preset's
// shape, B * N rows, D = H = 32: the same chunked op as the factor MLPs with M = 1 and L = D.
void BM_GeluMlp(benchmark::State& state) {
  const int64_t B = 32, D = 32, H = 32, N = int64_t{1} << state.range(0);
  run_stacked_mlp(state, B * N, D, 1, H, D, {D, H}, {D}, ops::gelu_mlp);
}
BENCHMARK(BM_GeluMlp)
    ->ArgNames({"log2N", "threads", "backward"})
    ->ArgsProduct({{10}, {1, 2}, {0, 1}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

namespace {

// The link-head kernels alone, one thread, as one layer of the adding preset at N = 1024 calls
// them: B * N = 32768 rows in chunks of 307 (the factor MLPs' cache-sized chunks), M = 10
// factors, H = 32, L = 11; dout and out are the (M, rows, L) tensors (14 MB, beyond L2), h and
// scale one chunk (in L2). kind: 0 values, 1 dhidden, 2 weight_grad. Counter: GFLOP/s.
void BM_LinkKernel(benchmark::State& state) {
  const int64_t R = 32768, chunk = 307, M = 10, H = 32, L = 11;
  const int kind = static_cast<int>(state.range(0));
  engine::Rng rng(1);
  const Tensor h = Tensor::randn({chunk, M * H}, rng), scale = Tensor::randn({chunk, M * H}, rng);
  const Tensor w2 = Tensor::randn({M, L, H}, rng), b2 = Tensor::randn({M, L}, rng);
  Tensor big = Tensor::randn({M, R, L}, rng), dh = Tensor::zeros({chunk, M * H});
  Tensor dw2 = Tensor::zeros({M, L, H}), db2 = Tensor::zeros({M, L});
  const ops::LinkKernels& k = ops::link_kernels();
  for (auto _ : state) {
    for (int64_t r0 = 0; r0 < R; r0 += chunk) {
      const ops::LinkDims d{std::min(chunk, R - r0), M, H, L, R * L};
      float* rows = big.data<float>() + r0 * L;
      if (kind == 0) k.values(d, h.data<float>(), w2.data<float>(), b2.data<float>(), rows);
      if (kind == 1) k.dhidden(d, rows, w2.data<float>(), scale.data<float>(), dh.data<float>());
      if (kind == 2) k.weight_grad(d, rows, h.data<float>(), dw2.data<float>(), db2.data<float>());
    }
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * R * M * H * L * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(k.name);
}
BENCHMARK(BM_LinkKernel)->ArgName("kind")->DenseRange(0, 2)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
