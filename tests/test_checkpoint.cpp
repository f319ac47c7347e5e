// Checkpoints: the safetensors layout, refusal of truncated and corrupt files, bitwise resume,
// pruning, and refusal of another model's checkpoint.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "apps/flags.h"
#include "apps/eval.h"
#include "apps/gradcheck.h"
#include "apps/plot.h"
#include "apps/run_checkpoint.h"
#include "apps/train.h"
#include "nn/json.h"
#include "nn/safetensors.h"
#include "tests/test_util.h"
#include "tests/train_test_util.h"

using engine::DType;
using engine::Tensor;
using testing_util::empty_temp_dir;
using testing_util::train_flags;
namespace fs = std::filesystem;

namespace {

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

using testing_util::error_of;

nn::SafetensorsFile sample_file() {
  engine::Rng rng(1);
  nn::SafetensorsFile f;
  f.tensors.emplace_back("a", Tensor::randn({3, 5}, rng));
  f.tensors.emplace_back("b.c", Tensor::randn({7}, rng, DType::f64));
  f.tensors.emplace_back("ids", Tensor::from_data({2, 2}, std::vector<int32_t>{1, -2, 3, 4}));
  f.metadata["step"] = "12";
  f.metadata["note"] = "quote \" and backslash \\";
  return f;
}

TEST(Safetensors, RoundTripAndLayout) {
  const std::string path = empty_temp_dir("st") + "/x.safetensors";
  const nn::SafetensorsFile f = sample_file();
  nn::write_safetensors(path, f);
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  const nn::SafetensorsFile g = nn::read_safetensors(path);
  ASSERT_EQ(g.tensors.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(g.tensors[i].first, f.tensors[i].first);
    EXPECT_TRUE(testing_util::bitwise_equal(g.tensors[i].second, f.tensors[i].second));
  }
  EXPECT_EQ(g.metadata, f.metadata);
  // The layout itself: 8-byte little-endian length, JSON header, then the data in order.
  const std::string bytes = read_bytes(path);
  uint64_t len = 0;
  for (int i = 0; i < 8; ++i) len |= uint64_t(static_cast<unsigned char>(bytes[i])) << (8 * i);
  const nn::JsonValue header = nn::parse_json(bytes.substr(8, len), "header");
  EXPECT_EQ(header.find("a")->find("dtype")->text, "F32");
  EXPECT_EQ(header.find("b.c")->find("data_offsets")->items[0].as_int("offset"), 60);
  EXPECT_EQ(bytes.size(), 8 + len + 60 + 56 + 16);
}

TEST(Safetensors, TruncatedAndCorruptFilesAreRefused) {
  const std::string dir = empty_temp_dir("st_bad");
  const std::string good = dir + "/good.safetensors", bad = dir + "/bad.safetensors";
  nn::write_safetensors(good, sample_file());
  const std::string bytes = read_bytes(good);
  for (size_t cut : {size_t{0}, size_t{5}, size_t{8}, size_t{40}, bytes.size() - 1}) {
    write_bytes(bad, bytes.substr(0, cut));
    const std::string e = error_of([&] { nn::read_safetensors(bad); });
    EXPECT_NE(e.find("truncated"), std::string::npos) << "cut at " << cut << ": " << e;
  }
  std::string corrupt = bytes;
  corrupt[9] = '[';  // the header is no longer a JSON object
  write_bytes(bad, corrupt);
  EXPECT_NE(error_of([&] { nn::read_safetensors(bad); }).find(bad), std::string::npos);
  std::string extra = bytes + "xx";
  write_bytes(bad, extra);
  EXPECT_NE(error_of([&] { nn::read_safetensors(bad); }).find("after the last tensor"), std::string::npos);
  std::string dtype = bytes;
  dtype.replace(dtype.find("F32"), 3, "F16");
  write_bytes(bad, dtype);
  EXPECT_NE(error_of([&] { nn::read_safetensors(bad); }).find("unsupported dtype 'F16'"), std::string::npos);
  EXPECT_NE(error_of([&] { nn::read_safetensors(dir + "/missing.safetensors"); }).find("cannot open"),
            std::string::npos);
}

// 40 steps in one go give bitwise the same losses as 20 + resume + 20: parameters, Adam state,
// the dropout generators and the data position all come back; and the model's shape from the
// saved configuration (with head_hidden > 0, an MLP head the default flags would not build).
void resume_is_bitwise(const char* model, const char* task, const char* head_hidden) {
  const std::string one = empty_temp_dir(std::string("resume_one_") + model), two = empty_temp_dir(std::string("resume_two_") + model);
  auto flags = [&](const std::string& out, int steps) {
    return train_flags({{"model", model}, {"task", task}, {"seq-len", "40"}, {"dropout", "0.1"},
                        {"dim", "16"}, {"hidden", "16"}, {"block", "8"}, {"batch", "8"}, {"head-hidden", head_hidden},
                        {"steps", std::to_string(steps)}, {"schedule", "constant"}, {"warmup", "0"},
                        {"eval-every", "0"}, {"save-every", "10"}, {"out", out}});
  };
  const auto whole = apps::train(flags(one, 40), true);
  const auto first = apps::train(flags(two, 20), true);
  const auto rest = apps::train(train_flags({{"resume", two}, {"steps", "40"}}), true);
  std::vector<double> joined = first.train_losses;
  joined.insert(joined.end(), rest.train_losses.begin(), rest.train_losses.end());
  EXPECT_EQ(joined, whole.train_losses) << model;
  EXPECT_EQ(rest.test.loss, whole.test.loss) << model;
}

TEST(RunCheckpoint, ResumeIsBitwiseParamixer) { resume_is_bitwise("paramixer", "adding", "0"); }
TEST(RunCheckpoint, ResumeIsBitwiseMraWithAnMlpHead) { resume_is_bitwise("mra", "order", "12"); }

TEST(RunCheckpoint, KeepsTheNewestAndRefusesOtherModelsAndBadResumes) {
  const std::string dir = empty_temp_dir("keep");
  apps::train(train_flags({{"model", "paramixer"}, {"task", "adding"}, {"seq-len", "16"}, {"steps", "25"},
                           {"batch", "4"}, {"save-every", "5"}, {"keep-checkpoints", "2"}, {"eval-every", "0"},
                           {"out", dir}}),
              true);
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"checkpoint-00000020.safetensors", "checkpoint-00000025.safetensors",
                                             "config.json", "metrics.jsonl"}));
  const std::string latest = apps::latest_run_checkpoint(dir);
  // Another model's shapes: refused by the gradient checker loading it with a different width.
  apps::Flags g;
  apps::add_gradcheck_flags(g);
  g.set("checkpoint", latest);
  g.set("dim", "8");
  EXPECT_NE(error_of([&] { apps::run_gradcheck(g); }).find("another model"), std::string::npos);
  // Configuration that a resume cannot change, fewer steps than taken, a directory without checkpoints.
  EXPECT_NE(error_of([&] { apps::train(train_flags({{"resume", dir}, {"lr", "0.5"}}), true); }).find("--lr cannot change"),
            std::string::npos);
  EXPECT_NE(error_of([&] { apps::train(train_flags({{"resume", dir}, {"steps", "10"}}), true); }).find("fewer than"),
            std::string::npos);
  EXPECT_NE(error_of([&] { apps::train(train_flags({{"resume", empty_temp_dir("empty")}}), true); }).find("no checkpoint"),
            std::string::npos);
  // A truncated checkpoint is refused by name and nothing else is touched.
  const std::string bytes = read_bytes(latest);
  write_bytes(latest, bytes.substr(0, bytes.size() / 2));
  EXPECT_NE(error_of([&] { apps::train(train_flags({{"resume", dir}, {"steps", "30"}}), true); }).find("truncated"),
            std::string::npos);
  EXPECT_TRUE(fs::exists(dir + "/checkpoint-00000020.safetensors"));
}

