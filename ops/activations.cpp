#include "ops/activations.h"

#include <cmath>

#include "engine/parallel.h"
#include "engine/tape.h"
#include "ops/gelu_kernels.h"

namespace ops {
namespace {

constexpr int64_t kGrain = 1 << 14;

// One unary op: y = f(x), and dx += dy * f'(x, y). Backward keeps x and y (both are cheap
// to hold: they are alive in the forward pass anyway, and f' often reads y).
template <class Fwd, class Deriv>
Tensor unary(const char* name, const Tensor& x, Fwd fwd, Deriv deriv) {
  engine::check_float(x, name, "x");
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  engine::dispatch_float(x.dtype(), name, [&](auto zero) {
    using T = decltype(zero);
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    engine::parallel_for(x.numel(), kGrain, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) yp[i] = fwd(xp[i]);
    });
  });
  Tensor y_saved = y.detach();  // no autograd state: avoids keeping y's grad alive
  engine::record(name, y, {x}, [name, x, y_saved, deriv](const Tensor& dy, engine::Grads& g) {
    if (!g.needs(0)) return;
    engine::GradTarget dx = g.whole(0);
    engine::dispatch_float(dy.dtype(), name, [&](auto zero) {
      using T = decltype(zero);
      const T* xp = x.data<T>();
      const T* yp = y_saved.data<T>();
      const T* dyp = dy.data<T>();
      T* dxp = dx.grad.data<T>();
      const bool accumulate = dx.accumulate;
      engine::parallel_for(dy.numel(), kGrain, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) dxp[i] = (accumulate ? dxp[i] : T(0)) + dyp[i] * deriv(xp[i], yp[i]);
      });
    });
  });
  return y;
}

}  // namespace

Tensor exp(const Tensor& x) {
  return unary(
      "exp", x, [](auto v) { return std::exp(v); }, [](auto, auto y) { return y; });
}

Tensor log(const Tensor& x) {
  return unary(
      "log", x, [](auto v) { return std::log(v); }, [](auto v, auto) { return 1 / v; });
}

Tensor tanh(const Tensor& x) {
  return unary(
      "tanh", x, [](auto v) { return std::tanh(v); }, [](auto, auto y) { return 1 - y * y; });
}

Tensor relu(const Tensor& x) {
  return unary(
      "relu", x, [](auto v) { return v > 0 ? v : decltype(v)(0); },
      [](auto v, auto) { return v > 0 ? decltype(v)(1) : decltype(v)(0); });
}

// float32 runs the ISA's GELU kernels (polynomial erf, |error| < 2e-6); float64 the exact formula.
Tensor gelu(const Tensor& x) {
  engine::check_float(x, "gelu", "x");
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  engine::dispatch_float(x.dtype(), "gelu", [&](auto zero) {
    using T = decltype(zero);
    gelu_forward(x.numel(), x.data<T>(), y.data<T>());
  });
  engine::record("gelu", y, {x}, [x](const Tensor& dy, engine::Grads& g) {
    if (!g.needs(0)) return;
    engine::GradTarget dx = g.whole(0);
    engine::dispatch_float(dy.dtype(), "gelu", [&](auto zero) {
      using T = decltype(zero);
      gelu_backward(dy.numel(), x.data<T>(), dy.data<T>(), dx.accumulate, dx.grad.data<T>());
    });
  });
  return y;
}

}  // namespace ops
