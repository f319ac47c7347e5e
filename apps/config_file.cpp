#include "apps/config_file.h"

#include <fstream>
#include <sstream>

#include "engine/check.h"
#include "nn/json.h"

namespace apps {

void apply_json_flags(const std::string& json, const std::string& what, Flags& flags, bool unknown_keys_are_errors) {
  const nn::JsonValue config = nn::parse_json(json, what);
  LONGMIX_CHECK(config.kind == nn::JsonValue::Kind::object, what << ": expected a JSON object of flag names");
  for (const auto& [name, value] : config.members) {
    if (!flags.has(name)) {
      LONGMIX_CHECK(!unknown_keys_are_errors, what << ": unknown flag '" << name << "' (see --help)");
      continue;
    }
    if (flags.was_set(name)) continue;
    using Kind = nn::JsonValue::Kind;
    LONGMIX_CHECK(value.kind == Kind::string || value.kind == Kind::number || value.kind == Kind::boolean,
                  what << ": '" << name << "' must be a string, a number or a boolean");
    flags.set(name, value.kind == Kind::boolean ? (value.boolean ? "true" : "false") : value.text);
  }
}

void apply_config_file(const std::string& path, Flags& flags) {
  std::ifstream in(path);
  LONGMIX_CHECK(in.good(), "--config: cannot open " << path);
  std::ostringstream text;
  text << in.rdbuf();
  apply_json_flags(text.str(), path, flags, true);
}

}  // namespace apps
