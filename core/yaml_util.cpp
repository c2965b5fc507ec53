#include "core/yaml_util.h"

#include <set>

#include "core/fs_util.h"
#include "core/key_check.h"

namespace hwnas {

namespace {

YAML::Mark nullMark() { return YAML::Mark::null_mark(); }

bool markValid(const YAML::Mark& m) { return m.line >= 0 && m.column >= 0 && !m.is_null(); }

std::string shortValue(const std::string& s) {
  if (s.size() <= 40) return s;
  return s.substr(0, 37) + "...";
}

}  // namespace

YamlNode YamlNode::loadFile(const std::string& path) {
  std::string text = readFile(path);  // IoError naming the file
  return loadString(text, path);
}

YamlNode YamlNode::loadString(const std::string& text, const std::string& name) {
  try {
    YAML::Node root = YAML::Load(text);
    return YamlNode(root, std::make_shared<const std::string>(name), "", nullMark());
  } catch (const YAML::ParserException& e) {
    int line = e.mark.line >= 0 ? e.mark.line + 1 : 0;
    int col = e.mark.column >= 0 ? e.mark.column + 1 : 0;
    throw ConfigError(name, line, col, "", "YAML syntax error: " + e.msg);
  } catch (const YAML::Exception& e) {
    throw ConfigError(name, 0, 0, "", std::string("cannot parse YAML: ") + e.what());
  }
}

YamlNode::YamlNode(YAML::Node node, std::string file, std::string keyPath)
    : YamlNode(std::move(node), std::make_shared<const std::string>(std::move(file)), std::move(keyPath), nullMark()) {}

YamlNode::YamlNode(YAML::Node node, std::shared_ptr<const std::string> file, std::string keyPath, YAML::Mark fallback)
    : node_(std::move(node)), file_(std::move(file)), path_(std::move(keyPath)), fallback_(fallback) {}

YAML::Mark YamlNode::mark() const {
  try {
    if (node_.IsDefined()) {
      YAML::Mark m = node_.Mark();
      if (markValid(m)) return m;
    }
  } catch (const YAML::Exception&) {
  }
  return fallback_;
}

int YamlNode::line() const {
  YAML::Mark m = mark();
  return markValid(m) ? m.line + 1 : 0;
}

int YamlNode::column() const {
  YAML::Mark m = mark();
  return markValid(m) ? m.column + 1 : 0;
}

ConfigError YamlNode::error(const std::string& msg) const { return ConfigError(*file_, line(), column(), path_, msg); }

std::string YamlNode::typeName() const {
  if (isNull()) return "null";
  if (node_.IsMap()) return "map";
  if (node_.IsSequence()) return "list";
  if (node_.IsScalar()) return "'" + shortValue(node_.Scalar()) + "'";
  return "unknown";
}

YamlNode YamlNode::child(const YAML::Node& n, const std::string& path) const {
  return YamlNode(n, file_, path, mark());
}

void YamlNode::wrongType(const std::string& expected) const {
  fail("expected " + expected + ", got " + typeName());
}

// --- maps ---

bool YamlNode::has(const std::string& key) const { return find(key).has_value(); }

std::optional<YamlNode> YamlNode::find(const std::string& key) const {
  if (!node_.IsMap()) return std::nullopt;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (it->first.IsScalar() && it->first.Scalar() == key) return child(it->second, joinKeyPath(path_, key));
  }
  return std::nullopt;
}

YamlNode YamlNode::operator[](const std::string& key) const {
  if (!node_.IsMap()) {
    if (isNull()) fail("expected a map with key '" + key + "', got null");
    wrongType("a map with key '" + key + "'");
  }
  auto c = find(key);
  if (!c) {
    // Point at the map but name the full path of the missing key.
    throw ConfigError(*file_, line(), column(), joinKeyPath(path_, key), "missing required key '" + key + "'");
  }
  return *c;
}

std::vector<std::string> YamlNode::keys() const {
  if (!node_.IsMap()) wrongType("a map");
  std::vector<std::string> out;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    out.push_back(it->first.IsScalar() ? it->first.Scalar() : std::string("<complex key>"));
  }
  return out;
}

void YamlNode::checkKeys(const std::vector<std::string>& allowed) const {
  if (isNull()) return;  // an empty section has no unknown keys
  if (!node_.IsMap()) wrongType("a map");
  std::set<std::string> allowedSet(allowed.begin(), allowed.end());
  std::set<std::string> seen;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    YamlNode keyNode(it->first, file_, path_, mark());
    if (!it->first.IsScalar()) keyNode.fail("keys must be plain strings");
    const std::string& key = it->first.Scalar();
    YamlNode located(it->first, file_, joinKeyPath(path_, key), mark());
    if (!allowedSet.count(key)) located.fail(unknownKeyMessage(key, allowed));
    if (!seen.insert(key).second) located.fail("duplicate key '" + key + "'");
  }
}

// --- sequences ---

size_t YamlNode::size() const {
  if (isNull()) return 0;
  if (node_.IsSequence() || node_.IsMap()) return node_.size();
  return 1;
}

