// The attention encoders: head layout ops, patch order, whole-network gradient checks for
// MRA-2 and exact attention, the classifier head, the token embedding's initial scale, and a
// learning test from the CLI's training loop.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>

#include "apps/flags.h"
#include "apps/models.h"
#include "apps/tasks/registry.h"
#include "apps/train.h"
#include "nn/encoder.h"
#include "nn/head.h"
#include "nn/input_embedding.h"
#include "nn/paramixer.h"
#include "nn/patch_order.h"
#include "ops/activations.h"
#include "ops/attention/heads.h"
#include "ops/elementwise.h"
#include "ops/matmul.h"
#include "tests/test_util.h"

using engine::DType;
using engine::Tensor;

namespace {

TEST(Heads, SplitAndMergeAreInversePermutationsWithGradients) {
  engine::Rng rng(1);
  const Tensor x = testing_util::randn({2, 5, 3 * 2 * 4}, rng);  // B 2, N 5, 3 parts x 2 heads x d 4
  const Tensor k = ops::split_heads(x, 2, 1, 3);
  ASSERT_EQ(k.shape(), engine::Shape({4, 5, 4}));
  // Head 1 of batch 1, position 3, element 2 comes from column 1 * 8 + 1 * 4 + 2.
  EXPECT_EQ(k.at_flat(((1 * 2 + 1) * 5 + 3) * 4 + 2), x.at_flat((1 * 5 + 3) * 24 + 14));
  const Tensor y = testing_util::randn({4, 5, 4}, rng);
  EXPECT_TRUE(testing_util::bitwise_equal(ops::split_heads(ops::merge_heads(y, 2), 2), y));
  EXPECT_GRADCHECK([&] { return ops::split_heads(x, 2, 2, 3); }, {x});
  EXPECT_GRADCHECK([&] { return ops::merge_heads(y, 2); }, {y});
  EXPECT_THROW(ops::split_heads(x, 5, 0, 3), engine::Error);
}

TEST(PatchOrder, BlocksOf32AreFourByEightPatches) {
  const std::vector<int64_t> order = nn::patch_order(32);
  ASSERT_EQ(order.size(), 1024u);
  EXPECT_EQ(order[0], 0);
  EXPECT_EQ(order[7], 7);
  EXPECT_EQ(order[8], 32);       // second row of the first patch
  EXPECT_EQ(order[31], 3 * 32 + 7);
  EXPECT_EQ(order[32], 8);       // the next patch, to the right
  std::vector<int64_t> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1024; ++i) EXPECT_EQ(sorted[static_cast<size_t>(i)], i);
  EXPECT_THROW(nn::patch_order(28), engine::Error);
}

void gradcheck_encoder(nn::AttentionKind kind, bool masked,
                       const std::function<void(nn::EncoderNetConfig&)>& configure = nullptr) {
  engine::Rng rng(2);
  nn::EncoderNetConfig c;
  c.seq_len = 37;
  c.layers = 2;
  c.vocab = 6;
  c.outputs = 3;
  c.block.ffn = 6;
  c.block.attention.dim = 8;
  c.block.attention.heads = 2;
  c.block.attention.kind = kind;
  c.block.attention.mra.block = 8;
  c.block.attention.mra.blocks_per_row = 2;
  if (configure) configure(c);
  nn::EncoderNet net(c, rng);
  net.to(DType::f64);
  std::vector<int32_t> ids;
  std::vector<double> mask;
  for (int i = 0; i < 2 * 37; ++i) {
    ids.push_back((i * 5 + 1) % 6);
    mask.push_back(i >= 37 + 30 ? 0.0 : 1.0);  // the second sequence is 30 tokens long
  }
  const Tensor tokens = Tensor::from_data({2, 37}, ids);
  const Tensor key_mask = masked ? Tensor::from_data({2, 37}, mask) : Tensor();
  std::vector<Tensor> params;
  std::vector<std::string> names;
  for (auto& [name, t] : net.named_parameters()) {
    params.push_back(t);
    names.push_back(name);
  }
  // Masked-token pretraining: the token logits at a few positions of both sequences.
  const Tensor positions = Tensor::from_data({4}, std::vector<int32_t>{3, 20, 37 + 5, 37 + 29});
  const auto r = engine::gradcheck(
      [&] { return c.token_vocab > 0 ? net.token_logits(tokens, key_mask, positions) : net.forward(tokens, key_mask); },
      params, {}, names);
  EXPECT_TRUE(r.ok) << r.report;
}

