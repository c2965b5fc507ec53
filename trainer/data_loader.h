// BatchLoader: turns an ImageDataset into normalised, optionally augmented float32 batches.
// Invariant: get(epoch, b) is a pure function of (dataset, options, epoch, b) — epoch order
// comes from Rng(seed).split(epoch) and each sample's augmentation from its own split stream —
// so resuming at any step reproduces the stream bit for bit at any thread count.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "trainer/dataset.h"
#include "trainer/tensor.h"

namespace hwnas {

struct LoaderOptions {
  int64_t batchSize = 128;
  bool shuffle = true;
  bool dropLast = false;  // drop the final partial batch of each epoch
  int padCrop = 0;        // > 0: pad by this many zero pixels, then crop a random HxW window
  bool hflip = false;     // flip each image horizontally with probability 0.5
  // Random erasing (Zhong et al. 2017) with this probability: a rectangle of area fraction
  // U(0.02, 0.4) and aspect ratio log-uniform in [0.3, 1/0.3] (up to 10 draws to fit) is set to
  // 0 after normalisation (the per-channel mean). 0: off.
  double erase = 0.0;
  // Per-channel normalisation x = (pixel/255 - mean[c]) / std[c]. Empty: no normalisation
  // (pixel/255); one value: used for every channel; otherwise one value per channel.
  std::vector<float> mean, std;
  uint64_t seed = 0;
};

struct Batch {
  Tensor x;                    // [B, C, H, W] float32
  std::vector<int32_t> y;      // B labels
  std::vector<int64_t> index;  // B dataset indices the samples came from
};

class BatchLoader {
 public:
  // Keeps a reference to `data`: it must outlive the loader. Throws InputError on bad options.
  BatchLoader(const ImageDataset& data, LoaderOptions options);

  int64_t batchesPerEpoch() const { return batchesPerEpoch_; }
  // Samples delivered per epoch (n, or n rounded down to whole batches with dropLast).
  int64_t samplesPerEpoch() const;
  const LoaderOptions& options() const { return options_; }
  const ImageDataset& dataset() const { return *data_; }

  // Batch `batchIndex` (0 <= batchIndex < batchesPerEpoch()) of epoch `epoch` (>= 0).
  Batch get(int64_t epoch, int64_t batchIndex) const;
  // The same, reusing out's buffers when they are not shared (keeps per-step allocation low).
  void get(int64_t epoch, int64_t batchIndex, Batch& out) const;
  // The sample order of an epoch: a permutation of [0, n) (identity without shuffle).
  std::vector<int64_t> epochOrder(int64_t epoch) const;

  // Step-wise iteration over consecutive epochs: step s is batch s % batchesPerEpoch() of
  // epoch s / batchesPerEpoch(), so a run resumed at step s continues the same stream.
  Batch getStep(int64_t step) const { return get(step / batchesPerEpoch_, step % batchesPerEpoch_); }

 private:
  void fill(int64_t epoch, const int64_t* indices, int64_t count, Batch& out) const;

  const ImageDataset* data_;
  LoaderOptions options_;
  int64_t batchesPerEpoch_ = 0;
  std::vector<float> lut_;  // channels x 256: normalised value of each byte value
  // The last epoch's order, cached so random access within an epoch is O(batch). Held by
  // pointer so the loader stays movable; get() is safe to call from several threads.
  struct OrderCache {
    std::mutex mutex;
    int64_t epoch = -1;
    std::vector<int64_t> order;
  };
  std::unique_ptr<OrderCache> cache_;
};

// Samples [begin, end) of `data` as a [end-begin, C, H, W] tensor, normalised as BatchLoader
// does, without augmentation (for evaluation). mean/std follow LoaderOptions' rules.
Tensor toTensor(const ImageDataset& data, int64_t begin, int64_t end, const std::vector<float>& mean,
                const std::vector<float>& stddev);

}  // namespace hwnas
