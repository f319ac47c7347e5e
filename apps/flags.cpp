#include "apps/flags.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "engine/check.h"

namespace apps {

int64_t parse_int(const std::string& text, const std::string& what) {
  int64_t v = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, v);
  LONGMIX_CHECK(!text.empty() && ec == std::errc() && ptr == end,
                what << ": expected an integer, got '" << text << "'");
  return v;
}

double parse_double(const std::string& text, const std::string& what) {
  char* end = nullptr;
  const double v = text.empty() ? 0 : std::strtod(text.c_str(), &end);
  LONGMIX_CHECK(!text.empty() && end == text.c_str() + text.size() && std::isfinite(v),
                what << ": expected a finite number, got '" << text << "'");
  return v;
}

bool parse_bool(const std::string& text, const std::string& what) {
  if (text == "true" || text == "1" || text == "yes" || text == "on") return true;
  if (text == "false" || text == "0" || text == "no" || text == "off") return false;
  throw engine::Error(what + ": expected true or false, got '" + text + "'");
}

void Flags::add(const std::string& name, Type type, std::string value, const std::string& help) {
  if (!flags_.count(name)) order_.push_back(name);
  flags_[name] = Flag{type, std::move(value), help, false};
}

void Flags::add_int(const std::string& n, int64_t v, const std::string& h) {
  add(n, Type::integer, std::to_string(v), h);
}
void Flags::add_double(const std::string& n, double v, const std::string& h) {
  std::ostringstream os;
  os << v;
  add(n, Type::real, os.str(), h);
}
void Flags::add_string(const std::string& n, const std::string& v, const std::string& h) {
  add(n, Type::text, v, h);
}
void Flags::add_bool(const std::string& n, bool v, const std::string& h) {
  add(n, Type::boolean, v ? "true" : "false", h);
}

void Flags::set_default(const std::string& name, const std::string& value) {
  auto it = flags_.find(name);
  LONGMIX_CHECK(it != flags_.end(), "unknown flag --" << name << " (see --help)");
  const bool was = it->second.set;
  set(name, value);
  it->second.set = was;
}

void Flags::set(const std::string& name, const std::string& value) {
  auto it = flags_.find(name);
  LONGMIX_CHECK(it != flags_.end(), "unknown flag --" << name << " (see --help)");
  Flag& f = it->second;
  const std::string what = "--" + name;
  switch (f.type) {
    case Type::integer: parse_int(value, what); break;
    case Type::real: parse_double(value, what); break;
    case Type::boolean: parse_bool(value, what); break;
    case Type::text: break;
  }
  f.value = value;
  f.set = true;
}

void Flags::parse(int argc, const char* const* argv, int first) {
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      help_ = true;
      continue;
    }
    LONGMIX_CHECK(arg.rfind("--", 0) == 0 && arg.size() > 2,
                  "unexpected argument '" << arg << "' (flags look like --name value)");
    std::string name = arg.substr(2), value;
    const size_t eq = name.find('=');
    const bool inline_value = eq != std::string::npos;
    if (inline_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    auto it = flags_.find(name);
    LONGMIX_CHECK(it != flags_.end(), "unknown flag --" << name << " (see --help)");
    if (!inline_value) {
      if (it->second.type == Type::boolean &&
          (i + 1 >= argc || std::string(argv[i + 1]).rfind("--", 0) == 0)) {
        value = "true";  // a bare boolean flag switches it on
      } else {
        LONGMIX_CHECK(i + 1 < argc, "flag --" << name << " needs a value");
        value = argv[++i];
      }
    }
    set(name, value);
  }
}

const Flags::Flag& Flags::find(const std::string& name, Type type) const {
  auto it = flags_.find(name);
  LONGMIX_CHECK(it != flags_.end() && it->second.type == type,
                "internal: flag --" << name << " is not declared with that type");
  return it->second;
}

int64_t Flags::get_int(const std::string& n) const {
  return parse_int(find(n, Type::integer).value, "--" + n);
}
double Flags::get_double(const std::string& n) const {
  return parse_double(find(n, Type::real).value, "--" + n);
}
const std::string& Flags::get_string(const std::string& n) const { return find(n, Type::text).value; }
bool Flags::get_bool(const std::string& n) const {
  return parse_bool(find(n, Type::boolean).value, "--" + n);
}
bool Flags::has(const std::string& n) const { return flags_.count(n) != 0; }

std::vector<std::string> Flags::names_set() const {
  std::vector<std::string> out;
  for (const std::string& name : order_)
    if (flags_.at(name).set) out.push_back(name);
  return out;
}

bool Flags::was_set(const std::string& n) const {
  auto it = flags_.find(n);
  return it != flags_.end() && it->second.set;
}

std::string Flags::help_text() const {
  std::ostringstream os;
  for (const std::string& name : order_) {
    const Flag& f = flags_.at(name);
    std::string left = "  --" + name + " " +
                       (f.type == Type::integer ? "N" : f.type == Type::real ? "X"
                                                  : f.type == Type::boolean ? "[BOOL]" : "S");
    if (left.size() < 28) left.resize(28, ' ');
    os << left << f.help << " (default: " << (f.value.empty() ? "\"\"" : f.value) << ")\n";
  }
  return os.str();
}

std::vector<std::pair<std::string, std::string>> Flags::resolved() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& name : order_) out.emplace_back(name, flags_.at(name).value);
  return out;
}

std::string Flags::resolved_json() const {
  std::ostringstream os;
  os << "{";
  bool first = true;
  for (const std::string& name : order_) {
    const Flag& f = flags_.at(name);
    os << (first ? "" : ", ") << "\"" << name << "\": ";
    first = false;
    if (f.type == Type::text) {
      os << "\"";
      for (char c : f.value) {
        if (c == '"' || c == '\\') os << '\\';
        os << c;
      }
      os << "\"";
    } else {
      os << f.value;
    }
  }
  os << "}";
  return os.str();
}

}  // namespace apps
