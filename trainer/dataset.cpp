#include "trainer/dataset.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <sys/stat.h>

#include "core/error.h"
#include "core/rng.h"

namespace hwnas {

const char* const kFashionMnistDefaultDir = "/usr/share/datasets/fashion-mnist";

namespace {

struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f) std::fclose(f);
  }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

bool isRegularFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool dirExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string joinPath(const std::string& dir, const std::string& file) {
  if (dir.empty()) return file;
  return dir.back() == '/' ? dir + file : dir + "/" + file;
}

// The whole file as bytes. Throws IoError naming the file when it cannot be read.
std::vector<uint8_t> readFileBytes(const std::string& path, const std::string& hint) {
  FilePtr f(std::fopen(path.c_str(), "rb"));
  if (!f) {
    std::string why = std::strerror(errno);
    throw IoError(path + ": cannot open (" + why + ")" + (hint.empty() ? "" : "; " + hint));
  }
  std::vector<uint8_t> bytes;
  uint8_t buf[1 << 16];
  size_t got;
  while ((got = std::fread(buf, 1, sizeof(buf), f.get())) > 0) bytes.insert(bytes.end(), buf, buf + got);
  if (std::ferror(f.get())) throw IoError(path + ": read error (" + std::string(std::strerror(errno)) + ")");
  return bytes;
}

// Inflates a gzip stream (possibly several concatenated members). Throws IoError on corrupt
// or truncated input.
std::vector<uint8_t> gunzip(const std::vector<uint8_t>& in, const std::string& path) {
  std::vector<uint8_t> out;
  out.reserve(in.size() * 4);
  z_stream zs;
  std::memset(&zs, 0, sizeof(zs));
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) throw IoError(path + ": zlib inflateInit failed", 1);
  struct Ender {
    z_stream* z;
    ~Ender() { inflateEnd(z); }
  } ender{&zs};
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = (uInt)in.size();
  const std::string corrupt = "; the file is corrupt or truncated, re-download or reinstall it";
  uint8_t buf[1 << 16];
  for (;;) {
    zs.next_out = buf;
    zs.avail_out = sizeof(buf);
    int rc = inflate(&zs, Z_NO_FLUSH);
    out.insert(out.end(), buf, buf + (sizeof(buf) - zs.avail_out));
    if (rc == Z_STREAM_END) {
      if (zs.avail_in == 0) break;
      // Another gzip member follows (as `cat a.gz b.gz` makes); trailing zero padding ends it.
      bool allZero = std::all_of(zs.next_in, zs.next_in + zs.avail_in, [](Bytef b) { return b == 0; });
      if (allZero) break;
      if (inflateReset(&zs) != Z_OK) throw IoError(path + ": gzip error: cannot reset stream" + corrupt);
      continue;
    }
    if (rc == Z_OK) continue;
    if (rc == Z_BUF_ERROR && zs.avail_in == 0)
      throw IoError(path + ": gzip stream is truncated (ends after " + std::to_string(out.size()) +
                    " decompressed bytes)" + corrupt);
    throw IoError(path + ": gzip error: " + std::string(zs.msg ? zs.msg : "invalid data") + corrupt);
  }
  return out;
}

bool isGzip(const std::vector<uint8_t>& b) { return b.size() >= 2 && b[0] == 0x1f && b[1] == 0x8b; }

std::vector<uint8_t> readMaybeGzip(const std::string& path, const std::string& hint) {
  std::vector<uint8_t> raw = readFileBytes(path, hint);
  if (isGzip(raw)) return gunzip(raw, path);
  return raw;
}

uint32_t readBigEndian32(const uint8_t* p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

const char* kCorruptHint = "; the file is corrupt or truncated, re-download or reinstall it";

// Parses the IDX header; returns the dims. Checks magic and the exact data size (uint8 data).
std::vector<int64_t> parseIdxHeader(const std::vector<uint8_t>& bytes, const std::string& path, uint32_t magic,
                                    const char* what) {
  const int ndim = (int)(magic & 0xff);
  const size_t headerSize = 4 + 4 * (size_t)ndim;
  if (bytes.size() < 4)
    throw IoError(path + ": too short for an IDX " + what + " file (" + std::to_string(bytes.size()) + " bytes)" +
                  kCorruptHint);
  uint32_t got = readBigEndian32(bytes.data());
  if (got != magic)
    throw IoError(path + ": bad IDX magic number " + std::to_string(got) + " (expected " + std::to_string(magic) +
                  " for an " + what + " file)" + kCorruptHint);
  if (bytes.size() < headerSize)
    throw IoError(path + ": IDX header is truncated (" + std::to_string(bytes.size()) + " bytes)" + kCorruptHint);
  std::vector<int64_t> dims(ndim);
  int64_t total = 1;
  for (int d = 0; d < ndim; ++d) {
    dims[d] = readBigEndian32(bytes.data() + 4 + 4 * d);
    if (dims[d] > (int64_t)1 << 31) throw IoError(path + ": implausible IDX dimension " + std::to_string(dims[d]));
    total *= dims[d];
  }
  const size_t expected = headerSize + (size_t)total;
  if (bytes.size() < expected)
    throw IoError(path + ": truncated: header promises " + std::to_string(total) + " data bytes but only " +
                  std::to_string(bytes.size() - headerSize) + " are present" + kCorruptHint);
  if (bytes.size() > expected)
    throw IoError(path + ": " + std::to_string(bytes.size() - expected) +
                  " unexpected bytes after the data the header declares" + kCorruptHint);
  return dims;
}

}  // namespace

