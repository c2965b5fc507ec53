#include "trainer/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/fs_util.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.cpp writes host memory as little-endian data; add byte swapping for this target"
#endif

namespace hwnas {

namespace {

using nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // the Python reader's limit as well
const char* kCorrupt = "; the file is corrupt or truncated";

// A POSIX file descriptor that closes itself.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

std::string errnoText() { return std::strerror(errno); }

// Reads exactly n bytes at offset; a short read means the file changed or is truncated.
void readAt(int fd, void* data, size_t n, uint64_t offset, const std::string& path) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    ssize_t r = ::pread(fd, p, n, (off_t)offset);
    if (r < 0) {
      if (errno == EINTR) continue;
      throw IoError(path + ": read failed (" + errnoText() + ")");
    }
    if (r == 0) throw IoError(path + ": unexpected end of file at byte " + std::to_string(offset) + kCorrupt);
    p += r;
    n -= (size_t)r;
    offset += (uint64_t)r;
  }
}

struct Entry {
  std::string name;
  const Tensor* f32 = nullptr;
  const Int64Array* i64 = nullptr;
  uint64_t bytes() const { return f32 ? (uint64_t)f32->numel() * 4 : (uint64_t)i64->values.size() * 8; }
  const void* data() const { return f32 ? (const void*)f32->data() : (const void*)i64->values.data(); }
};

void checkName(const std::string& name, const std::string& path) {
  if (name.empty()) throw InputError(path + ": cannot save a tensor with an empty name");
  if (name == "__metadata__") throw InputError(path + ": '__metadata__' is reserved and cannot name a tensor");
}

}  // namespace

void saveSafetensors(const std::string& path, const SafetensorsData& data) {
  // Collect the entries in name order (map order); names must be unique across both maps.
  std::vector<Entry> entries;
  for (const auto& kv : data.tensors) {
    checkName(kv.first, path);
    if (!kv.second.defined()) throw InputError(path + ": tensor '" + kv.first + "' is undefined");
    Entry e;
    e.name = kv.first;
    e.f32 = &kv.second;
    entries.push_back(e);
  }
  for (const auto& kv : data.int64s) {
    checkName(kv.first, path);
    if (data.tensors.count(kv.first))
      throw InputError(path + ": name '" + kv.first + "' is used by both an F32 and an I64 tensor");
    if ((int64_t)kv.second.values.size() != shapeNumel(kv.second.shape))
      throw InputError(path + ": I64 tensor '" + kv.first + "' has " + std::to_string(kv.second.values.size()) +
                       " values for shape " + shapeToString(kv.second.shape));
    Entry e;
    e.name = kv.first;
    e.i64 = &kv.second;
    entries.push_back(e);
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.name < b.name; });

  json header = json::object();
  uint64_t offset = 0;
  for (const Entry& e : entries) {
    const Shape& shape = e.f32 ? e.f32->shape() : e.i64->shape;
    json entry = json::object();
    entry["dtype"] = e.f32 ? "F32" : "I64";
    entry["shape"] = json::array();
    for (int64_t d : shape) entry["shape"].push_back(d);
    entry["data_offsets"] = json::array({offset, offset + e.bytes()});
    header[e.name] = std::move(entry);
    offset += e.bytes();
  }
  if (!data.metadata.empty()) {
    json meta = json::object();
    for (const auto& kv : data.metadata) meta[kv.first] = kv.second;
    header["__metadata__"] = std::move(meta);
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t n = text.size();
  unsigned char lenBytes[8];
  for (int i = 0; i < 8; ++i) lenBytes[i] = (unsigned char)(n >> (8 * i));

  // One buffer with the whole file, written through a temp file + rename: readers never see
  // a partial file at `path`.
  std::string bytes;
  bytes.reserve(8 + text.size() + offset);
  bytes.append(reinterpret_cast<const char*>(lenBytes), 8);
  bytes += text;
  for (const Entry& e : entries) bytes.append(static_cast<const char*>(e.data()), (size_t)e.bytes());
  writeFileAtomic(path, bytes);
}

void saveSafetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                     const std::map<std::string, std::string>& metadata) {
  SafetensorsData d;
  d.tensors = tensors;  // shares storage, no copy of the data
  d.metadata = metadata;
  saveSafetensors(path, d);
}

void saveSafetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                     const std::map<std::string, std::string>& metadata) {
  SafetensorsData d;
  for (const auto& kv : tensors)
    if (!d.tensors.emplace(kv.first, kv.second).second)
      throw InputError(path + ": tensor name '" + kv.first + "' appears twice");
  d.metadata = metadata;
  saveSafetensors(path, d);
}

