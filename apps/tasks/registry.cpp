#include "apps/tasks/registry.h"

#include <utility>

#include "apps/tasks/fashion_mnist.h"
#include "apps/tasks/listops.h"
#include "apps/tasks/synthetic.h"
#include "apps/tasks/teacher.h"
#include "engine/check.h"

namespace apps {

void add_fashion_mnist_flags(Flags& flags) {
  flags.add_string("data-dir", "/usr/share/datasets/fashion-mnist", "fashion-mnist: the directory of the gzip IDX files");
  flags.add_bool("augment", false, "fashion-mnist: shift training images by up to 2 pixels and mirror them at random");
  flags.add_string("pixels", "tokens", "fashion-mnist: pixels as token ids 0..255 (tokens, an Embedding) or intensities in [0, 1] (values, a Linear)");
}

void add_task_flags(Flags& flags) {
  flags.add_string("task", "teacher", "task: teacher (generated MLP problem), adding, order, listops, fashion-mnist");
  flags.add_int("seq-len", 1024, "sequence length N (adding, order; listops: the padded length, 2000 as in LRA; fashion-mnist: 784, or 1024 padded to 32 x 32)");
  add_fashion_mnist_flags(flags);
  flags.add_int("data-seed", -1,
                "seed of the task's data alone (generated splits, training order, fashion-mnist's shuffles and "
                "augmentation): runs that vary only --seed then share one data set and test split (-1: --seed)");
  flags.add_int("val-size", -1,
                "examples in a generated task's validation split (listops, adding, order, teacher; -1: the "
                "task's own: 2000, adding and order 1000); example i is the same whatever the size");
  flags.add_int("test-size", -1,
                "examples in a generated task's test split (as --val-size; -1: 2000): a larger split measures "
                "accuracy closer to its true value (2000 examples: a standard error of about 1.1 points at 37%)");
  flags.add_int("features", 16, "teacher task: input features");
  flags.add_int("classes", 4, "teacher task: classes");
}

namespace {

// --val-size / --test-size: -1 keeps the task's own size, else it replaces it.
void apply_split_sizes(const Flags& flags, int64_t& val_size, int64_t& test_size) {
  constexpr int64_t kMaxSplit = int64_t{1} << 30;
  const std::pair<const char*, int64_t*> splits[] = {{"val-size", &val_size}, {"test-size", &test_size}};
  for (const auto& [name, size] : splits) {
    const int64_t n = flags.get_int(name);
    LONGMIX_CHECK(n == -1 || (n >= 1 && n <= kMaxSplit),
                  "--" << name << " must be in [1, " << kMaxSplit << "] (or -1: the task's own), got " << n);
    if (n != -1) *size = n;
  }
}

}  // namespace

std::unique_ptr<Task> make_task(const Flags& flags) {
  const std::string& name = flags.get_string("task");
  const int64_t data_seed = flags.get_int("data-seed");
  LONGMIX_CHECK(data_seed >= -1, "--data-seed must be >= 0 (or -1: --seed), got " << data_seed);
  const uint64_t seed = static_cast<uint64_t>(data_seed >= 0 ? data_seed : flags.get_int("seed"));
  LONGMIX_CHECK(!flags.get_bool("augment") || name == "fashion-mnist",
                "--augment applies to the fashion-mnist task only, not '" << name << "'");
  LONGMIX_CHECK(flags.get_string("pixels") == "tokens" || name == "fashion-mnist",
                "--pixels applies to the fashion-mnist task only, not '" << name << "'");
  LONGMIX_CHECK(name != "fashion-mnist" || (flags.get_int("val-size") == -1 && flags.get_int("test-size") == -1),
                "--val-size and --test-size apply to generated tasks (listops, adding, order, teacher); "
                "fashion-mnist's splits are the dataset's own");
  if (name == "teacher") {
    TeacherConfig c;
    c.features = flags.get_int("features");
    c.classes = flags.get_int("classes");
    c.seed = seed;
    apply_split_sizes(flags, c.val_size, c.test_size);
    LONGMIX_CHECK(c.features >= 1 && c.features <= 4096,
                  "--features must be in [1, 4096], got " << c.features);
    LONGMIX_CHECK(c.classes >= 2 && c.classes <= 1000, "--classes must be in [2, 1000], got " << c.classes);
    return std::make_unique<TeacherTask>(c);
  }
  if (name == "adding" || name == "order") {
    SyntheticConfig c;
    c.seq_len = flags.get_int("seq-len");
    c.seed = seed;
    apply_split_sizes(flags, c.val_size, c.test_size);
    if (name == "adding") return std::make_unique<AddingTask>(c);
    return std::make_unique<TemporalOrderTask>(c);
  }
  if (name == "listops") {
    ListOpsConfig c;
    c.seq_len = flags.get_int("seq-len");
    c.seed = seed;
    apply_split_sizes(flags, c.val_size, c.test_size);
    return std::make_unique<ListOpsTask>(c);
  }
  if (name == "fashion-mnist") {
    FashionMnistConfig c;
    c.data_dir = flags.get_string("data-dir");
    c.seq_len = flags.get_int("seq-len");
    c.seed = seed;
    c.augment = flags.get_bool("augment");
    const std::string& pixels = flags.get_string("pixels");
    LONGMIX_CHECK(pixels == "tokens" || pixels == "values",
                  "--pixels must be tokens or values, got '" << pixels << "'");
    c.pixel_values = pixels == "values";
    return std::make_unique<FashionMnistTask>(c);
  }
  throw engine::Error("unknown task '" + name + "' (available: teacher, adding, order, listops, fashion-mnist)");
}

}  // namespace apps
