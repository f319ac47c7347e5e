// The training CLI: learning, metrics.jsonl, flags and errors (thread-count independence: test_determinism).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <cmath>
#include <iostream>
#include <memory>

#include "apps/flags.h"
#include "apps/train.h"
#include "engine/check.h"
#include "engine/tape.h"
#include "engine/threads.h"
#include "tests/train_test_util.h"

using testing_util::empty_temp_dir;
using testing_util::train_flags;

namespace {

TEST(Train, MlpLearnsTheTeacherTask) {
  // Chance is 25%; a fixed budget of 1500 steps must reach 75% test accuracy and a loss
  // well under ln(4) = 1.386.
  const std::string out = empty_temp_dir("learn");
  const auto r = apps::train(train_flags({{"out", out}, {"steps", "1500"}}), true);
  EXPECT_GT(r.test.accuracy, 0.75);
  EXPECT_LT(r.test.loss, 0.6);
  EXPECT_EQ(r.train_losses.size(), 1500u);
}

// The standard error printed beside a test accuracy: 37% on LRA's 2 000 ListOps examples is
// +-1.08 points, on 50 000 +-0.22; no examples, no estimate.
TEST(Train, AccuracyStandardErrorIsThatOfAProportion) {
  EXPECT_NEAR((apps::EvalResult{1.6, 0.37, 2000}.accuracy_standard_error()), 0.010796, 1e-6);
  EXPECT_NEAR((apps::EvalResult{1.6, 0.37, 50000}.accuracy_standard_error()), 0.002159, 1e-6);
  EXPECT_EQ((apps::EvalResult{0.1, 1.0, 300}.accuracy_standard_error()), 0.0);
  EXPECT_EQ((apps::EvalResult{}.accuracy_standard_error()), 0.0);
}

TEST(Train, WritesMetricsJsonlAndConfig) {
  const std::string out = empty_temp_dir("metrics");
  apps::train(train_flags({{"out", out}, {"steps", "20"}, {"log-every", "10"}, {"eval-every", "10"}}), true);
  std::ifstream in(out + "/metrics.jsonl");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 5u);  // train 10, val 10, train 20, val 20, test 20
  EXPECT_EQ(lines[0].rfind("{\"split\":\"train\",\"step\":10,\"loss\":", 0), 0u) << lines[0];
  EXPECT_EQ(lines[1].rfind("{\"split\":\"val\",\"step\":10,\"loss\":", 0), 0u) << lines[1];
  EXPECT_NE(lines[4].find("\"split\":\"test\""), std::string::npos);
  EXPECT_NE(lines[4].find("\"accuracy\":"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(out + "/config.json"));
}

TEST(Train, SameSeedSameRunDifferentSeedDifferentRun) {
  auto run = [](const char* seed) {
    return apps::train(train_flags({{"out", empty_temp_dir("seed")}, {"steps", "5"}, {"seed", seed}}), true)
        .train_losses;
  };
  EXPECT_EQ(run("3"), run("3"));
  EXPECT_NE(run("3"), run("4"));
}

template <class Body>
std::string error_of(Body body) {
  try {
    body();
  } catch (const engine::Error& e) {
    return e.what();
  }
  return "";
}

TEST(Flags, UnknownFlagsAndBadValuesAreNamed) {
  apps::Flags f;
  apps::add_train_flags(f);
  const char* argv1[] = {"train", "--stepz", "3"};
  EXPECT_NE(error_of([&] { f.parse(3, argv1, 1); }).find("unknown flag --stepz"), std::string::npos);
  const char* argv2[] = {"train", "--steps", "3x"};
  EXPECT_NE(error_of([&] { f.parse(3, argv2, 1); }).find("--steps: expected an integer, got '3x'"),
            std::string::npos);
  const char* argv3[] = {"train", "--lr"};
  EXPECT_NE(error_of([&] { f.parse(2, argv3, 1); }).find("--lr needs a value"), std::string::npos);
  const char* argv4[] = {"train", "--lr=nan"};
  EXPECT_NE(error_of([&] { f.parse(2, argv4, 1); }).find("finite"), std::string::npos);
}

TEST(Flags, ParsesBothFormsAndBareBooleans) {
  apps::Flags f;
  f.add_int("steps", 1, "");
  f.add_double("lr", 0.1, "");
  f.add_bool("verbose", false, "");
  const char* argv[] = {"x", "--steps", "7", "--lr=0.5", "--verbose"};
  f.parse(5, argv, 1);
  EXPECT_EQ(f.get_int("steps"), 7);
  EXPECT_DOUBLE_EQ(f.get_double("lr"), 0.5);
  EXPECT_TRUE(f.get_bool("verbose"));
  EXPECT_TRUE(f.was_set("lr"));
}

TEST(Train, BadValuesAreRefusedBeforeTraining) {
  EXPECT_NE(error_of([] { apps::train(train_flags({{"steps", "0"}}), true); }).find("--steps must be >= 1"),
            std::string::npos);
  EXPECT_NE(error_of([] { apps::train(train_flags({{"model", "gpt"}}), true); }).find("unknown model 'gpt'"),
            std::string::npos);
  EXPECT_NE(error_of([] { apps::train(train_flags({{"task", "mnist"}}), true); }).find("unknown task 'mnist'"),
            std::string::npos);
  EXPECT_NE(error_of([] { apps::train(train_flags({{"threads", "-2"}}), true); }).find("thread count"),
            std::string::npos);
  EXPECT_NE(error_of([] { apps::train(train_flags({{"augment", "true"}}), true); })
                .find("--augment applies to the fashion-mnist task only"),
            std::string::npos);
  EXPECT_NE(error_of([] { apps::train(train_flags({{"pixels", "values"}}), true); })
                .find("--pixels applies to the fashion-mnist task only"),
            std::string::npos);
  EXPECT_NE(error_of([] { apps::train(train_flags({{"task", "fashion-mnist"}, {"pixels", "rgb"}}), true); })
                .find("--pixels must be tokens or values, got 'rgb'"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              apps::train(train_flags({{"model", "mra"}, {"task", "order"}, {"mra-prior-diagonal", "-1"}}), true);
            }).find("--mra-prior-diagonal must be >= 0, got -1"),
            std::string::npos);
}

