// A task is a seeded, generated data set with three disjoint splits. Example i of a split is a
// pure function of (task seed, split, i), so any batch can be regenerated from its position:
// resuming a run, or sharding it across processes, needs only the example index.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "engine/tensor.h"

namespace apps {

using engine::Tensor;

enum class Split { train, val, test };
const char* split_name(Split split);

enum class Objective { classification, regression };

struct Batch {
  Tensor inputs;   // float (B, ...) for continuous inputs, int32 (B, ...) token ids otherwise
  Tensor targets;  // int32 (B) class indices, or float (B) regression targets
  Tensor mask;     // float (B, N): 1 = token, 0 = padding; undefined when every position is real
};

class Task {
 public:
  virtual ~Task() = default;
  virtual std::string name() const = 0;
  virtual Objective objective() const = 0;
  virtual int64_t num_outputs() const = 0;  // classes, or 1 for regression
  // Continuous inputs: the feature count of one position. Token inputs: 0.
  virtual int64_t input_features() const = 0;
  virtual int64_t vocab_size() const { return 0; }  // token inputs only
  // The token id that pads short sequences (and that no real position holds), or -1.
  virtual int64_t padding_token() const { return -1; }
  virtual int64_t seq_len() const { return 0; }     // 0 for non-sequence tasks
  virtual int64_t split_size(Split split) const = 0;
  // Examples [first, first + count) of the split; the training split wraps around.
  virtual Batch batch(Split split, int64_t first, int64_t count) const = 0;
  // Whether a prediction counts as correct (regression tasks define a tolerance).
  virtual double regression_tolerance() const { return 0; }
};

}  // namespace apps
