#include "ops/paramixer/mix_kernels.h"

#include "engine/cpu.h"

namespace ops {

const MixKernels& mix_kernels() {
  static const MixKernels k = [] {
    switch (engine::active_isa()) {
      case engine::Isa::avx512: return mix_kernels_avx512();
      case engine::Isa::avx2: return mix_kernels_avx2();
      case engine::Isa::ref: break;
    }
    return mix_kernels_ref();
  }();
  return k;
}

const LinkKernels& link_kernels() {
  static const LinkKernels k = [] {
    switch (engine::active_isa()) {
      case engine::Isa::avx512: return link_kernels_avx512();
      case engine::Isa::avx2: return link_kernels_avx2();
      case engine::Isa::ref: break;
    }
    return link_kernels_ref();
  }();
  return k;
}

}  // namespace ops
