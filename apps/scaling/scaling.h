// `longmix scaling`: a workload timed over thread counts and sequence lengths, reported as
// CSV and JSON beside the machine's measured peaks, and drawn as strong-scaling and
// length-scaling plots.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "apps/flags.h"

namespace apps {

struct ScalingRow {
  std::string workload;
  int64_t seq_len = 0;
  int threads = 0;
  double median_s = 0, min_s = 0, max_s = 0;
  double speedup = 0, efficiency = 0;  // over the smallest thread count measured (1 by default)
  double gflops = 0, gbps = 0;         // achieved, from the median time; gbps 0 when not meaningful
  double peak_gflops = 0, peak_gbps = 0;  // the probe's sgemm and triad for this thread count (0: not probed)
  double flops = 0, bytes = 0;         // per repetition
  double peak_mb = 0;                  // the most tensor memory held at once (inputs and parameters too)
};

struct ScalingReport {
  std::string workload, description, cpu, isa, binding;
  int cores = 0, reps = 0;
  std::vector<ScalingRow> rows;  // N-major, threads ascending within each N
};

void add_scaling_flags(Flags& flags);
ScalingReport run_scaling(const Flags& flags, bool quiet = false);

// The files of a report in `dir`: scaling.csv, scaling.json, scaling.dat and the gnuplot
// scripts; then strong_scaling.png (two or more thread counts) and length_scaling.png (two or
// more lengths) when gnuplot is installed. Returns the PNG paths drawn.
std::vector<std::string> write_scaling_report(const ScalingReport& report, const std::string& dir);

// "1,2,4" -> {1, 2, 4}: positive, strictly ascending; errors name the flag.
std::vector<int64_t> parse_int_list(const std::string& text, const std::string& flag);

int scaling_main(int argc, const char* const* argv);  // argv[0] is "scaling"

}  // namespace apps
