#include "nn/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/check.h"
#include "nn/json.h"

namespace nn {
namespace {

using engine::DType;
using engine::Tensor;

const char* dtype_tag(DType d) {
  switch (d) {
    case DType::f32: return "F32";
    case DType::f64: return "F64";
    case DType::i32: return "I32";
  }
  return "?";
}

DType dtype_from_tag(const std::string& tag, const std::string& what) {
  if (tag == "F32") return DType::f32;
  if (tag == "F64") return DType::f64;
  if (tag == "I32") return DType::i32;
  throw engine::Error(what + ": unsupported dtype '" + tag + "' (longmix reads F32, F64, I32)");
}

// Test-only: LONGMIX_TEST_KILL_DURING_SAVE=N kills this process (SIGKILL, as a power cut or
// the OOM killer would) halfway through writing the N-th file of the run, so that a test can
// prove a crash mid-write leaves the previous checkpoints whole.
void maybe_die_mid_write() {
  static const long target = [] {
    const char* v = std::getenv("LONGMIX_TEST_KILL_DURING_SAVE");
    return v ? std::atol(v) : 0L;
  }();
  static long writes = 0;
  if (target > 0 && ++writes == target) ::raise(SIGKILL);
}

// Writes all bytes and makes them durable before the rename publishes them.
void write_all_durably(const std::string& path, const std::string& header, const SafetensorsFile& file) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  LONGMIX_CHECK(fd >= 0, "cannot create " << path << ": " << std::strerror(errno));
  auto put = [&](const void* data, size_t n) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      const ssize_t w = ::write(fd, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        const std::string why = std::strerror(errno);
        ::close(fd);
        throw engine::Error("cannot write " + path + ": " + why);
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
  };
  const uint64_t len = header.size();
  unsigned char len_bytes[8];
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<unsigned char>(len >> (8 * i));
  put(len_bytes, 8);
  put(header.data(), header.size());
  for (size_t i = 0; i < file.tensors.size(); ++i) {
    if (i == file.tensors.size() / 2) maybe_die_mid_write();
    put(file.tensors[i].second.raw_data(), file.tensors[i].second.nbytes());
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  LONGMIX_CHECK(synced, "cannot flush " << path << " to disk");
}

}  // namespace

const Tensor* SafetensorsFile::find(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return &t;
  return nullptr;
}

void write_safetensors(const std::string& path, const SafetensorsFile& file) {
  std::ostringstream h;
  h << "{";
  size_t offset = 0;
  bool first = true;
  if (!file.metadata.empty()) {
    h << "\"__metadata__\":{";
    for (auto it = file.metadata.begin(); it != file.metadata.end(); ++it)
      h << (it == file.metadata.begin() ? "" : ",") << json_quote(it->first) << ":" << json_quote(it->second);
    h << "}";
    first = false;
  }
  for (const auto& [name, t] : file.tensors) {
    LONGMIX_CHECK(name != "__metadata__", "write_safetensors: '__metadata__' is not a tensor name");
    h << (first ? "" : ",") << json_quote(name) << ":{\"dtype\":\"" << dtype_tag(t.dtype()) << "\",\"shape\":[";
    for (int a = 0; a < t.ndim(); ++a) h << (a ? "," : "") << t.dim(a);
    h << "],\"data_offsets\":[" << offset << "," << offset + t.nbytes() << "]}";
    offset += t.nbytes();
    first = false;
  }
  h << "}";
  std::string header = h.str();
  header.append((8 - header.size() % 8) % 8, ' ');  // data starts 8-byte aligned
  const std::string tmp = path + ".tmp";
  write_all_durably(tmp, header, file);
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  LONGMIX_CHECK(!ec, "cannot rename " << tmp << " to " << path << ": " << ec.message());
  // The rename itself is durable once the directory is flushed.
  std::string dir = std::filesystem::path(path).parent_path().string();
  const int dir_fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

SafetensorsFile read_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  LONGMIX_CHECK(in.good(), "cannot open checkpoint " << path);
  in.seekg(0, std::ios::end);
  const uint64_t size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  LONGMIX_CHECK(size >= 8, path << ": truncated (" << size << " bytes; not a safetensors file)");
  unsigned char len_bytes[8];
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  uint64_t header_len = 0;
  for (int i = 0; i < 8; ++i) header_len |= static_cast<uint64_t>(len_bytes[i]) << (8 * i);
  LONGMIX_CHECK(header_len >= 2 && header_len <= size - 8,
                path << ": header length " << header_len << " does not fit in a file of " << size
                     << " bytes (truncated or not a safetensors file)");
  std::string header(header_len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_len));
  const JsonValue root = parse_json(header, path + " header");
  LONGMIX_CHECK(root.kind == JsonValue::Kind::object, path << ": the header is not a JSON object");
  const uint64_t data_size = size - 8 - header_len;
  SafetensorsFile file;
  uint64_t expected_offset = 0;
  for (const auto& [name, entry] : root.members) {
    if (name == "__metadata__") {
      LONGMIX_CHECK(entry.kind == JsonValue::Kind::object, path << ": __metadata__ is not an object");
      for (const auto& [k, v] : entry.members) {
        LONGMIX_CHECK(v.kind == JsonValue::Kind::string, path << ": metadata '" << k << "' is not a string");
        file.metadata[k] = v.text;
      }
      continue;
    }
    const std::string what = path + ": tensor '" + name + "'";
    const JsonValue* dtype = entry.find("dtype");
    const JsonValue* shape = entry.find("shape");
    const JsonValue* offsets = entry.find("data_offsets");
    LONGMIX_CHECK(entry.kind == JsonValue::Kind::object && dtype && shape && offsets &&
                      dtype->kind == JsonValue::Kind::string && shape->kind == JsonValue::Kind::array &&
                      offsets->kind == JsonValue::Kind::array && offsets->items.size() == 2,
                  what << ": needs dtype, shape and two data_offsets");
    const DType dt = dtype_from_tag(dtype->text, what);
    LONGMIX_CHECK(shape->items.size() <= 4, what << ": " << shape->items.size() << " dimensions (at most 4)");
    std::vector<int64_t> dims;
    uint64_t count = 1;
    for (const JsonValue& d : shape->items) {
      const int64_t n = d.as_int(what + " shape");
      LONGMIX_CHECK(n >= 0 && n < (int64_t{1} << 40), what << ": bad dimension " << n);
      dims.push_back(n);
      count *= static_cast<uint64_t>(n);
      LONGMIX_CHECK(count < (uint64_t{1} << 40), what << ": too many elements");
    }
    const int64_t begin = offsets->items[0].as_int(what + " data_offsets");
    const int64_t end = offsets->items[1].as_int(what + " data_offsets");
    LONGMIX_CHECK(begin >= 0 && static_cast<uint64_t>(begin) == expected_offset,
                  what << ": data starts at " << begin << ", expected " << expected_offset
                       << " (tensors must be contiguous, in order)");
    LONGMIX_CHECK(end >= begin && static_cast<uint64_t>(end - begin) == count * engine::dtype_size(dt),
                  what << ": " << (end - begin) << " bytes of data for " << count << " elements of "
                       << dtype->text);
    LONGMIX_CHECK(static_cast<uint64_t>(end) <= data_size,
                  what << ": data runs to byte " << end << " but the file holds " << data_size
                       << " bytes of data (truncated)");
    Tensor t = Tensor::empty(engine::Shape(dims.begin(), dims.end()), dt);
    in.seekg(static_cast<std::streamoff>(8 + header_len + static_cast<uint64_t>(begin)));
    in.read(static_cast<char*>(t.raw_data()), static_cast<std::streamsize>(end - begin));
    LONGMIX_CHECK(in.good(), what << ": read failed (truncated)");
    file.tensors.emplace_back(name, t);
    expected_offset = static_cast<uint64_t>(end);
  }
  LONGMIX_CHECK(expected_offset == data_size,
                path << ": " << data_size - expected_offset << " bytes after the last tensor (corrupt)");
  return file;
}

}  // namespace nn
