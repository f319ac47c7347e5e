// Sequential Fashion-MNIST on small generated IDX files: pixels, padding, labels, splits,
// per-epoch shuffling, and refusal of wrong magic numbers, truncated and mismatched files.
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <set>

#include "apps/tasks/fashion_mnist.h"
#include "apps/tasks/idx_file.h"
#include "engine/check.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;

namespace {

void write_gz(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_TRUE(f);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  gzclose(f);
}

std::vector<uint8_t> idx_header(std::vector<uint32_t> dims) {
  std::vector<uint8_t> h{0, 0, 8, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) h.push_back(static_cast<uint8_t>(d >> s));
  return h;
}

// n images whose pixel (r, c) of image i is (i + r * 28 + c) % 256, label i % 10.
void write_split(const std::string& dir, const char* stem, uint32_t n) {
  std::vector<uint8_t> im = idx_header({n, 28, 28}), lb = idx_header({n});
  for (uint32_t i = 0; i < n; ++i) {
    for (int p = 0; p < 784; ++p) im.push_back(static_cast<uint8_t>((i + static_cast<uint32_t>(p)) % 256));
    lb.push_back(static_cast<uint8_t>(i % 10));
  }
  write_gz(dir + "/" + stem + "-images-idx3-ubyte.gz", im);
  write_gz(dir + "/" + stem + "-labels-idx1-ubyte.gz", lb);
}

std::string make_dataset(const std::string& name) {
  const std::string dir = (fs::temp_directory_path() / ("longmix_test_fm_" + name)).string();
  fs::remove_all(dir);
  fs::create_directories(dir);
  write_split(dir, "train", 5020);
  write_split(dir, "t10k", 30);
  return dir;
}

using testing_util::error_of;

TEST(FashionMnist, PixelsPaddingLabelsAndSplits) {
  apps::FashionMnistConfig c;
  c.data_dir = make_dataset("ok");
  c.seq_len = 1024;
  const apps::FashionMnistTask task(c);
  EXPECT_EQ(task.split_size(apps::Split::train), 20);
  EXPECT_EQ(task.split_size(apps::Split::val), 5000);
  EXPECT_EQ(task.split_size(apps::Split::test), 30);
  const apps::Batch t = task.batch(apps::Split::test, 7, 2);
  const int32_t* x = t.inputs.data<int32_t>();
  EXPECT_EQ(x[0], 0);                          // the padding row
  EXPECT_EQ(x[2 * 32 + 2], 7);                 // image 7, pixel (0, 0)
  EXPECT_EQ(x[(2 + 3) * 32 + 2 + 5], (7 + 3 * 28 + 5) % 256);
  EXPECT_EQ(x[1024 + 2 * 32 + 2], 8);          // the second example is image 8
  EXPECT_EQ(t.targets.data<int32_t>()[1], 8);
  // Validation is the last 5000 training images.
  EXPECT_EQ(task.batch(apps::Split::val, 0, 1).targets.data<int32_t>()[0], 20 % 10);
  c.seq_len = 784;
  const apps::FashionMnistTask flat(c);
  EXPECT_EQ(flat.batch(apps::Split::test, 7, 1).inputs.data<int32_t>()[28 + 1], (7 + 29) % 256);
}

TEST(FashionMnist, EachEpochIsAPermutationOfTheTrainingImages) {
  apps::FashionMnistConfig c;
  c.data_dir = make_dataset("epochs");
  const apps::FashionMnistTask task(c);
  std::vector<int32_t> first_pixels[2];
  for (int epoch = 0; epoch < 2; ++epoch) {
    const apps::Batch b = task.batch(apps::Split::train, epoch * 20, 20);
    std::set<int32_t> seen;
    for (int n = 0; n < 20; ++n) {
      const int32_t image = b.inputs.data<int32_t>()[n * 1024 + 2 * 32 + 2];  // pixel (0, 0) = image index
      seen.insert(image);
      first_pixels[epoch].push_back(image);
    }
    EXPECT_EQ(seen.size(), 20u);
    EXPECT_EQ(*seen.rbegin(), 19);
  }
  EXPECT_NE(first_pixels[0], first_pixels[1]) << "epochs are shuffled differently";
  EXPECT_EQ(task.batch(apps::Split::train, 3, 1).inputs.data<int32_t>()[66], first_pixels[0][3]);
}

// Augmented training images are the original shifted by at most 2 pixels and maybe mirrored:
// inside the 32 x 32 frame no pixel is lost; the same index gives the same image (resume);
// validation and test images are untouched.
TEST(FashionMnist, AugmentationShiftsAndMirrorsOnlyTrainingImages) {
  apps::FashionMnistConfig c;
  c.data_dir = make_dataset("augment");
  const apps::FashionMnistTask plain(c);
  c.augment = true;
  const apps::FashionMnistTask augmented(c);
  const apps::Batch a = augmented.batch(apps::Split::train, 0, 20), p = plain.batch(apps::Split::train, 0, 20);
  EXPECT_TRUE(testing_util::bitwise_equal(a.inputs, augmented.batch(apps::Split::train, 0, 20).inputs));
  int changed = 0, mirrored = 0;
  for (int n = 0; n < 20; ++n) {
    const int32_t* xa = a.inputs.data<int32_t>() + n * 1024;
    const int32_t* xp = p.inputs.data<int32_t>() + n * 1024;
    const int32_t image = xp[2 * 32 + 2];  // pixel (0, 0) = image index
    int64_t sum_a = 0, sum_p = 0;
    for (int i = 0; i < 1024; ++i) sum_a += xa[i], sum_p += xp[i];
    EXPECT_EQ(sum_a, sum_p) << "example " << n << " lost pixels";
    // Find where pixel (0, 0) went: a shift of at most 2, at the left or (mirrored) right edge.
    bool found = false;
    for (int dr = -2; dr <= 2 && !found; ++dr)
      for (int dc = -2; dc <= 2 && !found; ++dc)
        for (int flip = 0; flip < 2 && !found; ++flip) {
          const int row = 2 + dr, col = (flip ? 27 : 0) + 2 + dc;
          const int32_t right_neighbour = xa[row * 32 + col + (flip ? -1 : 1)];
          if (xa[row * 32 + col] == image && right_neighbour == (image + 1) % 256) {
            found = true;
            changed += dr != 0 || dc != 0 || flip;
            mirrored += flip;
          }
        }
    EXPECT_TRUE(found) << "example " << n << " is not a shifted or mirrored image";
  }
  EXPECT_GT(changed, 10);
  EXPECT_GT(mirrored, 3);
  EXPECT_LT(mirrored, 17);
  EXPECT_TRUE(testing_util::bitwise_equal(augmented.batch(apps::Split::val, 0, 4).inputs, plain.batch(apps::Split::val, 0, 4).inputs));
  EXPECT_TRUE(testing_util::bitwise_equal(augmented.batch(apps::Split::test, 0, 4).inputs, plain.batch(apps::Split::test, 0, 4).inputs));
}

TEST(FashionMnist, PixelValuesAreIntensitiesInZeroOne) {
  apps::FashionMnistConfig c;
  c.data_dir = make_dataset("values");
  const apps::FashionMnistTask tokens(c);
  c.pixel_values = true;
  const apps::FashionMnistTask values(c);
  EXPECT_EQ(values.vocab_size(), 0);
  EXPECT_EQ(values.input_features(), 1);
  const apps::Batch t = tokens.batch(apps::Split::test, 3, 2), v = values.batch(apps::Split::test, 3, 2);
  ASSERT_EQ(v.inputs.shape(), (engine::Shape{2, 1024, 1}));
  for (int64_t i = 0; i < 2 * 1024; ++i)
    ASSERT_EQ(v.inputs.data<float>()[i], static_cast<float>(t.inputs.data<int32_t>()[i]) / 255.0f) << i;
  EXPECT_TRUE(testing_util::bitwise_equal(v.targets, t.targets));
}

TEST(FashionMnist, BadFilesAreRefusedByName) {
  const std::string dir = make_dataset("bad");
  apps::FashionMnistConfig c;
  c.data_dir = dir;
  c.seq_len = 1000;
  EXPECT_NE(error_of([&] { apps::FashionMnistTask t(c); }).find("does not fit 28 x 28"), std::string::npos);
  c.seq_len = 784;
  const std::string images = dir + "/t10k-images-idx3-ubyte.gz";
  std::vector<uint8_t> wrong = idx_header({30, 28, 28});
  wrong[2] = 9;  // not unsigned bytes
  write_gz(images, wrong);
  EXPECT_NE(error_of([&] { apps::FashionMnistTask t(c); }).find("wrong magic number"), std::string::npos);
  std::vector<uint8_t> truncated = idx_header({30, 28, 28});
  truncated.resize(truncated.size() + 100, 1);
  write_gz(images, truncated);
  EXPECT_NE(error_of([&] { apps::FashionMnistTask t(c); }).find("truncated"), std::string::npos);
  write_split(dir, "t10k", 30);
  std::vector<uint8_t> labels = idx_header({29});
  labels.resize(labels.size() + 29, 3);
  write_gz(dir + "/t10k-labels-idx1-ubyte.gz", labels);
  EXPECT_NE(error_of([&] { apps::FashionMnistTask t(c); }).find("30 images but"), std::string::npos);
  // Not gzip at all and not IDX either.
  FILE* f = std::fopen(images.c_str(), "wb");
  std::fputs("hello, this is not an image file", f);
  std::fclose(f);
  EXPECT_NE(error_of([&] { apps::FashionMnistTask t(c); }).find("wrong magic number"), std::string::npos);
  c.data_dir = dir + "/nowhere";
  const std::string missing = error_of([&] { apps::FashionMnistTask t(c); });
  EXPECT_NE(missing.find("cannot open " + c.data_dir + "/train-images-idx3-ubyte.gz"), std::string::npos) << missing;
  EXPECT_NE(missing.find("apt-get install dataset-fashion-mnist"), std::string::npos) << missing;
}

}  // namespace
