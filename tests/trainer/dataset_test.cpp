#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <sys/stat.h>
#include <vector>

#include "core/error.h"
#include "core/fs_util.h"
#include "trainer/dataset.h"

using namespace hwnas;

namespace {

using Bytes = std::vector<uint8_t>;

void putBe32(Bytes& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back((uint8_t)(v >> s));
}

void writeBytes(const std::string& path, const Bytes& b, bool gz) {
  if (gz) {
    gzFile f = gzopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(gzwrite(f, b.data(), (unsigned)b.size()), (int)b.size());
    ASSERT_EQ(gzclose(f), Z_OK);
  } else {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(b.data()), (std::streamsize)b.size());
    ASSERT_TRUE(f.good());
  }
}

Bytes readBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

uint8_t pixelOf(int64_t i, int64_t y, int64_t x) { return (uint8_t)((i * 7 + y * 3 + x * 11) % 256); }

Bytes idxImages(int n, int h, int w, uint32_t magic = 2051) {
  Bytes b;
  putBe32(b, magic);
  putBe32(b, (uint32_t)n);
  putBe32(b, (uint32_t)h);
  putBe32(b, (uint32_t)w);
  for (int i = 0; i < n; ++i)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) b.push_back(pixelOf(i, y, x));
  return b;
}

Bytes idxLabels(int n, int classes = 10, uint32_t magic = 2049) {
  Bytes b;
  putBe32(b, magic);
  putBe32(b, (uint32_t)n);
  for (int i = 0; i < n; ++i) b.push_back((uint8_t)((i * 3) % classes));
  return b;
}

// Runs fn, expects an IoError whose message contains every string in `parts`.
template <class F>
void expectIoError(F fn, const std::vector<std::string>& parts) {
  try {
    fn();
    FAIL() << "expected IoError";
  } catch (const IoError& e) {
    std::string msg = e.what();
    for (const std::string& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
    EXPECT_EQ(e.exitCode(), 2);
  }
}

void expectIdxContents(const ImageDataset& ds, int n, int h, int w) {
  ASSERT_EQ(ds.n, n);
  EXPECT_EQ(ds.channels, 1);
  EXPECT_EQ(ds.height, h);
  EXPECT_EQ(ds.width, w);
  EXPECT_EQ(ds.numClasses, 10);
  ASSERT_EQ(ds.images.size(), (size_t)(n * h * w));
  ASSERT_EQ(ds.labels.size(), (size_t)n);
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(ds.labels[i], (i * 3) % 10);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) ASSERT_EQ(ds.image(i)[y * w + x], pixelOf(i, y, x)) << i << " " << y << " " << x;
  }
  EXPECT_NO_THROW(ds.validate());
}

}  // namespace

TEST(DatasetIdx, LoadsPlainFilesExactly) {
  TempDir tmp("hwnas-dataset-test-");
  writeBytes(tmp.file("img"), idxImages(13, 5, 7), false);
  writeBytes(tmp.file("lab"), idxLabels(13), false);
  ImageDataset ds = loadIdx(tmp.file("img"), tmp.file("lab"));
  expectIdxContents(ds, 13, 5, 7);
}

TEST(DatasetIdx, LoadsGzipFilesDetectedByMagicNotName) {
  TempDir tmp("hwnas-dataset-test-");
  writeBytes(tmp.file("img.gz"), idxImages(21, 6, 4), true);
  writeBytes(tmp.file("lab"), idxLabels(21), true);  // gzip without the .gz name
  ImageDataset ds = loadIdx(tmp.file("img.gz"), tmp.file("lab"));
  expectIdxContents(ds, 21, 6, 4);
}

TEST(DatasetIdx, ConcatenatedGzipMembersAreOneStream) {
  TempDir tmp("hwnas-dataset-test-");
  Bytes all = idxImages(4, 3, 3);
  Bytes a(all.begin(), all.begin() + 20), b(all.begin() + 20, all.end());
  writeBytes(tmp.file("a.gz"), a, true);
  writeBytes(tmp.file("b.gz"), b, true);
  Bytes joined = readBytes(tmp.file("a.gz")), second = readBytes(tmp.file("b.gz"));
  joined.insert(joined.end(), second.begin(), second.end());
  writeBytes(tmp.file("img.gz"), joined, false);
  writeBytes(tmp.file("lab"), idxLabels(4), false);
  expectIdxContents(loadIdx(tmp.file("img.gz"), tmp.file("lab")), 4, 3, 3);
}

