// Work splitting with results that do not depend on the thread count: the range is cut into
// fixed-size chunks (a function of n and grain only), threads take whole chunks, and any
// reduction over chunks happens afterwards in chunk order.
#pragma once
#include <algorithm>
#include <cstdint>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace engine {

inline int64_t num_chunks(int64_t n, int64_t grain) { return n <= 0 ? 0 : (n + grain - 1) / grain; }

// A loop started here would run on one thread: inside a parallel region (nested regions get
// one thread), with one thread set, or built without OpenMP (the fuzzers' readers).
inline bool one_thread_here() {
#ifdef _OPENMP
  return omp_in_parallel() || omp_get_max_threads() == 1;
#else
  return true;
#endif
}

// Calls body(begin, end) for every chunk of [0, n); in parallel when there is more than one
// and more than one thread here (inside a parallel region the chunks run in order, directly).
template <class Body>
void parallel_for(int64_t n, int64_t grain, Body&& body) {
  const int64_t chunks = num_chunks(n, grain);
  if (chunks <= 1 || one_thread_here()) {  // the same chunks in order, no (nested) region
    for (int64_t c = 0; c < chunks; ++c) body(c * grain, std::min(n, (c + 1) * grain));
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) body(c * grain, std::min(n, (c + 1) * grain));
}

// Like parallel_for, for bodies that do per-call setup worth amortizing (a row kernel's
// offsets, pointers and batch position): each thread gets one call, over the chunks a static
// schedule would give it, merged into one range; on one thread (or inside a parallel region)
// one call over [0, n). The body must not depend on where calls begin and end, only on the
// rows it is given, as any row-parallel kernel's output rows do. Paramixer's product at
// N = 1024 ran its rows in chunks of 10: the per-chunk setup was 10-15% of the kernel.
template <class Body>
void parallel_ranges(int64_t n, int64_t grain, Body&& body) {
  const int64_t chunks = num_chunks(n, grain);
  if (chunks <= 1 || one_thread_here()) {
    if (n > 0) body(int64_t{0}, n);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel
  {
    const int64_t t = omp_get_thread_num(), T = omp_get_num_threads();
    const int64_t c0 = chunks * t / T, c1 = chunks * (t + 1) / T;
    if (c1 > c0) body(c0 * grain, std::min(n, c1 * grain));
  }
#endif
}

}  // namespace engine
