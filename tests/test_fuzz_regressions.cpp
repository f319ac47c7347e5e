// Replays every saved fuzz input (tests/fuzz/corpus/<target>/: seeds and inputs that once
// crashed) through the same entry points the libFuzzer binaries use: each must be read or
// refused with an engine::Error, in the regular (gcc) build as well.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "tests/fuzz/fuzz_targets.h"
#include "tests/test_util.h"

namespace {

void replay(const std::string& target, void (*entry)(const uint8_t*, size_t)) {
  const std::filesystem::path dir = std::filesystem::path(LONGMIX_SOURCE_DIR) / "tests/fuzz/corpus" / target;
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
  int files = 0;
  for (const auto& entry_path : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry_path.path(), std::ios::binary);
    const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    SCOPED_TRACE(entry_path.path().string());
    entry(bytes.data(), bytes.size());  // throws (fails the test) on anything but engine::Error
    ++files;
  }
  EXPECT_GT(files, 0);
}

TEST(FuzzRegressions, Idx) { replay("idx", fuzz::idx); }
TEST(FuzzRegressions, Safetensors) { replay("safetensors", fuzz::safetensors); }
TEST(FuzzRegressions, Config) { replay("config", fuzz::config); }
TEST(FuzzRegressions, Listops) { replay("listops", fuzz::listops); }

TEST(FuzzRegressions, DeeplyNestedListopsIsAnAnswerNotAStackOverflow) {
  std::vector<int32_t> tokens(200000, 11);  // [MAX [MAX ... 3 ] ] ...
  tokens.push_back(4);
  tokens.insert(tokens.end(), 200000, 15);
  EXPECT_EQ(apps::evaluate_listops(tokens), 3);
  EXPECT_EQ(apps::evaluate_listops(apps::listops_tokens("[MAX 3 [SM 1 2 ] [MIN 9 7 ] ]")), 7);
  EXPECT_NE(testing_util::error_of([] { apps::listops_tokens("[MAX 3 [FOO 1 ] ]"); }).find("unknown token '[FOO'"),
            std::string::npos);
}

}  // namespace
