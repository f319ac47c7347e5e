#include "apps/eval.h"

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "apps/metrics_log.h"
#include "apps/run_checkpoint.h"
#include "apps/tasks/registry.h"
#include "engine/check.h"
#include "engine/rng.h"
#include "engine/threads.h"

namespace apps {

void add_eval_flags(Flags& f) {
  add_train_flags(f);  // the checkpoint's configuration fills them
  f.add_string("checkpoint", "", "a checkpoint-*.safetensors written by train --save-every");
  f.add_string("split", "test", "val or test");
}

EvalResult run_eval(Flags f, bool quiet) {
  const std::string path = f.get_string("checkpoint");
  LONGMIX_CHECK(!path.empty(), "eval: --checkpoint FILE is required");
  const std::string split_name_text = f.get_string("split");
  LONGMIX_CHECK(split_name_text == "val" || split_name_text == "test",
                "unknown --split '" << split_name_text << "' (available: val, test)");
  const Split split = split_name_text == "val" ? Split::val : Split::test;
  const RunCheckpoint checkpoint = read_run_checkpoint(path);
  apply_checkpoint_config(checkpoint, f);
  engine::set_num_threads(static_cast<int>(f.get_int("threads")));
  const std::unique_ptr<Task> task = make_task(f);
  engine::Rng init_rng(0);
  const std::unique_ptr<Model> model = make_model(f, *task, init_rng);
  restore_run_checkpoint(checkpoint, model->module(), nullptr);
  const EvalResult r = evaluate(*model, *task, split, f.get_int("eval-batch"), pretraining_from_flags(f));
  const std::string dir = std::filesystem::path(path).parent_path().string();
  MetricsLog(dir.empty() ? "metrics.jsonl" : dir + "/metrics.jsonl", true)
      .write("eval_" + split_name_text, checkpoint.step,
             {{"loss", r.loss}, {"accuracy", r.accuracy}, {"examples", static_cast<double>(r.examples)}});
  if (!quiet)
    std::printf("%s: loss %.4f accuracy %.4f on %lld examples (standard error %.4f; checkpoint %s, step %lld)\n",
                split_name_text.c_str(), r.loss, r.accuracy, static_cast<long long>(r.examples),
                r.accuracy_standard_error(), path.c_str(), static_cast<long long>(checkpoint.step));
  return r;
}

int eval_main(int argc, const char* const* argv) {
  Flags flags;
  add_eval_flags(flags);
  flags.parse(argc, argv, 1);
  if (flags.help_requested()) {
    std::cout << "usage: longmix eval --checkpoint FILE [--split val|test] [--eval-batch B] [--threads T]\n\n"
              << flags.help_text();
    return 0;
  }
  run_eval(flags);
  return 0;
}

}  // namespace apps
