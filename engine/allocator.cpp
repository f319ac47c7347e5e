#include "engine/allocator.h"

#include <malloc.h>
#include <sys/mman.h>

#include <bit>
#include <climits>
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace engine {
namespace {

// Size classes: powers of two up to 1 MiB, then steps of 1/8 of the enclosing power of two,
// so a large tensor wastes at most 12.5% while similar sizes still share blocks.
size_t size_class(size_t bytes) {
  if (bytes <= kTensorAlignment) return kTensorAlignment;
  if (bytes <= (size_t{1} << 20)) return std::bit_ceil(bytes);
  const size_t step = std::bit_floor(bytes) / 8;
  return (bytes + step - 1) / step * step;
}

struct Cache {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free_lists;
  AllocatorStats stats;
};

// Memory that is not a tensor's (oneDNN's scratchpads, std containers) comes from glibc's
// malloc, which by default returns large blocks to the OS on free and faults them in again on
// the next step. Keep them instead, as the tensor cache does.
struct KeepFreedMemory {
  KeepFreedMemory() {
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, INT_MAX);
  }
} keep_freed_memory;

// Asks for transparent huge pages over the 2 MB-aligned interior of a new block (Debian's
// default THP mode is "madvise": without asking, none). The kernels gather rows from all over
// states of many MB, beyond what 4 KB pages' TLB entries cover: the Paramixer step at
// N = 1024 and 4096 4% faster, the product at 16384 7-10% (`longmix scaling`, A/B).
void advise_huge_pages(void* p, size_t bytes) {
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + bytes) & ~(kHuge - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

Cache& cache() {
  static Cache* c = new Cache;  // never destroyed: tensors may be freed during static teardown
  return *c;
}

}  // namespace

void* cached_alloc(size_t bytes) {
  const size_t cls = size_class(bytes);
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    c.stats.bytes_in_use += static_cast<int64_t>(cls);
    if (c.stats.bytes_in_use > c.stats.peak_in_use) c.stats.peak_in_use = c.stats.bytes_in_use;
    auto it = c.free_lists.find(cls);
    if (it != c.free_lists.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.stats.bytes_cached -= static_cast<int64_t>(cls);
      return p;
    }
    ++c.stats.system_allocs;
  }
  void* p = std::aligned_alloc(kTensorAlignment, cls);
  if (!p) {
    release_cached_blocks();
    p = std::aligned_alloc(kTensorAlignment, cls);
  }
  if (!p) throw std::bad_alloc();
  advise_huge_pages(p, cls);
  return p;
}

void cached_free(void* ptr, size_t bytes) {
  if (!ptr) return;
  const size_t cls = size_class(bytes);
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.stats.bytes_in_use -= static_cast<int64_t>(cls);
  c.stats.bytes_cached += static_cast<int64_t>(cls);
  c.free_lists[cls].push_back(ptr);
}

AllocatorStats allocator_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.stats;
}

void reset_peak_in_use() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.stats.peak_in_use = c.stats.bytes_in_use;
}

void release_cached_blocks() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  for (auto& [cls, list] : c.free_lists) {
    for (void* p : list) std::free(p);
    list.clear();
  }
  c.stats.bytes_cached = 0;
}

}  // namespace engine