ImageDataset ImageDataset::subset(const std::vector<int64_t>& indices, const std::string& newName) const {
  ImageDataset out;
  out.name = newName;
  out.n = (int64_t)indices.size();
  out.channels = channels;
  out.height = height;
  out.width = width;
  out.numClasses = numClasses;
  const int64_t sz = imageSize();
  out.images.resize((size_t)(out.n * sz));
  out.labels.resize((size_t)out.n);
  for (int64_t k = 0; k < out.n; ++k) {
    int64_t i = indices[(size_t)k];
    if (i < 0 || i >= n)
      throw InputError(name + ": subset index " + std::to_string(i) + " out of range [0, " + std::to_string(n) + ")");
    std::memcpy(out.images.data() + k * sz, image(i), (size_t)sz);
    out.labels[(size_t)k] = labels[(size_t)i];
  }
  return out;
}

void ImageDataset::validate() const {
  if (n < 0 || channels <= 0 || height <= 0 || width <= 0 || numClasses <= 0)
    throw InputError(name + ": invalid dataset geometry n=" + std::to_string(n) + " c=" + std::to_string(channels) +
                     " h=" + std::to_string(height) + " w=" + std::to_string(width) +
                     " classes=" + std::to_string(numClasses));
  if ((int64_t)images.size() != n * imageSize())
    throw InputError(name + ": holds " + std::to_string(images.size()) + " pixel bytes, expected " +
                     std::to_string(n * imageSize()));
  if ((int64_t)labels.size() != n)
    throw InputError(name + ": holds " + std::to_string(labels.size()) + " labels, expected " + std::to_string(n));
  for (int64_t i = 0; i < n; ++i)
    if (labels[(size_t)i] < 0 || labels[(size_t)i] >= numClasses)
      throw InputError(name + ": label " + std::to_string(labels[(size_t)i]) + " of sample " + std::to_string(i) +
                       " is outside [0, " + std::to_string(numClasses) + ")");
}

ImageDataset loadIdx(const std::string& imagesPath, const std::string& labelsPath, int numClasses,
                     const std::string& name) {
  if (numClasses <= 0 || numClasses > 256)
    throw InputError("loadIdx: numClasses must be in 1..256, got " + std::to_string(numClasses));
  std::vector<uint8_t> img = readMaybeGzip(imagesPath, "");
  std::vector<int64_t> idims = parseIdxHeader(img, imagesPath, 2051, "images");
  std::vector<uint8_t> lab = readMaybeGzip(labelsPath, "");
  std::vector<int64_t> ldims = parseIdxHeader(lab, labelsPath, 2049, "labels");
  if (idims[0] != ldims[0])
    throw IoError(labelsPath + ": holds " + std::to_string(ldims[0]) + " labels but " + imagesPath + " holds " +
                  std::to_string(idims[0]) + " images; the two files do not belong together");
  if (idims[1] <= 0 || idims[2] <= 0)
    throw IoError(imagesPath + ": image size " + std::to_string(idims[1]) + "x" + std::to_string(idims[2]) +
                  " is empty" + kCorruptHint);
  ImageDataset ds;
  ds.name = name;
  ds.n = idims[0];
  ds.channels = 1;
  ds.height = (int)idims[1];
  ds.width = (int)idims[2];
  ds.numClasses = numClasses;
  // Move the pixel bytes into place without a second full-size buffer.
  img.erase(img.begin(), img.begin() + 16);
  img.shrink_to_fit();
  ds.images = std::move(img);
  ds.labels.resize((size_t)ds.n);
  for (int64_t i = 0; i < ds.n; ++i) {
    int v = lab[8 + (size_t)i];
    if (v >= numClasses)
      throw IoError(labelsPath + ": label " + std::to_string(v) + " of sample " + std::to_string(i) +
                    " is out of range for " + std::to_string(numClasses) + " classes" + kCorruptHint);
    ds.labels[(size_t)i] = v;
  }
  return ds;
}

ImageDataset loadFashionMnist(const std::string& dirIn, bool train) {
  const std::string dir = dirIn.empty() ? std::string(kFashionMnistDefaultDir) : dirIn;
  const std::string prefix = train ? "train" : "t10k";
  auto find = [&](const std::string& base) {
    for (const std::string& cand : {base + ".gz", base}) {
      std::string p = joinPath(dir, cand);
      if (isRegularFile(p)) return p;
    }
    throw IoError("fashion-mnist: " + joinPath(dir, base) + "(.gz) not found" +
                  (dirExists(dir) ? std::string() : " (directory " + dir + " does not exist)") +
                  "; install Debian's dataset-fashion-mnist package (apt-get install dataset-fashion-mnist) "
                  "or pass --data-dir with a folder holding the Fashion-MNIST IDX files");
  };
  std::string images = find(prefix + "-images-idx3-ubyte");
  std::string labels = find(prefix + "-labels-idx1-ubyte");
  return loadIdx(images, labels, 10, std::string("fashion-mnist/") + (train ? "train" : "test"));
}

