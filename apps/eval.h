// `longmix eval --checkpoint FILE [--split val|test]`: the metrics of a saved model on a split
// of its task, printed and appended to the run directory's metrics.jsonl.
#pragma once
#include "apps/flags.h"
#include "apps/train.h"

namespace apps {

void add_eval_flags(Flags& flags);
EvalResult run_eval(Flags flags, bool quiet = false);
int eval_main(int argc, const char* const* argv);  // argv[0] is "eval"

}  // namespace apps
