#include "apps/scaling/workloads.h"

#include <vector>

#include "apps/config_file.h"
#include "apps/models.h"
#include "apps/presets.h"
#include "apps/tasks/registry.h"
#include "apps/train.h"
#include "engine/check.h"
#include "engine/rng.h"
#include "engine/tape.h"
#include "nn/optim.h"
#include "ops/attention/attention.h"
#include "ops/paramixer/protocols.h"
#include "ops/paramixer/sparse_mix.h"

namespace apps {
namespace {

using engine::Tensor;

int64_t batch_or(const Flags& f, int64_t fallback) {
  const int64_t b = f.get_int("batch");
  LONGMIX_CHECK(b >= 0, "--batch must be >= 1 (0: the workload's default), got " << b);
  return b ? b : fallback;
}

// One factor of the product (the middle one, whose offsets reach furthest in CDIL), as the
// layer runs it: V + P(W, V), then dW and dV.
class ProductWorkload : public Workload {
 public:
  ProductWorkload(const Flags& f, int64_t N) : B_(batch_or(f, 32)), N_(N), D_(f.get_int("dim")) {
    LONGMIX_CHECK(D_ >= 1, "--dim must be >= 1, got " << D_);
    protocol_ = ops::protocol_from_name(f.get_string("protocol"));
    offsets_ = ops::protocol_offsets(protocol_, N, ops::num_factors(N) / 2);
    const int64_t L = static_cast<int64_t>(offsets_.size());
    engine::Rng rng(1);
    w_ = Tensor::randn({B_, N, L}, rng).set_requires_grad();
    v_ = Tensor::randn({B_, N, D_}, rng).set_requires_grad();
    dout_ = Tensor::randn({B_, N, D_}, rng);
  }
  void run() override {
    engine::backward(ops::sparse_mix(w_, v_, offsets_, true), dout_);
    w_.zero_grad();
    v_.zero_grad();
  }
  double min_bytes() const override {
    const double L = static_cast<double>(offsets_.size()), rows = double(B_) * double(N_);
    return 4.0 * rows * ((L + 2 * D_) + (2 * L + 4 * D_));  // forward, then backward
  }
  std::string describe() const override {
    return std::string(ops::protocol_name(protocol_)) + " product, B " + std::to_string(B_) + ", D " +
           std::to_string(D_) + ", L " + std::to_string(offsets_.size()) + ", forward + backward";
  }

 private:
  int64_t B_, N_, D_;
  ops::Protocol protocol_;
  std::vector<int64_t> offsets_;
  Tensor w_, v_, dout_;
};

class AttentionWorkload : public Workload {
 public:
  AttentionWorkload(const Flags& f, int64_t N, bool mra) : mra_(mra), N_(N) {
    options_.heads = f.get_int("heads");
    LONGMIX_CHECK(options_.heads >= 1, "--heads must be >= 1, got " << options_.heads);
    d_ = f.get_int("head-dim");
    LONGMIX_CHECK(d_ >= 1, "--head-dim must be >= 1, got " << d_);
    BH_ = batch_or(f, 8) * options_.heads;
    options_.blocks_per_row = f.get_int("blocks-per-row");
    options_.block = f.get_int("block");
    engine::Rng rng(1);
    for (Tensor* t : {&q_, &k_, &v_}) *t = random_walk(BH_, N, d_, rng).set_requires_grad();
    dout_ = Tensor::randn({BH_, N, d_}, rng);
  }
  void run() override {
    const Tensor out = mra_ ? ops::mra_attention(q_, k_, v_, Tensor(), options_)
                            : ops::softmax_attention(q_, k_, v_, Tensor(), options_.heads);
    engine::backward(out, dout_);
    for (Tensor* t : {&q_, &k_, &v_}) t->zero_grad();
  }
  double min_bytes() const override {
    return 4.0 * double(BH_) * double(N_) * double(d_) * (4 + 8);  // q k v o; then q k v o dO dq dk dv
  }
  std::string describe() const override {
    std::string s = mra_ ? "MRA-2 attention (" + std::to_string(options_.blocks_per_row) + " blocks per row, block " +
                               std::to_string(options_.block) + ")"
                         : std::string("exact softmax attention");
    return s + ", " + std::to_string(BH_) + " batch-heads, d " + std::to_string(d_) + ", forward + backward";
  }

