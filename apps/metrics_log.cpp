#include "apps/metrics_log.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
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

void drop_metrics_after(const std::string& path, int64_t step) {
  std::ifstream in(path);
  if (!in.good()) return;
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    for (std::string line; std::getline(in, line);) {
      if (line.empty()) continue;
      const size_t at = line.find("\"step\":");
      const bool training_record = line.rfind("{\"split\":\"eval_", 0) != 0;
      if (training_record && at != std::string::npos && std::atoll(line.c_str() + at + 7) > step) continue;
      out << line << "\n";
    }
    out.flush();
    LONGMIX_CHECK(out.good(), "cannot write " << tmp << " (disk full?)");
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace apps