// --keep-best: the test split is scored on the parameters of the best validation accuracy,
// kept in DIR/best.safetensors (which eval reproduces), and a resumed run goes on from it.
TEST(RunCheckpoint, KeepBestTestsTheBestValidationStepAndResumesIt) {
  auto flags = [](const std::string& out, int steps) {
    return train_flags({{"model", "paramixer"}, {"task", "order"}, {"seq-len", "24"}, {"batch", "8"},
                        {"lr", "3e-3"}, {"schedule", "constant"}, {"steps", std::to_string(steps)},
                        {"eval-every", "10"}, {"save-every", "10"}, {"keep-best", "true"}, {"out", out}});
  };
  const std::string whole_dir = empty_temp_dir("best_whole"), split_dir = empty_temp_dir("best_split");
  const auto whole = apps::train(flags(whole_dir, 40), true);
  // The best of the validation accuracies the run recorded, first one on ties.
  double best_val = -1;
  int64_t best_step = 0;
  std::istringstream lines(read_bytes(whole_dir + "/metrics.jsonl"));
  for (std::string line; std::getline(lines, line);) {
    const nn::JsonValue v = nn::parse_json(line, "metrics.jsonl");
    if (v.find("split")->text != "val") continue;
    const double accuracy = std::stod(v.find("accuracy")->text);
    if (accuracy > best_val) best_val = accuracy, best_step = std::stoll(v.find("step")->text);
  }
  EXPECT_EQ(whole.best_step, best_step);
  EXPECT_NEAR(whole.best_val_accuracy, best_val, 1e-9);
  // This setting peaks before the end (else the test could not tell the best from the last).
  ASSERT_LT(whole.best_step, 40);
  EXPECT_NE(whole.best_test.loss, whole.test.loss);
  apps::Flags e;
  apps::add_eval_flags(e);
  e.set("checkpoint", whole_dir + "/best.safetensors");
  const apps::EvalResult t = apps::run_eval(e, true);
  EXPECT_EQ(t.loss, whole.best_test.loss);
  EXPECT_EQ(t.accuracy, whole.best_test.accuracy);
  // Stopped at the best step and resumed: the later, worse steps do not replace it.
  ASSERT_LE(whole.best_step, 20);
  apps::train(flags(split_dir, 20), true);
  const auto resumed = apps::train(train_flags({{"resume", split_dir}, {"steps", "40"}}), true);
  EXPECT_EQ(resumed.best_step, whole.best_step);
  EXPECT_EQ(resumed.best_test.loss, whole.best_test.loss);
  // A best.safetensors without its accuracy is refused by name.
  nn::SafetensorsFile f = nn::read_safetensors(split_dir + "/best.safetensors");
  f.metadata.erase("val_accuracy");
  nn::write_safetensors(split_dir + "/best.safetensors", f);
  EXPECT_NE(error_of([&] { apps::train(train_flags({{"resume", split_dir}, {"steps", "50"}}), true); })
                .find("no 'val_accuracy'"),
            std::string::npos);
  // So is one that lacks a parameter of the model (another model's, or damaged).
  f.metadata["val_accuracy"] = "0.5";
  const std::string dropped = f.tensors.front().first;
  f.tensors.erase(f.tensors.begin());
  nn::write_safetensors(split_dir + "/best.safetensors", f);
  EXPECT_NE(error_of([&] { apps::train(train_flags({{"resume", split_dir}, {"steps", "50"}}), true); })
                .find("has no tensor '" + dropped + "'"),
            std::string::npos);
}

