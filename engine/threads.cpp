#include "engine/threads.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <thread>

#include "engine/check.h"
#include "engine/cpu.h"
#include "engine/denormals.h"
#include "engine/parallel.h"

namespace engine {

int mpi_local_ranks() {
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE"}) {
    const char* v = std::getenv(name);
    if (v && *v) return std::max(0, std::atoi(v));
  }
  return 0;
}

int default_num_threads(const char* omp_num_threads, int local_ranks, int cores) {
  if (omp_num_threads && *omp_num_threads) {
    const int n = std::atoi(omp_num_threads);  // "4" or "4,2" (the outer level counts)
    if (n >= 1) return n;
  }
  cores = std::max(1, cores);
  if (local_ranks > 1) return std::max(1, cores / local_ranks);
  return cores;
}

void set_num_threads(int n) {
  LONGMIX_CHECK(n >= 0, "threads: the thread count must be >= 1 (0 keeps the default), got " << n);
  // A launcher that binds each rank to its cores leaves a small affinity mask: the cores of
  // that mask are then this rank's own, not shared.
  const int cores = online_cores();
  const int local_ranks = mpi_local_ranks();
  const bool bound = cores < static_cast<int>(std::thread::hardware_concurrency());
  omp_set_num_threads(n >= 1 ? n : default_num_threads(std::getenv("OMP_NUM_THREADS"), bound ? 1 : local_ranks, cores));
  omp_set_max_active_levels(1);  // nested parallel regions never multiply threads
  flush_denormals();             // on the team of the new size
}

int num_threads() { return omp_get_max_threads(); }

int threads_here() { return one_thread_here() ? 1 : omp_get_max_threads(); }

std::string thread_binding() {
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(name) + "=" + (v && *v ? v : "(unset)");
  };
  const char* bind = "false";
  switch (omp_get_proc_bind()) {
    case omp_proc_bind_false: bind = "false (threads float; the OS schedules them)"; break;
    case omp_proc_bind_true: bind = "true"; break;
    case omp_proc_bind_master: bind = "master"; break;
    case omp_proc_bind_close: bind = "close"; break;
    case omp_proc_bind_spread: bind = "spread"; break;
  }
  return env("OMP_PROC_BIND") + ", " + env("OMP_PLACES") + "; runtime binding " + bind;
}

}  // namespace engine
