#include "apps/gnuplot.h"

#include <cstdlib>
#include <iostream>

#include "engine/check.h"

namespace apps {

bool run_gnuplot(const std::string& script, const std::string& who) {
  LONGMIX_CHECK(script.find('\'') == std::string::npos, who << ": a path with a quote in it is not supported: " << script);
  if (std::system("command -v gnuplot > /dev/null 2>&1") != 0) {
    std::cerr << who << ": gnuplot is not installed; apt-get install gnuplot-nox, then: gnuplot " << script << "\n";
    return false;
  }
  const std::string cmd = "gnuplot '" + script + "'";
  LONGMIX_CHECK(std::system(cmd.c_str()) == 0, who << ": gnuplot failed on " << script);
  return true;
}

}  // namespace apps
