#include "apps/tasks/registry.h"

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
  flags.add_int("features", 16, "teacher task: input features");
  flags.add_int("classes", 4, "teacher task: classes");
}

std::unique_ptr<Task> make_task(const Flags& flags) {
  const std::string& name = flags.get_string("task");
  const int64_t data_seed = flags.get_int("data-seed");
  LONGMIX_CHECK(data_seed >= -1, "--data-seed must be >= 0 (or -1: --seed), got " << data_seed);
  const uint64_t seed = static_cast<uint64_t>(data_seed >= 0 ? data_seed : flags.get_int("seed"));
  LONGMIX_CHECK(!flags.get_bool("augment") || name == "fashion-mnist",
                "--augment applies to the fashion-mnist task only, not '" << name << "'");
  LONGMIX_CHECK(flags.get_string("pixels") == "tokens" || name == "fashion-mnist",
                "--pixels applies to the fashion-mnist task only, not '" << name << "'");
  if (name == "teacher") {
    TeacherConfig c;
    c.features = flags.get_int("features");
    c.classes = flags.get_int("classes");
    c.seed = seed;
    LONGMIX_CHECK(c.features >= 1 && c.features <= 4096,
                  "--features must be in [1, 4096], got " << c.features);
    LONGMIX_CHECK(c.classes >= 2 && c.classes <= 1000, "--classes must be in [2, 1000], got " << c.classes);
    return std::make_unique<TeacherTask>(c);
  }
  if (name == "adding" || name == "order") {
    SyntheticConfig c;
    c.seq_len = flags.get_int("seq-len");
    c.seed = seed;
    if (name == "adding") return std::make_unique<AddingTask>(c);
    return std::make_unique<TemporalOrderTask>(c);
  }
  if (name == "listops") {
    ListOpsConfig c;
    c.seq_len = flags.get_int("seq-len");
    c.seed = seed;
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
