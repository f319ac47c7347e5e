#include "apps/tasks/idx_file.h"

#include <zlib.h>

#include <algorithm>

#include "engine/check.h"

namespace apps {
namespace {

// gzread reads gzip and plain files alike.
class GzFile {
 public:
  explicit GzFile(const std::string& path) : path_(path), f_(gzopen(path.c_str(), "rb")) {
    LONGMIX_CHECK(f_, "cannot open " << path);
  }
  ~GzFile() { gzclose(f_); }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;

  // Reads exactly n bytes or throws, naming what was being read.
  void read(void* out, size_t n, const char* what) {
    char* p = static_cast<char*>(out);
    while (n > 0) {
      const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n, 1u << 30));
      const int got = gzread(f_, p, chunk);
      if (got < 0) {
        int code = 0;
        const char* msg = gzerror(f_, &code);
        throw engine::Error(path_ + ": malformed file while reading the " + what + " (" + msg + ")");
      }
      LONGMIX_CHECK(got > 0, path_ << ": truncated: the file ends inside the " << what);
      p += got;
      n -= static_cast<size_t>(got);
    }
  }
  bool at_end() {
    char c;
    return gzread(f_, &c, 1) == 0;
  }

 private:
  std::string path_;
  gzFile f_;
};

}  // namespace

IdxArray read_idx_ubyte(const std::string& path, int expected_ndim) {
  GzFile f(path);
  unsigned char magic[4];
  f.read(magic, 4, "magic number");
  LONGMIX_CHECK(magic[0] == 0 && magic[1] == 0 && magic[2] == 0x08 && magic[3] == expected_ndim,
                path << ": wrong magic number " << int(magic[0]) << " " << int(magic[1]) << " " << int(magic[2])
                     << " " << int(magic[3]) << " (expected 0 0 8 " << expected_ndim << ": unsigned bytes in "
                     << expected_ndim << " dimensions)");
  IdxArray a;
  uint64_t total = 1;
  for (int i = 0; i < expected_ndim; ++i) {
    unsigned char b[4];
    f.read(b, 4, "dimensions");
    const int64_t d = (int64_t{b[0]} << 24) | (int64_t{b[1]} << 16) | (int64_t{b[2]} << 8) | int64_t{b[3]};
    LONGMIX_CHECK(d >= 1 && d <= (int64_t{1} << 24), path << ": implausible dimension " << d);
    a.dims.push_back(d);
    total *= static_cast<uint64_t>(d);
    LONGMIX_CHECK(total <= (uint64_t{1} << 32), path << ": the dimensions describe more than 4 GB");
  }
  // Grown as the data arrives, so a 20-byte file that claims 4 GB is refused as truncated
  // before 4 GB are ever allocated (found by fuzzing).
  constexpr uint64_t kChunk = uint64_t{16} << 20;
  for (uint64_t have = 0; have < total; have += kChunk) {
    const uint64_t n = std::min(kChunk, total - have);
    a.data.resize(have + n);
    f.read(a.data.data() + have, n, "data");
  }
  LONGMIX_CHECK(f.at_end(), path << ": unexpected bytes after the data (corrupt)");
  return a;
}

}  // namespace apps
