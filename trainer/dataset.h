// ImageDataset: a labelled image set held in memory as uint8 NCHW (one byte per pixel keeps
// 60,000 Fashion-MNIST images at 47 MB), with loaders for IDX (MNIST/Fashion-MNIST, plain or
// gzip) and the CIFAR-10/100 binary format, and a seeded validation split.
// Invariant: images.size() == n*channels*height*width, labels.size() == n, 0 <= label < numClasses.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace hwnas {

struct ImageDataset {
  std::string name;  // e.g. "fashion-mnist/train"; used in messages
  int64_t n = 0;
  int channels = 0, height = 0, width = 0;
  int numClasses = 0;
  std::vector<uint8_t> images;  // n x channels x height x width, row-major
  std::vector<int32_t> labels;  // n

  int64_t imageSize() const { return (int64_t)channels * height * width; }
  const uint8_t* image(int64_t i) const { return images.data() + i * imageSize(); }
  // A new dataset with the given samples, in the given order (indices must be in [0, n)).
  ImageDataset subset(const std::vector<int64_t>& indices, const std::string& newName) const;
  // Throws InputError when the invariant above does not hold.
  void validate() const;
};

// Where Debian's dataset-fashion-mnist package installs the IDX files.
extern const char* const kFashionMnistDefaultDir;
// The number of training images Fashion-MNIST model selection holds out for validation.
constexpr int64_t kFashionMnistValSize = 10000;
// Per-channel normalisation constants used by the PyTorch reference (refnet_torch.py).
constexpr float kFashionMnistMean = 0.2860f;
constexpr float kFashionMnistStd = 0.3530f;

// Reads an IDX image file (magic 2051, uint8, n x rows x cols) and its IDX label file (magic
// 2049), each plain or gzip-compressed (detected by the 1f 8b magic bytes, not the name).
// Throws IoError naming the file for a missing file, bad magic, short/long data, a gzip
// error, a count mismatch between the two files, or a label >= numClasses.
ImageDataset loadIdx(const std::string& imagesPath, const std::string& labelsPath, int numClasses = 10,
                     const std::string& name = "idx");

// Fashion-MNIST from `dir` (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], and
// t10k-* for the test set). An empty dir means kFashionMnistDefaultDir.
ImageDataset loadFashionMnist(const std::string& dir, bool train);

// CIFAR-10 (data_batch_1..5.bin / test_batch.bin: 1 label byte + 3072 pixel bytes per record)
// or CIFAR-100 (train.bin / test.bin: coarse label, fine label, 3072 bytes; the fine label is
// used). `dir` may hold the files or the cifar-10-batches-bin / cifar-100-binary folder.
ImageDataset loadCifar(const std::string& dir, int classes, bool train);

// Splits `data` into {train, val}: a permutation drawn from Rng(seed) picks valSize samples
// for val; both parts keep the original relative order. Deterministic in (data.n, valSize, seed).
std::pair<ImageDataset, ImageDataset> splitValidation(const ImageDataset& data, int64_t valSize, uint64_t seed);

// The permuted indices splitValidation uses: {trainIndices, valIndices}, each ascending.
std::pair<std::vector<int64_t>, std::vector<int64_t>> validationIndices(int64_t n, int64_t valSize, uint64_t seed);

}  // namespace hwnas
