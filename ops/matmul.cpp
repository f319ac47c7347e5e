#include "ops/matmul.h"

#include "engine/tape.h"
#include "ops/column_sum.h"
#include "ops/gemm.h"

namespace ops {
namespace {

struct MatmulDims {
  GemmShape gemm;
  engine::Shape out_shape;
};

MatmulDims matmul_dims_or_throw(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  engine::check_float(a, "matmul", "a");
  engine::check_float(b, "matmul", "b");
  LONGMIX_CHECK(a.dtype() == b.dtype(), "matmul: dtypes differ, a " << a.shape() << " "
                                                                    << engine::dtype_name(a.dtype())
                                                                    << " vs b " << b.shape() << " "
                                                                    << engine::dtype_name(b.dtype()));
  LONGMIX_CHECK(a.ndim() >= 2 && a.ndim() == b.ndim(),
                "matmul: a " << a.shape() << " and b " << b.shape()
                             << " must both be 2-D, or batched with the same number of dims");
  const int nd = a.ndim();
  engine::Shape out;
  int64_t batch = 1;
  for (int i = 0; i < nd - 2; ++i) {
    LONGMIX_CHECK(a.dim(i) == b.dim(i),
                  "matmul: batch dims differ, a " << a.shape() << " vs b " << b.shape());
    batch *= a.dim(i);
    out.push_back(a.dim(i));
  }
  const int64_t M = ta ? a.dim(-1) : a.dim(-2), Ka = ta ? a.dim(-2) : a.dim(-1);
  const int64_t Kb = tb ? b.dim(-1) : b.dim(-2), N = tb ? b.dim(-2) : b.dim(-1);
  LONGMIX_CHECK(Ka == Kb, "matmul: inner dimensions differ, a " << a.shape() << (ta ? "^T" : "")
                                                                << " vs b " << b.shape()
                                                                << (tb ? "^T" : ""));
  out.push_back(M);
  out.push_back(N);
  return {GemmShape{batch, M, N, Ka, ta, tb}, out};
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  const MatmulDims d = matmul_dims_or_throw(a, b, ta, tb);
  Tensor out = Tensor::empty(d.out_shape, a.dtype());
  engine::dispatch_float(a.dtype(), "matmul", [&](auto zero) {
    using T = decltype(zero);
    gemm<T>(d.gemm, a.data<T>(), b.data<T>(), out.data<T>(), false);
  });
  engine::record("matmul", out, {a, b}, [a, b, d](const Tensor& dc, engine::Grads& g) {
    const GemmShape& s = d.gemm;
    engine::dispatch_float(dc.dtype(), "matmul", [&](auto zero) {
      using T = decltype(zero);
      if (g.needs(0)) {
        // op(A) = dC op(B)^T  (M,K).  Stored A is op(A), or its transpose when trans_a.
        engine::GradTarget ga = g.whole(0);
        if (!s.trans_a)
          gemm<T>({s.batch, s.M, s.K, s.N, false, !s.trans_b}, dc.data<T>(), b.data<T>(),
                  ga.grad.data<T>(), ga.accumulate);
        else  // A stored (K,M) = op(B) dC^T
          gemm<T>({s.batch, s.K, s.M, s.N, s.trans_b, true}, b.data<T>(), dc.data<T>(),
                  ga.grad.data<T>(), ga.accumulate);
      }
      if (g.needs(1)) {
        engine::GradTarget gb = g.whole(1);
        if (!s.trans_b)  // B stored (K,N) = op(A)^T dC
          gemm<T>({s.batch, s.K, s.N, s.M, !s.trans_a, false}, a.data<T>(), dc.data<T>(),
                  gb.grad.data<T>(), gb.accumulate);
        else  // B stored (N,K) = dC^T op(A)
          gemm<T>({s.batch, s.N, s.K, s.M, true, s.trans_a}, dc.data<T>(), a.data<T>(),
                  gb.grad.data<T>(), gb.accumulate);
      }
    });
  });
  return out;
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  engine::check_float(x, "linear", "x");
  engine::check_float(weight, "linear", "weight");
  LONGMIX_CHECK(weight.ndim() == 2 && x.ndim() >= 1 && x.dim(-1) == weight.dim(1),
                "linear: x " << x.shape() << " does not match weight " << weight.shape()
                             << " (expected x (..., in) and weight (out, in))");
  LONGMIX_CHECK(x.dtype() == weight.dtype(), "linear: dtypes differ, x "
                                                 << engine::dtype_name(x.dtype()) << " vs weight "
                                                 << engine::dtype_name(weight.dtype()));
  const bool has_bias = bias.defined();
  if (has_bias)
    LONGMIX_CHECK(bias.ndim() == 1 && bias.dim(0) == weight.dim(0) && bias.dtype() == x.dtype(),
                  "linear: bias " << bias.shape() << " does not match weight " << weight.shape());
  const int64_t in = weight.dim(1), out_features = weight.dim(0), rows = x.numel() / std::max<int64_t>(in, 1);
  engine::Shape out_shape = x.shape();
  out_shape[-1] = out_features;
  Tensor y = Tensor::empty(out_shape, x.dtype());
  const GemmShape fwd{1, rows, out_features, in, false, true};
  engine::dispatch_float(x.dtype(), "linear", [&](auto zero) {
    using T = decltype(zero);
    gemm<T>(fwd, x.data<T>(), weight.data<T>(), y.data<T>(), false,
            has_bias ? bias.data<T>() : nullptr);
  });
  std::vector<Tensor> inputs{x, weight};
  if (has_bias) inputs.push_back(bias);
  engine::record("linear", y, std::move(inputs),
                 [x, weight, has_bias, rows, in, out_features](const Tensor& dy, engine::Grads& g) {
                   engine::dispatch_float(dy.dtype(), "linear", [&](auto zero) {
                     using T = decltype(zero);
                     if (g.needs(0)) {  // dx (rows,in) [+]= dy (rows,out) @ W (out,in)
                       engine::GradTarget dx = g.whole(0);
                       gemm<T>({1, rows, in, out_features, false, false}, dy.data<T>(),
                               weight.data<T>(), dx.grad.data<T>(), dx.accumulate);
                     }
                     if (g.needs(1)) {  // dW (out,in) [+]= dy^T @ x
                       engine::GradTarget dw = g.whole(1);
                       gemm<T>({1, out_features, in, rows, true, false}, dy.data<T>(),
                               x.data<T>(), dw.grad.data<T>(), dw.accumulate);
                     }
                     if (has_bias && g.needs(2))
                       accumulate_column_sums<T>(rows, out_features, dy.data<T>(),
                                                 g.at(2).data<T>());
                   });
                 });
  return y;
}

}  // namespace ops
