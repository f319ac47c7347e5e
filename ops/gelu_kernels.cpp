#include "ops/gelu_kernels.h"

#include <cmath>

#include "engine/cpu.h"
#include "engine/parallel.h"

namespace ops {
namespace {

constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
constexpr int64_t kGrain = 1 << 14;

template <class T>
void forward_exact(int64_t n, const T* x, T* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = T(0.5) * x[i] * (1 + std::erf(x[i] * T(kInvSqrt2)));
}

template <class T>
void backward_exact(int64_t n, const T* x, const T* dy, bool accumulate, T* dx) {
  for (int64_t i = 0; i < n; ++i) {
    const T cdf = T(0.5) * (1 + std::erf(x[i] * T(kInvSqrt2)));
    const T pdf = T(kInvSqrt2Pi) * std::exp(T(-0.5) * x[i] * x[i]);
    dx[i] = (accumulate ? dx[i] : T(0)) + dy[i] * (cdf + x[i] * pdf);
  }
}

template <class T>
void value_and_derivative_exact(int64_t n, const T* x, T* y, T* dydx) {
  for (int64_t i = 0; i < n; ++i) {
    const T xi = x[i];
    const T cdf = T(0.5) * (1 + std::erf(xi * T(kInvSqrt2)));
    y[i] = xi * cdf;
    dydx[i] = cdf + xi * T(kInvSqrt2Pi) * std::exp(T(-0.5) * xi * xi);
  }
}

void forward_ref(int64_t n, const float* x, float* y) { forward_exact(n, x, y); }
void value_and_derivative_ref(int64_t n, const float* x, float* y, float* dydx) {
  value_and_derivative_exact(n, x, y, dydx);
}
void backward_ref(int64_t n, const float* x, const float* dy, bool accumulate, float* dx) {
  backward_exact(n, x, dy, accumulate, dx);
}

}  // namespace

GeluKernels gelu_kernels_ref() { return {forward_ref, backward_ref, value_and_derivative_ref, "ref"}; }

const GeluKernels& gelu_kernels() {
  static const GeluKernels k = engine::select_variant(gelu_kernels_ref, gelu_kernels_avx2, gelu_kernels_avx512);
  return k;
}

void gelu_forward(int64_t n, const float* x, float* y) {
  const GeluKernels& k = gelu_kernels();
  engine::parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) { k.forward(i1 - i0, x + i0, y + i0); });
}

void gelu_forward(int64_t n, const double* x, double* y) {
  engine::parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) { forward_exact(i1 - i0, x + i0, y + i0); });
}

void gelu_backward(int64_t n, const float* x, const float* dy, bool accumulate, float* dx) {
  const GeluKernels& k = gelu_kernels();
  engine::parallel_for(n, kGrain,
                       [&](int64_t i0, int64_t i1) { k.backward(i1 - i0, x + i0, dy + i0, accumulate, dx + i0); });
}

void gelu_backward(int64_t n, const double* x, const double* dy, bool accumulate, double* dx) {
  engine::parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) {
    backward_exact(i1 - i0, x + i0, dy + i0, accumulate, dx + i0);
  });
}

void gelu_value_and_derivative(int64_t n, const float* x, float* y, float* dydx) {
  const GeluKernels& k = gelu_kernels();
  engine::parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) {
    k.value_and_derivative(i1 - i0, x + i0, y + i0, dydx + i0);
  });
}

void gelu_value_and_derivative(int64_t n, const double* x, double* y, double* dydx) {
  engine::parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) {
    value_and_derivative_exact(i1 - i0, x + i0, y + i0, dydx + i0);
  });
}

}  // namespace ops
