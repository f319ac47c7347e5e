#include "apps/presets.h"

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

// Paramixer synthetic tasks (SPEC 1.4): D = H = 32, Chord, Adam lr 1e-3, batch 40.
const std::vector<Preset>& presets() {
  static const std::vector<Preset> p{
      {"paramixer", "adding",
       {{"dim", "32"}, {"hidden", "32"}, {"layers", "2"}, {"lr", "1e-3"}, {"batch", "40"},
        {"steps", "3000"}, {"schedule", "linear"}, {"eval-every", "250"}, {"eval-batch", "100"}}},
      {"paramixer", "order",
       {{"dim", "32"}, {"hidden", "32"}, {"layers", "2"}, {"lr", "1e-3"}, {"batch", "40"},
        {"steps", "3000"}, {"schedule", "linear"}, {"eval-every", "250"}, {"eval-batch", "100"}}},
  };
  return p;
}

}  // namespace

std::string apply_presets(Flags& flags) {
  for (const Preset& p : presets()) {
    if (flags.get_string("model") != p.model || flags.get_string("task") != p.task) continue;
    std::string applied;
    for (const auto& [name, value] : p.values) {
      if (flags.was_set(name)) continue;
      flags.set(name, value);
      applied += std::string(applied.empty() ? "" : " ") + "--" + name + " " + value;
    }
    return applied.empty() ? "" : std::string("preset ") + p.model + "/" + p.task + ": " + applied;
  }
  return "";
}

}  // namespace apps
