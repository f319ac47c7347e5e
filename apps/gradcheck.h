// `longmix gradcheck`: a whole model's gradients against central finite differences, from the
// command line. The model is built as `train` builds it (same flags, same presets), in
// evaluation mode (no dropout), on a small seeded batch of its task; every parameter tensor,
// and the inputs when they are continuous, is checked on sampled coordinates.
#pragma once
#include <string>
#include <vector>

#include "apps/flags.h"
#include "engine/gradcheck.h"

namespace apps {

void add_gradcheck_flags(Flags& flags);

struct GradcheckRun {
  bool ok = true;
  std::vector<engine::GradcheckInputReport> tensors;  // one per checked tensor
  std::string text;                                   // what the command prints
};

GradcheckRun run_gradcheck(Flags flags);

int gradcheck_main(int argc, const char* const* argv);  // argv[0] is "gradcheck"

}  // namespace apps