SafetensorsData loadSafetensors(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) throw IoError(path + ": cannot open safetensors file (" + errnoText() + ")");
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) throw IoError(path + ": cannot stat (" + errnoText() + ")");
  if (!S_ISREG(st.st_mode)) throw IoError(path + ": not a regular file");
  const uint64_t fileSize = (uint64_t)st.st_size;
  if (fileSize < 8)
    throw IoError(path + ": truncated safetensors file: " + std::to_string(fileSize) +
                  " bytes, less than the 8-byte header length" + kCorrupt);
  unsigned char lenBytes[8];
  readAt(fd.get(), lenBytes, 8, 0, path);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= (uint64_t)lenBytes[i] << (8 * i);
  if (n > fileSize - 8)
    throw IoError(path + ": header length " + std::to_string(n) + " exceeds the file size (" +
                  std::to_string(fileSize) + " bytes)" + kCorrupt);
  if (n > kMaxHeaderBytes)
    throw IoError(path + ": header length " + std::to_string(n) + " is over the 100 MB limit" + kCorrupt);
  if (n < 2) throw IoError(path + ": header of " + std::to_string(n) + " bytes cannot hold a JSON object" + kCorrupt);
  std::string text((size_t)n, '\0');
  readAt(fd.get(), &text[0], (size_t)n, 8, path);
  json header;
  try {
    header = json::parse(text);
  } catch (const json::exception& e) {
    throw IoError(path + ": header is not valid JSON (" + std::string(e.what()) + ")" + kCorrupt);
  }
  if (!header.is_object()) throw IoError(path + ": header is not a JSON object" + kCorrupt);

  const uint64_t dataStart = 8 + n, dataSize = fileSize - dataStart;
  SafetensorsData out;
  struct Span {
    uint64_t begin, end;
    std::string name;
  };
  std::vector<Span> spans;
  struct Pending {
    std::string name;
    uint64_t begin, bytes;
    void* dst;
  };
  std::vector<Pending> reads;

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) throw IoError(path + ": __metadata__ is not a JSON object" + kCorrupt);
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string())
          throw IoError(path + ": __metadata__ value of '" + m.key() + "' is not a string" + kCorrupt);
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = path + ": tensor '" + name + "': ";
    if (!v.is_object()) throw IoError(where + "entry is not a JSON object" + kCorrupt);
    auto dt = v.find("dtype");
    auto sh = v.find("shape");
    auto of = v.find("data_offsets");
    if (dt == v.end() || !dt->is_string()) throw IoError(where + "missing or non-string 'dtype'" + kCorrupt);
    if (sh == v.end() || !sh->is_array()) throw IoError(where + "missing or non-array 'shape'" + kCorrupt);
    if (of == v.end() || !of->is_array() || of->size() != 2)
      throw IoError(where + "'data_offsets' must be an array [begin, end]" + kCorrupt);
    const std::string dtype = dt->get<std::string>();
    uint64_t elemBytes;
    if (dtype == "F32")
      elemBytes = 4;
    else if (dtype == "I64")
      elemBytes = 8;
    else
      throw IoError(where + "dtype " + dtype + " is not supported (hwnas reads F32 and I64); convert the tensor to "
                    "float32 before saving, e.g. `t.float()` in PyTorch");
    Shape shape;
    uint64_t numel = 1;
    for (const json& d : *sh) {
      if (!d.is_number_unsigned()) throw IoError(where + "shape has a non-integer or negative entry" + kCorrupt);
      const uint64_t dim = d.get<uint64_t>();
      if (dim > (1ull << 40) || (dim != 0 && numel > (1ull << 40) / dim))
        throw IoError(where + "shape " + sh->dump() + " is implausibly large" + kCorrupt);
      numel *= dim;
      shape.push_back((int64_t)dim);
    }
    if (!(*of)[0].is_number_unsigned() || !(*of)[1].is_number_unsigned())
      throw IoError(where + "data_offsets must be non-negative integers" + kCorrupt);
    const uint64_t begin = (*of)[0].get<uint64_t>(), end = (*of)[1].get<uint64_t>();
    if (begin > end)
      throw IoError(where + "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "] run backwards" +
                    kCorrupt);
    if (end > dataSize)
      throw IoError(where + "data_offsets end " + std::to_string(end) + " lies beyond the " + std::to_string(dataSize) +
                    " data bytes in the file" + kCorrupt);
    if (end - begin != numel * elemBytes)
      throw IoError(where + "data_offsets span " + std::to_string(end - begin) + " bytes but shape " + sh->dump() +
                    " of " + dtype + " needs " + std::to_string(numel * elemBytes) + kCorrupt);
    spans.push_back({begin, end, name});
    void* dst;
    if (elemBytes == 4) {
      Tensor t = Tensor::empty(shape);
      dst = t.data();
      out.tensors.emplace(name, std::move(t));
    } else {
      Int64Array a;
      a.shape = shape;
      a.values.resize((size_t)numel);
      auto res = out.int64s.emplace(name, std::move(a));
      dst = res.first->second.values.data();
    }
    reads.push_back({name, begin, end - begin, dst});
  }

  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  for (size_t i = 1; i < spans.size(); ++i)
    if (spans[i].begin < spans[i - 1].end)
      throw IoError(path + ": tensors '" + spans[i - 1].name + "' and '" + spans[i].name + "' overlap in the data" +
                    kCorrupt);

  for (const Pending& r : reads)
    if (r.bytes > 0) readAt(fd.get(), r.dst, (size_t)r.bytes, dataStart + r.begin, path);
  return out;
}

}  // namespace hwnas
