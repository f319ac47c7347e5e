#include "engine/batch_shard.h"

#include "engine/check.h"

namespace engine {
namespace {
int64_t shard_index = 0;
}

void set_batch_shard(int64_t index) {
  LONGMIX_CHECK(index >= 0, "batch shard must be >= 0, got " << index);
  shard_index = index;
}

int64_t batch_shard() { return shard_index; }

}  // namespace engine
