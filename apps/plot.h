// `longmix plot RUN_DIR`: loss and accuracy curves of a run (training and validation, from its
// metrics.jsonl) drawn to RUN_DIR/curves.png with gnuplot (Debian's gnuplot-nox). The data
// and the gnuplot script are written next to it, so the plot can be redrawn or restyled.
#pragma once
#include <string>

namespace apps {

// Writes RUN_DIR/curves.dat, curves.gp; runs gnuplot when it is installed. Returns the PNG's
// path, or "" with a message on stderr saying how to draw it when gnuplot is missing.
std::string plot_run(const std::string& run_dir);

int plot_main(int argc, const char* const* argv);  // argv[0] is "plot"

}  // namespace apps
