#include "engine/threads.h"

#include <omp.h>

#include "engine/check.h"

namespace engine {

void set_num_threads(int n) {
  LONGMIX_CHECK(n >= 0, "threads: the thread count must be >= 1 (0 keeps the default), got " << n);
  if (n == 0) return;
  omp_set_num_threads(n);
  omp_set_max_active_levels(1);  // nested parallel regions never multiply threads
}

int num_threads() { return omp_get_max_threads(); }

}  // namespace engine
