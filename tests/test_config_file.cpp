// --config FILE: values applied, the command line wins, unknown keys and bad JSON named, and
// every shipped preset in configs/ names only real flags.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "apps/config_file.h"
#include "apps/train.h"
#include "engine/check.h"

namespace fs = std::filesystem;

namespace {

std::string write_file(const std::string& name, const std::string& text) {
  const std::string path = (fs::temp_directory_path() / ("longmix_test_" + name)).string();
  std::ofstream(path) << text;
  return path;
}

apps::Flags fresh_flags() {
  apps::Flags f;
  apps::add_train_flags(f);
  return f;
}

TEST(ConfigFile, AppliesValuesAndTheCommandLineWins) {
  apps::Flags f = fresh_flags();
  const char* argv[] = {"train", "--lr", "0.5"};
  f.parse(3, argv, 1);
  apps::apply_config_file(write_file("cfg.json", R"({"lr": 1e-3, "steps": 77, "model": "mra", "patches": true})"), f);
  EXPECT_EQ(f.get_double("lr"), 0.5);
  EXPECT_EQ(f.get_int("steps"), 77);
  EXPECT_EQ(f.get_string("model"), "mra");
  EXPECT_TRUE(f.get_bool("patches"));
}

TEST(ConfigFile, UnknownKeysBadValuesAndBadJsonAreNamed) {
  auto message = [](const std::string& text) {
    apps::Flags f = fresh_flags();
    try {
      apps::apply_config_file(write_file("bad.json", text), f);
    } catch (const engine::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(R"({"lrr": 1})").find("unknown flag 'lrr'"), std::string::npos);
  EXPECT_NE(message(R"({"steps": "many"})").find("--steps"), std::string::npos);
  EXPECT_NE(message(R"({"steps": [1]})").find("must be a string, a number or a boolean"), std::string::npos);
  EXPECT_NE(message(R"({"steps": 1)").find("malformed JSON"), std::string::npos);
  EXPECT_NE(message("[1]").find("expected a JSON object"), std::string::npos);
}

TEST(ConfigFile, ShippedPresetsNameOnlyRealFlags) {
  int found = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(LONGMIX_SOURCE_DIR) / "configs")) {
    apps::Flags f = fresh_flags();
    EXPECT_NO_THROW(apps::apply_config_file(entry.path().string(), f)) << entry.path();
    ++found;
  }
  EXPECT_GE(found, 5);
}

}  // namespace
