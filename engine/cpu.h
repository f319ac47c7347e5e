// Which SIMD kernels to run. Detected once from the CPU; LONGMIX_ISA=ref|avx2|avx512 forces a
// variant (asking for one the CPU lacks is an error, never a silent fallback).
#pragma once
#include <string>

namespace engine {

enum class Isa { ref, avx2, avx512 };

const char* isa_name(Isa isa);
bool cpu_supports(Isa isa);
Isa detect_isa();   // the best the CPU supports
Isa active_isa();   // detect_isa() or the LONGMIX_ISA override, decided once per process

std::string cpu_model_name();  // /proc/cpuinfo's "model name", or "unknown CPU"
int online_cores();            // cores this process may run on (its affinity mask)

// The variant of a kernel family for active_isa(), from its three factories.
template <class Family>
Family select_variant(Family (*ref)(), Family (*avx2)(), Family (*avx512)()) {
  switch (active_isa()) {
    case Isa::avx512: return avx512();
    case Isa::avx2: return avx2();
    case Isa::ref: break;
  }
  return ref();
}

}  // namespace engine
