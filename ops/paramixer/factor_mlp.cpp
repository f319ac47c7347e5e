#include "ops/paramixer/factor_mlp.h"

#include <cstring>

#include "engine/tape.h"
#include "ops/column_sum.h"
#include "ops/gelu_kernels.h"
#include "ops/gemm.h"
#include "ops/paramixer/mix_kernels.h"

namespace ops {
namespace {

using engine::Tensor;

struct FactorDims {
  int64_t R, D, M, H, L;
  int64_t MH() const { return M * H; }
  // Rows per chunk: the hidden chunk is about 2 MB, so it stays in cache between its GEMMs.
  // A function of the shapes only, so the arithmetic never depends on the thread count.
  int64_t chunk() const { return std::clamp<int64_t>((int64_t{1} << 21) / std::max<int64_t>(MH(), 1), 64, 8192); }
};

FactorDims dims_or_throw(const Tensor& x, const Tensor& w1, const Tensor& b1, const Tensor& w2,
                         const Tensor& b2) {
  for (const Tensor* t : {&x, &w1, &b1, &w2, &b2}) engine::check_float(*t, "factor_mlp", "input");
  LONGMIX_CHECK(x.ndim() == 2 && w1.ndim() == 2 && b1.ndim() == 1 && w2.ndim() == 3 && b2.ndim() == 2 &&
                    w1.dim(1) == x.dim(1) && w1.dim(0) == w2.dim(0) * w2.dim(2) &&
                    b1.dim(0) == w1.dim(0) && b2.dim(0) == w2.dim(0) && b2.dim(1) == w2.dim(1),
                "factor_mlp: x " << x.shape() << ", w1 " << w1.shape() << ", b1 " << b1.shape() << ", w2 "
                                 << w2.shape() << ", b2 " << b2.shape()
                                 << " do not match (expected x (R,D), w1 (M*H,D), b1 (M*H), w2 (M,L,H), b2 (M,L))");
  for (const Tensor* t : {&w1, &b1, &w2, &b2})
    LONGMIX_CHECK(t->dtype() == x.dtype(), "factor_mlp: all inputs must share x's dtype");
  return {x.dim(0), x.dim(1), w2.dim(0), w2.dim(2), w2.dim(1)};
}

// pre = x[r0:r0+n] @ w1^T + b1   (n, M*H)
template <class T>
void first_layer(const FactorDims& d, int64_t r0, int64_t n, const T* x, const T* w1, const T* b1, T* pre) {
  gemm<T>({1, n, d.MH(), d.D, false, true}, x + r0 * d.D, w1, pre, false, b1);
}

// out[m, r0 .. r0+n) = h[:, block m] @ w2[m]^T + b2[m], one GEMM per factor.
template <class T>
void second_layer(const FactorDims& d, int64_t r0, int64_t n, const T* h, const T* w2, const T* b2, T* out) {
  for (int64_t m = 0; m < d.M; ++m) {
    GemmShape s{1, n, d.L, d.H, false, true};
    s.lda = d.MH();
    gemm<T>(s, h + m * d.H, w2 + m * d.L * d.H, out + (m * d.R + r0) * d.L, false, b2 + m * d.L);
  }
}

// dpre[:, block m] = gelu'(pre) * (dout[m, r0 .. r0+n) @ w2[m])  (overwrites dpre).
// float32: the link-head kernel, which applies gelu' as it stores.
template <class T>
void second_layer_dpre(const FactorDims& d, int64_t r0, int64_t n, const T* dout, const T* w2,
                       const T* gelu_grad, T* dpre) {
  if constexpr (std::is_same_v<T, float>) {
    link_kernels().dhidden({n, d.M, d.H, d.L, d.R * d.L}, dout + r0 * d.L, w2, gelu_grad, dpre);
  } else {
    for (int64_t m = 0; m < d.M; ++m) {
      GemmShape s{1, n, d.H, d.L, false, false};
      s.ldc = d.MH();
      gemm<T>(s, dout + (m * d.R + r0) * d.L, w2 + m * d.L * d.H, dpre + m * d.H, false);
    }
    for (int64_t i = 0; i < n * d.MH(); ++i) dpre[i] *= gelu_grad[i];
  }
}

template <class T>
void forward(const FactorDims& d, const T* x, const T* w1, const T* b1, const T* w2, const T* b2, T* out) {
  Tensor scratch = Tensor::empty({d.chunk(), d.MH()}, engine::dtype_of<T>());
  T* h = scratch.data<T>();
  for (int64_t r0 = 0; r0 < d.R; r0 += d.chunk()) {
    const int64_t n = std::min(d.chunk(), d.R - r0);
    first_layer(d, r0, n, x, w1, b1, h);
    gelu_forward(n * d.MH(), h, h);
    second_layer(d, r0, n, h, w2, b2, out);
  }
}

template <class T>
void backward(const FactorDims& d, const T* dout, const T* x, const T* w1, const T* b1, const T* w2,
              engine::Grads& g) {
  const int64_t C = d.chunk(), MH = d.MH();
  Tensor pre_t = Tensor::empty({C, MH}, engine::dtype_of<T>());
  Tensor h_t = Tensor::empty({C, MH}, engine::dtype_of<T>());
  Tensor dh_t = Tensor::empty({C, MH}, engine::dtype_of<T>());
  T *pre = pre_t.data<T>(), *h = h_t.data<T>(), *dh = dh_t.data<T>();
  T* dx = g.needs(0) ? g.at(0).data<T>() : nullptr;
  T* dw1 = g.needs(1) ? g.at(1).data<T>() : nullptr;
  T* db1 = g.needs(2) ? g.at(2).data<T>() : nullptr;
  T* dw2 = g.needs(3) ? g.at(3).data<T>() : nullptr;
  T* db2 = g.needs(4) ? g.at(4).data<T>() : nullptr;
  for (int64_t r0 = 0; r0 < d.R; r0 += C) {
    const int64_t n = std::min(C, d.R - r0);
    first_layer(d, r0, n, x, w1, b1, pre);  // recomputed, not stored
    gelu_value_and_derivative(n * MH, pre, h, pre);  // h = gelu(pre); pre <- gelu'(pre)
    second_layer_dpre(d, r0, n, dout, w2, pre, dh);  // dh now holds d(loss)/d(pre)
    for (int64_t m = 0; m < d.M; ++m) {
      const T* dout_m = dout + (m * d.R + r0) * d.L;  // (n, L)
      if (dw2) {  // dw2_m (L,H) += dout_m^T @ h[:, block m]
        GemmShape s_w{1, d.L, d.H, n, true, false};
        s_w.ldb = MH;
        gemm<T>(s_w, dout_m, h + m * d.H, dw2 + m * d.L * d.H, true);
      }
      if (db2) accumulate_column_sums<T>(n, d.L, dout_m, db2 + m * d.L);
    }
    if (dw1) gemm<T>({1, MH, d.D, n, true, false}, dh, x + r0 * d.D, dw1, true);
    if (db1) accumulate_column_sums<T>(n, MH, dh, db1);
    if (dx) gemm<T>({1, n, d.D, MH, false, false}, dh, w1, dx + r0 * d.D, true);
  }
}

}  // namespace

Tensor factor_mlp(const Tensor& x, const Tensor& w1, const Tensor& b1, const Tensor& w2, const Tensor& b2) {
  const FactorDims d = dims_or_throw(x, w1, b1, w2, b2);
  Tensor out = Tensor::empty({d.M, d.R, d.L}, x.dtype());
  engine::dispatch_float(x.dtype(), "factor_mlp", [&](auto zero) {
    using T = decltype(zero);
    forward<T>(d, x.data<T>(), w1.data<T>(), b1.data<T>(), w2.data<T>(), b2.data<T>(), out.data<T>());
  });
  engine::record("factor_mlp", out, {x, w1, b1, w2, b2}, [d, x, w1, b1, w2](const Tensor& dout, engine::Grads& g) {
    engine::dispatch_float(dout.dtype(), "factor_mlp", [&](auto zero) {
      using T = decltype(zero);
      backward<T>(d, dout.data<T>(), x.data<T>(), w1.data<T>(), b1.data<T>(), w2.data<T>(), g);
    });
  });
  return out;
}

}  // namespace ops
