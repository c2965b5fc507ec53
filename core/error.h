// hwnas::Error is the one exception base of the project. Its message says what went wrong,
// where (file:line:col, key path, op or device) and what to do. Tools print what() as one
// line and exit with exitCode(): 2 for bad input, 1 for runtime failures.
#pragma once
#include <stdexcept>
#include <string>

namespace hwnas {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg, int exitCode = 1) : std::runtime_error(msg), exitCode_(exitCode) {}
  int exitCode() const { return exitCode_; }

 private:
  int exitCode_;
};

// Bad user input: a config, a flag, a data file. Exit code 2.
class InputError : public Error {
 public:
  explicit InputError(const std::string& msg) : Error(msg, 2) {}
};

// A YAML/JSON config error with its location. what() is "file:line:col: key.path: message".
class ConfigError : public InputError {
 public:
  ConfigError(const std::string& file, int line, int col, const std::string& keyPath, const std::string& msg);
  const std::string& file() const { return file_; }
  int line() const { return line_; }
  int column() const { return col_; }
  const std::string& keyPath() const { return keyPath_; }

 private:
  std::string file_, keyPath_;
  int line_, col_;
};

// A file that is missing, truncated or corrupt, or cannot be written. Exit code 2 when the
// file was given by the user (the default), 1 for failures of the machine itself.
class IoError : public Error {
 public:
  explicit IoError(const std::string& msg, int exitCode = 2) : Error(msg, exitCode) {}
};

// Tensor or graph shapes that do not fit together.
class ShapeError : public InputError {
 public:
  explicit ShapeError(const std::string& msg) : InputError(msg) {}
};

// A SQLite failure; the message names the database file.
class DbError : public Error {
 public:
  explicit DbError(const std::string& msg, int exitCode = 1) : Error(msg, exitCode) {}
};

}  // namespace hwnas
