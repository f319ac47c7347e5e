#include "apps/presets.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace apps {
namespace {

struct Preset {
  const char* model;
  const char* task;
  std::vector<std::pair<const char*, const char*>> values;
};

// Paramixer synthetic tasks (SPEC 1.4): D = H = 32, Chord, Adam lr 1e-3, batch 40; the number
// of steps depends on the length (steps_for_length).
const std::vector<Preset>& presets() {
  static const std::vector<Preset> p{
      {"paramixer", "adding",
       {{"dim", "32"}, {"hidden", "32"}, {"layers", "2"}, {"lr", "1e-3"}, {"batch", "40"},
        {"schedule", "linear"}, {"eval-every", "250"}, {"eval-batch", "100"}}},
      {"paramixer", "order",
       {{"dim", "32"}, {"hidden", "32"}, {"layers", "2"}, {"lr", "1e-3"}, {"batch", "40"},
        {"schedule", "linear"}, {"eval-every", "250"}, {"eval-batch", "100"}}},
  };
  return p;
}

// The signal in the synthetic tasks is two or a few tokens among N, so longer sequences
// need more updates: 3000 steps solve N <= 1024, N = 4096 needed more (98.5% after 3000).
int64_t steps_for_length(int64_t seq_len) { return seq_len <= 1024 ? 3000 : 5000; }

}  // namespace

std::string apply_presets(Flags& flags) {
  for (const Preset& p : presets()) {
    if (flags.get_string("model") != p.model || flags.get_string("task") != p.task) continue;
    std::string applied;
    std::vector<std::pair<std::string, std::string>> values(p.values.begin(), p.values.end());
    values.emplace_back("steps", std::to_string(steps_for_length(flags.get_int("seq-len"))));
    for (const auto& [name, value] : values) {
      if (flags.was_set(name)) continue;
      flags.set(name, value);
      applied += std::string(applied.empty() ? "" : " ") + "--" + name + " " + value;
    }
    return applied.empty() ? "" : std::string("preset ") + p.model + "/" + p.task + ": " + applied;
  }
  return "";
}

}  // namespace apps