TEST(EncoderNet, GradcheckExactAttention) { gradcheck_encoder(nn::AttentionKind::exact, false); }
TEST(EncoderNet, GradcheckMraWithKeyMask) { gradcheck_encoder(nn::AttentionKind::mra, true); }
TEST(EncoderNet, GradcheckMraWithKeyMaskAndMlpHead) {
  gradcheck_encoder(nn::AttentionKind::mra, true, [](nn::EncoderNetConfig& c) { c.head_hidden = 5; });
}
TEST(EncoderNet, GradcheckMraWithKeyMaskAndFlattenPooling) {
  gradcheck_encoder(nn::AttentionKind::mra, true, [](nn::EncoderNetConfig& c) { c.pooling = nn::EncoderPooling::flatten; });
}
TEST(EncoderNet, GradcheckMraWithKeyMaskAndFirstPositionPooling) {
  gradcheck_encoder(nn::AttentionKind::mra, true, [](nn::EncoderNetConfig& c) { c.pooling = nn::EncoderPooling::first; });
}
TEST(EncoderNet, GradcheckTokenLogitsForMaskedTokenPretraining) {
  for (nn::AttentionKind kind : {nn::AttentionKind::exact, nn::AttentionKind::mra})
    gradcheck_encoder(kind, true, [](nn::EncoderNetConfig& c) { c.token_vocab = 6; });
}
TEST(EncoderNet, GradcheckRotaryExactAndMra) {
  for (nn::AttentionKind kind : {nn::AttentionKind::exact, nn::AttentionKind::mra})
    gradcheck_encoder(kind, true, [](nn::EncoderNetConfig& c) { c.block.attention.rotary = true; });
}

// A linear head keeps the names checkpoints already hold; an MLP head has torch's Sequential
// numbering under the same "head." prefix, and its forward is fc2(gelu(fc1(pooled))).
TEST(EncoderNet, HeadNamesAndMlpHeadForward) {
  auto names_of = [](int64_t head_hidden) {
    engine::Rng rng(4);
    nn::EncoderNetConfig c;
    c.seq_len = 8;
    c.vocab = 5;
    c.outputs = 3;
    c.head_hidden = head_hidden;
    std::map<std::string, engine::Shape> shapes;
    for (auto& [name, t] : nn::EncoderNet(c, rng).named_parameters())
      if (name.rfind("head.", 0) == 0) shapes[name] = t.shape();
    return shapes;
  };
  // D = 64, the default width.
  const std::map<std::string, engine::Shape> linear = {{"head.weight", {3, 64}}, {"head.bias", {3}}};
  EXPECT_EQ(names_of(0), linear);
  const std::map<std::string, engine::Shape> mlp = {
      {"head.0.weight", {7, 64}}, {"head.0.bias", {7}}, {"head.2.weight", {3, 7}}, {"head.2.bias", {3}}};
  EXPECT_EQ(names_of(7), mlp);

  engine::Rng rng(5);
  const nn::Head head(4, 6, 2, rng);
  std::map<std::string, Tensor> p;
  for (auto& [name, t] : head.named_parameters()) p[name] = t;
  const Tensor x = Tensor::randn({3, 4}, rng);
  const Tensor want = ops::add(ops::matmul(ops::gelu(ops::add(ops::matmul(x, p.at("0.weight"), false, true),
                                                              p.at("0.bias"))),
                                           p.at("2.weight"), false, true),
                               p.at("2.bias"));
  const Tensor got = head.forward(x);
  for (int64_t i = 0; i < want.numel(); ++i) EXPECT_NEAR(got.data<float>()[i], want.data<float>()[i], 1e-5);
  EXPECT_THROW(nn::Head(4, -1, 2, rng), engine::Error);
}

apps::Flags train_flags(std::initializer_list<std::pair<const char*, std::string>> overrides) {
  apps::Flags f;
  apps::add_train_flags(f);
  for (const auto& [k, v] : overrides) f.set(k, v);
  return f;
}

// A model as `longmix train` builds it from these flags (initialization seed 1), with its task.
struct CliModel {
  std::unique_ptr<apps::Task> task;
  std::unique_ptr<apps::Model> model;

  Tensor parameter(const std::string& wanted) {  // undefined when the model has none of that name
    for (auto& [name, t] : model->module().named_parameters())
      if (name == wanted) return t;
    return Tensor();
  }
  std::vector<float> logits() {  // on the first two training examples
    const apps::Batch b = task->batch(apps::Split::train, 0, 2);
    const Tensor out = model->forward(b.inputs, b.mask);
    return std::vector<float>(out.data<float>(), out.data<float>() + out.numel());
  }
};

CliModel cli_model(std::initializer_list<std::pair<const char*, std::string>> overrides) {
  const apps::Flags f = train_flags(overrides);
  CliModel m;
  m.task = apps::make_task(f);
  engine::Rng init(1);
  m.model = apps::make_model(f, *m.task, init);
  return m;
}

