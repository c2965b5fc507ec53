#include "core/json_util.h"

#include <set>

#include "core/fs_util.h"
#include "core/key_check.h"

namespace hwnas {

Json readJsonFile(const std::string& path) { return parseJson(readFile(path), path); }

Json parseJson(const std::string& text, const std::string& name) {
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    // e.byte is 1-based: the byte at which parsing failed. Turn it into line:col.
    size_t upto = e.byte > 0 ? std::min<size_t>(e.byte - 1, text.size()) : 0;
    int line = 1, col = 1;
    for (size_t i = 0; i < upto; ++i) {
      if (text[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    std::string what = e.what();
    // Drop nlohmann's "[json.exception.parse_error.101] parse error at line 1, column 2: " prefix.
    auto p = what.find(": ");
    if (p != std::string::npos) what = what.substr(p + 2);
    throw ConfigError(name, line, col, "", "JSON syntax error: " + what);
  }
}

void writeJsonFile(const std::string& path, const Json& j, int indent) {
  writeFileAtomic(path, j.dump(indent < 0 ? -1 : indent) + "\n");
}

std::string canonicalDump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::strict); }

// --- JsonReader ---

JsonReader::JsonReader(const Json& value, std::string file, std::string keyPath)
    : value_(&value), file_(std::move(file)), path_(std::move(keyPath)) {}

ConfigError JsonReader::error(const std::string& msg) const { return ConfigError(file_, 0, 0, path_, msg); }

std::string JsonReader::typeName() const {
  switch (value_->type()) {
    case Json::value_t::object: return "object";
    case Json::value_t::array: return "array";
    case Json::value_t::string: return "string '" + value_->get<std::string>() + "'";
    case Json::value_t::boolean: return "boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "integer";
    case Json::value_t::number_float: return "number " + value_->dump();
    case Json::value_t::null: return "null";
    default: return "unknown";
  }
}

void JsonReader::wrongType(const std::string& expected) const { fail("expected " + expected + ", got " + typeName()); }

bool JsonReader::has(const std::string& key) const { return value_->is_object() && value_->contains(key); }

std::optional<JsonReader> JsonReader::find(const std::string& key) const {
  if (!value_->is_object()) wrongType("an object");
  auto it = value_->find(key);
  if (it == value_->end()) return std::nullopt;
  return JsonReader(*it, file_, joinKeyPath(path_, key));
}

JsonReader JsonReader::operator[](const std::string& key) const {
  if (!value_->is_object()) wrongType("an object with key '" + key + "'");
  auto c = find(key);
  if (!c) throw ConfigError(file_, 0, 0, joinKeyPath(path_, key), "missing required key '" + key + "'");
  return *c;
}

void JsonReader::checkKeys(const std::vector<std::string>& allowed) const {
  if (!value_->is_object()) wrongType("an object");
  std::set<std::string> ok(allowed.begin(), allowed.end());
  for (auto it = value_->begin(); it != value_->end(); ++it) {
    if (!ok.count(it.key())) {
      throw ConfigError(file_, 0, 0, joinKeyPath(path_, it.key()), unknownKeyMessage(it.key(), allowed));
    }
  }
}

size_t JsonReader::size() const { return value_->is_array() || value_->is_object() ? value_->size() : 0; }

JsonReader JsonReader::operator[](size_t index) const {
  if (!value_->is_array()) wrongType("an array");
  if (index >= value_->size()) {
    fail("array has " + std::to_string(value_->size()) + " elements; index " + std::to_string(index) + " is out of range");
  }
  return JsonReader((*value_)[index], file_, indexKeyPath(path_, index));
}

std::vector<JsonReader> JsonReader::items() const {
  if (!value_->is_array()) wrongType("an array");
  std::vector<JsonReader> out;
  for (size_t i = 0; i < value_->size(); ++i) out.emplace_back((*value_)[i], file_, indexKeyPath(path_, i));
  return out;
}

int64_t JsonReader::asInt64() const {
  if (value_->is_number_integer()) {
    if (value_->is_number_unsigned() && value_->get<uint64_t>() > uint64_t(INT64_MAX)) fail("integer is out of range");
    return value_->get<int64_t>();
  }
  wrongType("an integer");
}

int JsonReader::asInt() const {
  int64_t v = asInt64();
  if (v < INT32_MIN || v > INT32_MAX) fail("integer " + std::to_string(v) + " is out of range");
  return int(v);
}

double JsonReader::asDouble() const {
  if (!value_->is_number()) wrongType("a number");
  return value_->get<double>();
}

bool JsonReader::asBool() const {
  if (!value_->is_boolean()) wrongType("true or false");
  return value_->get<bool>();
}

std::string JsonReader::asString() const {
  if (!value_->is_string()) wrongType("a string");
  return value_->get<std::string>();
}

template <class T, class F>
static std::vector<T> jsonListOf(const JsonReader& r, const std::string& what, F get) {
  if (!r.isArray()) r.fail("expected an array of " + what + ", got " + r.typeName());
  std::vector<T> out;
  for (const auto& item : r.items()) out.push_back(get(item));
  return out;
}

std::vector<int64_t> JsonReader::asInt64List() const {
  return jsonListOf<int64_t>(*this, "integers", [](const JsonReader& r) { return r.asInt64(); });
}
std::vector<int> JsonReader::asIntList() const {
  return jsonListOf<int>(*this, "integers", [](const JsonReader& r) { return r.asInt(); });
}
std::vector<double> JsonReader::asDoubleList() const {
  return jsonListOf<double>(*this, "numbers", [](const JsonReader& r) { return r.asDouble(); });
}
std::vector<std::string> JsonReader::asStringList() const {
  return jsonListOf<std::string>(*this, "strings", [](const JsonReader& r) { return r.asString(); });
}

int64_t JsonReader::getInt64(const std::string& key, int64_t def) const {
  auto c = find(key);
  return c ? c->asInt64() : def;
}
int JsonReader::getInt(const std::string& key, int def) const {
  auto c = find(key);
  return c ? c->asInt() : def;
}
double JsonReader::getDouble(const std::string& key, double def) const {
  auto c = find(key);
  return c ? c->asDouble() : def;
}
bool JsonReader::getBool(const std::string& key, bool def) const {
  auto c = find(key);
  return c ? c->asBool() : def;
}
std::string JsonReader::getString(const std::string& key, const std::string& def) const {
  auto c = find(key);
  return c ? c->asString() : def;
}

}  // namespace hwnas
