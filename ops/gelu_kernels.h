// float32 GELU kernels (exact erf form), one variant per ISA:
//   forward:  y = 0.5 x (1 + erf(x / sqrt 2))
//   backward: dx [+]= dy * (Phi(x) + x phi(x))   (accumulates, or overwrites a fresh dx)
// The reference calls std::erf / std::exp; the SIMD variants use polynomial erf and exp with
// an absolute error below 1e-6 on the result (tested against the reference).
#pragma once
#include <cstdint>

namespace ops {

struct GeluKernels {
  void (*forward)(int64_t n, const float* x, float* y);
  void (*backward)(int64_t n, const float* x, const float* dy, bool accumulate, float* dx);
  // y = gelu(x) and dydx = gelu'(x) from one erf evaluation; dydx may alias x.
  void (*value_and_derivative)(int64_t n, const float* x, float* y, float* dydx);
  const char* name;
};

GeluKernels gelu_kernels_ref();
GeluKernels gelu_kernels_avx2();
GeluKernels gelu_kernels_avx512();
const GeluKernels& gelu_kernels();  // the variant for engine::active_isa()

// Typed, multi-threaded entry points: float32 through the ISA's kernels, float64 through the
// exact formula. y may alias x.
void gelu_forward(int64_t n, const float* x, float* y);
void gelu_forward(int64_t n, const double* x, double* y);
void gelu_backward(int64_t n, const float* x, const float* dy, bool accumulate, float* dx);
void gelu_backward(int64_t n, const double* x, const double* dy, bool accumulate, double* dx);
void gelu_value_and_derivative(int64_t n, const float* x, float* y, float* dydx);
void gelu_value_and_derivative(int64_t n, const double* x, double* y, double* dydx);

}  // namespace ops
