#include "ops/reduce.h"

#include "engine/parallel.h"
#include "engine/tape.h"
#include "ops/shape_ops.h"

namespace ops {
namespace {

// x viewed as (outer, len, inner); out (outer, inner) = scale * sum over len. Each output
// element is summed by one thread in index order, so the result is thread-count independent.
Tensor reduce_axis(const char* name, const Tensor& x, int axis_in, bool average) {
  engine::check_float(x, name, "x");
  const int axis = x.shape().normalize_axis(axis_in);
  const int64_t outer = x.shape().prefix_numel(axis), len = x.dim(axis),
                inner = x.shape().suffix_numel(axis + 1);
  engine::Shape shape;
  for (int i = 0; i < x.ndim(); ++i)
    if (i != axis) shape.push_back(x.dim(i));
  if (shape.ndim() == 0) shape.push_back(1);
  const double scale = average ? 1.0 / static_cast<double>(std::max<int64_t>(len, 1)) : 1.0;
  Tensor y = Tensor::empty(shape, x.dtype());
  engine::dispatch_float(x.dtype(), name, [&](auto zero) {
    using T = decltype(zero);
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    engine::parallel_for(outer, std::max<int64_t>(1, 4096 / std::max<int64_t>(len * inner, 1)),
                         [&](int64_t o0, int64_t o1) {
                           for (int64_t o = o0; o < o1; ++o) {
                             T* row = yp + o * inner;
                             for (int64_t j = 0; j < inner; ++j) row[j] = 0;
                             for (int64_t l = 0; l < len; ++l) {
                               const T* src = xp + (o * len + l) * inner;
                               for (int64_t j = 0; j < inner; ++j) row[j] += src[j];
                             }
                             for (int64_t j = 0; j < inner; ++j) row[j] *= static_cast<T>(scale);
                           }
                         });
  });
  engine::record(name, y, {x}, [=](const Tensor& dy, engine::Grads& g) {
    if (!g.needs(0)) return;
    Tensor dx = g.at(0);
    engine::dispatch_float(dy.dtype(), name, [&](auto zero) {
      using T = decltype(zero);
      const T* dyp = dy.data<T>();
      T* dxp = dx.data<T>();
      engine::parallel_for(outer * len, 64, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const T* src = dyp + (r / len) * inner;
          T* dst = dxp + r * inner;
          for (int64_t j = 0; j < inner; ++j) dst[j] += src[j] * static_cast<T>(scale);
        }
      });
    });
  });
  return y;
}

}  // namespace

Tensor sum(const Tensor& x, int axis) { return reduce_axis("sum", x, axis, false); }
Tensor mean(const Tensor& x, int axis) { return reduce_axis("mean", x, axis, true); }

Tensor sum_all(const Tensor& x) { return sum(reshape(x, {x.numel()}), 0); }
Tensor mean_all(const Tensor& x) { return mean(reshape(x, {x.numel()}), 0); }

Tensor masked_mean(const Tensor& x, const Tensor& mask) {
  engine::check_float(x, "masked_mean", "x");
  LONGMIX_CHECK(x.ndim() == 3 && mask.ndim() == 2 && mask.dim(0) == x.dim(0) && mask.dim(1) == x.dim(1),
                "masked_mean: x " << x.shape() << " and mask " << mask.shape() << " (expected (B,N,D) and (B,N))");
  const int64_t B = x.dim(0), N = x.dim(1), D = x.dim(2);
  // Per-row weights m / count, in x's type, computed once for forward and backward.
  Tensor w = Tensor::empty({B, N}, x.dtype());
  engine::dispatch_float(x.dtype(), "masked_mean", [&](auto zero) {
    using T = decltype(zero);
    T* wp = w.data<T>();
    for (int64_t b = 0; b < B; ++b) {
      double count = 0;
      for (int64_t n = 0; n < N; ++n) count += mask.at_flat(b * N + n);
      for (int64_t n = 0; n < N; ++n)
        wp[b * N + n] = count > 0 ? static_cast<T>(mask.at_flat(b * N + n) / count) : T(0);
    }
  });
  Tensor y = Tensor::empty({B, D}, x.dtype());
  engine::dispatch_float(x.dtype(), "masked_mean", [&](auto zero) {
    using T = decltype(zero);
    const T *xp = x.data<T>(), *wp = w.data<T>();
    T* yp = y.data<T>();
    engine::parallel_for(B, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        T* row = yp + b * D;
        for (int64_t j = 0; j < D; ++j) row[j] = 0;
        for (int64_t n = 0; n < N; ++n)
          for (int64_t j = 0; j < D; ++j) row[j] += wp[b * N + n] * xp[(b * N + n) * D + j];
      }
    });
  });
  engine::record("masked_mean", y, {x}, [=](const Tensor& dy, engine::Grads& g) {
    if (!g.needs(0)) return;
    Tensor dx = g.at(0);
    engine::dispatch_float(dy.dtype(), "masked_mean", [&](auto zero) {
      using T = decltype(zero);
      const T *dyp = dy.data<T>(), *wp = w.data<T>();
      T* dxp = dx.data<T>();
      engine::parallel_for(B * N, 64, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t j = 0; j < D; ++j) dxp[r * D + j] += wp[r] * dyp[(r / N) * D + j];
      });
    });
  });
  return y;
}

}  // namespace ops
