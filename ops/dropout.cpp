#include "ops/dropout.h"

#include "engine/batch_shard.h"
#include "engine/parallel.h"
#include "engine/rng.h"
#include "engine/tape.h"

namespace ops {
namespace {

inline bool keep(uint64_t seed, int64_t i, uint64_t threshold) {
  return engine::splitmix64(seed ^ (static_cast<uint64_t>(i) * 0xd1b54a32d192ed03ull)) >= threshold;
}

// Element i of this process's shard is element first + i of the whole batch (batch_shard.h).
template <class T>
void apply_mask(int64_t n, uint64_t seed, uint64_t threshold, T scale, const T* in, T* out,
                bool accumulate) {
  const int64_t first = engine::batch_shard() * n;
  engine::parallel_for(n, 1 << 14, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const T v = keep(seed, first + i, threshold) ? in[i] * scale : T(0);
      out[i] = accumulate ? out[i] + v : v;
    }
  });
}

}  // namespace

Tensor dropout(const Tensor& x, double p, uint64_t seed, bool training) {
  engine::check_float(x, "dropout", "x");
  LONGMIX_CHECK(p >= 0 && p < 1, "dropout: probability must be in [0, 1), got " << p);
  if (!training || p == 0) return x;
  // Drop when the 64-bit hash falls below p * 2^64.
  const uint64_t threshold = static_cast<uint64_t>(p * 18446744073709551616.0);
  const double scale = 1.0 / (1.0 - p);
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  engine::dispatch_float(x.dtype(), "dropout", [&](auto zero) {
    using T = decltype(zero);
    apply_mask<T>(x.numel(), seed, threshold, static_cast<T>(scale), x.data<T>(), y.data<T>(), false);
  });
  engine::record("dropout", y, {x}, [=](const Tensor& dy, engine::Grads& g) {
    if (!g.needs(0)) return;
    Tensor dx = g.at(0);
    engine::dispatch_float(dy.dtype(), "dropout", [&](auto zero) {
      using T = decltype(zero);
      apply_mask<T>(dy.numel(), seed, threshold, static_cast<T>(scale), dy.data<T>(), dx.data<T>(),
                    true);
    });
  });
  return y;
}

}  // namespace ops
