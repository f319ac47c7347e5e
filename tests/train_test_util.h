// Shared helpers for the tests that run apps::train: the training flags with overrides, and an
// emptied run directory.
#pragma once
#include <filesystem>
#include <initializer_list>
#include <string>
#include <utility>

#include "apps/flags.h"
#include "apps/train.h"

namespace testing_util {

// The training command's flags at their defaults, then `overrides` set as if given on the command line.
inline apps::Flags train_flags(std::initializer_list<std::pair<const char*, std::string>> overrides) {
  apps::Flags f;
  apps::add_train_flags(f);
  for (const auto& [k, v] : overrides) f.set(k, v);
  return f;
}

// An empty directory longmix_test_<name> in the system's temporary directory. Names must differ
// between test binaries, since ctest runs them in parallel.
inline std::string empty_temp_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("longmix_test_" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

}  // namespace testing_util