// --pooling: auto is flatten for the Paramixer net, mean for the encoders; flatten gives the
// encoder's head every position's features (N * D inputs), so the order of the tokens and what
// sits under the key mask reach the logits, which the masked mean leaves out.
TEST(EncoderNet, PoolingFlagChoosesTheHeadsInputs) {
  auto head_inputs = [](const char* model, const char* pooling) {
    const Tensor w = cli_model({{"model", model}, {"task", "order"}, {"seq-len", "64"}, {"dim", "16"},
                                {"heads", "2"}, {"pooling", pooling}})
                         .parameter("head.weight");
    return w.defined() ? w.dim(1) : int64_t{-1};
  };
  for (const char* model : {"mra", "transformer"}) {
    EXPECT_EQ(head_inputs(model, "auto"), 16) << model;
    EXPECT_EQ(head_inputs(model, "mean"), 16) << model;
    EXPECT_EQ(head_inputs(model, "flatten"), 64 * 16) << model;
    EXPECT_EQ(head_inputs(model, "first"), 16) << model;
  }
  EXPECT_EQ(head_inputs("paramixer", "auto"), 64 * 16);
  EXPECT_EQ(head_inputs("paramixer", "mean"), 16);
  const std::string e = testing_util::error_of([&] { head_inputs("mra", "max"); });
  EXPECT_NE(e.find("unknown --pooling 'max'"), std::string::npos) << e;
  const std::string p = testing_util::error_of([&] { head_inputs("paramixer", "first"); });
  EXPECT_NE(p.find("--pooling first is for the mra and transformer encoders"), std::string::npos) << p;

  auto logits = [](nn::EncoderPooling pooling, int32_t masked_token) {
    engine::Rng rng(8);
    nn::EncoderNetConfig c;
    c.seq_len = 12;
    c.vocab = 5;
    c.outputs = 3;
    c.block.attention.dim = 8;
    c.block.attention.heads = 2;
    c.block.ffn = 8;
    c.pooling = pooling;
    std::vector<int32_t> ids = {1, 2, 3, 4, 1, 2, 3, 4, 1, 2, masked_token, masked_token};
    std::vector<float> mask(12, 1.0f);
    mask[10] = mask[11] = 0.0f;
    const Tensor out = nn::EncoderNet(c, rng).forward(Tensor::from_data({1, 12}, ids), Tensor::from_data({1, 12}, mask));
    return std::vector<float>(out.data<float>(), out.data<float>() + 3);
  };
  using nn::EncoderPooling;
  EXPECT_EQ(logits(EncoderPooling::mean, 0), logits(EncoderPooling::mean, 4));  // the masked mean does not see them
  EXPECT_NE(logits(EncoderPooling::flatten, 0), logits(EncoderPooling::flatten, 4));  // flatten does
  // The first position reads the others only through attention, which leaves masked keys out.
  EXPECT_EQ(logits(EncoderPooling::first, 0), logits(EncoderPooling::first, 4));
  EXPECT_NE(logits(EncoderPooling::first, 0), logits(EncoderPooling::mean, 0));
}

// --rotary turns the encoders' queries and keys (no parameters of its own, so the parameter
// count is unchanged and the output is not); refused where it has no meaning.
TEST(EncoderNet, RotaryFlagTurnsQueriesAndKeysOfTheEncodersOnly) {
  auto run = [](const char* model, const char* rotary, const char* heads) {
    CliModel m = cli_model({{"model", model}, {"task", "order"}, {"seq-len", "40"}, {"dim", "12"}, {"heads", heads},
                            {"rotary", rotary}});
    return std::make_pair(m.model->module().num_parameters(), m.logits());
  };
  for (const char* model : {"mra", "transformer"}) {
    const auto plain = run(model, "false", "2"), turned = run(model, "true", "2");
    EXPECT_EQ(plain.first, turned.first) << model;
    EXPECT_NE(plain.second, turned.second) << model;
    const std::string odd = testing_util::error_of([&] { run(model, "true", "4"); });  // d = 3
    EXPECT_NE(odd.find("head width 3 is odd"), std::string::npos) << odd;
  }
  const std::string e = testing_util::error_of([&] { run("paramixer", "true", "2"); });
  EXPECT_NE(e.find("--rotary"), std::string::npos) << e;
}

// --mra-prior-diagonal reaches MRA-2's selection: with 2 of 8 blocks per row refined, forcing
// the diagonal band changes the output.
TEST(EncoderNet, MraPriorDiagonalFlagChangesTheSelection) {
  auto logits = [](const char* prior) {
    return cli_model({{"model", "mra"}, {"task", "order"}, {"seq-len", "256"}, {"dim", "8"}, {"heads", "2"},
                      {"blocks-per-row", "2"}, {"mra-prior-diagonal", prior}})
        .logits();
  };
  EXPECT_NE(logits("0"), logits("1"));
  EXPECT_EQ(logits("1"), logits("1"));
}

