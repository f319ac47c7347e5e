// Caching allocator for tensor storage. Freed blocks are kept in size-class free lists and
// reused: on these virtual machines a fresh page fault costs more than the arithmetic done on
// the page, so returning memory to the OS every step is what makes naive frameworks slow.
#pragma once
#include <cstddef>
#include <cstdint>

namespace engine {

constexpr size_t kTensorAlignment = 64;  // one cache line, one AVX-512 register

void* cached_alloc(size_t bytes);          // 64-byte aligned, size rounded to a class
void cached_free(void* ptr, size_t bytes);  // `bytes` as passed to cached_alloc

struct AllocatorStats {
  int64_t bytes_in_use = 0;    // handed out to tensors now (rounded sizes)
  int64_t bytes_cached = 0;    // kept in free lists for reuse
  int64_t peak_in_use = 0;     // high-water mark of bytes_in_use
  int64_t system_allocs = 0;   // calls that reached the system allocator
};
AllocatorStats allocator_stats();
void reset_peak_in_use();
void release_cached_blocks();  // hand every cached block back to the system

}  // namespace engine