TEST(DatasetIdx, BadMagicNamesTheFile) {
  TempDir tmp("hwnas-dataset-test-");
  writeBytes(tmp.file("img"), idxImages(3, 2, 2, 2049), false);  // a labels magic on an images file
  writeBytes(tmp.file("lab"), idxLabels(3), false);
  expectIoError([&] { loadIdx(tmp.file("img"), tmp.file("lab")); }, {tmp.file("img"), "magic", "2051"});
  writeBytes(tmp.file("img"), idxImages(3, 2, 2), false);
  writeBytes(tmp.file("lab"), idxLabels(3, 10, 0x12345678), false);
  expectIoError([&] { loadIdx(tmp.file("img"), tmp.file("lab")); }, {tmp.file("lab"), "magic"});
}

TEST(DatasetIdx, TruncatedPlainAndGzipFilesNameTheFile) {
  TempDir tmp("hwnas-dataset-test-");
  Bytes img = idxImages(10, 4, 4);
  writeBytes(tmp.file("lab"), idxLabels(10), false);
  writeBytes(tmp.file("short"), Bytes(img.begin(), img.end() - 5), false);
  expectIoError([&] { loadIdx(tmp.file("short"), tmp.file("lab")); }, {tmp.file("short"), "truncated"});
  writeBytes(tmp.file("header"), Bytes(img.begin(), img.begin() + 10), false);
  expectIoError([&] { loadIdx(tmp.file("header"), tmp.file("lab")); }, {tmp.file("header"), "truncated"});
  writeBytes(tmp.file("long"), [&] { Bytes b = img; b.push_back(1); return b; }(), false);
  expectIoError([&] { loadIdx(tmp.file("long"), tmp.file("lab")); }, {tmp.file("long"), "unexpected bytes"});

  // A gzip file cut in the middle of its deflate stream.
  writeBytes(tmp.file("full.gz"), img, true);
  Bytes gz = readBytes(tmp.file("full.gz"));
  writeBytes(tmp.file("cut.gz"), Bytes(gz.begin(), gz.begin() + gz.size() / 2), false);
  expectIoError([&] { loadIdx(tmp.file("cut.gz"), tmp.file("lab")); }, {tmp.file("cut.gz"), "gzip"});
  // Corrupt bytes inside the deflate stream.
  Bytes bad = gz;
  for (size_t i = 12; i < bad.size() - 8; ++i) bad[i] ^= 0x5a;
  writeBytes(tmp.file("bad.gz"), bad, false);
  expectIoError([&] { loadIdx(tmp.file("bad.gz"), tmp.file("lab")); }, {tmp.file("bad.gz"), "gzip"});
}

TEST(DatasetIdx, CountMismatchNamesBothFiles) {
  TempDir tmp("hwnas-dataset-test-");
  writeBytes(tmp.file("img"), idxImages(10, 3, 3), false);
  writeBytes(tmp.file("lab"), idxLabels(9), false);
  expectIoError([&] { loadIdx(tmp.file("img"), tmp.file("lab")); }, {tmp.file("img"), tmp.file("lab"), "9 labels"});
}

TEST(DatasetIdx, LabelOutOfRange) {
  TempDir tmp("hwnas-dataset-test-");
  writeBytes(tmp.file("img"), idxImages(5, 3, 3), false);
  Bytes lab = idxLabels(5);
  lab[8 + 3] = 10;
  writeBytes(tmp.file("lab"), lab, false);
  expectIoError([&] { loadIdx(tmp.file("img"), tmp.file("lab")); }, {tmp.file("lab"), "label 10", "sample 3"});
  // With more classes the same file is fine.
  EXPECT_EQ(loadIdx(tmp.file("img"), tmp.file("lab"), 11).labels[3], 10);
}

TEST(DatasetIdx, MissingFile) {
  TempDir tmp("hwnas-dataset-test-");
  writeBytes(tmp.file("lab"), idxLabels(5), false);
  expectIoError([&] { loadIdx(tmp.file("nope"), tmp.file("lab")); }, {tmp.file("nope"), "cannot open"});
}

TEST(DatasetFashionMnist, FindsPlainAndGzipFilesInDir) {
  TempDir tmp("hwnas-dataset-test-");
  writeBytes(tmp.file("train-images-idx3-ubyte.gz"), idxImages(12, 28, 28), true);
  writeBytes(tmp.file("train-labels-idx1-ubyte"), idxLabels(12), false);
  writeBytes(tmp.file("t10k-images-idx3-ubyte"), idxImages(3, 28, 28), false);
  writeBytes(tmp.file("t10k-labels-idx1-ubyte.gz"), idxLabels(3), true);
  ImageDataset train = loadFashionMnist(tmp.path(), true);
  ImageDataset test = loadFashionMnist(tmp.path(), false);
  expectIdxContents(train, 12, 28, 28);
  expectIdxContents(test, 3, 28, 28);
  EXPECT_EQ(train.name, "fashion-mnist/train");
  EXPECT_EQ(test.name, "fashion-mnist/test");
}

