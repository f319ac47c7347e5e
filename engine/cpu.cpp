#include "engine/cpu.h"

#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "engine/check.h"

namespace engine {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::ref: return "ref";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
  }
  return "?";
}

bool cpu_supports(Isa isa) {
  switch (isa) {
    case Isa::ref: return true;
    case Isa::avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
  }
  return false;
}

Isa detect_isa() {
  if (cpu_supports(Isa::avx512)) return Isa::avx512;
  if (cpu_supports(Isa::avx2)) return Isa::avx2;
  return Isa::ref;
}

namespace {
Isa isa_from_environment() {
  const char* env = std::getenv("LONGMIX_ISA");
  if (!env || !*env) return detect_isa();
  const std::string want(env);
  for (Isa isa : {Isa::ref, Isa::avx2, Isa::avx512}) {
    if (want != isa_name(isa)) continue;
    LONGMIX_CHECK(cpu_supports(isa),
                  "LONGMIX_ISA=" << want << ": this CPU does not support " << want);
    return isa;
  }
  throw Error("LONGMIX_ISA=" + want + ": unknown ISA (use ref, avx2 or avx512)");
}
}  // namespace

Isa active_isa() {
  static const Isa isa = isa_from_environment();
  return isa;
}

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
  }
  return "unknown CPU";
}

int online_cores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace engine
