#include "apps/scaling/machine_probe.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include "engine/parallel.h"
#include "engine/rng.h"
#include "engine/tensor.h"
#include "ops/gemm.h"

namespace apps {
namespace {

using Clock = std::chrono::steady_clock;

template <class F>
double best_seconds(int reps, F&& f) {
  f();  // warm-up: primitives created, pages touched
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

double sgemm_gflops(int64_t M, int64_t N, int64_t K) {
  engine::Rng rng(3);
  const engine::Tensor a = engine::Tensor::randn({M, K}, rng), b = engine::Tensor::randn({K, N}, rng);
  engine::Tensor c = engine::Tensor::zeros({M, N});
  ops::GemmShape s;
  s.M = M, s.N = N, s.K = K;
  const double t = best_seconds(5, [&] { ops::gemm<float>(s, a.data<float>(), b.data<float>(), c.data<float>(), false); });
  return 2.0 * double(M) * double(N) * double(K) / t * 1e-9;
}

// a = b + s * c over 3 x 256 MB, counted as 3 streams (STREAM's convention: no write-allocate).
double triad_gbps() {
  const int64_t n = int64_t{64} << 20;
  std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n), 1.f), c(static_cast<size_t>(n), 2.f);
  float* pa = a.data();
  const float *pb = b.data(), *pc = c.data();
  const double t = best_seconds(4, [&] {
    engine::parallel_for(n, int64_t{1} << 16, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) pa[i] = pb[i] + 3.f * pc[i];
    });
  });
  return 3.0 * 4.0 * double(n) / t * 1e-9;
}

}  // namespace

MachinePeaks probe_machine() {
  MachinePeaks p;
  p.sgemm_gflops = std::max(sgemm_gflops(1024, 1024, 1024), sgemm_gflops(32768, 128, 32));
  p.triad_gbps = triad_gbps();
  return p;
}

}  // namespace apps