TEST(DatasetFashionMnist, MissingFilesSayWhatToDo) {
  TempDir tmp("hwnas-dataset-test-");
  expectIoError([&] { loadFashionMnist(tmp.path(), true); },
                {tmp.path(), "train-images-idx3-ubyte", "dataset-fashion-mnist", "--data-dir"});
  writeBytes(tmp.file("t10k-images-idx3-ubyte"), idxImages(3, 28, 28), false);
  expectIoError([&] { loadFashionMnist(tmp.path(), false); }, {"t10k-labels-idx1-ubyte", "--data-dir"});
  expectIoError([&] { loadFashionMnist(tmp.file("no-such-dir"), false); }, {"does not exist", "--data-dir"});
}

TEST(DatasetFashionMnist, RealDatasetIfInstalled) {
  const std::string dir = kFashionMnistDefaultDir;
  struct stat st;
  if (::stat((dir + "/train-images-idx3-ubyte.gz").c_str(), &st) != 0 &&
      ::stat((dir + "/train-images-idx3-ubyte").c_str(), &st) != 0)
    GTEST_SKIP() << "dataset-fashion-mnist not installed at " << dir;
  ImageDataset train = loadFashionMnist("", true);
  ImageDataset test = loadFashionMnist("", false);
  EXPECT_EQ(train.n, 60000);
  EXPECT_EQ(test.n, 10000);
  for (const ImageDataset* d : {&train, &test}) {
    EXPECT_EQ(d->channels, 1);
    EXPECT_EQ(d->height, 28);
    EXPECT_EQ(d->width, 28);
    EXPECT_EQ(d->numClasses, 10);
    EXPECT_NO_THROW(d->validate());
    std::vector<int> counts(10, 0);
    for (int32_t l : d->labels) counts[l]++;
    for (int c : counts) EXPECT_EQ(c, d->n / 10);  // Fashion-MNIST is exactly balanced
  }
  // Mean pixel intensity over the training set matches the reference normalisation constant.
  double sum = 0;
  for (uint8_t p : train.images) sum += p;
  EXPECT_NEAR(sum / train.images.size() / 255.0, kFashionMnistMean, 5e-4);
  auto split = splitValidation(train, kFashionMnistValSize, 0);
  EXPECT_EQ(split.first.n, 50000);
  EXPECT_EQ(split.second.n, 10000);
}

namespace {

Bytes cifarRecords(int count, int classes, int seed) {
  Bytes b;
  for (int r = 0; r < count; ++r) {
    int fine = (r * 7 + seed) % classes;
    if (classes == 100) b.push_back((uint8_t)(fine / 5));  // coarse label
    b.push_back((uint8_t)fine);
    for (int p = 0; p < 3072; ++p) b.push_back((uint8_t)((p * 13 + r * 5 + seed * 31) % 256));
  }
  return b;
}

void expectCifarRecords(const ImageDataset& ds, int64_t offset, int count, int classes, int seed) {
  for (int r = 0; r < count; ++r) {
    ASSERT_EQ(ds.labels[offset + r], (r * 7 + seed) % classes);
    const uint8_t* img = ds.image(offset + r);
    for (int p = 0; p < 3072; ++p) ASSERT_EQ(img[p], (uint8_t)((p * 13 + r * 5 + seed * 31) % 256)) << r << " " << p;
  }
}

}  // namespace

TEST(DatasetCifar, Cifar10TrainAndTestExact) {
  TempDir tmp("hwnas-dataset-test-");
  for (int i = 1; i <= 5; ++i) writeBytes(tmp.file("data_batch_" + std::to_string(i) + ".bin"), cifarRecords(3, 10, i), false);
  writeBytes(tmp.file("test_batch.bin"), cifarRecords(4, 10, 9), false);
  ImageDataset train = loadCifar(tmp.path(), 10, true);
  ASSERT_EQ(train.n, 15);
  EXPECT_EQ(train.channels, 3);
  EXPECT_EQ(train.height, 32);
  EXPECT_EQ(train.width, 32);
  EXPECT_EQ(train.numClasses, 10);
  for (int i = 1; i <= 5; ++i) expectCifarRecords(train, (i - 1) * 3, 3, 10, i);
  ImageDataset test = loadCifar(tmp.path(), 10, false);
  ASSERT_EQ(test.n, 4);
  expectCifarRecords(test, 0, 4, 10, 9);
  EXPECT_NO_THROW(test.validate());
}

