#include "ops/grouped_linear.h"

#include "engine/tape.h"
#include "ops/column_sum.h"
#include "ops/gemm.h"

namespace ops {

using engine::Tensor;

Tensor grouped_linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  engine::check_float(x, "grouped_linear", "x");
  engine::check_float(weight, "grouped_linear", "weight");
  engine::check_float(bias, "grouped_linear", "bias");
  LONGMIX_CHECK(weight.ndim() == 3 && x.ndim() == 2 && bias.ndim() == 2 &&
                    x.dim(1) == weight.dim(0) * weight.dim(2) && bias.dim(0) == weight.dim(0) &&
                    bias.dim(1) == weight.dim(1),
                "grouped_linear: x " << x.shape() << ", weight " << weight.shape() << ", bias "
                                     << bias.shape()
                                     << " do not match (expected x (R,G*H), weight (G,L,H), bias (G,L))");
  LONGMIX_CHECK(x.dtype() == weight.dtype() && x.dtype() == bias.dtype(),
                "grouped_linear: x, weight and bias must share a dtype");
  const int64_t R = x.dim(0), G = weight.dim(0), L = weight.dim(1), H = weight.dim(2);
  Tensor out = Tensor::empty({G, R, L}, x.dtype());
  engine::dispatch_float(x.dtype(), "grouped_linear", [&](auto zero) {
    using T = decltype(zero);
    for (int64_t g = 0; g < G; ++g) {
      GemmShape s{1, R, L, H, false, true};
      s.lda = G * H;
      gemm<T>(s, x.data<T>() + g * H, weight.data<T>() + g * L * H, out.data<T>() + g * R * L, false,
              bias.data<T>() + g * L);
    }
  });
  engine::record("grouped_linear", out, {x, weight, bias},
                 [x, weight, R, G, L, H](const Tensor& dout, engine::Grads& g) {
    engine::dispatch_float(dout.dtype(), "grouped_linear", [&](auto zero) {
      using T = decltype(zero);
      const T* dy = dout.data<T>();
      for (int64_t grp = 0; grp < G; ++grp) {
        const T* dyg = dy + grp * R * L;
        if (g.needs(0)) {  // dx[:, block] (R,H) += dy_g (R,L) @ W_g (L,H)
          GemmShape s{1, R, H, L, false, false};
          s.ldc = G * H;
          gemm<T>(s, dyg, weight.data<T>() + grp * L * H, g.at(0).data<T>() + grp * H, true);
        }
        if (g.needs(1)) {  // dW_g (L,H) += dy_g^T @ x[:, block]
          GemmShape s{1, L, H, R, true, false};
          s.ldb = G * H;
          gemm<T>(s, dyg, x.data<T>() + grp * H, g.at(1).data<T>() + grp * L * H, true);
        }
        if (g.needs(2)) accumulate_column_sums<T>(R, L, dyg, g.at(2).data<T>() + grp * L);
      }
    });
  });
  return out;
}

}  // namespace ops
