// Crash safety, as a user meets it: a training run killed with SIGKILL (during a checkpoint
// write, or at any moment) and resumed with `longmix train --resume DIR` continues from its
// last complete checkpoint with exactly the losses of a run that was never killed, and no
// checkpoint is ever half-written.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "apps/run_checkpoint.h"
#include "engine/check.h"
#include "nn/json.h"

namespace {

std::string flags(int steps) {
  return " train --model paramixer --protocol cdil --task order --seq-len 45 --batch 8 --save-every 5 --log-every 1"
         " --eval-every 0 --dropout 0.1 --schedule constant --threads 1 --steps " + std::to_string(steps);
}
const std::string kFlags = flags(60);

std::string temp_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("longmix_test_crash_" + name);
  std::filesystem::remove_all(dir);
  return dir.string();
}

// step -> loss of the training records (a resumed run has dropped the records after its checkpoint).
std::map<int64_t, double> losses(const std::string& dir) {
  std::ifstream in(dir + "/metrics.jsonl");
  std::map<int64_t, double> by_step;
  for (std::string line; std::getline(in, line);) {
    const nn::JsonValue v = nn::parse_json(line, "metrics.jsonl");
    if (v.find("split")->text != "train") continue;
    const int64_t step = v.find("step")->as_int("step");
    EXPECT_EQ(by_step.count(step), 0u) << "step " << step << " recorded twice in " << dir;
    by_step[step] = std::stod(v.find("loss")->text);
  }
  return by_step;
}

int run(const std::string& args, const std::string& env = "") {
  const int status = std::system((env + " " + LONGMIX_BINARY + args + " > /dev/null 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Every checkpoint in dir must read back whole.
void expect_checkpoints_whole(const std::string& dir) {
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("checkpoint-", 0) == 0 && e.path().extension() == ".safetensors") {
      EXPECT_NO_THROW(apps::read_run_checkpoint(e.path().string())) << name;
    }
  }
}

TEST(CrashSafety, KilledDuringACheckpointWriteResumesFromTheLastWholeOne) {
  const std::string reference = temp_dir("reference"), crashed = temp_dir("during_write");
  ASSERT_EQ(run(kFlags + " --out " + reference), 0);
  // The 3rd checkpoint (step 15) dies halfway through its data.
  EXPECT_EQ(run(kFlags + " --out " + crashed, "LONGMIX_TEST_KILL_DURING_SAVE=3"), 128 + SIGKILL);
  EXPECT_TRUE(std::filesystem::exists(crashed + "/checkpoint-00000015.safetensors.tmp"));
  EXPECT_FALSE(std::filesystem::exists(crashed + "/checkpoint-00000015.safetensors"));
  EXPECT_EQ(apps::latest_run_checkpoint(crashed), crashed + "/checkpoint-00000010.safetensors");
  expect_checkpoints_whole(crashed);
  ASSERT_EQ(run(" train --resume " + crashed), 0);
  EXPECT_EQ(losses(crashed), losses(reference));  // bitwise, every step once
  expect_checkpoints_whole(crashed);
}

TEST(CrashSafety, KilledAtAnyMomentResumesToTheSameLosses) {
  // Each kill comes as soon as the run has logged the given step (between checkpoints, or
  // while one is being written), then the run resumes from its newest whole checkpoint.
  const std::string long_flags = flags(300), reference = temp_dir("reference2"), crashed = temp_dir("any_moment");
  ASSERT_EQ(run(long_flags + " --out " + reference), 0);
  bool first = true;
  for (int64_t kill_at : {23, 117, 262}) {
    const pid_t pid = fork();
    if (pid == 0) {
      const std::string args = first ? long_flags + " --out " + crashed : " train --resume " + crashed;
      execl("/bin/sh", "sh", "-c", (std::string("exec ") + LONGMIX_BINARY + args + " > /dev/null 2>&1").c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int polls = 0; polls < 6000; ++polls) {  // at most a minute
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      std::map<int64_t, double> seen;
      try {
        seen = losses(crashed);
      } catch (const engine::Error&) {  // a line being written right now
        continue;
      }
      if (!seen.empty() && seen.rbegin()->first >= kill_at) break;
    }
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    expect_checkpoints_whole(crashed);
    ASSERT_FALSE(apps::latest_run_checkpoint(crashed).empty());
    EXPECT_LT(losses(crashed).rbegin()->first, 300) << "the kill came after the run had finished";
    first = false;
  }
  ASSERT_EQ(run(first ? long_flags + " --out " + crashed : " train --resume " + crashed), 0);
  EXPECT_EQ(losses(crashed), losses(reference));
}

}  // namespace
