#include "apps/models.h"

#include "engine/check.h"
#include "nn/layers.h"
#include "ops/shape_ops.h"

namespace apps {
namespace {

// An MLP over the flattened input: Linear(in, hidden) - GELU - Linear(hidden, outputs).
class MlpModel : public Model, public nn::Module {
 public:
  MlpModel(int64_t in, int64_t hidden, int64_t out, engine::Rng& rng) : mlp_(in, hidden, out, rng) {
    register_module("mlp", mlp_);
  }
  Tensor forward(const Tensor& inputs) override {
    LONGMIX_CHECK(inputs.dtype() != engine::DType::i32,
                  "model mlp: needs continuous inputs; this task gives token ids");
    return mlp_.forward(ops::reshape(inputs, {inputs.dim(0), -1}));
  }
  nn::Module& module() override { return *this; }

 private:
  nn::Mlp mlp_;
};

}  // namespace

void add_model_flags(Flags& flags) {
  flags.add_string("model", "mlp", "model to train: mlp");
  flags.add_int("hidden", 64, "hidden width of the MLP");
}

std::unique_ptr<Model> make_model(const Flags& flags, const Task& task, engine::Rng& rng) {
  const std::string& name = flags.get_string("model");
  const int64_t hidden = flags.get_int("hidden");
  LONGMIX_CHECK(hidden >= 1, "--hidden must be >= 1, got " << hidden);
  if (name == "mlp") {
    const int64_t seq = std::max<int64_t>(task.seq_len(), 1);
    return std::make_unique<MlpModel>(seq * task.input_features(), hidden, task.num_outputs(), rng);
  }
  throw engine::Error("unknown model '" + name + "' (available: mlp)");
}

}  // namespace apps
