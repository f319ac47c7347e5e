// The "teacher" task: a small generated classification problem for MLPs. Inputs are standard
// normal vectors; the label is the argmax of a fixed random two-layer tanh network (the
// teacher) drawn from the task seed, so the problem is learnable but not linearly separable.
#pragma once
#include "apps/tasks/task.h"

namespace apps {

struct TeacherConfig {
  int64_t features = 16;
  int64_t classes = 4;
  int64_t teacher_hidden = 32;
  int64_t train_size = 50000, val_size = 2000, test_size = 2000;
  uint64_t seed = 1;
};

class TeacherTask : public Task {
 public:
  explicit TeacherTask(const TeacherConfig& config);
  std::string name() const override { return "teacher"; }
  Objective objective() const override { return Objective::classification; }
  int64_t num_outputs() const override { return cfg_.classes; }
  int64_t input_features() const override { return cfg_.features; }
  int64_t split_size(Split split) const override;
  Batch batch(Split split, int64_t first, int64_t count) const override;

 private:
  TeacherConfig cfg_;
  std::vector<double> w1_, b1_, w2_;  // the teacher network
};

}  // namespace apps
