// The safetensors file layout: an 8-byte little-endian header length, a JSON header naming
// every tensor's dtype, shape and byte range (plus a "__metadata__" map of strings), then the
// raw little-endian data, tensors contiguous in header order. Writing goes to a temporary file
// that is flushed and renamed, so a crash never leaves a half-written file under the name.
// Reading checks everything it can and refuses a truncated or inconsistent file by name.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace nn {

struct SafetensorsFile {
  std::vector<std::pair<std::string, engine::Tensor>> tensors;
  std::map<std::string, std::string> metadata;
  const engine::Tensor* find(const std::string& name) const;
};

void write_safetensors(const std::string& path, const SafetensorsFile& file);
SafetensorsFile read_safetensors(const std::string& path);

}  // namespace nn
