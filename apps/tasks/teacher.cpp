#include "apps/tasks/teacher.h"

#include <cmath>

#include "engine/check.h"
#include "engine/rng.h"

namespace apps {

TeacherTask::TeacherTask(const TeacherConfig& config) : cfg_(config) {
  LONGMIX_CHECK(cfg_.features >= 1 && cfg_.classes >= 2 && cfg_.teacher_hidden >= 1,
                "teacher task: needs features >= 1 and classes >= 2");
  engine::Rng rng(engine::splitmix64(cfg_.seed ^ 0x7465616368657231ull));
  const double s1 = 2.0 / std::sqrt(static_cast<double>(cfg_.features));
  for (int64_t i = 0; i < cfg_.teacher_hidden * cfg_.features; ++i) w1_.push_back(rng.normal() * s1);
  for (int64_t i = 0; i < cfg_.teacher_hidden; ++i) b1_.push_back(rng.normal() * 0.5);
  for (int64_t i = 0; i < cfg_.classes * cfg_.teacher_hidden; ++i) w2_.push_back(rng.normal());
}

int64_t TeacherTask::split_size(Split split) const {
  return split == Split::train ? cfg_.train_size : split == Split::val ? cfg_.val_size : cfg_.test_size;
}

Batch TeacherTask::batch(Split split, int64_t first, int64_t count) const {
  const int64_t size = split_size(split);
  LONGMIX_CHECK(count >= 1 && first >= 0 && (split == Split::train || first + count <= size),
                "teacher task: examples [" << first << ", " << first + count << ") are outside the "
                                           << split_name(split) << " split of " << size);
  const int64_t F = cfg_.features, H = cfg_.teacher_hidden, C = cfg_.classes;
  Batch b{Tensor::empty({count, F}), Tensor::empty({count}, engine::DType::i32)};
  float* x = b.inputs.data<float>();
  int32_t* y = b.targets.data<int32_t>();
  std::vector<double> xi(static_cast<size_t>(F)), h(static_cast<size_t>(H));
  for (int64_t n = 0; n < count; ++n) {
    const int64_t index = (first + n) % size;
    engine::Rng rng(engine::splitmix64(cfg_.seed * 3 + static_cast<uint64_t>(split)) ^
                    engine::splitmix64(static_cast<uint64_t>(index)));
    for (int64_t f = 0; f < F; ++f) {
      xi[f] = rng.normal();
      x[n * F + f] = static_cast<float>(xi[f]);
    }
    for (int64_t j = 0; j < H; ++j) {
      double s = b1_[j];
      for (int64_t f = 0; f < F; ++f) s += w1_[j * F + f] * xi[f];
      h[j] = std::tanh(s);
    }
    int32_t best = 0;
    double best_score = -1e300;
    for (int64_t c = 0; c < C; ++c) {
      double s = 0;
      for (int64_t j = 0; j < H; ++j) s += w2_[c * H + j] * h[j];
      if (s > best_score) {
        best_score = s;
        best = static_cast<int32_t>(c);
      }
    }
    y[n] = best;
  }
  return b;
}

}  // namespace apps
