// Command-line flags: declared with a type, a default and a help line; parsed from
// "--name value" or "--name=value". Unknown flags, missing values and malformed numbers are
// errors that name the flag (engine::Error), never silently ignored.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace apps {

class Flags {
 public:
  enum class Type { integer, real, text, boolean };

  void add_int(const std::string& name, int64_t value, const std::string& help);
  void add_double(const std::string& name, double value, const std::string& help);
  void add_string(const std::string& name, const std::string& value, const std::string& help);
  void add_bool(const std::string& name, bool value, const std::string& help);

  // Parses argv[first..argc). "--help" sets help_requested() instead of failing.
  void parse(int argc, const char* const* argv, int first);
  // Sets a flag from text, as if given on the command line (validates the type).
  void set(const std::string& name, const std::string& value);
  // Changes a declared flag's default (a command that shares another's flags), not marking it set.
  void set_default(const std::string& name, const std::string& value);

  int64_t get_int(const std::string& name) const;
  double get_double(const std::string& name) const;
  const std::string& get_string(const std::string& name) const;
  bool get_bool(const std::string& name) const;
  bool was_set(const std::string& name) const;  // given on the command line
  bool has(const std::string& name) const;      // declared
  std::vector<std::string> names_set() const;   // the flags given (or set) so far, in declaration order
  bool help_requested() const { return help_; }

  std::string help_text() const;
  std::vector<std::pair<std::string, std::string>> resolved() const;  // name, value as text
  std::string resolved_json() const;

 private:
  struct Flag {
    Type type;
    std::string value, help;
    bool set = false;
  };
  const Flag& find(const std::string& name, Type type) const;
  void add(const std::string& name, Type type, std::string value, const std::string& help);
  std::map<std::string, Flag> flags_;
  std::vector<std::string> order_;
  bool help_ = false;
};

// Strict conversions shared by flags and config readers; throw engine::Error naming `what`.
int64_t parse_int(const std::string& text, const std::string& what);
double parse_double(const std::string& text, const std::string& what);
bool parse_bool(const std::string& text, const std::string& what);

}  // namespace apps
