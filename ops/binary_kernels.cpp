#include "ops/binary_kernels.h"

#include "engine/cpu.h"

namespace ops {

const BinaryKernels& binary_kernels() {
  static const BinaryKernels k = engine::select_variant(binary_kernels_ref, binary_kernels_avx2, binary_kernels_avx512);
  return k;
}

}  // namespace ops
