// ListOps (SPEC 4, as in Long Range Arena), generated locally from the seed: nested prefix
// expressions over the digits 0-9 with MAX, MIN, MED (median, rounded down) and SM (sum mod
// 10), written as tokens "[MAX" ... "]", 2 to 10 arguments per operator, depth up to 10. An
// expression is kept when its length is in [min_len, max_len] tokens (LRA: 500 to 2000 with
// --seq-len 2000); shorter ones are padded (token 0) and masked. 10 classes: the value.
#pragma once
#include <string>
#include <vector>

#include "apps/tasks/task.h"

namespace apps {

struct ListOpsConfig {
  int64_t seq_len = 2000;  // padded length = longest expression
  int64_t val_size = 2000, test_size = 2000;
  uint64_t seed = 0;
};

// Token ids: 0 padding, 1..10 the digits 0..9, 11 [MAX, 12 [MIN, 13 [MED, 14 [SM, 15 ].
constexpr int32_t kListOpsVocab = 16;

struct ListOpsExample {
  std::vector<int32_t> tokens;
  int value = 0;
};

// Generates example `index` of `split` (rejection sampling on the length, from its own stream).
ListOpsExample generate_listops(const ListOpsConfig& config, Split split, int64_t index);
// The value of a token sequence (for tests); throws on a malformed one.
int evaluate_listops(const std::vector<int32_t>& tokens);
std::string listops_text(const std::vector<int32_t>& tokens);  // "[MAX 3 [SM 1 2 ] ]"
// The inverse: the tokens of a text such as "[MAX 3 [SM 1 2 ] ]" (words separated by white
// space); an unknown word is an engine::Error naming it.
std::vector<int32_t> listops_tokens(const std::string& text);

class ListOpsTask : public Task {
 public:
  explicit ListOpsTask(const ListOpsConfig& config);
  std::string name() const override { return "listops"; }
  Objective objective() const override { return Objective::classification; }
  int64_t num_outputs() const override { return 10; }
  int64_t input_features() const override { return 0; }
  int64_t vocab_size() const override { return kListOpsVocab; }
  int64_t padding_token() const override { return 0; }
  int64_t seq_len() const override { return cfg_.seq_len; }
  int64_t split_size(Split split) const override;
  Batch batch(Split split, int64_t first, int64_t count) const override;
  int64_t min_length() const;

 private:
  ListOpsConfig cfg_;
};

}  // namespace apps