TEST(EvalAndPlot, EvalReproducesTheRunsTestMetricsAndPlotWritesCurves) {
  const std::string dir = empty_temp_dir("eval");
  const auto r = apps::train(train_flags({{"model", "paramixer"}, {"task", "order"}, {"seq-len", "24"}, {"steps", "30"},
                                          {"batch", "8"}, {"save-every", "30"}, {"eval-every", "10"},
                                          {"log-every", "10"}, {"out", dir}}),
                             true);
  apps::Flags e;
  apps::add_eval_flags(e);
  e.set("checkpoint", apps::latest_run_checkpoint(dir));
  const apps::EvalResult t = apps::run_eval(e, true);
  EXPECT_EQ(t.loss, r.test.loss);
  EXPECT_EQ(t.accuracy, r.test.accuracy);
  EXPECT_NE(read_bytes(dir + "/metrics.jsonl").find("\"split\":\"eval_test\""), std::string::npos);
  e.set("split", "train");
  EXPECT_NE(error_of([&] { apps::run_eval(e, true); }).find("unknown --split 'train'"), std::string::npos);

  const std::string png = apps::plot_run(dir);  // "" when gnuplot is not installed
  const std::string dat = read_bytes(dir + "/curves.dat");
  EXPECT_NE(dat.find("# train"), std::string::npos);
  EXPECT_NE(dat.find("\n30 "), std::string::npos) << dat;
  EXPECT_TRUE(fs::exists(dir + "/curves.gp"));
  if (!png.empty()) {
    EXPECT_GT(fs::file_size(png), 1000u);
  }
  EXPECT_NE(error_of([&] { apps::plot_run(dir + "/nowhere"); }).find("cannot open"), std::string::npos);
}

