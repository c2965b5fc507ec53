// File-system helpers: whole-file reads that name the file on failure, atomic writes (temp
// file in the same directory, fsync, rename) and TempDir for staging an output directory.
// Invariant: a target written through these helpers is either absent/old or complete, never partial.
#pragma once
#include <functional>
#include <ostream>
#include <string>

namespace hwnas {

// The whole file as bytes. Throws IoError naming the file (exit code 2) if it cannot be read.
std::string readFile(const std::string& path);

bool fileExists(const std::string& path);

// Writes `data` to `path` atomically: a temp file in the same directory, fsync, rename over
// `path`, fsync of the directory. On any failure the temp file is removed, `path` is left
// as it was, and IoError (exit code 1) is thrown.
void writeFileAtomic(const std::string& path, const std::string& data);

// Same, with the content produced by `writer`. If `writer` throws, nothing is written and
// the exception propagates unchanged.
void writeFileAtomic(const std::string& path, const std::function<void(std::ostream&)>& writer);

// A fresh directory owned by this object: removed (recursively) on destruction unless it was
// committed (renamed to its final place) or released.
class TempDir {
 public:
  // A new directory `prefix` + random suffix under `parent` ($TMPDIR or /tmp when empty).
  explicit TempDir(const std::string& prefix = "hwnas-", const std::string& parent = "");
  // A staging directory beside `finalDir` ("<finalDir>.staging-XXXXXX", same file system) so
  // commit(finalDir) is a rename: the out dir appears complete or not at all.
  static TempDir stagingFor(const std::string& finalDir);
  ~TempDir();
  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&& other) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name
  std::string file(const std::string& name) const;
  // Renames the directory to `finalDir`. If `finalDir` exists: IoError unless `replace`, in
  // which case the old directory is removed first. Afterwards this object owns nothing.
  void commit(const std::string& finalDir, bool replace = false);
  // Gives up ownership: the directory stays. Returns its path.
  std::string release();

 private:
  struct Adopt {};
  explicit TempDir(Adopt) {}
  void removeNow() noexcept;
  std::string path_;
};

}  // namespace hwnas
