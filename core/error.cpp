#include "core/error.h"

namespace hwnas {

static std::string formatConfigError(const std::string& file, int line, int col, const std::string& keyPath,
                                     const std::string& msg) {
  std::string s = file.empty() ? std::string("<config>") : file;
  if (line > 0) s += ":" + std::to_string(line) + ":" + std::to_string(col);
  s += ": ";
  if (!keyPath.empty()) s += keyPath + ": ";
  return s + msg;
}

ConfigError::ConfigError(const std::string& file, int line, int col, const std::string& keyPath, const std::string& msg)
    : InputError(formatConfigError(file, line, col, keyPath, msg)), file_(file), keyPath_(keyPath), line_(line), col_(col) {}

}  // namespace hwnas
