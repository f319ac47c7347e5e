#include "apps/best_so_far.h"

#include "engine/check.h"

namespace apps {

void BestSoFar::keep(int64_t step, double val_accuracy, const nn::Module& model) {
  const auto named = model.named_parameters();
  if (params_.empty())
    for (const auto& [name, p] : named) params_.push_back(p.clone());
  else
    for (size_t i = 0; i < named.size(); ++i) params_[i].copy_from(named[i].second);
  step_ = step;
  val_accuracy_ = val_accuracy;
}

void BestSoFar::resume_from(const RunCheckpoint& best, const nn::Module& model) {
  const double accuracy = best_val_accuracy(best);
  params_.clear();
  for (const engine::Tensor* t : checkpoint_parameters(best, model)) params_.push_back(t->clone());
  step_ = best.step;
  val_accuracy_ = accuracy;
}

void BestSoFar::restore_into(nn::Module& model) const {
  LONGMIX_CHECK(step_ > 0, "--keep-best: no validation accuracy was recorded, so there is no best model to test");
  auto named = model.named_parameters();
  LONGMIX_CHECK(named.size() == params_.size(), "--keep-best: the model's parameters changed during the run");
  for (size_t i = 0; i < named.size(); ++i) named[i].second.copy_from(params_[i]);
}

}  // namespace apps
