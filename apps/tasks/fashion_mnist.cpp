#include "apps/tasks/fashion_mnist.h"

#include <filesystem>
#include <numeric>

#include "apps/tasks/idx_file.h"
#include "apps/tasks/synthetic.h"
#include "engine/check.h"
#include "engine/rng.h"

namespace apps {
namespace {

constexpr int64_t kSide = 28;

void load_pair(const std::string& dir, const char* stem, std::vector<uint8_t>& images, std::vector<uint8_t>& labels,
               int64_t& n) {
  const std::string image_path = dir + "/" + stem + "-images-idx3-ubyte.gz";
  const std::string label_path = dir + "/" + stem + "-labels-idx1-ubyte.gz";
  for (const std::string& path : {image_path, label_path})
    LONGMIX_CHECK(std::filesystem::exists(path),
                  "cannot open " << path << ": no such file (Debian's dataset-fashion-mnist package puts the gzip IDX "
                                            "files in /usr/share/datasets/fashion-mnist: apt-get install "
                                            "dataset-fashion-mnist; --data-dir points elsewhere)");
  IdxArray im = read_idx_ubyte(image_path, 3), lb = read_idx_ubyte(label_path, 1);
  LONGMIX_CHECK(im.dims[1] == kSide && im.dims[2] == kSide,
                image_path << ": images are " << im.dims[1] << " x " << im.dims[2] << ", expected 28 x 28");
  LONGMIX_CHECK(im.dims[0] == lb.dims[0],
                image_path << " has " << im.dims[0] << " images but " << label_path << " " << lb.dims[0] << " labels");
  for (uint8_t l : lb.data) LONGMIX_CHECK(l < 10, label_path << ": label " << int(l) << " is not a class 0..9");
  images = std::move(im.data);
  labels = std::move(lb.data);
  n = lb.dims[0];
}

}  // namespace

FashionMnistTask::FashionMnistTask(const FashionMnistConfig& c) : cfg_(c) {
  LONGMIX_CHECK(c.seq_len == 784 || c.seq_len == 1024,
                "fashion-mnist task: --seq-len " << c.seq_len << " does not fit 28 x 28 images (784 pixels, or 1024 padded to 32 x 32)");
  load_pair(c.data_dir, "train", train_images_, train_labels_, n_train_);
  load_pair(c.data_dir, "t10k", test_images_, test_labels_, n_test_);
  LONGMIX_CHECK(n_train_ > kValidation, "fashion-mnist task: " << n_train_ << " training images leave none after the "
                                                               << kValidation << " validation images");
}

int64_t FashionMnistTask::split_size(Split s) const {
  return s == Split::train ? n_train_ - kValidation : s == Split::val ? kValidation : n_test_;
}

int64_t FashionMnistTask::image_of(Split split, int64_t index) const {
  if (split == Split::test) return index;
  if (split == Split::val) return n_train_ - kValidation + index;
  const int64_t n = n_train_ - kValidation, epoch = index / n;
  std::lock_guard<std::mutex> lock(epoch_mutex_);
  if (epoch != epoch_) {  // Fisher-Yates from the epoch's own seed
    order_.resize(static_cast<size_t>(n));
    std::iota(order_.begin(), order_.end(), int64_t{0});
    engine::Rng rng(example_seed(cfg_.seed, Split::train, epoch));
    for (int64_t i = n - 1; i > 0; --i) std::swap(order_[static_cast<size_t>(i)], order_[static_cast<size_t>(rng.randint(i + 1))]);
    epoch_ = epoch;
  }
  return order_[static_cast<size_t>(index % n)];
}

Batch FashionMnistTask::batch(Split split, int64_t first, int64_t count) const {
  LONGMIX_CHECK(count >= 1 && first >= 0 && (split == Split::train || first + count <= split_size(split)),
                "fashion-mnist task: examples [" << first << ", " << first + count << ") are outside the "
                                                 << split_name(split) << " split of " << split_size(split));
  const int64_t N = cfg_.seq_len, pad = N == 1024 ? 2 : 0, side = kSide + 2 * pad;
  Batch b{Tensor::zeros({count, N}, engine::DType::i32), Tensor::empty({count}, engine::DType::i32)};
  int32_t* x = b.inputs.data<int32_t>();
  int32_t* y = b.targets.data<int32_t>();
  for (int64_t n = 0; n < count; ++n) {
    const int64_t img = image_of(split, first + n);
    const bool test = split == Split::test;
    int64_t dr = 0, dc = 0;
    bool mirror = false;
    if (cfg_.augment && split == Split::train) {
      engine::Rng rng(example_seed(cfg_.seed ^ 0xa6a6a6a6u, Split::train, first + n));
      dr = rng.randint(2 * kMaxShift + 1) - kMaxShift;
      dc = rng.randint(2 * kMaxShift + 1) - kMaxShift;
      mirror = rng.randint(2) == 1;
    }
    const uint8_t* pixels = (test ? test_images_ : train_images_).data() + img * kSide * kSide;
    for (int64_t r = 0; r < kSide; ++r) {
      const int64_t row = r + pad + dr;
      if (row < 0 || row >= side) continue;  // shifted off the frame (784 tokens have no padding)
      for (int64_t c = 0; c < kSide; ++c) {
        const int64_t col = (mirror ? kSide - 1 - c : c) + pad + dc;
        if (col >= 0 && col < side) x[n * N + row * side + col] = pixels[r * kSide + c];
      }
    }
    y[n] = (test ? test_labels_ : train_labels_)[static_cast<size_t>(img)];
  }
  if (cfg_.pixel_values) {
    Tensor values = Tensor::empty({count, N, 1});
    float* v = values.data<float>();
    for (int64_t i = 0; i < count * N; ++i) v[i] = static_cast<float>(x[i]) / 255.0f;
    b.inputs = values;
  }
  return b;
}

}  // namespace apps
