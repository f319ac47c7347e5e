// One thread setting for our kernels and oneDNN alike (Debian's oneDNN uses the OpenMP
// runtime, so omp_set_num_threads drives both).
#pragma once

namespace engine {

// n >= 1 sets the count (wins over OMP_NUM_THREADS); n == 0 keeps the current setting.
void set_num_threads(int n);
int num_threads();

}  // namespace engine
