#include "core/fs_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "core/error.h"

namespace fs = std::filesystem;

namespace hwnas {

namespace {

std::string errnoText() { return std::strerror(errno); }

std::string parentDirOf(const std::string& path) {
  fs::path p(path);
  fs::path parent = p.parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

// Closes a file descriptor on scope exit.
class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  ~FdGuard() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }

 private:
  int fd_;
};

}  // namespace

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw IoError("cannot open '" + path + "': " + errnoText() + "; check the path");
  }
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw IoError("cannot read '" + path + "': it is a directory, not a file");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw IoError("error while reading '" + path + "'");
  return ss.str();
}

bool fileExists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

void writeFileAtomic(const std::string& path, const std::string& data) {
  if (path.empty()) throw IoError("cannot write a file with an empty name", 2);
  std::string dir = parentDirOf(path);
  std::string tmpl = path + ".tmp-XXXXXX";
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  FdGuard fd(::mkstemp(name.data()));
  if (fd.get() < 0) throw IoError("cannot create a temp file beside '" + path + "': " + errnoText(), 1);
  std::string tmpPath(name.data());
  auto fail = [&](const std::string& what) {
    std::string msg = what + " '" + tmpPath + "' (for '" + path + "'): " + errnoText();
    ::unlink(tmpPath.c_str());
    throw IoError(msg, 1);
  };
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd.get(), p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot write");
    }
    p += n;
    left -= size_t(n);
  }
  // mkstemp makes 0600 files; give the file ordinary permissions (subject to umask).
  mode_t mask = ::umask(0);
  ::umask(mask);
  ::fchmod(fd.get(), 0666 & ~mask);
  if (::fsync(fd.get()) != 0) fail("cannot fsync");
  if (::close(fd.release()) != 0) fail("cannot close");
  if (::rename(tmpPath.c_str(), path.c_str()) != 0) fail("cannot rename");
  // Make the rename itself durable.
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void writeFileAtomic(const std::string& path, const std::function<void(std::ostream&)>& writer) {
  std::ostringstream ss;
  writer(ss);  // may throw: nothing has touched the disk yet
  if (!ss) throw IoError("cannot produce the content of '" + path + "'", 1);
  writeFileAtomic(path, ss.str());
}

// --- TempDir ---

static std::string makeTempDir(const std::string& pattern) {
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  if (!::mkdtemp(name.data())) throw IoError("cannot create directory '" + pattern + "': " + errnoText(), 1);
  return std::string(name.data());
}

TempDir::TempDir(const std::string& prefix, const std::string& parent) {
  std::string base = parent;
  if (base.empty()) {
    const char* t = std::getenv("TMPDIR");
    base = (t && *t) ? t : "/tmp";
  }
  path_ = makeTempDir(base + "/" + prefix + "XXXXXX");
}

TempDir TempDir::stagingFor(const std::string& finalDir) {
  std::string clean = finalDir;
  while (clean.size() > 1 && clean.back() == '/') clean.pop_back();
  if (clean.empty()) throw IoError("empty output directory name", 2);
  std::error_code ec;
  std::string parent = parentDirOf(clean);
  if (!fs::is_directory(parent, ec)) {
    throw IoError("cannot stage '" + finalDir + "': its parent directory '" + parent + "' does not exist", 2);
  }
  TempDir t{Adopt{}};
  t.path_ = makeTempDir(clean + ".staging-XXXXXX");
  return t;
}

TempDir::~TempDir() { removeNow(); }

TempDir::TempDir(TempDir&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }

TempDir& TempDir::operator=(TempDir&& other) noexcept {
  if (this != &other) {
    removeNow();
    path_ = std::move(other.path_);
    other.path_.clear();
  }
  return *this;
}

std::string TempDir::file(const std::string& name) const { return path_ + "/" + name; }

void TempDir::commit(const std::string& finalDir, bool replace) {
  if (path_.empty()) throw IoError("TempDir::commit: the directory was already committed or released", 1);
  std::error_code ec;
  if (fs::exists(finalDir, ec)) {
    if (!replace) throw IoError("'" + finalDir + "' already exists; remove it or pass --force", 2);
    fs::remove_all(finalDir, ec);
    if (ec) throw IoError("cannot remove the old '" + finalDir + "': " + ec.message(), 1);
  }
  if (::rename(path_.c_str(), finalDir.c_str()) != 0) {
    throw IoError("cannot rename '" + path_ + "' to '" + finalDir + "': " + errnoText(), 1);
  }
  path_.clear();
}

std::string TempDir::release() {
  std::string p = path_;
  path_.clear();
  return p;
}

void TempDir::removeNow() noexcept {
  if (path_.empty()) return;
  std::error_code ec;
  fs::remove_all(path_, ec);
  path_.clear();
}

}  // namespace hwnas
