// The Paramixer layer and network, and the synthetic tasks they train on.
#include <gtest/gtest.h>

#include "apps/tasks/synthetic.h"
#include "engine/gradcheck.h"
#include "engine/tape.h"
#include "engine/threads.h"
#include "nn/paramixer.h"
#include "ops/activations.h"
#include "ops/elementwise.h"
#include "ops/matmul.h"
#include "ops/reduce.h"
#include "engine/checkpoint.h"

#include <array>
#include <map>
#include "tests/test_util.h"

using engine::DType;
using engine::Tensor;

namespace {

// Every parameter of a layer, and both of its inputs, in float64, for both protocols and a
// length that is not a power of two.
TEST(ParamixerLayer, WholeLayerGradcheck) {
  for (ops::Protocol protocol : {ops::Protocol::chord, ops::Protocol::cdil}) {
    engine::Rng rng(1);
    nn::ParamixerConfig c;
    c.seq_len = 11;
    c.dim = 5;
    c.hidden = 6;
    c.protocol = protocol;
    nn::ParamixerLayer layer(c, rng, 7);
    layer.to(DType::f64);
    Tensor v = Tensor::randn({2, 11, 5}, rng, DType::f64).set_requires_grad();
    Tensor x = Tensor::randn({2, 11, 5}, rng, DType::f64).set_requires_grad();
    std::vector<Tensor> inputs{v, x};
    std::vector<std::string> names{"v", "x"};
    for (auto& [name, t] : layer.named_parameters()) {
      inputs.push_back(t);
      names.push_back(name);
    }
    const auto r = engine::gradcheck([&] { return layer.forward(v, x); }, inputs, {}, names);
    EXPECT_TRUE(r.ok) << ops::protocol_name(protocol) << "\n" << r.report;
  }
}

void gradcheck_paramixer_net(int64_t head_hidden) {
  engine::Rng rng(2);
  nn::ParamixerNetConfig c;
  c.layer.seq_len = 13;
  c.layer.dim = 4;
  c.layer.hidden = 5;
  c.layer.protocol = ops::Protocol::cdil;
  c.layers = 2;
  c.vocab = 6;
  c.positional = true;
  c.mean_pool = true;
  c.outputs = 3;
  c.head_hidden = head_hidden;
  nn::ParamixerNet net(c, rng);
  net.to(DType::f64);
  std::vector<int32_t> ids;
  for (int i = 0; i < 2 * 13; ++i) ids.push_back(i % 6);
  const Tensor tokens = Tensor::from_data({2, 13}, ids);
  std::vector<Tensor> params;
  std::vector<std::string> names;
  for (auto& [name, t] : net.named_parameters()) {
    params.push_back(t);
    names.push_back(name);
  }
  const auto r = engine::gradcheck([&] { return net.forward(tokens); }, params, {}, names);
  EXPECT_TRUE(r.ok) << r.report;
}

TEST(ParamixerNet, GradcheckWithTokensPositionsAndMeanPooling) { gradcheck_paramixer_net(0); }
TEST(ParamixerNet, GradcheckWithAnMlpHead) { gradcheck_paramixer_net(4); }

TEST(ParamixerNet, ParameterNamesAndShapes) {
  engine::Rng rng(3);
  nn::ParamixerNetConfig c;
  c.layer.seq_len = 100;  // M = 7 factors, Chord L = 8 links
  c.input_features = 2;
  nn::ParamixerNet net(c, rng);
  std::map<std::string, engine::Shape> shapes;
  for (auto& [name, t] : net.named_parameters()) shapes[name] = t.shape();
  EXPECT_EQ(shapes.at("embedding.weight"), engine::Shape({32, 2}));
  EXPECT_EQ(shapes.at("layers.1.factors_hidden.weight"), engine::Shape({7 * 32, 32}));
  EXPECT_EQ(shapes.at("layers.0.factors_out.weight"), engine::Shape({7, 8, 32}));
  EXPECT_EQ(shapes.at("layers.0.g.2.bias"), engine::Shape({32}));
  EXPECT_EQ(shapes.at("head.weight"), engine::Shape({1, 100 * 32}));
}

TEST(ParamixerNet, WrongInputsAreNamed) {
  engine::Rng rng(4);
  nn::ParamixerNetConfig c;
  c.layer.seq_len = 16;
  c.input_features = 2;
  nn::ParamixerNet net(c, rng);
  try {
    net.forward(Tensor::zeros({3, 15, 2}));
    FAIL();
  } catch (const engine::Error& e) {
    EXPECT_NE(std::string(e.what()).find("(3,15,2)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("16"), std::string::npos) << e.what();
  }
}

TEST(ParamixerNet, TrainingStepIsBitwiseIdenticalForOneAndTwoThreads) {
  std::vector<std::vector<Tensor>> grads;
  for (int threads : {1, 2}) {
    engine::set_num_threads(threads);
    engine::Rng rng(5);
    nn::ParamixerNetConfig c;
    c.layer.seq_len = 300;
    c.input_features = 2;
    nn::ParamixerNet net(c, rng);
    const Tensor x = Tensor::uniform({8, 300, 2}, rng, -1, 1);
    engine::backward(ops::sum_all(net.forward(x)));
    grads.emplace_back();
    for (auto& [name, t] : net.named_parameters()) grads.back().push_back(t.grad());
  }
  engine::set_num_threads(2);
  for (size_t i = 0; i < grads[0].size(); ++i)
    EXPECT_TRUE(testing_util::bitwise_equal(grads[0][i], grads[1][i])) << "parameter " << i;
}

TEST(Tasks, AddingTargetsFollowTheMarkedValues) {
  apps::SyntheticConfig c;
  c.seq_len = 37;
  c.seed = 9;
  apps::AddingTask task(c);
  const apps::Batch b = task.batch(apps::Split::val, 0, 50);
  for (int64_t n = 0; n < 50; ++n) {
    double sum = 0;
    int marks = 0;
    for (int64_t i = 0; i < 37; ++i) {
      const double x = b.inputs.at_flat((n * 37 + i) * 2), m = b.inputs.at_flat((n * 37 + i) * 2 + 1);
      EXPECT_GE(x, -1);
      EXPECT_LE(x, 1);
      if (m == 1) {
        ++marks;
        sum += x;
      }
    }
    EXPECT_EQ(marks, 2);
    EXPECT_NEAR(b.targets.at_flat(n), 0.5 + sum / 4, 1e-6);
  }
}

TEST(Tasks, OrderLabelsEncodeTheTwoMarkers) {
  apps::SyntheticConfig c;
  c.seq_len = 50;
  apps::TemporalOrderTask task(c);
  const apps::Batch b = task.batch(apps::Split::test, 10, 40);
  std::array<int, 4> seen{};
  for (int64_t n = 0; n < 40; ++n) {
    std::vector<int> markers;
    for (int64_t i = 0; i < 50; ++i) {
      const int t = static_cast<int>(b.inputs.at_flat(n * 50 + i));
      EXPECT_TRUE(t >= 0 && t <= 5);
      if (t >= 4) markers.push_back(t - 4);
    }
    ASSERT_EQ(markers.size(), 2u);
    const int label = static_cast<int>(b.targets.at_flat(n));
    EXPECT_EQ(label, 2 * markers[0] + markers[1]);
    ++seen[static_cast<size_t>(label)];
  }
  for (int count : seen) EXPECT_GT(count, 0);
}

TEST(Tasks, ExamplesAreReproducibleAndSplitsDiffer) {
  apps::SyntheticConfig c;
  c.seq_len = 64;
  apps::AddingTask task(c);
  const auto a = task.batch(apps::Split::train, 100, 4), b = task.batch(apps::Split::train, 102, 2);
  for (int64_t i = 0; i < 2 * 64 * 2; ++i) EXPECT_EQ(a.inputs.at_flat(2 * 64 * 2 + i), b.inputs.at_flat(i));
  const auto v = task.batch(apps::Split::val, 100, 1);
  EXPECT_NE(v.targets.at_flat(0), a.targets.at_flat(0));
  EXPECT_THROW(task.batch(apps::Split::val, 999, 5), engine::Error);  // past the split's end
}

}  // namespace

namespace {

// Recomputation must give the same gradients as keeping everything, dropout included.
TEST(ParamixerLayer, RecomputeGivesTheSameGradientsWithDropout) {
  std::vector<std::vector<Tensor>> grads;
  std::vector<Tensor> outs;
  for (bool recompute : {false, true}) {
    engine::Rng rng(11);
    nn::ParamixerConfig c;
    c.seq_len = 29;
    c.dim = 6;
    c.hidden = 7;
    c.dropout = 0.2;
    c.recompute = recompute;
    nn::ParamixerLayer layer(c, rng, 5);
    Tensor v = Tensor::randn({3, 29, 6}, rng).set_requires_grad();
    Tensor x = Tensor::randn({3, 29, 6}, rng).set_requires_grad();
    Tensor out = layer.forward(layer.forward(v, x), x);  // two calls: two different dropout seeds
    engine::backward(ops::sum_all(ops::mul(out, out)));
    outs.push_back(out.detach());
    grads.emplace_back(std::vector<Tensor>{v.grad(), x.grad()});
    for (auto& [name, t] : layer.named_parameters()) grads.back().push_back(t.grad());
  }
  EXPECT_TRUE(testing_util::bitwise_equal(outs[0], outs[1]));
  for (size_t i = 0; i < grads[0].size(); ++i)
    EXPECT_TRUE(testing_util::all_close(grads[1][i], grads[0][i], 1e-6, 1e-5)) << "gradient " << i;
}

TEST(Checkpoint, GradcheckThroughARecomputedFunction) {
  engine::Rng rng(12);
  Tensor a = testing_util::randn({4, 5}, rng), w = testing_util::randn({5, 3}, rng);
  // w is captured (a parameter), a is an input: both must get gradients.
  auto f = [&] {
    return engine::checkpoint([&](const std::vector<Tensor>& in) { return ops::tanh(ops::matmul(in[0], w)); }, {a});
  };
  const auto r = engine::gradcheck(f, {a, w});
  EXPECT_TRUE(r.ok) << r.report;
}

}  // namespace
