// Results do not depend on the thread count: every model trains to bitwise the same losses and
// parameters with 1, 2 and 3 threads (3 threads on a 2-core machine also proves that the work
// split is a function of the shapes, not of the thread count). Each run has dropout on, lengths
// that are not powers of two (nor multiples of the attention block), and enough rows that the
// GEMMs are cut into several tiles.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "apps/flags.h"
#include "apps/train.h"
#include "engine/threads.h"

namespace {

struct Outcome {
  std::vector<double> losses;
  uint64_t digest;
};

Outcome train_with_threads(const std::vector<std::pair<std::string, std::string>>& settings, int threads) {
  apps::Flags f;
  apps::add_train_flags(f);
  // One directory per test: ctest -j runs these tests side by side.
  const auto dir = std::filesystem::temp_directory_path() /
                   ("longmix_test_determinism_" +
                    std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
  std::filesystem::remove_all(dir);
  for (const auto& [k, v] : settings) f.set(k, v);
  f.set("threads", std::to_string(threads));
  f.set("out", dir.string());
  f.set("steps", "6");
  f.set("eval-every", "0");
  const apps::TrainResult r = apps::train(f, true);
  engine::set_num_threads(0);
  return {r.train_losses, r.parameter_digest};
}

void expect_thread_count_independent(const std::vector<std::pair<std::string, std::string>>& settings) {
  const Outcome one = train_with_threads(settings, 1);
  for (int threads : {2, 3}) {
    const Outcome more = train_with_threads(settings, threads);
    EXPECT_EQ(one.losses, more.losses) << threads << " threads";  // bitwise
    EXPECT_EQ(one.digest, more.digest) << threads << " threads: the parameters differ";
  }
}

TEST(Determinism, Mlp) {
  expect_thread_count_independent({{"model", "mlp"}, {"task", "teacher"}, {"batch", "700"}, {"dropout", "0.1"}});
}

TEST(Determinism, ParamixerChord) {
  expect_thread_count_independent({{"model", "paramixer"}, {"task", "adding"}, {"seq-len", "300"},
                                   {"batch", "8"}, {"dropout", "0.1"}});
}

TEST(Determinism, ParamixerCdilWithRecomputation) {
  expect_thread_count_independent({{"model", "paramixer"}, {"protocol", "cdil"}, {"task", "order"},
                                   {"seq-len", "150"}, {"batch", "8"}, {"dropout", "0.1"}, {"recompute", "true"},
                                   {"pos-emb", "true"}, {"pooling", "mean"}});
}

TEST(Determinism, MraEncoder) {
  expect_thread_count_independent({{"model", "mra"}, {"task", "order"}, {"seq-len", "300"}, {"batch", "4"},
                                   {"dropout", "0.1"}, {"blocks-per-row", "3"}});
}

TEST(Determinism, MraEncoderSparseOnListOpsWithPadding) {
  expect_thread_count_independent({{"model", "mra"}, {"task", "listops"}, {"seq-len", "200"}, {"batch", "4"},
                                   {"mra-mode", "sparse"}, {"block", "16"}, {"blocks-per-row", "2"}});
}

TEST(Determinism, TransformerEncoder) {
  expect_thread_count_independent({{"model", "transformer"}, {"task", "adding"}, {"seq-len", "300"},
                                   {"batch", "4"}, {"dropout", "0.1"}});
}

TEST(Threads, DefaultSharesTheCoresAmongLocalMpiRanks) {
  EXPECT_EQ(engine::default_num_threads(nullptr, 0, 8), 8);
  EXPECT_EQ(engine::default_num_threads(nullptr, 2, 8), 4);   // 2 ranks on an 8-core machine
  EXPECT_EQ(engine::default_num_threads(nullptr, 16, 8), 1);  // never 0
  EXPECT_EQ(engine::default_num_threads("3", 2, 8), 3);       // OMP_NUM_THREADS wins
  EXPECT_EQ(engine::default_num_threads("", 0, 2), 2);
}

}  // namespace
