#include "search_spaces/arch_config.h"

#include <cstdio>

#include "core/error.h"
#include "core/key_check.h"

namespace hwnas {

uint64_t fnv1a64(const std::string& text) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV offset basis
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ull;  // FNV prime
  }
  return h;
}

std::string hashHex(uint64_t h) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)h);
  return buf;
}

namespace {

void checkValues(const Json& j, const std::string& path, const std::string& source) {
  auto where = [&] { return source + ": " + (path.empty() ? std::string("(root)") : path) + ": "; };
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) checkValues(it.value(), joinKeyPath(path, it.key()), source);
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) checkValues(j[i], indexKeyPath(path, i), source);
  } else if (j.is_number_float()) {
    throw InputError(where() + "floats are not allowed in an architecture (use integers, e.g. a width of 75 percent)");
  } else if (j.is_null()) {
    throw InputError(where() + "null is not allowed in an architecture");
  }
}

}  // namespace

ArchConfig::ArchConfig(Json j) : json_(std::move(j)) {
  if (!json_.is_object()) throw InputError("arch: an architecture must be a JSON object, got " + std::string(json_.type_name()));
  checkValues(json_, "", "arch");
}

ArchConfig ArchConfig::parse(const std::string& text, const std::string& name) {
  Json j = parseJson(text, name);
  if (!j.is_object()) throw InputError(name + ": an architecture must be a JSON object, got " + std::string(j.type_name()));
  checkValues(j, "", name);
  return ArchConfig(std::move(j));
}

ArchConfig ArchConfig::load(const std::string& path) {
  Json j = readJsonFile(path);
  if (!j.is_object()) throw InputError(path + ": an architecture must be a JSON object, got " + std::string(j.type_name()));
  checkValues(j, "", path);
  return ArchConfig(std::move(j));
}

}  // namespace hwnas
