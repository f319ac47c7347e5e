// Defaults that depend on the model and the task (the published settings): applied to every
// flag the user did not set, so `longmix train --model paramixer --task adding` alone trains
// the published preset.
#pragma once
#include "apps/flags.h"

namespace apps {

// Flags the command does not declare are skipped (gradcheck has no --lr). Returns a one-line description of what was applied ("" when no preset matches).
std::string apply_presets(Flags& flags);

}  // namespace apps
