#include "apps/metrics_log.h"

#include <cmath>
#include <iomanip>

#include "engine/check.h"

namespace apps {

MetricsLog::MetricsLog(const std::string& path, bool append)
    : out_(path, append ? std::ios::app : std::ios::trunc), path_(path) {
  LONGMIX_CHECK(out_.good(), "cannot write metrics file " << path);
}

void MetricsLog::write(const std::string& split, int64_t step,
                       const std::vector<std::pair<std::string, double>>& values) {
  out_ << "{\"split\":\"" << split << "\",\"step\":" << step;
  for (const auto& [key, v] : values) {
    out_ << ",\"" << key << "\":";
    if (std::isfinite(v))
      out_ << std::setprecision(9) << v;
    else
      out_ << "null";  // JSON has no NaN/Inf
  }
  out_ << "}\n";
  out_.flush();
  LONGMIX_CHECK(out_.good(), "writing metrics file " << path_ << " failed (disk full?)");
}

}  // namespace apps
