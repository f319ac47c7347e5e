// Data-parallel training splits every batch into equal shards, one per process. Ops that draw
// a random number per element (dropout) number the elements of the whole batch, so that the
// process holding shard r draws, for its rows, the numbers a single process would draw for
// them: K processes then apply exactly the single-process masks. (Every tensor dropout sees
// has the batch as its leading dimension, so shard r's elements start at r * numel.)
#pragma once
#include <cstdint>

namespace engine {

void set_batch_shard(int64_t index);  // this process's shard; 0 (the default) for one process
int64_t batch_shard();

}  // namespace engine
