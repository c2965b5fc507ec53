// RuntimeError: the one exception type of the runtime (the runtime cannot include
// core/error.h). Its message says what went wrong and where (file, op index, tensor id).
// Callers in core and tools may catch it and wrap it into hwnas::Error.
#pragma once
#include <stdexcept>
#include <string>

namespace hwnas::runtime {

class RuntimeError : public std::runtime_error {
 public:
  explicit RuntimeError(const std::string& msg) : std::runtime_error(msg) {}
};

}  // namespace hwnas::runtime
