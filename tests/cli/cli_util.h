// Helpers shared by the end-to-end CLI tests: run a tool as a real process with stdout and
// stderr captured apart, and check the one-line, exit-code-2 form every bad-input error takes.
#pragma once
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "core/fs_util.h"
#include "core/sqlite.h"

namespace hwnas::cli {

// Debian's dataset-fashion-mnist is installed (tests that train skip without it).
inline bool haveFashionMnist() { return fileExists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"); }

// Writes `body` to dir/name and returns the path.
inline std::string writeConfig(const TempDir& dir, const std::string& name, const std::string& body) {
  const std::string path = dir.file(name);
  writeFileAtomic(path, body);
  return path;
}

// The first column of the first row of `sql` on the SQLite file `db` as an integer (-1: no row).
inline int64_t scalar(const std::string& db, const std::string& sql) {
  Database d(db);
  Statement s = d.prepare(sql);
  if (!s.step()) return -1;
  return s.getInt64(0);
}

struct CliRun {
  int code;  // exit status, -1 when the process did not exit normally
  std::string out, err;
};

// `bin args` through the shell; stderr goes to a temp file so the two streams stay apart.
inline CliRun runCli(const std::string& bin, const std::string& args) {
  TempDir tmp;
  const std::string errFile = tmp.file("stderr");
  const std::string cmd = bin + " " + args + " 2>" + errFile;
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while (p && (n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = p ? pclose(p) : -1;
  std::ifstream f(errFile);
  std::stringstream err;
  err << f.rdbuf();
  return {status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1, out, err.str()};
}

// Exit code 2, exactly one line on stderr, starting "<tool>: " and containing `part`.
inline void expectOneLineError(const CliRun& r, const std::string& tool, const std::string& part) {
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.err.rfind(tool + ": ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(part), std::string::npos) << r.err;
}

}  // namespace hwnas::cli