// Format-1 checkpoints (before the encoders honoured --pooling) saved "pooling": "flatten", the
// flag's old default, for every model; an mra or transformer one is read as the mean-pooled model
// it was, a paramixer one as flattened. Rewrites a new checkpoint into format 1 to check both.
TEST(RunCheckpoint, FormatOneCheckpointsKeepTheirPooling) {
  for (const char* model : {"mra", "paramixer"}) {
    const std::string dir = empty_temp_dir(std::string("format1_") + model);
    const auto r = apps::train(train_flags({{"model", model}, {"task", "order"}, {"seq-len", "24"}, {"dim", "8"},
                                            {"hidden", "8"}, {"block", "8"}, {"steps", "6"}, {"batch", "4"},
                                            {"warmup", "0"}, {"save-every", "6"}, {"eval-every", "0"}, {"out", dir}}),
                               true);
    const std::string path = apps::latest_run_checkpoint(dir);
    nn::SafetensorsFile file = nn::read_safetensors(path);
    ASSERT_EQ(file.metadata.at("format"), "longmix-run-checkpoint-2");
    file.metadata["format"] = "longmix-run-checkpoint-1";
    std::string& config = file.metadata.at("config");
    const std::string now = "\"pooling\": \"auto\"";
    const size_t at = config.find(now);
    ASSERT_NE(at, std::string::npos) << config;
    config = config.substr(0, at) + "\"pooling\": \"flatten\"" + config.substr(at + now.size());
    nn::write_safetensors(path, file);
    apps::Flags e;
    apps::add_eval_flags(e);
    e.set("checkpoint", path);
    const apps::EvalResult t = apps::run_eval(e, true);
    EXPECT_EQ(t.loss, r.test.loss) << model;
    file.metadata["format"] = "longmix-run-checkpoint-2";  // now "flatten" means flatten: another model
    nn::write_safetensors(path, file);
    const std::string error = error_of([&] { apps::run_eval(e, true); });
    if (std::string(model) == "mra") {
      EXPECT_NE(error.find("head.weight"), std::string::npos) << error;
    } else {
      EXPECT_EQ(error, "no error");
    }
  }
}

TEST(Json, ParsesWhatLongmixWritesAndNamesErrors) {
  const nn::JsonValue v = nn::parse_json(R"({"a": [1, -2.5e3, true, null], "s": "x\"\\\u0041"})", "t");
  EXPECT_EQ(v.find("a")->items[1].text, "-2.5e3");
  EXPECT_TRUE(v.find("a")->items[2].boolean);
  EXPECT_EQ(v.find("s")->text, "x\"\\A");
  EXPECT_EQ(nn::parse_json(nn::json_quote("q\"\n"), "t").text, "q\"\n");
  EXPECT_NE(error_of([] { nn::parse_json("{\"a\": }", "cfg"); }).find("cfg: malformed JSON at byte"), std::string::npos);
  EXPECT_THROW(nn::parse_json("[1, 2", "t"), engine::Error);
  EXPECT_THROW(nn::parse_json("\"open", "t"), engine::Error);
}

}  // namespace
