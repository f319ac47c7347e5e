// The models the CLI can train, built by name from flags and the task they are trained on.
#pragma once
#include <memory>
#include <string>

#include "apps/flags.h"
#include "apps/tasks/task.h"
#include "engine/rng.h"
#include "nn/module.h"

namespace apps {

class Model {
 public:
  virtual ~Model() = default;
  // inputs as the task gives them (B, ...), and its padding mask (B, N) or undefined
  // -> (B, task.num_outputs())
  virtual Tensor forward(const Tensor& inputs, const Tensor& mask) = 0;
  // Masked-token pretraining (--pretrain masked-tokens): token logits (M, vocab) at the flat
  // positions b * N + n, int32 (M). Models that cannot are refused by name.
  virtual Tensor token_logits(const Tensor& inputs, const Tensor& mask, const Tensor& positions);
  virtual nn::Module& module() = 0;
  // MRA-2 models: hold each layer's block selection fixed from the next forward on (gradient
  // checks). Returns whether the model has a selection to hold.
  virtual bool hold_attention_selection(bool) { return false; }
};

void add_model_flags(Flags& flags);
std::unique_ptr<Model> make_model(const Flags& flags, const Task& task, engine::Rng& rng);

}  // namespace apps
