#include "ops/paramixer/mix_kernels.h"

#include "engine/cpu.h"

namespace ops {

const MixKernels& mix_kernels() {
  static const MixKernels k = engine::select_variant(mix_kernels_ref, mix_kernels_avx2, mix_kernels_avx512);
  return k;
}

void mix_backward_both(const MixKernels& k, const MixDims& d, const int64_t* offsets, const float* dout,
                       const float* v, const float* w, bool residual, bool dw_accumulate, float* dw,
                       bool dv_accumulate, float* dv) {
  if (k.backward_wv && k.backward_wv(d, offsets, dout, v, w, residual, dw_accumulate, dw, dv_accumulate, dv)) return;
  k.backward_w(d, offsets, dout, v, dw_accumulate, dw);
  k.backward_v(d, offsets, dout, w, residual, dv_accumulate, dv);
}

const LinkKernels& link_kernels() {
  static const LinkKernels k = engine::select_variant(link_kernels_ref, link_kernels_avx2, link_kernels_avx512);
  return k;
}

}  // namespace ops
