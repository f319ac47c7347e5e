// Masked-token self-pretraining: the masking itself, a pretraining run that learns to restore
// tokens (and evaluates, resumes and re-evaluates exactly), --init-from into a classifier, and
// the refusals.
#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>
#include <set>

#include "apps/eval.h"
#include "apps/flags.h"
#include "apps/pretraining.h"
#include "apps/run_checkpoint.h"
#include "apps/tasks/listops.h"
#include "apps/tasks/registry.h"
#include "apps/train.h"
#include "engine/tape.h"
#include "nn/optim.h"
#include "tests/test_util.h"
#include "tests/train_test_util.h"

using engine::Tensor;
using testing_util::error_of;
using testing_util::train_flags;
namespace fs = std::filesystem;

namespace {

std::string temp_dir(const std::string& name) { return testing_util::empty_temp_dir("pretrain_" + name); }

// A small MRA-2 encoder on ListOps of at most 64 tokens.
apps::Flags small_listops(const std::string& out, int steps, std::initializer_list<std::pair<const char*, std::string>> more = {}) {
  apps::Flags f = train_flags({{"model", "mra"}, {"task", "listops"}, {"seq-len", "64"}, {"dim", "16"}, {"hidden", "32"},
                               {"block", "8"}, {"blocks-per-row", "2"}, {"batch", "16"}, {"lr", "3e-3"},
                               {"steps", std::to_string(steps)}, {"warmup", "0"}, {"schedule", "constant"},
                               {"val-size", "64"}, {"test-size", "64"}, {"eval-every", "0"}, {"out", out}});
  for (const auto& [k, v] : more) f.set(k, v);
  return f;
}

apps::Batch listops_batch(int64_t first, int64_t count) {
  apps::ListOpsConfig c;
  c.seq_len = 200;
  return apps::ListOpsTask(c).batch(apps::Split::train, first, count);
}

TEST(MaskTokens, ChoosesRealPositionsOnlyAndHidesThemAsBertDoes) {
  const apps::Batch b = listops_batch(0, 64);
  const int64_t V = apps::kListOpsVocab;
  const apps::MaskedTokens m = apps::mask_tokens(b, V, 0, 0.15, 7);
  const int32_t* in = b.inputs.data<int32_t>();
  const int32_t* out = m.inputs.data<int32_t>();
  const float* real = b.mask.data<float>();
  std::set<int32_t> chosen;
  int64_t hidden = 0, replaced = 0, kept = 0, real_count = 0;
  for (int64_t i = 0; i < m.positions.numel(); ++i) {
    const int32_t p = m.positions.data<int32_t>()[i];
    ASSERT_EQ(real[p], 1.f) << "position " << p << " is padding";
    EXPECT_EQ(m.targets.data<int32_t>()[i], in[p]);
    chosen.insert(p);
    hidden += out[p] == 0;
    kept += out[p] == in[p];
    replaced += out[p] != 0 && out[p] != in[p];
  }
  for (int64_t i = 0; i < b.inputs.numel(); ++i) {
    real_count += real[i] == 1.f;
    if (!chosen.count(static_cast<int32_t>(i))) {
      EXPECT_EQ(out[i], in[i]) << "unchosen position " << i << " changed";
    }
  }
  const double M = static_cast<double>(m.positions.numel());
  EXPECT_NEAR(M / static_cast<double>(real_count), 0.15, 0.01);
  EXPECT_NEAR(hidden / M, 0.8, 0.03);
  // A random replacement can draw the original token (1 in 15), which then counts as kept.
  EXPECT_NEAR(kept / M, 0.1 + 0.1 / 15, 0.03);
  EXPECT_NEAR(replaced / M, 0.1 - 0.1 / 15, 0.03);

  // A function of the seed alone; another seed chooses elsewhere.
  const apps::MaskedTokens again = apps::mask_tokens(b, V, 0, 0.15, 7);
  EXPECT_TRUE(testing_util::bitwise_equal(again.positions, m.positions));
  EXPECT_TRUE(testing_util::bitwise_equal(again.inputs, m.inputs));
  EXPECT_FALSE(testing_util::bitwise_equal(apps::mask_tokens(b, V, 0, 0.15, 8).positions, m.positions));
}

TEST(MaskTokens, ATinyBatchStillPredictsOneTokenAndContinuousInputsAreRefused) {
  const apps::Batch b = listops_batch(3, 1);
  const apps::MaskedTokens m = apps::mask_tokens(b, apps::kListOpsVocab, 0, 1e-9, 1);
  ASSERT_EQ(m.positions.numel(), 1);
  EXPECT_EQ(m.inputs.data<int32_t>()[m.positions.data<int32_t>()[0]], 0);
  apps::Batch continuous;
  continuous.inputs = Tensor::zeros({2, 5, 3});
  EXPECT_NE(error_of([&] { apps::mask_tokens(continuous, 16, 0, 0.15, 1); }).find("needs token ids"), std::string::npos);
}

// Tokens in pairs ("3 3 5 5 1 1 ..."), padded with 0 after a random length: a hidden token is
// its partner's, so a model that restores it uses its context (ListOps' tokens are mostly
// independent draws, whose best guess is little better than their frequencies).
class PairsTask : public apps::Task {
 public:
  std::string name() const override { return "pairs"; }
  apps::Objective objective() const override { return apps::Objective::classification; }
  int64_t num_outputs() const override { return 2; }
  int64_t input_features() const override { return 0; }
  int64_t vocab_size() const override { return 8; }
  int64_t padding_token() const override { return 0; }
  int64_t seq_len() const override { return 32; }
  int64_t split_size(apps::Split) const override { return 256; }
  apps::Batch batch(apps::Split split, int64_t first, int64_t count) const override {
    apps::Batch b;
    b.inputs = Tensor::zeros({count, 32}, engine::DType::i32);
    b.mask = Tensor::zeros({count, 32});
    b.targets = Tensor::zeros({count}, engine::DType::i32);
    for (int64_t n = 0; n < count; ++n) {
      engine::Rng rng(engine::splitmix64(static_cast<uint64_t>(split) * 1000003 + static_cast<uint64_t>(first + n)));
      const int64_t length = 2 * (8 + static_cast<int64_t>(rng.next_u64() % 9));  // 16 .. 32
      for (int64_t i = 0; i < length; i += 2) {
        const auto token = static_cast<int32_t>(1 + rng.next_u64() % 7);
        for (int64_t j = i; j < i + 2; ++j) {
          b.inputs.data<int32_t>()[n * 32 + j] = token;
          b.mask.data<float>()[n * 32 + j] = 1;
        }
      }
    }
    return b;
  }
};

TEST(Pretraining, AnEncoderLearnsToRestoreTokensFromTheirContext) {
  const PairsTask task;
  for (const char* model_name : {"transformer", "mra"}) {
    const apps::Flags f = train_flags({{"model", model_name}, {"pretrain", "masked-tokens"}, {"dim", "16"}, {"hidden", "32"},
                                       {"block", "8"}, {"blocks-per-row", "2"}, {"mask-rate", "0.3"}, {"rotary", "true"}});
    engine::Rng rng(5);
    const std::unique_ptr<apps::Model> model = apps::make_model(f, task, rng);
    const apps::Pretraining pretraining = apps::pretraining_from_flags(f);
    const apps::EvalResult before = apps::evaluate(*model, task, apps::Split::val, 64, pretraining);
    nn::Adam adam(model->module().named_parameters());
    for (int64_t step = 0; step < 1500; ++step) {
      model->module().zero_grad();
      const apps::Batch b = task.batch(apps::Split::train, step * 16, 16);
      engine::backward(apps::run_batch(*model, task, b, pretraining, apps::mask_seed(pretraining, apps::Split::train, step * 16)).loss);
      adam.step(3e-3);
    }
    const apps::EvalResult after = apps::evaluate(*model, task, apps::Split::val, 64, pretraining);
    std::cout << model_name << ": masked-token accuracy " << before.accuracy << " -> " << after.accuracy << " on "
              << after.examples << " tokens, loss " << before.loss << " -> " << after.loss << "\n";
    // Frequencies alone reach 1/7; the partner (hidden too 30% of the time) allows ~0.75. With
    // learned positions only, both models stay near 0.3 for 1 500 steps: looking one position
    // away is learned slowly from absolute positions, at once from rotary ones.
    EXPECT_GT(after.accuracy, 0.6) << model_name;
  }
}

// A ListOps pretraining run: eval of its checkpoint reproduces its test metrics (the masks are
// a function of the example index), and 20 + resume + 20 steps equal 40.
TEST(Pretraining, ARunEvaluatesAndResumesExactly) {
  const std::string dir = temp_dir("run");
  const auto r = apps::train(small_listops(dir, 30, {{"pretrain", "masked-tokens"}, {"save-every", "30"}}), true);
  ASSERT_EQ(r.train_losses.size(), 30u);
  EXPECT_GT(r.test.examples, 64);  // masked tokens, not examples
  apps::Flags e;
  apps::add_eval_flags(e);
  e.set("checkpoint", apps::latest_run_checkpoint(dir));
  const apps::EvalResult again = apps::run_eval(e, true);
  EXPECT_EQ(again.loss, r.test.loss);
  EXPECT_EQ(again.accuracy, r.test.accuracy);
  EXPECT_EQ(again.examples, r.test.examples);

  const std::string one = temp_dir("whole"), two = temp_dir("split");
  const auto whole = apps::train(small_listops(one, 40, {{"pretrain", "masked-tokens"}, {"dropout", "0.1"}}), true);
  const auto first_half = apps::train(small_listops(two, 20, {{"pretrain", "masked-tokens"}, {"dropout", "0.1"}, {"save-every", "10"}}), true);
  const auto rest = apps::train(train_flags({{"resume", two}, {"steps", "40"}}), true);
  std::vector<double> joined = first_half.train_losses;
  joined.insert(joined.end(), rest.train_losses.begin(), rest.train_losses.end());
  EXPECT_EQ(joined, whole.train_losses);
}

// A classifier starts from the pretrained encoder: every shared parameter is the checkpoint's,
// the classifier head is fresh, the token head unused; another shape is refused.
TEST(Pretraining, InitFromLoadsTheEncoderAndLeavesTheHeadFresh) {
  const std::string dir = temp_dir("init");
  apps::train(small_listops(dir, 5, {{"pretrain", "masked-tokens"}, {"save-every", "5"}}), true);
  const apps::RunCheckpoint c = apps::read_run_checkpoint(apps::latest_run_checkpoint(dir));

  apps::Flags f = small_listops(temp_dir("init_classifier"), 1);
  const std::unique_ptr<apps::Task> task = apps::make_task(f);
  engine::Rng rng(123);
  const std::unique_ptr<apps::Model> model = apps::make_model(f, *task, rng);
  const apps::Initialization init = apps::initialize_from_checkpoint(c, model->module());
  EXPECT_EQ(init.fresh, (std::vector<std::string>{"head.weight", "head.bias"}));
  EXPECT_EQ(init.unused, (std::vector<std::string>{"token_head.weight", "token_head.bias"}));
  EXPECT_EQ(init.loaded.size() + 2, model->module().named_parameters().size());
  for (const auto& [name, p] : model->module().named_parameters()) {
    const Tensor* saved = c.file.find("model." + name);
    if (saved) {
      EXPECT_TRUE(testing_util::bitwise_equal(p, *saved)) << name;
    }
  }
  // From the CLI: a run with --init-from trains, and one of another width is refused by name.
  const auto r = apps::train(small_listops(temp_dir("init_run"), 3, {{"init-from", c.path}}), true);
  EXPECT_EQ(r.train_losses.size(), 3u);
  EXPECT_NE(error_of([&] { apps::train(small_listops(temp_dir("init_bad"), 3, {{"init-from", c.path}, {"dim", "8"}}), true); })
                .find("model.positional is (64,16) float32 in the checkpoint but (64,8)"),
            std::string::npos);
  // A checkpoint sharing no parameter name with the model.
  apps::RunCheckpoint other = c;
  for (auto& [name, t] : other.file.tensors) name = "model.other." + name;
  EXPECT_NE(error_of([&] { apps::initialize_from_checkpoint(other, model->module()); })
                .find("found none of this model's parameters"),
            std::string::npos);
}

TEST(Pretraining, RefusesModelsTasksAndRatesItCannotTake) {
  const std::string dir = temp_dir("refusals");
  auto message = [&](std::initializer_list<std::pair<const char*, std::string>> more) {
    return error_of([&] { apps::train(small_listops(dir, 1, more), true); });
  };
  EXPECT_NE(message({{"pretrain", "masked-tokens"}, {"model", "paramixer"}}).find("for the mra and transformer encoders"),
            std::string::npos);
  EXPECT_NE(message({{"pretrain", "masked-tokens"}, {"task", "order"}, {"seq-len", "16"}}).find("task order has no padding token"),
            std::string::npos);
  EXPECT_NE(message({{"pretrain", "bert"}}).find("unknown --pretrain 'bert'"), std::string::npos);
  EXPECT_NE(message({{"pretrain", "masked-tokens"}, {"mask-rate", "0"}}).find("--mask-rate must be in (0, 1]"),
            std::string::npos);
  // A pretraining model has no classifier head to call.
  apps::Flags f = small_listops(dir, 1, {{"pretrain", "masked-tokens"}});
  const std::unique_ptr<apps::Task> task = apps::make_task(f);
  engine::Rng rng(1);
  const std::unique_ptr<apps::Model> model = apps::make_model(f, *task, rng);
  const apps::Batch b = task->batch(apps::Split::train, 0, 2);
  EXPECT_NE(error_of([&] { model->forward(b.inputs, b.mask); }).find("has no classification head"), std::string::npos);
}

}  // namespace
