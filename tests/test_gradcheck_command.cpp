// `longmix gradcheck`, run in-process: every model and protocol passes at small sizes (N not a
// power of two), and a backward corrupted on purpose is caught and named.
#include <gtest/gtest.h>

#include "apps/flags.h"
#include "apps/gradcheck.h"
#include "engine/tape.h"

namespace {

apps::GradcheckRun run(std::initializer_list<std::pair<const char*, std::string>> overrides) {
  apps::Flags f;
  apps::add_gradcheck_flags(f);
  for (const auto& [k, v] : overrides) f.set(k, v);
  return apps::run_gradcheck(f);
}

TEST(GradcheckCommand, EveryModelAndProtocolPasses) {
  struct Case {
    const char *model, *task, *protocol;
    int seq_len;
  };
  for (const Case& c : {Case{"paramixer", "adding", "chord", 37}, Case{"paramixer", "order", "cdil", 45},
                        Case{"mra", "order", "chord", 50}, Case{"transformer", "adding", "chord", 40}}) {
    const auto r = run({{"model", c.model}, {"task", c.task}, {"protocol", c.protocol},
                        {"seq-len", std::to_string(c.seq_len)}, {"block", "8"}, {"blocks-per-row", "2"},
                        {"dim", "16"}, {"hidden", "16"}, {"samples", "8"}});
    EXPECT_TRUE(r.ok) << c.model << " " << c.protocol << "\n" << r.text;
    EXPECT_GE(r.tensors.size(), 10u) << r.text;
    if (std::string(c.model) == "mra") {
      EXPECT_NE(r.text.find("held fixed"), std::string::npos);
    }
  }
}

TEST(GradcheckCommand, CorruptedBackwardFailsAndNamesTheTensor) {
  // Scale LayerNorm's gamma gradient by 1.1: exactly the norms' .weight tensors must fail.
  engine::set_backward_hook_for_tests([](const char* op, engine::Grads& g) {
    if (std::string(op) != "layer_norm" || !g.needs(1)) return;
    engine::Tensor dgamma = g.at(1);
    double* p = dgamma.data<double>();
    for (int64_t i = 0; i < dgamma.numel(); ++i) p[i] *= 1.1;
  });
  const auto r = run({{"model", "transformer"}, {"task", "order"}, {"seq-len", "21"}, {"dim", "8"},
                      {"hidden", "8"}, {"samples", "8"}});
  engine::set_backward_hook_for_tests(nullptr);
  EXPECT_FALSE(r.ok);
  int failed = 0;
  for (const auto& t : r.tensors) {
    const bool norm_weight = t.name.find("norm") != std::string::npos && t.name.ends_with(".weight");
    EXPECT_EQ(t.ok, !norm_weight) << t.name;
    failed += !t.ok;
  }
  EXPECT_EQ(failed, 5) << r.text;  // 2 blocks x 2 norms + the final norm
  EXPECT_NE(r.text.find("FAIL"), std::string::npos);
}

TEST(GradcheckCommand, BadFlagsAreNamed) {
  EXPECT_THROW(run({{"model", "paramixer"}, {"task", "adding"}, {"seq-len", "16"}, {"dtype", "float16"}}),
               engine::Error);
  EXPECT_THROW(run({{"model", "paramixer"}, {"task", "adding"}, {"seq-len", "16"}, {"samples", "0"}}), engine::Error);
}

}  // namespace
