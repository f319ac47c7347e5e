// `longmix train`: the training loop shared by every model and task.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "apps/flags.h"
#include "apps/models.h"
#include "apps/pretraining.h"
#include "apps/tasks/task.h"

namespace apps {

void add_train_flags(Flags& flags);  // every flag of `longmix train`

struct EvalResult {
  double loss = 0, accuracy = 0;
  int64_t examples = 0;
  // The accuracy's standard error as an estimate of the model's true rate, sqrt(p (1 - p) / n):
  // what a difference between two runs' accuracies has to exceed to mean something.
  double accuracy_standard_error() const {
    return examples > 0 ? std::sqrt(accuracy * (1 - accuracy) / static_cast<double>(examples)) : 0.0;
  }
};

struct TrainResult {
  std::vector<double> train_losses;  // one per step
  uint64_t parameter_digest = 0;     // FNV-1a of every parameter's bytes, in name order
  EvalResult test;
  double seconds = 0;
  double communication_seconds = 0;  // in gradient all-reduces (MPI), part of `seconds`
  int64_t skipped_steps = 0;         // with --skip-nonfinite: steps whose gradient was not finite
  // With --keep-best: the step of the best validation accuracy, that accuracy, and the test
  // split scored on the parameters of that step.
  int64_t best_step = 0;
  double best_val_accuracy = 0;
  EvalResult best_test;
};

// Loss of a batch, the number of predictions scored (examples; masked tokens when pretraining)
// and how many of them are correct.
struct BatchOutcome {
  Tensor loss;
  int64_t correct = 0, scored = 0;
};
BatchOutcome score(const Task& task, const Tensor& outputs, const Tensor& targets);
// The model's outcome on a batch: the task's objective, or with pretraining on, restoring the
// tokens mask_tokens hides (seeded by `mask_seed_value`).
BatchOutcome run_batch(Model& model, const Task& task, const Batch& batch, const Pretraining& pretraining,
                       uint64_t mask_seed_value);

// Loss and accuracy of the model on a whole split, in evaluation mode, batch by batch
// (with pretraining: over the masked tokens; EvalResult::examples counts them).
EvalResult evaluate(Model& model, const Task& task, Split split, int64_t batch_size,
                    const Pretraining& pretraining = Pretraining{});

// Runs a whole training job as configured (presets fill the flags not given); prints progress
// to stdout unless quiet.
TrainResult train(Flags flags, bool quiet = false);

int train_main(int argc, const char* const* argv);  // argv[0] is "train"

}  // namespace apps