// --embedding-std scales the token embedding's initial draw (the same random numbers, so the
// rest of the network's initialization is unchanged) in both model families; it is refused
// where there is no token embedding, and when not positive.
TEST(EncoderNet, EmbeddingStdScalesTheTokenEmbeddingOnly) {
  auto encoder_params = [](double std) {
    engine::Rng rng(6);
    nn::EncoderNetConfig c;
    c.seq_len = 8;
    c.vocab = 40;
    c.outputs = 3;
    c.embedding_std = std;
    std::map<std::string, Tensor> p;
    for (auto& [name, t] : nn::EncoderNet(c, rng).named_parameters()) p[name] = t;
    return p;
  };
  auto paramixer_embedding = [](double std) {
    engine::Rng rng(6);
    nn::ParamixerNetConfig c;
    c.layer.seq_len = 8;
    c.layer.dim = 16;
    c.layer.hidden = 8;
    c.vocab = 40;
    c.embedding_std = std;
    c.outputs = 3;
    for (auto& [name, t] : nn::ParamixerNet(c, rng).named_parameters())
      if (name == "embedding.weight") return t;
    return Tensor();
  };
  auto near_scaled = [](const Tensor& small, const Tensor& unit, double scale) {
    double sum_sq = 0;
    for (int64_t i = 0; i < unit.numel(); ++i) {
      EXPECT_NEAR(small.data<float>()[i], scale * unit.data<float>()[i], 1e-7);
      sum_sq += unit.data<float>()[i] * unit.data<float>()[i];
    }
    EXPECT_NEAR(std::sqrt(sum_sq / unit.numel()), 1.0, 0.1);  // the unit draw is N(0, 1)
  };
  const auto unit = encoder_params(1.0), small = encoder_params(0.02);
  near_scaled(small.at("embedding.weight"), unit.at("embedding.weight"), 0.02);
  for (const auto& [name, t] : unit) {
    if (name != "embedding.weight") {
      EXPECT_TRUE(testing_util::bitwise_equal(small.at(name), t)) << name;
    }
  }
  near_scaled(paramixer_embedding(0.02), paramixer_embedding(1.0), 0.02);

  engine::Rng rng(7);
  EXPECT_THROW(nn::InputEmbedding("encoder", 10, 0, 4, rng, 0.0), engine::Error);
  EXPECT_THROW(nn::InputEmbedding("encoder", 10, 0, 4, rng, -0.5), engine::Error);
  EXPECT_THROW(nn::InputEmbedding("paramixer", 0, 3, 4, rng, 0.02), engine::Error);  // continuous inputs
  EXPECT_NO_THROW(nn::InputEmbedding("paramixer", 0, 3, 4, rng));

  // From the CLI's flags: the order task's tokens, each model family; refused on adding's
  // continuous inputs.
  for (const char* model : {"mra", "transformer", "paramixer"}) {
    auto embedding_rms = [&](const std::string& task, const std::string& std) {
      const Tensor w = cli_model({{"model", model}, {"task", task}, {"seq-len", "64"}, {"embedding-std", std}})
                           .parameter("embedding.weight");
      if (!w.defined()) return -1.0;
      double sum_sq = 0;
      for (int64_t i = 0; i < w.numel(); ++i) sum_sq += w.data<float>()[i] * w.data<float>()[i];
      return std::sqrt(sum_sq / w.numel());
    };
    const double rms = embedding_rms("order", "0.05");
    EXPECT_GT(rms, 0.02) << model;
    EXPECT_LT(rms, 0.1) << model;
    EXPECT_THROW(embedding_rms("adding", "0.05"), engine::Error) << model;
  }
}

// The temporal-order task from the CLI's presets, shortened to 400 steps: chance is 25%; with
// AVX-512 both encoders reach about 96%, the bar leaves room for other ISAs' rounding.
void learns_order(const char* model) {
  const auto dir = std::filesystem::temp_directory_path() / (std::string("longmix_test_order_") + model);
  const auto r = apps::train(train_flags({{"model", model}, {"task", "order"}, {"seq-len", "128"}, {"steps", "400"},
                                          {"eval-every", "0"}, {"out", dir.string()}}),
                             true);
  std::cout << model << " order N=128: test accuracy " << r.test.accuracy << "\n";
  EXPECT_GE(r.test.accuracy, 0.9) << model << ", test loss " << r.test.loss;
}

TEST(EncoderNet, MraLearnsTheTemporalOrderTask) { learns_order("mra"); }
TEST(EncoderNet, TransformerLearnsTheTemporalOrderTask) { learns_order("transformer"); }

}  // namespace
