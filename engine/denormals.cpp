#include "engine/denormals.h"

#include <omp.h>
#include <xmmintrin.h>

namespace engine {
namespace {

constexpr unsigned kFlushToZero = 0x8000, kDenormalsAreZero = 0x0040;  // MXCSR bits

void flush_on_this_thread() { _mm_setcsr(_mm_getcsr() | kFlushToZero | kDenormalsAreZero); }

[[maybe_unused]] const bool main_thread_flushes = (flush_on_this_thread(), true);

}  // namespace

void flush_denormals() {
  flush_on_this_thread();
#pragma omp parallel
  flush_on_this_thread();
}

bool denormals_flushed() {
  const unsigned both = kFlushToZero | kDenormalsAreZero;
  return (_mm_getcsr() & both) == both;
}

}  // namespace engine
