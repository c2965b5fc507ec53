// toolMain: the one main() of every command-line tool. Runs the tool and turns an escaped error
// into one line on stderr, "<tool>: <message>", and the exit code (hwnas::Error: its own, 2 for
// bad input; anything else: 1).
#pragma once
#include <exception>
#include <iostream>

#include "core/error.h"

namespace hwnas {

inline int toolMain(const char* tool, int (*run)(int, char**), int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const Error& e) {
    std::cerr << tool << ": " << e.what() << std::endl;
    return e.exitCode();
  } catch (const std::exception& e) {
    std::cerr << tool << ": " << e.what() << std::endl;
    return 1;
  }
}

}  // namespace hwnas
