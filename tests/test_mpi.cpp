// Data-parallel training over MPI, as a user runs it (`mpirun -np 2 longmix train ...`):
// 2 ranks x global batch 16 follow 1 process x batch 16 (losses and parameters), resume under
// MPI continues bitwise, and bad starts end the job with a message instead of hanging.
// Built only when CMake found MPI; OMPI_ALLOW_RUN_AS_ROOT lets CI's root user start mpirun.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "nn/json.h"
#include "nn/safetensors.h"

namespace {

const std::string kLongmix = LONGMIX_BINARY;
// Containers often forbid the cross-memory attach that shared-memory transport tries first.
const std::string kMpirun =
    "env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --mca btl_vader_single_copy_mechanism none"
    " --bind-to none";

// Per test (ctest runs tests in parallel) and per name.
std::string temp_dir(const std::string& name) {
  const std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  const auto dir = std::filesystem::temp_directory_path() / ("longmix_test_mpi_" + test + "_" + name);
  std::filesystem::remove_all(dir);
  return dir.string();
}

struct CommandResult {
  int exit_code;
  std::string output;
};

CommandResult run(const std::string& command) {
  const std::string log = temp_dir("log") + ".txt";
  const int status = std::system(("timeout 300 " + command + " > " + log + " 2>&1").c_str());
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  return {WEXITSTATUS(status), text.str()};
}

std::vector<double> train_losses(const std::string& dir) {
  std::ifstream in(dir + "/metrics.jsonl");
  std::vector<double> losses;
  for (std::string line; std::getline(in, line);) {
    const nn::JsonValue v = nn::parse_json(line, "metrics.jsonl");
    if (v.find("split")->text == "train") losses.push_back(std::stod(v.find("loss")->text));
  }
  return losses;
}

const std::string kCommon = " --task adding --seq-len 67 --steps 20 --log-every 1 --eval-every 0 --save-every 20"
                            " --batch 16 --seed 3";

void expect_two_ranks_follow_one_process(const std::string& model_flags) {
  const std::string one = temp_dir("one"), two = temp_dir("two");
  const CommandResult a = run(kLongmix + " train" + model_flags + kCommon + " --out " + one);
  ASSERT_EQ(a.exit_code, 0) << a.output;
  const CommandResult b = run(kMpirun + " -np 2 " + kLongmix + " train" + model_flags + kCommon + " --out " + two);
  ASSERT_EQ(b.exit_code, 0) << b.output;
  EXPECT_NE(b.output.find("2 MPI ranks x 1 threads"), std::string::npos) << b.output;
  EXPECT_NE(b.output.find("communication:"), std::string::npos) << b.output;

  const std::vector<double> la = train_losses(one), lb = train_losses(two);
  ASSERT_EQ(la.size(), 20u);
  ASSERT_EQ(lb.size(), 20u);
  for (size_t i = 0; i < la.size(); ++i)
    EXPECT_LE(std::fabs(la[i] - lb[i]), 1e-5 * std::fabs(la[i])) << "step " << i + 1 << ": " << la[i] << " vs " << lb[i];

  const nn::SafetensorsFile pa = nn::read_safetensors(one + "/checkpoint-00000020.safetensors");
  const nn::SafetensorsFile pb = nn::read_safetensors(two + "/checkpoint-00000020.safetensors");
  ASSERT_EQ(pa.tensors.size(), pb.tensors.size());
  for (size_t t = 0; t < pa.tensors.size(); ++t) {
    const auto& [name, x] = pa.tensors[t];
    if (name.rfind("model.", 0) != 0) continue;
    const engine::Tensor* y = pb.find(name);
    ASSERT_NE(y, nullptr) << name;
    double worst = 0;
    for (int64_t i = 0; i < x.numel(); ++i) worst = std::max(worst, std::fabs(x.at_flat(i) - y->at_flat(i)));
    EXPECT_LE(worst, 1e-5) << name;  // 20 Adam steps of lr 1e-3 move a weight by up to 2e-2
  }
}

TEST(Mpi, ParamixerTwoRanksFollowOneProcess) {
  expect_two_ranks_follow_one_process(" --model paramixer --protocol cdil --dropout 0.1");
}

TEST(Mpi, MraTwoRanksFollowOneProcess) {
  expect_two_ranks_follow_one_process(" --model mra --block 16 --blocks-per-row 2 --dropout 0.1 --dim 32 --hidden 32");
}

TEST(Mpi, ResumeUnderMpiContinuesBitwise) {
  const std::string whole = temp_dir("whole"), halves = temp_dir("halves");
  const std::string flags = " train --model paramixer --task order --seq-len 40 --batch 8 --log-every 1 --eval-every 0"
                            " --save-every 5 --dropout 0.1 --schedule constant";
  ASSERT_EQ(run(kMpirun + " -np 2 " + kLongmix + flags + " --steps 10 --out " + whole).exit_code, 0);
  ASSERT_EQ(run(kMpirun + " -np 2 " + kLongmix + flags + " --steps 5 --out " + halves).exit_code, 0);
  const CommandResult resumed = run(kMpirun + " -np 2 " + kLongmix + " train --resume " + halves + " --steps 10");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(train_losses(whole), train_losses(halves));  // bitwise
}

TEST(Mpi, MismatchedConfigurationsAreRefused) {
  const std::string dir = temp_dir("mismatch");
  const std::string flags = " train --model paramixer --task adding --seq-len 32 --steps 2 --batch 4 --out " + dir;
  const CommandResult r = run(kMpirun + " -np 1 " + kLongmix + flags + " --lr 1e-3 : -np 1 " + kLongmix + flags + " --lr 2e-3");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("the ranks disagree on the configuration: rank(s) 1 differ from rank 0"), std::string::npos)
      << r.output;
}

TEST(Mpi, GlobalBatchMustSplitEvenly) {
  const CommandResult r = run(kMpirun + " -np 2 " + kLongmix + " train --model paramixer --task adding --seq-len 32 --steps 2"
                    " --batch 15 --out " + temp_dir("uneven"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--batch 15 (the global batch) must split evenly over the 2 ranks"), std::string::npos)
      << r.output;
  // Every rank finds it; whichever aborts first ends the job, so either may be the one heard.
  EXPECT_NE(r.output.find(" of 2): error: --batch 15"), std::string::npos) << r.output;
}

TEST(Mpi, ARankThatDiesEndsTheJob) {
  // Rank 1 exits at once; rank 0 must not wait for it forever (the 300 s timeout would say 124).
  const CommandResult r = run(kMpirun + " -np 1 " + kLongmix + " train --model paramixer --task adding --seq-len 32"
                    " --steps 100000 --batch 4 --out " + temp_dir("dies") + " : -np 1 sh -c 'exit 3'");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.exit_code, 124) << "the job hung: " << r.output;
}

}  // namespace
