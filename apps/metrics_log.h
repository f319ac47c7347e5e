// metrics.jsonl: one JSON object per line, appended and flushed as training goes, e.g.
//   {"split":"train","step":100,"loss":0.41,"accuracy":0.88,"lr":0.001,"seq_per_s":812.5}
#pragma once
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace apps {

class MetricsLog {
 public:
  // Creates (truncates) path, or appends to it (a resumed run); throws engine::Error when it
  // cannot be written.
  explicit MetricsLog(const std::string& path, bool append = false);
  void write(const std::string& split, int64_t step,
             const std::vector<std::pair<std::string, double>>& values);

 private:
  std::ofstream out_;
  std::string path_;
};

// A resumed run continues from its checkpoint's step: records of later steps (written before a
// crash, and about to be written again) are dropped from path, through a temporary file and a
// rename. Evaluation records (eval_*) of checkpoints are kept.
void drop_metrics_after(const std::string& path, int64_t step);

}  // namespace apps
