// One thread setting for our kernels and oneDNN alike (Debian's oneDNN uses the OpenMP
// runtime, so omp_set_num_threads drives both).
#pragma once
#include <string>

namespace engine {

// n >= 1 sets the count (wins over OMP_NUM_THREADS). n == 0 takes the default: OMP_NUM_THREADS
// when set; else, inside an MPI job, this machine's cores shared among its local ranks (so K
// ranks on one machine never run K x cores threads); else every core of the affinity mask.
// Nested parallel regions never multiply threads, whatever n.
void set_num_threads(int n);
int num_threads();
// Threads a parallel loop started here would get: 1 inside a parallel region (nested regions
// run on their one thread), else num_threads().
int threads_here();

// The default of set_num_threads(0) for these inputs (testable without touching the
// environment): omp_num_threads is OMP_NUM_THREADS's text or nullptr, local_ranks the
// launcher's count of ranks on this machine (0 outside MPI).
int default_num_threads(const char* omp_num_threads, int local_ranks, int cores);

// How OpenMP places threads: OMP_PROC_BIND / OMP_PLACES as set, and the runtime's binding.
std::string thread_binding();

// Ranks of this MPI job on this machine, from the launcher's environment (OpenMPI, MPICH,
// Slurm); 0 when not launched by MPI.
int mpi_local_ranks();

}  // namespace engine