 private:
  bool mra_;
  int64_t N_, BH_ = 0, d_ = 0;
  ops::MraOptions options_;
  Tensor q_, k_, v_, dout_;
};

class TrainStepWorkload : public Workload {
 public:
  TrainStepWorkload(const Flags& scaling_flags, int64_t N) {
    Flags f = train_step_flags(scaling_flags);
    f.set("seq-len", std::to_string(N));
    apply_presets(f);
    task_ = make_task(f);
    engine::Rng rng(7);
    model_ = make_model(f, *task_, rng);
    optimizer_ = std::make_unique<nn::Adam>(model_->module().named_parameters());
    batch_ = task_->batch(Split::train, 0, f.get_int("batch"));
    what_ = f.get_string("model") + " training step on " + task_->name() + ", batch " + std::to_string(f.get_int("batch")) +
            ", Adam (" + std::to_string(model_->module().num_parameters()) + " parameters)";
  }
  void run() override {
    model_->module().zero_grad();
    engine::backward(score(*task_, model_->forward(batch_.inputs, batch_.mask), batch_.targets).loss);
    optimizer_->step(1e-4);
  }
  std::string describe() const override { return what_; }

 private:
  std::unique_ptr<Task> task_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<nn::Optimizer> optimizer_;
  Batch batch_;
  std::string what_;
};

}  // namespace

Tensor random_walk(int64_t BH, int64_t N, int64_t d, engine::Rng& rng) {
  Tensor t = Tensor::empty({BH, N, d});
  float* p = t.data<float>();
  for (int64_t bh = 0; bh < BH; ++bh)
    for (int64_t i = 0; i < N; ++i)
      for (int64_t c = 0; c < d; ++c) {
        const int64_t at = (bh * N + i) * d + c;
        p[at] = (i ? p[at - d] : 0.f) + 0.05f * static_cast<float>(rng.normal());
      }
  return t;
}

Flags train_step_flags(const Flags& scaling_flags) {
  Flags f;
  add_train_flags(f);
  // A --config preset first; then the model and task flags given to the scaling command; then
  // the published preset of that model and task for the rest (as `longmix train` would), at
  // batch 32 unless the preset or --batch says otherwise.
  const std::string& config = scaling_flags.get_string("config");
  if (!config.empty()) apply_config_file(config, f);
  Flags model_flags;
  add_workload_flags(model_flags);
  for (const auto& [name, value] : scaling_flags.resolved())
    if (model_flags.has(name) && f.has(name) && scaling_flags.was_set(name)) f.set(name, value);
  for (const char* name : {"model", "task"})
    if (config.empty() || scaling_flags.was_set(name)) f.set(name, scaling_flags.get_string(name));
  if (config.empty() || scaling_flags.get_int("batch") != 0)
    f.set("batch", std::to_string(batch_or(scaling_flags, 32)));  // after the copy: 0 means 32 here
  return f;
}

void add_workload_flags(Flags& f) {
  f.add_string("config", "", "train: time the training step of a preset, a JSON file as for `longmix train --config` (flags given here win; its seq-len is the default length)");
  add_model_flags(f);
  f.add_string("task", "adding", "train: the task whose batches the model trains on");
  add_fashion_mnist_flags(f);
  f.add_int("batch", 0, "batch (0: 32 for product and train, 8 for attention)");
  f.add_int("head-dim", 32, "attention workloads: the width d of each head");
}

std::unique_ptr<Workload> make_workload(const std::string& name, const Flags& f, int64_t seq_len) {
  if (name == "product") return std::make_unique<ProductWorkload>(f, seq_len);
  if (name == "mra") return std::make_unique<AttentionWorkload>(f, seq_len, true);
  if (name == "attention") return std::make_unique<AttentionWorkload>(f, seq_len, false);
  if (name == "train") return std::make_unique<TrainStepWorkload>(f, seq_len);
  throw engine::Error("unknown workload '" + name + "' (available: product, mra, attention, train)");
}

}  // namespace apps
