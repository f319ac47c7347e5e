// IDX files (the MNIST family's format), plain or gzip-compressed: a magic number whose third
// byte is the element type (0x08: unsigned byte) and fourth the number of dimensions, the
// dimensions as big-endian 32-bit integers, then the data. A wrong magic number, a truncated
// or malformed file is an engine::Error naming the file and the problem.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace apps {

struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;  // row-major, product(dims) bytes
};

// expected_ndim: 3 for images (n, rows, cols), 1 for labels (n).
IdxArray read_idx_ubyte(const std::string& path, int expected_ndim);

}  // namespace apps
