#include "ops/paramixer/mix_kernels.h"

#include "engine/cpu.h"

namespace ops {

const MixKernels& mix_kernels() {
  static const MixKernels k = engine::select_variant(mix_kernels_ref, mix_kernels_avx2, mix_kernels_avx512);
  return k;
}

const LinkKernels& link_kernels() {
  static const LinkKernels k = engine::select_variant(link_kernels_ref, link_kernels_avx2, link_kernels_avx512);
  return k;
}

}  // namespace ops
