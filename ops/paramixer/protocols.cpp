#include "ops/paramixer/protocols.h"

#include "engine/check.h"

namespace ops {

Protocol protocol_from_name(const std::string& name) {
  if (name == "chord") return Protocol::chord;
  if (name == "cdil") return Protocol::cdil;
  throw engine::Error("unknown protocol '" + name + "' (available: chord, cdil)");
}

const char* protocol_name(Protocol p) { return p == Protocol::chord ? "chord" : "cdil"; }

int64_t num_factors(int64_t N) {
  LONGMIX_CHECK(N >= 2, "paramixer: sequence length must be >= 2, got " << N);
  int64_t m = 0;
  while ((int64_t{1} << m) < N) ++m;
  return m;
}

std::vector<int64_t> chord_offsets(int64_t N) {
  const int64_t M = num_factors(N);
  std::vector<int64_t> o{0};
  for (int64_t k = 0; k < M; ++k) o.push_back(int64_t{1} << k);
  return o;
}

std::vector<int64_t> cdil_offsets(int64_t N, int64_t factor) {
  const int64_t M = num_factors(N);
  LONGMIX_CHECK(factor >= 0 && factor < M,
                "cdil: factor " << factor << " is out of range for N " << N << " (M = " << M << ")");
  const int64_t s = int64_t{1} << factor;
  return {0, s, 2 * s, 3 * s, 4 * s, -s, -2 * s, -3 * s, -4 * s};
}

std::vector<int64_t> protocol_offsets(Protocol p, int64_t N, int64_t factor) {
  return p == Protocol::chord ? chord_offsets(N) : cdil_offsets(N, factor);
}

int64_t protocol_links(Protocol p, int64_t N) {
  return p == Protocol::chord ? num_factors(N) + 1 : 9;
}

}  // namespace ops
