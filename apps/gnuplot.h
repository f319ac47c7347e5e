// Runs a gnuplot script that the caller wrote, when gnuplot is installed.
#pragma once
#include <string>

namespace apps {

// Returns false (after telling the user how to install gnuplot and rerun the script) when
// gnuplot is missing; throws engine::Error when gnuplot fails on the script.
bool run_gnuplot(const std::string& script, const std::string& who);

}  // namespace apps
