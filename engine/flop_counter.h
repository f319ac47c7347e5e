// Floating-point operations executed by the heavy kernels (GEMMs, the sparse product, attention
// tiles), counted by the ops from their shapes so that scaling studies can report achieved
// GFLOP/s for any workload, a whole training step included. Elementwise ops are not counted:
// they are memory-bound and a small share of the FLOPs.
#pragma once
#include <atomic>

namespace engine {

namespace detail {
inline std::atomic<double> flops_executed{0.0};
}

// One relaxed atomic add per kernel call (not per element): free on the hot path.
inline void count_flops(double flops) {
  detail::flops_executed.fetch_add(flops, std::memory_order_relaxed);
}
inline double flops_counted() { return detail::flops_executed.load(std::memory_order_relaxed); }

}  // namespace engine
