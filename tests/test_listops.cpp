// ListOps: generated expressions evaluate to their labels, lengths and masks, reproducibility,
// and the encoders ignoring whatever sits under the padding mask.
#include <gtest/gtest.h>

#include "apps/tasks/listops.h"
#include "apps/tasks/registry.h"
#include "nn/encoder.h"
#include "tests/test_util.h"

using engine::Tensor;

namespace {

TEST(ListOps, OperatorsFollowTheGrammar) {
  // [MAX 3 [SM 9 4 ] [MED 1 8 2 7 ] ] = max(3, 13 % 10, (2 + 7) / 2) = 4
  EXPECT_EQ(apps::evaluate_listops({11, 4, 14, 10, 5, 15, 13, 2, 9, 3, 8, 15, 15}), 4);
  EXPECT_EQ(apps::evaluate_listops({12, 6, 3, 15}), 2);  // [MIN 5 2 ]
  EXPECT_EQ(apps::listops_text({12, 6, 3, 15}), "[MIN 5 2 ]");
  EXPECT_THROW(apps::evaluate_listops({12, 6, 3}), engine::Error);
}

TEST(ListOps, ExamplesHaveTheirValueLengthAndMask) {
  apps::ListOpsConfig c;
  c.seq_len = 700;
  const apps::ListOpsTask task(c);
  const apps::Batch b = task.batch(apps::Split::val, 3, 16);
  int classes_seen = 0;
  bool seen[10] = {};
  for (int64_t n = 0; n < 16; ++n) {
    std::vector<int32_t> tokens;
    int64_t length = 0;
    for (int64_t i = 0; i < 700; ++i) {
      const int32_t t = b.inputs.data<int32_t>()[n * 700 + i];
      const bool present = b.mask.data<float>()[n * 700 + i] == 1.f;
      EXPECT_EQ(present, t != 0) << "mask and padding agree";
      if (present) {
        tokens.push_back(t);
        length = i + 1;
      }
    }
    EXPECT_EQ(static_cast<int64_t>(tokens.size()), length) << "padding only at the end";
    EXPECT_GE(length, task.min_length());
    EXPECT_EQ(apps::evaluate_listops(tokens), b.targets.data<int32_t>()[n]);
    const int v = b.targets.data<int32_t>()[n];
    classes_seen += !seen[v];
    seen[v] = true;
  }
  EXPECT_GE(classes_seen, 4);
  // Reproducible alone, and the splits differ.
  EXPECT_TRUE(testing_util::bitwise_equal(task.batch(apps::Split::val, 5, 1).inputs,
                                          b.inputs.block_view(2 * 700, {1, 700}).clone()));
  EXPECT_FALSE(testing_util::bitwise_equal(task.batch(apps::Split::test, 3, 1).inputs,
                                           b.inputs.block_view(0, {1, 700}).clone()));
  c.seq_len = 8;
  EXPECT_THROW(apps::ListOpsTask bad(c), engine::Error);
}

// --data-seed fixes the data alone: runs that differ only in --seed share it (and so their
// test split); without it the data follow --seed.
TEST(ListOps, DataSeedFixesTheDataWhateverTheSeed) {
  auto test_inputs = [](const std::string& seed, const std::string& data_seed) {
    apps::Flags f;
    apps::add_task_flags(f);
    f.add_int("seed", 0, "");
    f.set("task", "listops");
    f.set("seq-len", "600");
    f.set("seed", seed);
    f.set("data-seed", data_seed);
    return apps::make_task(f)->batch(apps::Split::test, 0, 4).inputs;
  };
  const Tensor seed0 = test_inputs("0", "-1");
  EXPECT_TRUE(testing_util::bitwise_equal(test_inputs("1", "0"), seed0));
  EXPECT_TRUE(testing_util::bitwise_equal(test_inputs("7", "0"), seed0));
  EXPECT_FALSE(testing_util::bitwise_equal(test_inputs("1", "-1"), seed0));
  EXPECT_TRUE(testing_util::bitwise_equal(test_inputs("1", "-1"), test_inputs("0", "1")));
  EXPECT_THROW(test_inputs("0", "-2"), engine::Error);
}

// --test-size / --val-size resize a generated split without changing its examples: the
// default 2000-example test split is the start of a larger one. Bad sizes, and the flags on
// fashion-mnist (whose splits are the dataset's), are refused.
TEST(ListOps, SplitSizeFlagsExtendTheSplitsAndKeepTheirExamples) {
  auto task_with = [](const std::string& task, const std::string& val_size, const std::string& test_size) {
    apps::Flags f;
    apps::add_task_flags(f);
    f.add_int("seed", 0, "");
    f.set("task", task);
    f.set("seq-len", "600");
    f.set("val-size", val_size);
    f.set("test-size", test_size);
    return apps::make_task(f);
  };
  const auto standard = task_with("listops", "-1", "-1");
  const auto large = task_with("listops", "50", "5000");
  EXPECT_EQ(standard->split_size(apps::Split::test), 2000);
  EXPECT_EQ(standard->split_size(apps::Split::val), 2000);
  EXPECT_EQ(large->split_size(apps::Split::test), 5000);
  EXPECT_EQ(large->split_size(apps::Split::val), 50);
  EXPECT_TRUE(testing_util::bitwise_equal(large->batch(apps::Split::test, 1996, 4).inputs,
                                          standard->batch(apps::Split::test, 1996, 4).inputs));
  EXPECT_NO_THROW(large->batch(apps::Split::test, 4998, 2));
  EXPECT_THROW(standard->batch(apps::Split::test, 4998, 2), engine::Error);
  EXPECT_THROW(large->batch(apps::Split::val, 49, 2), engine::Error);
  EXPECT_EQ(task_with("adding", "-1", "300")->split_size(apps::Split::test), 300);
  EXPECT_EQ(task_with("adding", "-1", "-1")->split_size(apps::Split::val), 1000);
  EXPECT_EQ(task_with("teacher", "7", "-1")->split_size(apps::Split::val), 7);
  EXPECT_THROW(task_with("listops", "0", "-1"), engine::Error);
  EXPECT_THROW(task_with("listops", "-1", "-5"), engine::Error);
  try {
    task_with("fashion-mnist", "-1", "5000");
    ADD_FAILURE() << "fashion-mnist accepted --test-size";
  } catch (const engine::Error& e) {
    EXPECT_NE(std::string(e.what()).find("--test-size"), std::string::npos) << e.what();
  }
}

// Whatever the padded positions hold, an encoder's output is the same: they are masked out of
// attention (as keys) and of the pooling.
TEST(ListOps, EncodersIgnoreWhatIsUnderThePaddingMask) {
  for (nn::AttentionKind kind : {nn::AttentionKind::mra, nn::AttentionKind::exact}) {
    engine::Rng rng(3);
    nn::EncoderNetConfig c;
    c.seq_len = 70;
    c.vocab = apps::kListOpsVocab;
    c.outputs = 10;
    c.block.attention.dim = 16;
    c.block.attention.kind = kind;
    c.block.attention.mra.block = 16;
    c.block.attention.mra.blocks_per_row = 2;
    nn::EncoderNet net(c, rng);
    net.eval();
    std::vector<int32_t> ids(2 * 70), other(2 * 70);
    std::vector<double> mask(2 * 70);
    for (int i = 0; i < 140; ++i) {
      const bool present = (i % 70) < (i < 70 ? 70 : 41);
      mask[i] = present;
      ids[i] = present ? 1 + (i * 7) % 15 : 0;
      other[i] = present ? ids[i] : 1 + (i % 15);
    }
    const Tensor m = Tensor::from_data({2, 70}, mask);
    const Tensor a = net.forward(Tensor::from_data({2, 70}, ids), m);
    const Tensor b = net.forward(Tensor::from_data({2, 70}, other), m);
    EXPECT_TRUE(testing_util::all_close(a, b, 1e-6, 1e-5));
    const Tensor unmasked = net.forward(Tensor::from_data({2, 70}, other));
    EXPECT_FALSE(testing_util::all_close(unmasked, a, 1e-6, 1e-5)) << "the mask must matter";
  }
}

}  // namespace
