// ArchConfig: one architecture of a search space as plain data, a JSON object of choices.
// Invariant: values are objects, arrays, strings, integers or booleans only (never floats or
// null), so canonical() (sorted keys, compact) is a stable text and hash() = fnv1a64 of it.
#pragma once
#include <cstdint>
#include <string>

#include "core/json_util.h"

namespace hwnas {

// FNV-1a, 64 bit, over the bytes of `text`. Stable across builds and platforms (never std::hash).
uint64_t fnv1a64(const std::string& text);
// 16 lower-case hex digits, zero padded.
std::string hashHex(uint64_t h);

class ArchConfig {
 public:
  ArchConfig() : json_(Json::object()) {}
  // InputError naming the offending key path if `j` is not an object or holds a float or null.
  explicit ArchConfig(Json j);

  // Parses JSON text (`name` stands in for the file in messages) or a file. Syntax errors are
  // ConfigErrors with line:col; a float or null value is an InputError naming its key path.
  static ArchConfig parse(const std::string& text, const std::string& name = "<arch>");
  static ArchConfig load(const std::string& path);

  const Json& json() const { return json_; }
  std::string canonical() const { return canonicalDump(json_); }
  uint64_t hash() const { return fnv1a64(canonical()); }
  std::string hashHex() const { return hwnas::hashHex(hash()); }

  bool operator==(const ArchConfig& o) const { return json_ == o.json_; }
  bool operator!=(const ArchConfig& o) const { return !(*this == o); }

 private:
  Json json_;
};

}  // namespace hwnas