ImageDataset loadCifar(const std::string& dirIn, int classes, bool train) {
  if (classes != 10 && classes != 100)
    throw InputError("loadCifar: classes must be 10 or 100, got " + std::to_string(classes));
  const std::string setName = classes == 10 ? "cifar-10" : "cifar-100";
  std::vector<std::string> files;
  if (classes == 10) {
    if (train)
      for (int i = 1; i <= 5; ++i) files.push_back("data_batch_" + std::to_string(i) + ".bin");
    else
      files.push_back("test_batch.bin");
  } else {
    files.push_back(train ? "train.bin" : "test.bin");
  }
  // Accept the folder the archive unpacks to as well as its parent.
  std::string dir = dirIn;
  const std::string sub = classes == 10 ? "cifar-10-batches-bin" : "cifar-100-binary";
  if (!isRegularFile(joinPath(dir, files[0])) && isRegularFile(joinPath(joinPath(dir, sub), files[0])))
    dir = joinPath(dir, sub);

  const int labelBytes = classes == 10 ? 1 : 2;
  const int64_t pixels = 3 * 32 * 32;
  const int64_t record = labelBytes + pixels;
  ImageDataset ds;
  ds.name = setName + "/" + (train ? "train" : "test");
  ds.channels = 3;
  ds.height = 32;
  ds.width = 32;
  ds.numClasses = classes;
  for (const std::string& f : files) {
    const std::string path = joinPath(dir, f);
    if (!isRegularFile(path))
      throw IoError(setName + ": " + path + " not found; download the " + setName +
                    " binary version (https://www.cs.toronto.edu/~kriz/cifar.html), unpack it and pass --data-dir "
                    "with its folder");
    std::vector<uint8_t> bytes = readFileBytes(path, "");
    if (bytes.empty()) throw IoError(path + ": file is empty" + std::string(kCorruptHint));
    if ((int64_t)bytes.size() % record != 0)
      throw IoError(path + ": truncated: " + std::to_string(bytes.size()) + " bytes is not a multiple of the " +
                    std::to_string(record) + "-byte " + setName + " record" + kCorruptHint);
    const int64_t count = (int64_t)bytes.size() / record;
    const size_t base = ds.images.size();
    ds.images.resize(base + (size_t)(count * pixels));
    for (int64_t r = 0; r < count; ++r) {
      const uint8_t* rec = bytes.data() + r * record;
      if (classes == 100 && rec[0] >= 20)
        throw IoError(path + ": coarse label " + std::to_string(rec[0]) + " of record " + std::to_string(r) +
                      " is out of range for 20 superclasses" + kCorruptHint);
      int label = rec[labelBytes - 1];
      if (label >= classes)
        throw IoError(path + ": label " + std::to_string(label) + " of record " + std::to_string(r) +
                      " is out of range for " + std::to_string(classes) + " classes" + kCorruptHint);
      ds.labels.push_back(label);
      std::memcpy(ds.images.data() + base + r * pixels, rec + labelBytes, (size_t)pixels);
    }
    ds.n += count;
  }
  return ds;
}

std::pair<std::vector<int64_t>, std::vector<int64_t>> validationIndices(int64_t n, int64_t valSize, uint64_t seed) {
  if (valSize < 0 || valSize > n)
    throw InputError("validation split: size " + std::to_string(valSize) + " is outside [0, " + std::to_string(n) +
                     "] for a dataset of " + std::to_string(n) + " images");
  std::vector<int64_t> perm((size_t)n);
  for (int64_t i = 0; i < n; ++i) perm[(size_t)i] = i;
  Rng rng(seed);
  // Partial Fisher-Yates: the first valSize entries become a uniform random sample.
  for (int64_t i = 0; i < valSize; ++i) {
    int64_t j = i + (int64_t)rng.uniformInt((uint64_t)(n - i));
    std::swap(perm[(size_t)i], perm[(size_t)j]);
  }
  std::vector<int64_t> val(perm.begin(), perm.begin() + valSize);
  std::vector<int64_t> train(perm.begin() + valSize, perm.end());
  std::sort(val.begin(), val.end());
  std::sort(train.begin(), train.end());
  return {std::move(train), std::move(val)};
}

std::pair<ImageDataset, ImageDataset> splitValidation(const ImageDataset& data, int64_t valSize, uint64_t seed) {
  auto idx = validationIndices(data.n, valSize, seed);
  return {data.subset(idx.first, data.name + ":train-split"), data.subset(idx.second, data.name + ":val-split")};
}

}  // namespace hwnas
