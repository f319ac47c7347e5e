// `longmix scaling`: every workload measured at every point, FLOP counts that match the
// shapes, the CSV / JSON / plot files, and list flags refused by name.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "apps/flags.h"
#include "apps/scaling/machine_probe.h"
#include "apps/scaling/scaling.h"
#include "engine/threads.h"
#include "nn/json.h"
#include "ops/paramixer/protocols.h"
#include "test_util.h"

namespace {

using testing_util::error_of;

apps::Flags scaling_flags(std::initializer_list<std::pair<const char*, std::string>> overrides) {
  apps::Flags f;
  apps::add_scaling_flags(f);
  f.set("reps", "2");
  f.set("probe", "false");
  f.set("threads", "1,2");
  for (const auto& [k, v] : overrides) f.set(k, v);
  return f;
}

TEST(Scaling, ProductRowsCountTheFlopsOfTheShapes) {
  const apps::ScalingReport r = apps::run_scaling(scaling_flags({{"seq-len", "37,100"}, {"batch", "3"}, {"dim", "17"}}), true);
  ASSERT_EQ(r.rows.size(), 4u);  // 2 lengths x 2 thread counts, N-major
  for (size_t i = 0; i < r.rows.size(); ++i) {
    const apps::ScalingRow& row = r.rows[i];
    EXPECT_EQ(row.seq_len, i < 2 ? 37 : 100);
    EXPECT_EQ(row.threads, i % 2 ? 2 : 1);
    EXPECT_GT(row.median_s, 0);
    EXPECT_LE(row.min_s, row.median_s);
    EXPECT_GE(row.max_s, row.median_s);
    // forward, dW and dV: one product each, 2 B N L D FLOPs
    const double L = static_cast<double>(ops::protocol_links(ops::Protocol::chord, row.seq_len));
    EXPECT_DOUBLE_EQ(row.flops, 3 * 2.0 * 3 * double(row.seq_len) * L * 17);
    EXPECT_GT(row.bytes, 0);
    EXPECT_DOUBLE_EQ(row.gflops, row.flops / row.median_s * 1e-9);
  }
  EXPECT_DOUBLE_EQ(r.rows[0].speedup, 1.0);
  EXPECT_DOUBLE_EQ(r.rows[1].speedup, r.rows[0].median_s / r.rows[1].median_s);
  EXPECT_DOUBLE_EQ(r.rows[1].efficiency, r.rows[1].speedup / 2);
  EXPECT_NE(r.description.find("chord product, B 3, D 17"), std::string::npos) << r.description;
}

TEST(Scaling, EveryWorkloadRuns) {
  for (const char* w : {"mra", "attention"}) {
    const apps::ScalingReport r = apps::run_scaling(scaling_flags({{"workload", w}, {"seq-len", "70"}, {"batch", "2"}}), true);
    ASSERT_EQ(r.rows.size(), 2u) << w;
    EXPECT_GT(r.rows[0].flops, 0) << w;
    EXPECT_EQ(r.rows[0].flops, r.rows[1].flops) << w;  // the same work at any thread count
  }
  for (const char* model : {"paramixer", "mra", "transformer"}) {
    const apps::ScalingReport r = apps::run_scaling(
        scaling_flags({{"workload", "train"}, {"model", model}, {"seq-len", "64"}, {"batch", "2"}}), true);
    ASSERT_EQ(r.rows.size(), 2u) << model;
    EXPECT_GT(r.rows[0].flops, 0) << model;
    EXPECT_EQ(r.rows[0].bytes, 0) << model;  // no meaningful minimum traffic for a whole step
    EXPECT_NE(r.description.find(std::string(model) + " training step on adding"), std::string::npos) << r.description;
  }
}

// --config times a preset's step: its model, task, shapes, batch and length, unless given here.
TEST(Scaling, TrainTimesTheStepOfAConfigPreset) {
  const std::string path = (std::filesystem::temp_directory_path() / "longmix_test_scaling_preset.json").string();
  std::ofstream(path) << R"({"model": "mra", "task": "order", "seq-len": 40, "batch": 3, "dim": 16, "heads": 2,
                             "hidden": 8, "layers": 1, "block": 8, "blocks-per-row": 2})";
  apps::ScalingReport r = apps::run_scaling(
      scaling_flags({{"workload", "train"}, {"config", path}, {"threads", "1"}}), true);
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0].seq_len, 40);
  EXPECT_NE(r.description.find("mra training step on order, batch 3"), std::string::npos) << r.description;
  r = apps::run_scaling(
      scaling_flags({{"workload", "train"}, {"config", path}, {"threads", "1"}, {"batch", "2"}, {"seq-len", "24,48"}}),
      true);
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[1].seq_len, 48);
  EXPECT_NE(r.description.find("mra training step on order, batch 2"), std::string::npos) << r.description;
}

