// Strict JSON reading over nlohmann-json (JsonReader: typed getters with key paths, unknown-key
// rejection), atomic JSON file writes, and the canonical text form (sorted keys, compact).
// Invariant: read errors are ConfigErrors naming the file and key path; parse errors add line:col.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"

namespace hwnas {

using Json = nlohmann::json;

// Parses a file. Missing file: IoError. Bad syntax: ConfigError at line:col of the error.
Json readJsonFile(const std::string& path);
// Parses text; `name` stands in for the file name in messages.
Json parseJson(const std::string& text, const std::string& name = "<json>");
// Writes `j` atomically (temp file + rename); indent < 0 writes compact text. Ends with "\n".
void writeJsonFile(const std::string& path, const Json& j, int indent = 2);
// Canonical text: keys sorted (nlohmann's default map type keeps them sorted), no spaces, no
// trailing newline, UTF-8 kept as is. Equal values give equal text, so it can be hashed.
std::string canonicalDump(const Json& j);

// A view of one JSON value with its file and key path, for strict reading.
class JsonReader {
 public:
  JsonReader(const Json& value, std::string file, std::string keyPath = "");

  const Json& raw() const { return *value_; }
  const std::string& file() const { return file_; }
  const std::string& keyPath() const { return path_; }
  // "object", "array", "string", "integer", "number", "boolean", "null"
  std::string typeName() const;

  bool isObject() const { return value_->is_object(); }
  bool isArray() const { return value_->is_array(); }
  bool isNull() const { return value_->is_null(); }

  bool has(const std::string& key) const;
  JsonReader operator[](const std::string& key) const;  // required key
  std::optional<JsonReader> find(const std::string& key) const;  // ConfigError if not an object
  // Rejects keys not in `allowed`, with the allowed list and a typo suggestion.
  void checkKeys(const std::vector<std::string>& allowed) const;

  size_t size() const;
  JsonReader operator[](size_t index) const;
  std::vector<JsonReader> items() const;  // array elements

  int64_t asInt64() const;  // integral numbers only (3.0 is refused)
  int asInt() const;
  double asDouble() const;  // any number
  bool asBool() const;
  std::string asString() const;
  std::vector<int64_t> asInt64List() const;
  std::vector<int> asIntList() const;
  std::vector<double> asDoubleList() const;
  std::vector<std::string> asStringList() const;

  int64_t getInt64(const std::string& key) const { return (*this)[key].asInt64(); }
  int64_t getInt64(const std::string& key, int64_t def) const;
  int getInt(const std::string& key) const { return (*this)[key].asInt(); }
  int getInt(const std::string& key, int def) const;
  double getDouble(const std::string& key) const { return (*this)[key].asDouble(); }
  double getDouble(const std::string& key, double def) const;
  bool getBool(const std::string& key) const { return (*this)[key].asBool(); }
  bool getBool(const std::string& key, bool def) const;
  std::string getString(const std::string& key) const { return (*this)[key].asString(); }
  std::string getString(const std::string& key, const std::string& def) const;

  ConfigError error(const std::string& msg) const;
  [[noreturn]] void fail(const std::string& msg) const { throw error(msg); }

 private:
  [[noreturn]] void wrongType(const std::string& expected) const;
  const Json* value_;
  std::string file_, path_;
};

}  // namespace hwnas
