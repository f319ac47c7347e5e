#include "ops/loss.h"

#include <cmath>

#include "engine/parallel.h"
#include "engine/tape.h"
#include "ops/column_sum.h"

namespace ops {

Tensor cross_entropy(const Tensor& logits, const Tensor& targets) {
  engine::check_float(logits, "cross_entropy", "logits");
  LONGMIX_CHECK(targets.defined() && targets.dtype() == engine::DType::i32,
                "cross_entropy: targets must be an int32 tensor of class indices");
  LONGMIX_CHECK(logits.ndim() >= 1 && logits.dim(-1) > 0 &&
                    targets.numel() * logits.dim(-1) == logits.numel(),
                "cross_entropy: logits " << logits.shape() << " do not match targets "
                                         << targets.shape() << " (expected logits (..., C))");
  const int64_t C = logits.dim(-1), R = targets.numel();
  LONGMIX_CHECK(R > 0, "cross_entropy: no examples (targets " << targets.shape() << ")");
  const int32_t* t = targets.data<int32_t>();
  for (int64_t r = 0; r < R; ++r)
    LONGMIX_CHECK(t[r] >= 0 && t[r] < C, "cross_entropy: target " << t[r] << " at position " << r
                                                                  << " is outside [0, " << C
                                                                  << ") for logits "
                                                                  << logits.shape());
  Tensor loss = Tensor::empty({1}, logits.dtype());
  Tensor probs = Tensor::empty({R, C}, logits.dtype());  // softmax rows, read by backward
  engine::dispatch_float(logits.dtype(), "cross_entropy", [&](auto zero) {
    using T = decltype(zero);
    const T* x = logits.data<T>();
    T* p = probs.data<T>();
    double total = 0;
    // Per-row losses are summed in row order (fixed), the rows computed in parallel.
    accumulate_row_contributions<double>(R, 1, &total, [&](int64_t r, double* acc) {
      const T* xr = x + r * C;
      T m = xr[0];
      for (int64_t j = 1; j < C; ++j) m = std::max(m, xr[j]);
      T s = 0;
      for (int64_t j = 0; j < C; ++j) s += std::exp(xr[j] - m);
      for (int64_t j = 0; j < C; ++j) p[r * C + j] = std::exp(xr[j] - m) / s;
      acc[0] += static_cast<double>(m + std::log(s) - xr[t[r]]);
    });
    loss.data<T>()[0] = static_cast<T>(total / static_cast<double>(R));
  });
  engine::record("cross_entropy", loss, {logits, targets},
                 [probs, targets, R, C](const Tensor& dloss, engine::Grads& g) {
    if (!g.needs(0)) return;
    Tensor dx = g.at(0);
    engine::dispatch_float(dloss.dtype(), "cross_entropy", [&](auto zero) {
      using T = decltype(zero);
      const T scale = dloss.data<T>()[0] / static_cast<T>(R);
      const T* p = probs.data<T>();
      const int32_t* tp = targets.data<int32_t>();
      T* d = dx.data<T>();
      engine::parallel_for(R, 64, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t j = 0; j < C; ++j)
            d[r * C + j] += scale * (p[r * C + j] - (j == tp[r] ? T(1) : T(0)));
      });
    });
  });
  return loss;
}

Tensor mse(const Tensor& prediction, const Tensor& target) {
  engine::check_float(prediction, "mse", "prediction");
  engine::check_float(target, "mse", "target");
  LONGMIX_CHECK(prediction.shape() == target.shape() && prediction.dtype() == target.dtype(),
                "mse: prediction " << prediction.shape() << " "
                                   << engine::dtype_name(prediction.dtype()) << " vs target "
                                   << target.shape() << " " << engine::dtype_name(target.dtype()));
  const int64_t n = prediction.numel();
  LONGMIX_CHECK(n > 0, "mse: empty prediction " << prediction.shape());
  Tensor loss = Tensor::empty({1}, prediction.dtype());
  engine::dispatch_float(prediction.dtype(), "mse", [&](auto zero) {
    using T = decltype(zero);
    const T *a = prediction.data<T>(), *b = target.data<T>();
    double total = 0;
    accumulate_row_contributions<double>(n, 1, &total, [&](int64_t i, double* acc) {
      acc[0] += static_cast<double>((a[i] - b[i]) * (a[i] - b[i]));
    });
    loss.data<T>()[0] = static_cast<T>(total / static_cast<double>(n));
  });
  engine::record("mse", loss, {prediction, target},
                 [prediction, target, n](const Tensor& dloss, engine::Grads& g) {
    engine::dispatch_float(dloss.dtype(), "mse", [&](auto zero) {
      using T = decltype(zero);
      const T scale = 2 * dloss.data<T>()[0] / static_cast<T>(n);
      const T *a = prediction.data<T>(), *b = target.data<T>();
      for (int i = 0; i < 2; ++i) {
        if (!g.needs(i)) continue;
        T* d = g.at(i).data<T>();
        const T sign = i == 0 ? T(1) : T(-1);
        engine::parallel_for(n, 1 << 14, [&](int64_t i0, int64_t i1) {
          for (int64_t k = i0; k < i1; ++k) d[k] += sign * scale * (a[k] - b[k]);
        });
      }
    });
  });
  return loss;
}

}  // namespace ops
