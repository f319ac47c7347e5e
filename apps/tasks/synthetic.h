// The synthetic long-range tasks of SPEC 4, generated from a seed, any length N >= 2.
//  - Adding: input (N, 2): channel 0 uniform in [-1, 1], channel 1 marks two distinct positions
//    p1 < p2; target 0.5 + (x[p1] + x[p2]) / 4 (MSE; correct when |error| < 0.04).
//  - Temporal order: tokens from {a, b, c, d} (ids 0-3); positions p1 < p2 hold X or Y (ids 4, 5);
//    class (XX, XY, YX, YY) = (0, 1, 2, 3).
#pragma once
#include "apps/tasks/task.h"

namespace apps {

struct SyntheticConfig {
  int64_t seq_len = 1024;
  int64_t val_size = 1000, test_size = 2000;
  uint64_t seed = 0;
};

// Example `index` of a split draws from its own stream, so examples are reproducible alone.
uint64_t example_seed(uint64_t task_seed, Split split, int64_t index);

// What the synthetic tasks share: the length check, the splits (an endless generated training
// stream, fixed validation and test sets) and the range check of a batch request.
class SyntheticTask : public Task {
 public:
  SyntheticTask(const SyntheticConfig& config, const char* name);
  int64_t seq_len() const override { return cfg_.seq_len; }
  int64_t split_size(Split split) const override;

 protected:
  void check_range(Split split, int64_t first, int64_t count) const;
  SyntheticConfig cfg_;
};

class AddingTask : public SyntheticTask {
 public:
  explicit AddingTask(const SyntheticConfig& config) : SyntheticTask(config, "adding") {}
  std::string name() const override { return "adding"; }
  Objective objective() const override { return Objective::regression; }
  int64_t num_outputs() const override { return 1; }
  int64_t input_features() const override { return 2; }
  Batch batch(Split split, int64_t first, int64_t count) const override;
  double regression_tolerance() const override { return 0.04; }
};

class TemporalOrderTask : public SyntheticTask {
 public:
  static constexpr int32_t kX = 4, kY = 5;
  explicit TemporalOrderTask(const SyntheticConfig& config) : SyntheticTask(config, "order") {}
  std::string name() const override { return "order"; }
  Objective objective() const override { return Objective::classification; }
  int64_t num_outputs() const override { return 4; }
  int64_t input_features() const override { return 0; }
  int64_t vocab_size() const override { return 6; }
  Batch batch(Split split, int64_t first, int64_t count) const override;
};

}  // namespace apps
