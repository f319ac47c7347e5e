// Flags from JSON: a configuration file (`--config FILE`) or a checkpoint's saved
// configuration. An object of "flag-name": value (string, number or boolean); the flags the
// user gave on the command line win.
#pragma once
#include <string>

#include "apps/flags.h"

namespace apps {

// unknown_keys_are_errors: a configuration file names only flags of the command; a
// checkpoint's configuration may hold flags this command does not have (gradcheck has no --lr).
void apply_json_flags(const std::string& json, const std::string& what, Flags& flags, bool unknown_keys_are_errors);

// Reads FILE and applies it; the file must be a JSON object.
void apply_config_file(const std::string& path, Flags& flags);

}  // namespace apps
