#include "ops/paramixer/sparse_mix.h"

#include "engine/flop_counter.h"
#include "engine/tape.h"
#include "ops/paramixer/mix_kernels.h"

namespace ops {
namespace {

using engine::Tensor;

// w_shape: one factor's link values, (B, N, L).
MixDims mix_dims_or_throw(const engine::Shape& w_shape, const Tensor& w, const Tensor& v, size_t num_offsets) {
  engine::check_float(w, "sparse_mix", "w");
  engine::check_float(v, "sparse_mix", "v");
  LONGMIX_CHECK(w_shape.ndim() == 3 && v.ndim() == 3 && w_shape[0] == v.dim(0) && w_shape[1] == v.dim(1),
                "sparse_mix: w " << w.shape() << " vs v " << v.shape()
                                 << " (expected w (B,N,L) and v (B,N,D))");
  LONGMIX_CHECK(w_shape[2] == static_cast<int64_t>(num_offsets),
                "sparse_mix: w " << w.shape() << " has " << w_shape[2] << " links but "
                                 << num_offsets << " offsets were given");
  LONGMIX_CHECK(w.dtype() == v.dtype(), "sparse_mix: dtypes differ, w "
                                            << engine::dtype_name(w.dtype()) << " vs v "
                                            << engine::dtype_name(v.dtype()));
  LONGMIX_CHECK(v.dim(1) >= 1, "sparse_mix: empty sequence in v " << v.shape());
  return {v.dim(0), v.dim(1), w_shape[2], v.dim(2)};
}

// The op over the link values at w.data() + w_offset (B*N*L of them), validated by the caller.
Tensor mix_op(const Tensor& w, int64_t w_offset, const Tensor& v, const MixDims& d,
              const std::vector<int64_t>& offsets, bool residual) {
  std::vector<int64_t> normalized(offsets.size());
  for (size_t k = 0; k < offsets.size(); ++k) normalized[k] = ((offsets[k] % d.N) + d.N) % d.N;
  Tensor out = Tensor::empty(v.shape(), v.dtype());
  const double product_flops = 2.0 * double(d.B) * double(d.N) * double(d.L) * double(d.D);
  engine::count_flops(product_flops);
  if (v.dtype() == engine::DType::f32)
    mix_kernels().forward(d, normalized.data(), w.data<float>() + w_offset, v.data<float>(), residual,
                          out.data<float>());
  else
    mix_forward_ref<double>(d, normalized.data(), w.data<double>() + w_offset, v.data<double>(), residual,
                            out.data<double>());
  engine::record("sparse_mix", out, {w, v},
                 [w, v, d, normalized, residual, product_flops, w_offset](const Tensor& dout, engine::Grads& g) {
    engine::count_flops(product_flops * (g.needs(0) + g.needs(1)));  // dW and dV: one product each
    const int64_t* o = normalized.data();
    // dW is written whole unless this is one factor's block of several (sparse_mix_factor).
    const bool w_whole = w_offset == 0 && w.numel() == d.B * d.N * d.L;
    engine::GradTarget dw, dv;
    if (g.needs(0)) dw = w_whole ? g.whole(0) : engine::GradTarget{g.at(0), true};
    if (g.needs(1)) dv = g.whole(1);
    if (dout.dtype() == engine::DType::f32) {
      const MixKernels& k = mix_kernels();
      if (g.needs(0) && g.needs(1))
        mix_backward_both(k, d, o, dout.data<float>(), v.data<float>(), w.data<float>() + w_offset, residual,
                          dw.accumulate, dw.grad.data<float>() + w_offset, dv.accumulate, dv.grad.data<float>());
      else if (g.needs(0))
        k.backward_w(d, o, dout.data<float>(), v.data<float>(), dw.accumulate, dw.grad.data<float>() + w_offset);
      else if (g.needs(1))
        k.backward_v(d, o, dout.data<float>(), w.data<float>() + w_offset, residual, dv.accumulate,
                     dv.grad.data<float>());
    } else {
      if (g.needs(0))
        mix_backward_w_ref<double>(d, o, dout.data<double>(), v.data<double>(), dw.accumulate,
                                   dw.grad.data<double>() + w_offset);
      if (g.needs(1))
        mix_backward_v_ref<double>(d, o, dout.data<double>(), w.data<double>() + w_offset, residual, dv.accumulate,
                                   dv.grad.data<double>());
    }
  });
  return out;
}

}  // namespace

Tensor sparse_mix(const Tensor& w, const Tensor& v, const std::vector<int64_t>& offsets, bool residual) {
  return mix_op(w, 0, v, mix_dims_or_throw(w.shape(), w, v, offsets.size()), offsets, residual);
}

Tensor sparse_mix_factor(const Tensor& w_all, int64_t factor, const Tensor& v, const std::vector<int64_t>& offsets,
                         bool residual) {
  engine::check_float(w_all, "sparse_mix", "w");
  LONGMIX_CHECK(w_all.ndim() == 3 && v.ndim() == 3 && w_all.dim(1) == v.dim(0) * v.dim(1),
                "sparse_mix: factors w " << w_all.shape() << " vs v " << v.shape()
                                         << " (expected w (M,B*N,L) and v (B,N,D))");
  LONGMIX_CHECK(factor >= 0 && factor < w_all.dim(0),
                "sparse_mix: factor " << factor << " of w " << w_all.shape() << " is out of range");
  // Validated as factor 0 alone; this factor's block starts factor * B*N*L further on. dW goes
  // straight into that block of w_all's gradient, which the M factors share.
  const MixDims d = mix_dims_or_throw(engine::Shape{v.dim(0), v.dim(1), w_all.dim(2)}, w_all, v, offsets.size());
  return mix_op(w_all, factor * d.B * d.N * d.L, v, d, offsets, residual);
}

}  // namespace ops
