#include "apps/tasks/synthetic.h"

#include "engine/check.h"
#include "engine/rng.h"

namespace apps {
namespace {

constexpr int64_t kTrainSize = int64_t{1} << 40;  // generated on the fly: never repeats in practice

// Two distinct positions p1 < p2 in [0, n).
std::pair<int64_t, int64_t> two_positions(engine::Rng& rng, int64_t n) {
  const int64_t a = rng.randint(n);
  int64_t b = rng.randint(n - 1);
  if (b >= a) ++b;
  return {std::min(a, b), std::max(a, b)};
}

}  // namespace

uint64_t example_seed(uint64_t task_seed, Split split, int64_t index) {
  return engine::splitmix64(engine::splitmix64(task_seed * 4 + static_cast<uint64_t>(split)) ^
                            static_cast<uint64_t>(index));
}

SyntheticTask::SyntheticTask(const SyntheticConfig& c, const char* name) : cfg_(c) {
  LONGMIX_CHECK(c.seq_len >= 2, name << " task: --seq-len must be >= 2, got " << c.seq_len);
  LONGMIX_CHECK(c.seq_len <= (int64_t{1} << 24), name << " task: --seq-len " << c.seq_len << " is too long");
}

int64_t SyntheticTask::split_size(Split s) const {
  return s == Split::train ? kTrainSize : s == Split::val ? cfg_.val_size : cfg_.test_size;
}

void SyntheticTask::check_range(Split split, int64_t first, int64_t count) const {
  LONGMIX_CHECK(count >= 1 && first >= 0 && first + count <= split_size(split),
                name() << " task: examples [" << first << ", " << first + count << ") are outside the "
                       << split_name(split) << " split of " << split_size(split));
}

Batch AddingTask::batch(Split split, int64_t first, int64_t count) const {
  check_range(split, first, count);
  const int64_t N = cfg_.seq_len;
  Batch b{Tensor::zeros({count, N, 2}), Tensor::empty({count})};
  float* x = b.inputs.data<float>();
  float* y = b.targets.data<float>();
  for (int64_t n = 0; n < count; ++n) {
    engine::Rng rng(example_seed(cfg_.seed, split, first + n));
    float* xn = x + n * N * 2;
    for (int64_t i = 0; i < N; ++i) xn[2 * i] = static_cast<float>(rng.uniform(-1, 1));
    const auto [p1, p2] = two_positions(rng, N);
    xn[2 * p1 + 1] = xn[2 * p2 + 1] = 1;
    y[n] = 0.5f + (xn[2 * p1] + xn[2 * p2]) / 4;
  }
  return b;
}

Batch TemporalOrderTask::batch(Split split, int64_t first, int64_t count) const {
  check_range(split, first, count);
  const int64_t N = cfg_.seq_len;
  Batch b{Tensor::empty({count, N}, engine::DType::i32), Tensor::empty({count}, engine::DType::i32)};
  int32_t* x = b.inputs.data<int32_t>();
  int32_t* y = b.targets.data<int32_t>();
  for (int64_t n = 0; n < count; ++n) {
    engine::Rng rng(example_seed(cfg_.seed, split, first + n));
    int32_t* xn = x + n * N;
    for (int64_t i = 0; i < N; ++i) xn[i] = static_cast<int32_t>(rng.randint(4));
    const auto [p1, p2] = two_positions(rng, N);
    const int64_t first_is_y = rng.randint(2), second_is_y = rng.randint(2);
    xn[p1] = first_is_y ? kY : kX;
    xn[p2] = second_is_y ? kY : kX;
    y[n] = static_cast<int32_t>(2 * first_is_y + second_is_y);
  }
  return b;
}

}  // namespace apps
