// Strict YAML reading over yaml-cpp: YamlNode knows its file and key path
// ("search.constraints[1].device"), typed getters check types, and checkKeys rejects unknown keys.
// Invariant: every failure is a ConfigError naming file:line:col (1-based) and the key path.
#pragma once
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"

namespace hwnas {

class YamlNode {
 public:
  // Parses a file. Missing/unreadable file: IoError naming it. Syntax error: ConfigError at
  // the parser's location. An empty file gives a null root.
  static YamlNode loadFile(const std::string& path);
  // Parses text; `name` stands in for the file name in messages.
  static YamlNode loadString(const std::string& text, const std::string& name = "<string>");

  YamlNode(YAML::Node node, std::string file, std::string keyPath);

  const std::string& file() const { return *file_; }
  const std::string& keyPath() const { return path_; }
  // 1-based position of this node in the file (0 when unknown).
  int line() const;
  int column() const;
  const YAML::Node& raw() const { return node_; }

  bool isMap() const { return node_.IsMap(); }
  bool isSequence() const { return node_.IsSequence(); }
  bool isScalar() const { return node_.IsScalar(); }
  bool isNull() const { return !node_.IsDefined() || node_.IsNull(); }
  // "map", "list", "string", "null"
  std::string typeName() const;

  // --- maps ---
  bool has(const std::string& key) const;
  // The child at `key`; ConfigError "missing required key" if absent, or if this is not a map.
  YamlNode operator[](const std::string& key) const;
  std::optional<YamlNode> find(const std::string& key) const;
  // Keys in file order. ConfigError if not a map.
  std::vector<std::string> keys() const;
  // Rejects keys not in `allowed` (and duplicate keys) at the offending key's location, with
  // the allowed keys and a typo suggestion in the message.
  void checkKeys(const std::vector<std::string>& allowed) const;

  // --- sequences ---
  size_t size() const;  // elements of a list or entries of a map; 0 for null
  YamlNode operator[](size_t index) const;
  std::vector<YamlNode> items() const;  // ConfigError if not a list

  // --- scalars (this node) ---
  int64_t asInt64() const;
  int asInt() const;
  double asDouble() const;
  bool asBool() const;
  std::string asString() const;
  std::vector<int64_t> asInt64List() const;
  std::vector<int> asIntList() const;
  std::vector<double> asDoubleList() const;
  std::vector<std::string> asStringList() const;
  // The string, which must be one of `choices`.
  std::string asEnum(const std::vector<std::string>& choices) const;

  // --- typed getters on a map: required (throw if missing) and with default ---
  int getInt(const std::string& key) const { return (*this)[key].asInt(); }
  int getInt(const std::string& key, int def) const;
  int64_t getInt64(const std::string& key) const { return (*this)[key].asInt64(); }
  int64_t getInt64(const std::string& key, int64_t def) const;
  double getDouble(const std::string& key) const { return (*this)[key].asDouble(); }
  double getDouble(const std::string& key, double def) const;
  bool getBool(const std::string& key) const { return (*this)[key].asBool(); }
  bool getBool(const std::string& key, bool def) const;
  std::string getString(const std::string& key) const { return (*this)[key].asString(); }
  std::string getString(const std::string& key, const std::string& def) const;
  std::vector<int> getIntList(const std::string& key) const { return (*this)[key].asIntList(); }
  std::vector<int> getIntList(const std::string& key, const std::vector<int>& def) const;
  std::vector<double> getDoubleList(const std::string& key) const { return (*this)[key].asDoubleList(); }
  std::vector<double> getDoubleList(const std::string& key, const std::vector<double>& def) const;
  std::vector<std::string> getStringList(const std::string& key) const { return (*this)[key].asStringList(); }
  std::vector<std::string> getStringList(const std::string& key, const std::vector<std::string>& def) const;

  // A ConfigError located at this node: "file:line:col: key.path: msg". For checks the
  // caller makes itself (a value out of range, an unknown device).
  ConfigError error(const std::string& msg) const;
  [[noreturn]] void fail(const std::string& msg) const { throw error(msg); }

 private:
  YamlNode(YAML::Node node, std::shared_ptr<const std::string> file, std::string keyPath, YAML::Mark fallback);
  YamlNode child(const YAML::Node& n, const std::string& path) const;
  [[noreturn]] void wrongType(const std::string& expected) const;
  void requireScalar(const std::string& expected) const;
  YAML::Mark mark() const;

  YAML::Node node_;
  std::shared_ptr<const std::string> file_;
  std::string path_;
  YAML::Mark fallback_;  // where to point when node_ has no position (e.g. a missing key)
};

}  // namespace hwnas