TEST(DatasetCifar, Cifar100UsesFineLabelAndFindsSubfolder) {
  TempDir tmp("hwnas-dataset-test-");
  ASSERT_EQ(::mkdir(tmp.file("cifar-100-binary").c_str(), 0755), 0);
  writeBytes(tmp.file("cifar-100-binary/train.bin"), cifarRecords(30, 100, 2), false);
  writeBytes(tmp.file("cifar-100-binary/test.bin"), cifarRecords(5, 100, 3), false);
  ImageDataset train = loadCifar(tmp.path(), 100, true);
  ASSERT_EQ(train.n, 30);
  EXPECT_EQ(train.numClasses, 100);
  expectCifarRecords(train, 0, 30, 100, 2);
  ImageDataset test = loadCifar(tmp.file("cifar-100-binary"), 100, false);
  expectCifarRecords(test, 0, 5, 100, 3);
}

TEST(DatasetCifar, CorruptAndMissingFiles) {
  TempDir tmp("hwnas-dataset-test-");
  expectIoError([&] { loadCifar(tmp.path(), 10, false); }, {tmp.file("test_batch.bin"), "not found", "--data-dir"});
  Bytes recs = cifarRecords(3, 10, 0);
  writeBytes(tmp.file("test_batch.bin"), Bytes(recs.begin(), recs.end() - 100), false);
  expectIoError([&] { loadCifar(tmp.path(), 10, false); }, {tmp.file("test_batch.bin"), "truncated", "3073"});
  recs[3073] = 10;  // label of record 1
  writeBytes(tmp.file("test_batch.bin"), recs, false);
  expectIoError([&] { loadCifar(tmp.path(), 10, false); }, {tmp.file("test_batch.bin"), "label 10", "record 1"});
  writeBytes(tmp.file("test_batch.bin"), Bytes(), false);
  expectIoError([&] { loadCifar(tmp.path(), 10, false); }, {tmp.file("test_batch.bin"), "empty"});
  Bytes r100 = cifarRecords(2, 100, 0);
  r100[3074 + 1] = 100;  // fine label of record 1
  writeBytes(tmp.file("test.bin"), r100, false);
  expectIoError([&] { loadCifar(tmp.path(), 100, false); }, {tmp.file("test.bin"), "label 100", "record 1"});
  // Train set with a batch missing names that batch.
  for (int i = 1; i <= 4; ++i) writeBytes(tmp.file("data_batch_" + std::to_string(i) + ".bin"), cifarRecords(1, 10, i), false);
  expectIoError([&] { loadCifar(tmp.path(), 10, true); }, {"data_batch_5.bin"});
  EXPECT_THROW(loadCifar(tmp.path(), 20, true), InputError);
}

namespace {

ImageDataset smallDataset(int64_t n) {
  ImageDataset ds;
  ds.name = "small";
  ds.n = n;
  ds.channels = 1;
  ds.height = 2;
  ds.width = 2;
  ds.numClasses = 10;
  for (int64_t i = 0; i < n; ++i) {
    for (int p = 0; p < 4; ++p) ds.images.push_back((uint8_t)((i + p) % 256));
    ds.labels.push_back((int32_t)(i % 10));
  }
  return ds;
}

}  // namespace

TEST(DatasetSplit, DeterministicDisjointAndCovering) {
  const int64_t n = 1000;
  auto a = validationIndices(n, 137, 42);
  auto b = validationIndices(n, 137, 42);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.first.size(), 863u);
  EXPECT_EQ(a.second.size(), 137u);
  std::set<int64_t> all(a.first.begin(), a.first.end());
  for (int64_t v : a.second) EXPECT_TRUE(all.insert(v).second) << "index " << v << " in both parts";
  EXPECT_EQ(all.size(), (size_t)n);
  EXPECT_EQ(*all.begin(), 0);
  EXPECT_EQ(*all.rbegin(), n - 1);
  EXPECT_TRUE(std::is_sorted(a.second.begin(), a.second.end()));
  // A different seed picks a different validation set; the pick is not simply a prefix/suffix.
  auto c = validationIndices(n, 137, 43);
  EXPECT_NE(a.second, c.second);
  EXPECT_NE(a.second.back() - a.second.front(), 136);

  ImageDataset ds = smallDataset(n);
  auto split = splitValidation(ds, 137, 42);
  ASSERT_EQ(split.first.n, 863);
  ASSERT_EQ(split.second.n, 137);
  for (size_t k = 0; k < a.second.size(); ++k) {
    const int64_t i = a.second[k];
    EXPECT_EQ(split.second.labels[k], ds.labels[i]);
    EXPECT_EQ(0, std::memcmp(split.second.image((int64_t)k), ds.image(i), 4));
  }
  for (size_t k = 0; k < a.first.size(); ++k) EXPECT_EQ(split.first.labels[k], ds.labels[a.first[k]]);
  EXPECT_NO_THROW(split.first.validate());
  EXPECT_NO_THROW(split.second.validate());
  EXPECT_THROW(splitValidation(ds, n + 1, 0), InputError);
  EXPECT_THROW(splitValidation(ds, -1, 0), InputError);
  EXPECT_EQ(splitValidation(ds, 0, 0).first.n, n);
}
