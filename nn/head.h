// The classifier / regressor head over a pooled representation (B, in) -> (B, outputs):
// one Linear, or with hidden > 0 an MLP, Linear(in, hidden) - GELU - Linear(hidden, outputs),
// as the published LRA code puts after its pooling (ReLU there). A mean-pooled linear head
// makes every logit an average of per-position contributions; the MLP can combine the pooled
// features (e.g. ListOps' outermost operator with its arguments' statistics).
#pragma once
#include <cstdint>
#include <memory>

#include "nn/layers.h"

namespace nn {

class Head : public Module {
 public:
  Head(int64_t in, int64_t hidden, int64_t outputs, engine::Rng& rng);
  Tensor forward(const Tensor& pooled) const;

 private:
  std::unique_ptr<Linear> linear_;  // hidden == 0: parameters weight, bias
  std::unique_ptr<Mlp> mlp_;        // hidden > 0: parameters 0.weight, 0.bias, 2.weight, 2.bias
};

}  // namespace nn
