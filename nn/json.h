// A small JSON reader for the files longmix reads back (checkpoint headers, run configs):
// objects, arrays, strings (with escapes), numbers (kept as their text), true, false, null.
// Malformed text is an engine::Error naming the byte offset.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace nn {

struct JsonMember;

struct JsonValue {
  enum class Kind { null, boolean, number, string, array, object };
  Kind kind = Kind::null;
  bool boolean = false;
  std::string text;  // a string's value, or a number's literal text
  std::vector<JsonValue> items;                                // array
  std::vector<JsonMember> members;                             // object, in file order

  const JsonValue* find(const std::string& key) const;  // object member or nullptr
  int64_t as_int(const std::string& what) const;        // a number that is an integer
};

struct JsonMember {
  std::string key;
  JsonValue value;
};

JsonValue parse_json(const std::string& text, const std::string& what);

// "text" with quotes, backslashes and control characters escaped.
std::string json_quote(const std::string& text);

}  // namespace nn
