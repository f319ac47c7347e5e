// Optimizers keyed by parameter name: SGD with momentum, Adam and AdamW. State tensors are
// exposed by name for checkpoints ("exp_avg.layers.0.weight").
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace nn {

using engine::Tensor;
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Optimizer {
 public:
  explicit Optimizer(NamedTensors params);
  virtual ~Optimizer() = default;
  // One update with learning rate lr; parameters without a gradient are left alone.
  virtual void step(double lr) = 0;
  virtual NamedTensors state() const = 0;  // for checkpoints; restored by copying into them
  int64_t steps_taken() const { return steps_; }
  void set_steps_taken(int64_t s) { steps_ = s; }
  const NamedTensors& params() const { return params_; }

 protected:
  NamedTensors params_;
  int64_t steps_ = 0;
};

struct SgdOptions {
  double momentum = 0;
  double weight_decay = 0;  // L2, added to the gradient
};

class Sgd : public Optimizer {
 public:
  Sgd(NamedTensors params, SgdOptions options = {});
  void step(double lr) override;
  NamedTensors state() const override;

 private:
  SgdOptions opt_;
  std::map<std::string, Tensor> velocity_;
};

struct AdamOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0;
  bool decoupled_weight_decay = false;  // true: AdamW (decay applied to the weights directly)
};

class Adam : public Optimizer {
 public:
  Adam(NamedTensors params, AdamOptions options = {});
  void step(double lr) override;
  NamedTensors state() const override;

 private:
  AdamOptions opt_;
  std::map<std::string, Tensor> exp_avg_, exp_avg_sq_;
};

// Scales all gradients so their global L2 norm is at most max_norm; returns the norm before
// clipping (summed in double, in parameter order: independent of the thread count).
double clip_grad_norm(const NamedTensors& params, double max_norm);

// Learning rate at `step` (0-based): linear warm-up over `warmup` steps to `peak`, then linear
// decay to zero at `total` steps. warmup 0 starts at peak; decay false holds peak afterwards.
struct LinearWarmupDecay {
  double peak = 1e-3;
  int64_t warmup = 0;
  int64_t total = 0;
  bool decay = true;
  double lr(int64_t step) const;
};

}  // namespace nn