TEST(Train, DivergenceStopsWithAMessageNamingTheStep) {
  const std::string msg = error_of([] {
    apps::train(train_flags({{"out", empty_temp_dir("nan")}, {"lr", "1e30"}, {"optimizer", "sgd"},
                             {"steps", "50"}}),
                true);
  });
  EXPECT_NE(msg.find("training stopped: the loss is"), std::string::npos) << msg;
  EXPECT_NE(msg.find("at step"), std::string::npos) << msg;
}

}  // namespace

namespace {

// Paramixer solves the adding problem at N = 128 (>= 99% of test sequences within 0.04),
// through the same code path as `longmix train --model paramixer --task adding --seq-len 128`
// with the preset's model and optimizer and a shorter schedule.
TEST(Train, ParamixerSolvesAddingAtN128) {
  const auto r = apps::train(train_flags({{"model", "paramixer"}, {"task", "adding"}, {"seq-len", "128"},
                                          {"steps", "1500"}, {"eval-every", "0"}, {"out", empty_temp_dir("adding128")}}),
                             true);
  RecordProperty("test_accuracy", std::to_string(r.test.accuracy));
  std::cout << "adding N=128: test accuracy " << r.test.accuracy << ", loss " << r.test.loss << "\n";
  EXPECT_GE(r.test.accuracy, 0.99) << "test loss " << r.test.loss;
}

}  // namespace


namespace {

// A NaN planted in one gradient (the factor MLP's first weight, through the test-only backward
// hook) stops training at that step, naming the parameter; with --skip-nonfinite the step is
// skipped and training goes on with finite parameters.
void plant_nan_in_factor_gradient(int times) {
  auto left = std::make_shared<int>(times);
  engine::set_backward_hook_for_tests([left](const char* op, engine::Grads& g) {
    if (std::string(op) != "factor_mlp" || !g.needs(1) || *left == 0) return;
    --*left;
    g.at(1).data<float>()[0] = std::nanf("");
  });
}

TEST(Train, NonFiniteGradientStopsNamingStepAndParameter) {
  plant_nan_in_factor_gradient(1000);
  const std::string msg = error_of([] {
    apps::train(train_flags({{"model", "paramixer"}, {"task", "adding"}, {"seq-len", "20"}, {"steps", "5"},
                             {"out", empty_temp_dir("nan_grad")}}),
                true);
  });
  engine::set_backward_hook_for_tests(nullptr);
  EXPECT_NE(msg.find("training stopped at step 1: the gradient of layers.0.factors_hidden.weight is not finite"), std::string::npos) << msg;
  EXPECT_NE(msg.find("is not finite"), std::string::npos) << msg;
}

TEST(Train, SkipNonFiniteSkipsTheStepAndGoesOn) {
  plant_nan_in_factor_gradient(1);  // the last layer's backward runs first: layer 1, step 1
  const std::string out = empty_temp_dir("skip");
  const auto r = apps::train(train_flags({{"model", "paramixer"}, {"task", "adding"}, {"seq-len", "20"},
                                          {"steps", "5"}, {"skip-nonfinite", "true"}, {"log-every", "1"},
                                          {"out", out}}),
                             true);
  engine::set_backward_hook_for_tests(nullptr);
  EXPECT_EQ(r.skipped_steps, 1);
  EXPECT_TRUE(std::isfinite(r.test.loss));
  std::ifstream in(out + "/metrics.jsonl");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(all.find("{\"split\":\"skipped\",\"step\":1,"), std::string::npos) << all;
  // Step 1's log window holds only the skipped step: no loss or accuracy (null), not 0.
  EXPECT_NE(all.find("{\"split\":\"train\",\"step\":1,\"loss\":null,\"accuracy\":null,"), std::string::npos) << all;
  EXPECT_NE(all.find("{\"split\":\"train\",\"step\":2,\"loss\":0."), std::string::npos) << all;
}

}  // namespace
