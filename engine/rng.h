// Seeded random numbers: xoshiro256** seeded through splitmix64. The whole state is four
// words, so checkpoints can save and restore it exactly.
#pragma once
#include <array>
#include <cstdint>

namespace engine {

// One step of splitmix64: a good 64-bit hash, used for seeding and for counter-based streams
// (dropout masks) whose values must not depend on how work is split across threads.
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) { reseed(seed); }
  void reseed(uint64_t seed);

  uint64_t next_u64();
  double uniform();                       // [0, 1)
  double uniform(double low, double high);
  double normal();                        // standard normal (Box-Muller, no cached spare)
  int64_t randint(int64_t n);             // [0, n)

  std::array<uint64_t, 4> state() const { return s_; }
  void set_state(const std::array<uint64_t, 4>& s) { s_ = s; }

 private:
  std::array<uint64_t, 4> s_{};
};

}  // namespace engine
