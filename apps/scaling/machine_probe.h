// The machine's own peaks for a thread count, measured rather than looked up, so that a
// scaling study can say how far from the hardware each workload runs: sgemm GFLOP/s (oneDNN
// through our GEMM, on a square and on a tall K = 32 shape, the best of the two) and the
// bandwidth of a STREAM-style triad over arrays far larger than the caches.
#pragma once

namespace apps {

struct MachinePeaks {
  double sgemm_gflops = 0;
  double triad_gbps = 0;
};

// Measures with the current thread count (engine::set_num_threads); about a second.
MachinePeaks probe_machine();

}  // namespace apps
