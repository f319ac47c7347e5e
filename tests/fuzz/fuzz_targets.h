// The fuzz targets: every input format longmix reads, fed arbitrary bytes. Refusing an input
// with an engine::Error (a message naming the problem) is a correct answer; a crash, a
// sanitizer report or any other exception is a bug. Shared by the libFuzzer binaries
// (fuzz_main.cpp) and by test_fuzz_regressions.cpp, which replays every saved input.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "apps/config_file.h"
#include "apps/flags.h"
#include "apps/tasks/idx_file.h"
#include "apps/tasks/listops.h"
#include "engine/check.h"
#include "nn/safetensors.h"

namespace fuzz {

// The readers take paths: the bytes go to a file of this process's own.
inline std::string as_file(const uint8_t* data, size_t size) {
  const std::string path = "/tmp/longmix_fuzz_" + std::to_string(getpid()) + ".bin";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return path;
  if (size) std::fwrite(data, 1, size, f);
  std::fclose(f);
  return path;
}

template <class Body>
void refused_or_read(Body&& body) {
  try {
    body();
  } catch (const engine::Error&) {
  }
}

inline void idx(const uint8_t* data, size_t size) {
  const std::string path = as_file(data, size);
  for (int ndim : {1, 3}) refused_or_read([&] { apps::read_idx_ubyte(path, ndim); });
}

inline void safetensors(const uint8_t* data, size_t size) {
  const std::string path = as_file(data, size);
  refused_or_read([&] {
    const nn::SafetensorsFile f = nn::read_safetensors(path);
    for (const auto& [name, t] : f.tensors) (void)t.numel();
  });
}

inline void config(const uint8_t* data, size_t size) {
  apps::Flags flags;
  flags.add_int("steps", 1, "");
  flags.add_double("lr", 1e-3, "");
  flags.add_string("model", "mlp", "");
  flags.add_bool("recompute", false, "");
  const std::string text(reinterpret_cast<const char*>(data), size);
  refused_or_read([&] { apps::apply_json_flags(text, "fuzz input", flags, true); });
}

inline void listops(const uint8_t* data, size_t size) {
  std::vector<int32_t> tokens(data, data + size);  // each byte a token id
  refused_or_read([&] { apps::evaluate_listops(tokens); });
  const std::string text(reinterpret_cast<const char*>(data), size);
  refused_or_read([&] { apps::evaluate_listops(apps::listops_tokens(text)); });
}

}  // namespace fuzz
