#include "apps/tasks/listops.h"

#include <algorithm>
#include <sstream>

#include "apps/tasks/synthetic.h"
#include "engine/check.h"
#include "engine/rng.h"

namespace apps {
namespace {

constexpr int kMaxDepth = 10, kMaxArgs = 10;
constexpr double kBranchP = 0.25;  // LRA's VALUE_P: a node below the maximum depth is an operator with this chance
constexpr int32_t kFirstOp = 11, kClose = 15;
const char* const kOpNames[] = {"[MAX", "[MIN", "[MED", "[SM"};

int apply(int op, std::vector<int>& args) {
  switch (op) {
    case 0: return *std::max_element(args.begin(), args.end());
    case 1: return *std::min_element(args.begin(), args.end());
    case 2: {
      std::sort(args.begin(), args.end());
      const size_t n = args.size();
      return n % 2 ? args[n / 2] : (args[n / 2 - 1] + args[n / 2]) / 2;
    }
    default: {
      int s = 0;
      for (int a : args) s += a;
      return s % 10;
    }
  }
}

// Appends a random subtree to `out` and returns its value; gives up (returns -1) as soon as
// the expression passes max_len tokens.
int grow(engine::Rng& rng, int depth, size_t max_len, std::vector<int32_t>& out) {
  if (out.size() >= max_len) return -1;
  const bool branch = depth == 0 || (depth < kMaxDepth && rng.uniform() < kBranchP);
  if (!branch) {
    const int digit = static_cast<int>(rng.randint(10));
    out.push_back(digit + 1);
    return digit;
  }
  const int op = static_cast<int>(rng.randint(4));
  const int n = 2 + static_cast<int>(rng.randint(kMaxArgs - 1));
  out.push_back(kFirstOp + op);
  std::vector<int> args;
  for (int i = 0; i < n; ++i) {
    const int v = grow(rng, depth + 1, max_len, out);
    if (v < 0) return -1;
    args.push_back(v);
  }
  out.push_back(kClose);
  return apply(op, args);
}

}  // namespace

ListOpsExample generate_listops(const ListOpsConfig& c, Split split, int64_t index) {
  engine::Rng rng(example_seed(c.seed, split, index));
  const size_t min_len = static_cast<size_t>(std::min<int64_t>(500, c.seq_len / 4)),
               max_len = static_cast<size_t>(c.seq_len);
  ListOpsExample e;
  for (int attempt = 0;; ++attempt) {
    LONGMIX_CHECK(attempt < 100000, "listops: no expression of " << min_len << " to " << max_len << " tokens found");
    e.tokens.clear();
    e.value = grow(rng, 0, max_len + 1, e.tokens);
    if (e.value >= 0 && e.tokens.size() >= min_len && e.tokens.size() <= max_len) return e;
  }
}

// With an explicit stack of open operators, not recursion: a sequence nested a million
// deep is an answer or an error, never a stack overflow.
int evaluate_listops(const std::vector<int32_t>& tokens) {
  struct Open {
    int op;
    std::vector<int> args;
  };
  std::vector<Open> open;
  int result = -1;
  for (size_t pos = 0; pos < tokens.size(); ++pos) {
    LONGMIX_CHECK(result < 0, "listops: tokens after the expression, from position " << pos);
    const int32_t t = tokens[pos];
    int value;
    if (t >= 1 && t <= 10) {
      value = t - 1;
    } else if (t >= kFirstOp && t < kClose) {
      open.push_back({t - kFirstOp, {}});
      continue;
    } else {
      LONGMIX_CHECK(t == kClose, "listops: unexpected token " << t << " at " << pos);
      LONGMIX_CHECK(!open.empty(), "listops: ']' without an operator at " << pos);
      LONGMIX_CHECK(!open.back().args.empty(), "listops: operator without arguments closed at " << pos);
      value = apply(open.back().op, open.back().args);
      open.pop_back();
    }
    if (open.empty()) result = value;
    else open.back().args.push_back(value);
  }
  LONGMIX_CHECK(result >= 0, (tokens.empty() ? "listops: empty expression" : "listops: expression ends early (an operator is not closed)"));
  return result;
}

std::vector<int32_t> listops_tokens(const std::string& text) {
  std::vector<int32_t> tokens;
  std::istringstream in(text);
  for (std::string word; in >> word;) {
    if (word.size() == 1 && word[0] >= '0' && word[0] <= '9') {
      tokens.push_back(word[0] - '0' + 1);
    } else if (word == "]") {
      tokens.push_back(kClose);
    } else {
      int32_t id = -1;
      for (int op = 0; op < 4; ++op)
        if (word == kOpNames[op]) id = kFirstOp + op;
      LONGMIX_CHECK(id >= 0, "listops: unknown token '" << (word.size() > 40 ? word.substr(0, 40) + "..." : word)
                                                       << "' (expected a digit, [MAX, [MIN, [MED, [SM or ])");
      tokens.push_back(id);
    }
  }
  return tokens;
}

std::string listops_text(const std::vector<int32_t>& tokens) {
  std::string s;
  for (int32_t t : tokens) {
    if (!s.empty()) s += ' ';
    if (t >= 1 && t <= 10) s += static_cast<char>('0' + t - 1);
    else if (t >= kFirstOp && t < kClose) s += kOpNames[t - kFirstOp];
    else if (t == kClose) s += ']';
    else s += '_';
  }
  return s;
}

ListOpsTask::ListOpsTask(const ListOpsConfig& c) : cfg_(c) {
  LONGMIX_CHECK(c.seq_len >= 16 && c.seq_len <= 100000,
                "listops task: --seq-len must be in [16, 100000] (2000 for Long Range Arena), got " << c.seq_len);
}

int64_t ListOpsTask::min_length() const { return std::min<int64_t>(500, cfg_.seq_len / 4); }

int64_t ListOpsTask::split_size(Split s) const {
  return s == Split::train ? int64_t{1} << 40 : s == Split::val ? cfg_.val_size : cfg_.test_size;
}

Batch ListOpsTask::batch(Split split, int64_t first, int64_t count) const {
  LONGMIX_CHECK(count >= 1 && first >= 0 && first + count <= split_size(split),
                "listops task: examples [" << first << ", " << first + count << ") are outside the "
                                           << split_name(split) << " split of " << split_size(split));
  const int64_t N = cfg_.seq_len;
  Batch b{Tensor::zeros({count, N}, engine::DType::i32), Tensor::empty({count}, engine::DType::i32),
          Tensor::zeros({count, N})};
  for (int64_t n = 0; n < count; ++n) {
    const ListOpsExample e = generate_listops(cfg_, split, first + n);
    std::copy(e.tokens.begin(), e.tokens.end(), b.inputs.data<int32_t>() + n * N);
    std::fill(b.mask.data<float>() + n * N, b.mask.data<float>() + n * N + static_cast<int64_t>(e.tokens.size()), 1.f);
    b.targets.data<int32_t>()[n] = e.value;
  }
  return b;
}

}  // namespace apps
