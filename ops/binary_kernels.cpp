#include "ops/binary_kernels.h"

#include "engine/cpu.h"

namespace ops {

const BinaryKernels& binary_kernels() {
  static const BinaryKernels k = [] {
    switch (engine::active_isa()) {
      case engine::Isa::avx512: return binary_kernels_avx512();
      case engine::Isa::avx2: return binary_kernels_avx2();
      case engine::Isa::ref: break;
    }
    return binary_kernels_ref();
  }();
  return k;
}

}  // namespace ops
