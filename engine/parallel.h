// Work splitting with results that do not depend on the thread count: the range is cut into
// fixed-size chunks (a function of n and grain only), threads take whole chunks, and any
// reduction over chunks happens afterwards in chunk order.
#pragma once
#include <algorithm>
#include <cstdint>

namespace engine {

inline int64_t num_chunks(int64_t n, int64_t grain) { return n <= 0 ? 0 : (n + grain - 1) / grain; }

// Calls body(begin, end) for every chunk of [0, n); in parallel when there is more than one.
template <class Body>
void parallel_for(int64_t n, int64_t grain, Body&& body) {
  const int64_t chunks = num_chunks(n, grain);
  if (chunks <= 1) {
    if (n > 0) body(int64_t{0}, n);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) body(c * grain, std::min(n, (c + 1) * grain));
}

}  // namespace engine