YamlNode YamlNode::operator[](size_t index) const {
  if (!node_.IsSequence()) wrongType("a list");
  if (index >= node_.size()) {
    fail("list has " + std::to_string(node_.size()) + " elements; index " + std::to_string(index) + " is out of range");
  }
  return child(node_[index], indexKeyPath(path_, index));
}

std::vector<YamlNode> YamlNode::items() const {
  if (!node_.IsSequence()) wrongType("a list");
  std::vector<YamlNode> out;
  out.reserve(node_.size());
  for (size_t i = 0; i < node_.size(); ++i) out.push_back(child(node_[i], indexKeyPath(path_, i)));
  return out;
}

// --- scalars ---

void YamlNode::requireScalar(const std::string& expected) const {
  if (isNull() || !node_.IsScalar()) wrongType(expected);
  // A quoted scalar ("3") is a string by the user's choice: not a number or a bool.
  if (node_.Tag() == "!") fail("expected " + expected + ", got the quoted string " + typeName() + "; remove the quotes");
}

int64_t YamlNode::asInt64() const {
  requireScalar("an integer");
  try {
    return node_.as<int64_t>();
  } catch (const YAML::Exception&) {
    wrongType("an integer");
  }
}

int YamlNode::asInt() const {
  int64_t v = asInt64();
  if (v < INT32_MIN || v > INT32_MAX) fail("integer " + std::to_string(v) + " is out of range");
  return int(v);
}

double YamlNode::asDouble() const {
  requireScalar("a number");
  try {
    return node_.as<double>();
  } catch (const YAML::Exception&) {
    wrongType("a number");
  }
}

bool YamlNode::asBool() const {
  requireScalar("true or false");
  try {
    return node_.as<bool>();
  } catch (const YAML::Exception&) {
    wrongType("true or false");
  }
}

std::string YamlNode::asString() const {
  if (isNull() || !node_.IsScalar()) wrongType("a string");
  return node_.Scalar();
}

std::string YamlNode::asEnum(const std::vector<std::string>& choices) const {
  std::string v = asString();
  for (const auto& c : choices) {
    if (c == v) return v;
  }
  std::string msg = "unknown value '" + v + "'";
  std::string near = closestMatch(v, choices);
  if (!near.empty()) msg += "; did you mean '" + near + "'?";
  msg += near.empty() ? "; expected one of: " : " expected one of: ";
  for (size_t i = 0; i < choices.size(); ++i) msg += (i ? ", " : "") + choices[i];
  fail(msg);
}

template <class T, class F>
static std::vector<T> listOf(const YamlNode& n, const std::string& what, F get) {
  if (!n.isSequence()) n.fail("expected a list of " + what + ", got " + n.typeName());
  std::vector<T> out;
  for (const auto& item : n.items()) out.push_back(get(item));
  return out;
}

std::vector<int64_t> YamlNode::asInt64List() const {
  return listOf<int64_t>(*this, "integers", [](const YamlNode& n) { return n.asInt64(); });
}
std::vector<int> YamlNode::asIntList() const {
  return listOf<int>(*this, "integers", [](const YamlNode& n) { return n.asInt(); });
}
std::vector<double> YamlNode::asDoubleList() const {
  return listOf<double>(*this, "numbers", [](const YamlNode& n) { return n.asDouble(); });
}
std::vector<std::string> YamlNode::asStringList() const {
  return listOf<std::string>(*this, "strings", [](const YamlNode& n) { return n.asString(); });
}

// --- getters with defaults: a missing key gives the default; a present key must be valid ---

#define HWNAS_GET_WITH_DEFAULT(Type, Name, As)                       \
  Type YamlNode::Name(const std::string& key, Type def) const {      \
    if (isNull()) return def;                                        \
    auto c = (*this).find(key);                                      \
    if (!c && !node_.IsMap()) (*this)[key];                          \
    return c ? c->As() : def;                                        \
  }

HWNAS_GET_WITH_DEFAULT(int, getInt, asInt)
HWNAS_GET_WITH_DEFAULT(int64_t, getInt64, asInt64)
HWNAS_GET_WITH_DEFAULT(double, getDouble, asDouble)
HWNAS_GET_WITH_DEFAULT(bool, getBool, asBool)
#undef HWNAS_GET_WITH_DEFAULT

#define HWNAS_GET_WITH_DEFAULT_REF(Type, Name, As)                      \
  Type YamlNode::Name(const std::string& key, const Type& def) const {  \
    if (isNull()) return def;                                           \
    auto c = (*this).find(key);                                         \
    if (!c && !node_.IsMap()) (*this)[key];                             \
    return c ? c->As() : def;                                           \
  }

HWNAS_GET_WITH_DEFAULT_REF(std::string, getString, asString)
HWNAS_GET_WITH_DEFAULT_REF(std::vector<int>, getIntList, asIntList)
HWNAS_GET_WITH_DEFAULT_REF(std::vector<double>, getDoubleList, asDoubleList)
HWNAS_GET_WITH_DEFAULT_REF(std::vector<std::string>, getStringList, asStringList)
#undef HWNAS_GET_WITH_DEFAULT_REF

}  // namespace hwnas
