// --keep-best: the parameters with the best validation accuracy seen so far, kept in memory on
// every rank (each rank sees the same accuracy, so all keep the same step) so that the test
// split can be scored on them at the end: the protocol of the LRA code MRA-2 was published
// with (it tests the model saved at its best validation accuracy, not the last one).
#pragma once
#include <cstdint>
#include <vector>

#include "apps/run_checkpoint.h"
#include "nn/module.h"

namespace apps {

class BestSoFar {
 public:
  explicit BestSoFar(bool on) : on_(on) {}
  bool on() const { return on_; }
  // Strictly better than what is kept (the first accuracy always is); false when off.
  bool improves(double val_accuracy) const { return on_ && (step_ == 0 || val_accuracy > val_accuracy_); }
  // Copies the model's parameters, reached at `step`.
  void keep(int64_t step, double val_accuracy, const nn::Module& model);
  // A resumed run starts from the best.safetensors it wrote before stopping.
  void resume_from(const RunCheckpoint& best, const nn::Module& model);
  void restore_into(nn::Module& model) const;  // the kept parameters into the model's
  int64_t step() const { return step_; }       // 0: nothing kept yet
  double val_accuracy() const { return val_accuracy_; }

 private:
  bool on_;
  std::vector<engine::Tensor> params_;  // in named_parameters() order
  int64_t step_ = 0;
  double val_accuracy_ = 0;
};

}  // namespace apps
