#include "ops/layernorm.h"

#include <cmath>

#include "engine/parallel.h"
#include "engine/tape.h"
#include "ops/column_sum.h"

namespace ops {
namespace {

// sum_j f(j) for j < n, in 8 interleaved partial sums added in a fixed order: the same result
// on every thread count, without one long chain of dependent additions (rows are short).
template <class T, class F>
T row_sum(int64_t n, F&& f) {
  T acc[8] = {};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int k = 0; k < 8; ++k) acc[k] += f(j + k);
  for (; j < n; ++j) acc[j % 8] += f(j);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

}  // namespace

Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps) {
  engine::check_float(x, "layer_norm", "x");
  engine::check_float(gamma, "layer_norm", "gamma");
  engine::check_float(beta, "layer_norm", "beta");
  LONGMIX_CHECK(x.ndim() >= 1 && gamma.ndim() == 1 && beta.ndim() == 1 &&
                    gamma.dim(0) == x.dim(-1) && beta.dim(0) == x.dim(-1),
                "layer_norm: x " << x.shape() << ", gamma " << gamma.shape() << " and beta "
                                 << beta.shape() << " do not match (gamma, beta: (x.dim(-1)))");
  LONGMIX_CHECK(x.dtype() == gamma.dtype() && x.dtype() == beta.dtype(),
                "layer_norm: x, gamma and beta must share a dtype");
  const int64_t D = x.dim(-1), rows = x.numel() / std::max<int64_t>(D, 1);
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  Tensor stats = Tensor::empty({rows, 2}, x.dtype());  // mean, 1/std per row
  const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(D, 1));
  engine::dispatch_float(x.dtype(), "layer_norm", [&](auto zero) {
    using T = decltype(zero);
    const T *xp = x.data<T>(), *gp = gamma.data<T>(), *bp = beta.data<T>();
    T* yp = y.data<T>();
    T* st = stats.data<T>();
    engine::parallel_for(rows, grain, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* xr = xp + r * D;
        const T mu = row_sum<T>(D, [&](int64_t j) { return xr[j]; }) / static_cast<T>(D);
        const T var = row_sum<T>(D, [&](int64_t j) { return (xr[j] - mu) * (xr[j] - mu); }) / static_cast<T>(D);
        const T rstd = T(1) / std::sqrt(var + static_cast<T>(eps));
        st[2 * r] = mu;
        st[2 * r + 1] = rstd;
        for (int64_t j = 0; j < D; ++j) yp[r * D + j] = (xr[j] - mu) * rstd * gp[j] + bp[j];
      }
    });
  });
  engine::record("layer_norm", y, {x, gamma, beta},
                 [x, gamma, stats, rows, D, grain](const Tensor& dy, engine::Grads& g) {
    engine::dispatch_float(dy.dtype(), "layer_norm", [&](auto zero) {
      using T = decltype(zero);
      const T *xp = x.data<T>(), *gp = gamma.data<T>(), *dyp = dy.data<T>(), *st = stats.data<T>();
      if (g.needs(0)) {
        engine::GradTarget dx_target = g.whole(0);
        T* dx = dx_target.grad.data<T>();
        const bool accumulate = dx_target.accumulate;
        engine::parallel_for(rows, grain, [&](int64_t r0, int64_t r1) {
          for (int64_t r = r0; r < r1; ++r) {
            const T mu = st[2 * r], rstd = st[2 * r + 1];
            const T *xr = xp + r * D, *dyr = dyp + r * D;
            const T mean_dxhat = row_sum<T>(D, [&](int64_t j) { return dyr[j] * gp[j]; }) / static_cast<T>(D);
            const T mean_dxhat_xhat =
                row_sum<T>(D, [&](int64_t j) { return dyr[j] * gp[j] * (xr[j] - mu) * rstd; }) / static_cast<T>(D);
            for (int64_t j = 0; j < D; ++j) {
              const T xhat = (xr[j] - mu) * rstd;
              dx[r * D + j] = (accumulate ? dx[r * D + j] : T(0)) +
                              rstd * (dyr[j] * gp[j] - mean_dxhat - xhat * mean_dxhat_xhat);
            }
          }
        });
      }
      if (g.needs(1)) {
        accumulate_row_contributions<T>(rows, D, g.at(1).data<T>(), [&](int64_t r, T* acc) {
          const T mu = st[2 * r], rstd = st[2 * r + 1];
          for (int64_t j = 0; j < D; ++j) acc[j] += dyp[r * D + j] * (xp[r * D + j] - mu) * rstd;
        });
      }
      if (g.needs(2)) accumulate_column_sums<T>(rows, D, dyp, g.at(2).data<T>());
    });
  });
  return y;
}

}  // namespace ops