TEST(Scaling, WritesCsvJsonAndPlots) {
  const auto dir = (std::filesystem::temp_directory_path() / "longmix_test_scaling").string();
  std::filesystem::remove_all(dir);
  const apps::ScalingReport r = apps::run_scaling(scaling_flags({{"seq-len", "40,80"}, {"batch", "2"}}), true);
  const std::vector<std::string> pngs = apps::write_scaling_report(r, dir);

  std::ifstream csv(dir + "/scaling.csv");
  std::vector<std::string> lines;
  for (std::string line; std::getline(csv, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0].rfind("workload,N,threads,median_s,min_s,max_s,speedup,efficiency,gflops,gbps,", 0), 0u);
  EXPECT_EQ(lines[2].rfind("product,40,2,", 0), 0u) << lines[2];

  std::ifstream json_in(dir + "/scaling.json");
  const std::string json((std::istreambuf_iterator<char>(json_in)), std::istreambuf_iterator<char>());
  const nn::JsonValue v = nn::parse_json(json, "scaling.json");
  ASSERT_NE(v.find("machine"), nullptr);
  EXPECT_NE(v.find("machine")->find("cpu"), nullptr);
  EXPECT_NE(v.find("machine")->find("thread_binding"), nullptr);
  ASSERT_NE(v.find("rows"), nullptr);
  EXPECT_EQ(v.find("rows")->items.size(), 4u);

  for (const char* f : {"scaling.dat", "strong_scaling.gp", "length_scaling.gp"})
    EXPECT_TRUE(std::filesystem::exists(dir + "/" + f)) << f;
  if (std::system("command -v gnuplot > /dev/null 2>&1") == 0) {  // CI installs gnuplot
    ASSERT_EQ(pngs.size(), 2u);
    for (const std::string& png : pngs) EXPECT_GT(std::filesystem::file_size(png), 1000u) << png;
  }
}

TEST(Scaling, BadListsAndWorkloadsAreNamed) {
  EXPECT_NE(error_of([] { apps::parse_int_list("2,1", "threads"); }).find("--threads: give the values in ascending order"),
            std::string::npos);
  EXPECT_NE(error_of([] { apps::parse_int_list("1,x", "seq-len"); }).find("--seq-len: expected an integer, got 'x'"),
            std::string::npos);
  EXPECT_NE(error_of([] { apps::parse_int_list("0", "threads"); }).find("values must be >= 1"), std::string::npos);
  EXPECT_NE(error_of([] { apps::parse_int_list("", "threads"); }).find("comma-separated list"), std::string::npos);
  EXPECT_NE(error_of([] { apps::run_scaling(scaling_flags({{"workload", "fft"}, {"seq-len", "16"}}), true); })
                .find("unknown workload 'fft'"),
            std::string::npos);
  EXPECT_NE(error_of([] { apps::run_scaling(scaling_flags({{"reps", "0"}}), true); }).find("--reps must be >= 1"),
            std::string::npos);
}

TEST(Scaling, MachineProbeMeasuresPositivePeaks) {
  engine::set_num_threads(1);
  const apps::MachinePeaks p = apps::probe_machine();
  engine::set_num_threads(0);
  EXPECT_GT(p.sgemm_gflops, 0.5);
  EXPECT_GT(p.triad_gbps, 0.1);
}

}  // namespace
