// Matrix products. float32 runs on oneDNN (primitives cached per shape), float64 on the plain
// kernel (for gradient checks).
#pragma once
#include "engine/tensor.h"

namespace ops {

using engine::Tensor;

// op(a) @ op(b). 2-D: (M,K) @ (K,N). 3-D/4-D: batched over equal leading dimensions.
// trans_a / trans_b read a or b with its last two axes swapped, without a copy.
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);

// x (..., in) @ weight^T + bias, weight (out, in), bias (out) or undefined -> (..., out).
// One GEMM with the bias fused; the layout of nn::Linear.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);

}  // namespace ops
