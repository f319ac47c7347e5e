// Sequential Fashion-MNIST (SPEC 4): the 28 x 28 images of Debian's dataset-fashion-mnist
// package read pixel by pixel as a sequence of 784 tokens (pixel values 0..255), or 1024 when
// padded to 32 x 32 (2 black pixels on every side), 10 classes. The last 5000 training images
// form the validation split; the training split is reshuffled every epoch from the seed.
// With augment, each training example is shifted by up to kMaxShift pixels in each direction
// and mirrored left-right with probability 1/2, drawn from the seed and the example's index
// (so a resumed run sees the same images); validation and test images are never changed.
// Pixels are token ids, or with pixel_values float intensities (B, N, 1) in [0, 1].
#pragma once
#include <mutex>
#include <vector>

#include "apps/tasks/task.h"

namespace apps {

struct FashionMnistConfig {
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  int64_t seq_len = 1024;  // 784 or 1024
  uint64_t seed = 0;
  bool augment = false;
  // false: pixels are token ids 0..255 (an Embedding); true: intensities in [0, 1] as one
  // feature per position (a Linear), so neighbouring grey levels start out alike.
  bool pixel_values = false;
};

class FashionMnistTask : public Task {
 public:
  explicit FashionMnistTask(const FashionMnistConfig& config);
  std::string name() const override { return "fashion-mnist"; }
  Objective objective() const override { return Objective::classification; }
  int64_t num_outputs() const override { return 10; }
  int64_t input_features() const override { return cfg_.pixel_values ? 1 : 0; }
  int64_t vocab_size() const override { return cfg_.pixel_values ? 0 : 256; }
  int64_t seq_len() const override { return cfg_.seq_len; }
  int64_t split_size(Split split) const override;
  Batch batch(Split split, int64_t first, int64_t count) const override;

  static constexpr int64_t kValidation = 5000;
  static constexpr int64_t kMaxShift = 2;  // the 32 x 32 padding keeps a shifted image whole

 private:
  int64_t image_of(Split split, int64_t index) const;  // into the train or test arrays
  FashionMnistConfig cfg_;
  std::vector<uint8_t> train_images_, train_labels_, test_images_, test_labels_;
  int64_t n_train_ = 0, n_test_ = 0;
  mutable std::mutex epoch_mutex_;
  mutable int64_t epoch_ = -1;
  mutable std::vector<int64_t> order_;  // the current epoch's permutation of the training images
};

}  // namespace apps
