// The offset lists of the Paramixer protocols (SPEC 1.1). Offsets are signed here; the sparse
// product takes them mod N.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ops {

enum class Protocol { chord, cdil };
Protocol protocol_from_name(const std::string& name);  // "chord" | "cdil", else engine::Error
const char* protocol_name(Protocol p);

int64_t num_factors(int64_t N);  // M = ceil(log2 N), N >= 2
// Chord: L = M + 1 links 0, 1, 2, 4, ..., 2^(M-1), the same for every factor.
std::vector<int64_t> chord_offsets(int64_t N);
// CDIL: 9 links, factor m uses dilation s = 2^m: 0, s, 2s, 3s, 4s, -s, -2s, -3s, -4s.
std::vector<int64_t> cdil_offsets(int64_t N, int64_t factor);
std::vector<int64_t> protocol_offsets(Protocol p, int64_t N, int64_t factor);
int64_t protocol_links(Protocol p, int64_t N);  // L

}  // namespace ops
