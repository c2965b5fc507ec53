#include "trainer/data_loader.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/rng.h"

namespace hwnas {

namespace {

// Samples per TBB task: fixed so the work split never depends on the thread count.
constexpr int64_t kGrain = 8;
// Stream keys under Rng(seed): epoch e shuffles with key 2e and augments with key 2e+1.
uint64_t shuffleKey(int64_t epoch) { return 2 * (uint64_t)epoch; }
uint64_t augmentKey(int64_t epoch) { return 2 * (uint64_t)epoch + 1; }

// channels x 256 table of (v/255 - mean[c]) / std[c], so every path computes the same floats.
std::vector<float> buildLut(int channels, const std::vector<float>& mean, const std::vector<float>& stddev,
                            const std::string& where) {
  if (mean.size() != stddev.size())
    throw InputError(where + ": normalisation has " + std::to_string(mean.size()) + " means but " +
                     std::to_string(stddev.size()) + " standard deviations");
  if (!mean.empty() && mean.size() != 1 && (int)mean.size() != channels)
    throw InputError(where + ": normalisation needs 1 or " + std::to_string(channels) + " values per statistic, got " +
                     std::to_string(mean.size()));
  std::vector<float> lut((size_t)channels * 256);
  for (int c = 0; c < channels; ++c) {
    for (int v = 0; v < 256; ++v) {
      float x = (float)v / 255.f;
      if (!mean.empty()) {
        const float m = mean.size() == 1 ? mean[0] : mean[(size_t)c];
        const float s = stddev.size() == 1 ? stddev[0] : stddev[(size_t)c];
        if (!(s > 0.f) || !std::isfinite(s) || !std::isfinite(m))
          throw InputError(where + ": normalisation std must be positive and finite (channel " + std::to_string(c) +
                           ")");
        x = (x - m) / s;
      }
      lut[(size_t)c * 256 + (size_t)v] = x;
    }
  }
  return lut;
}

void convertPlain(const uint8_t* src, float* dst, int channels, int64_t plane, const float* lut) {
  for (int c = 0; c < channels; ++c) {
    const float* l = lut + (size_t)c * 256;
    const uint8_t* s = src + c * plane;
    float* d = dst + c * plane;
    for (int64_t i = 0; i < plane; ++i) d[i] = l[s[i]];
  }
}

}  // namespace

BatchLoader::BatchLoader(const ImageDataset& data, LoaderOptions options)
    : data_(&data), options_(std::move(options)), cache_(new OrderCache) {
  const std::string where = "data loader (" + data.name + ")";
  if (options_.batchSize <= 0)
    throw InputError(where + ": batch size must be positive, got " + std::to_string(options_.batchSize));
  if (options_.padCrop < 0)
    throw InputError(where + ": crop padding must be >= 0, got " + std::to_string(options_.padCrop));
  if (!(options_.erase >= 0.0 && options_.erase <= 1.0))
    throw InputError(where + ": the erasing probability must be in [0, 1], got " + std::to_string(options_.erase));
  if (data.n <= 0) throw InputError(where + ": the dataset is empty");
  if ((int64_t)data.images.size() != data.n * data.imageSize() || (int64_t)data.labels.size() != data.n)
    throw InputError(where + ": dataset sizes are inconsistent (" + std::to_string(data.images.size()) +
                     " pixel bytes, " + std::to_string(data.labels.size()) + " labels for " + std::to_string(data.n) +
                     " images)");
  lut_ = buildLut(data.channels, options_.mean, options_.std, where);
  const int64_t b = options_.batchSize;
  batchesPerEpoch_ = options_.dropLast ? data.n / b : (data.n + b - 1) / b;
  if (batchesPerEpoch_ == 0)
    throw InputError(where + ": batch size " + std::to_string(b) + " with drop-last leaves no batch from " +
                     std::to_string(data.n) + " images");
}

int64_t BatchLoader::samplesPerEpoch() const {
  return options_.dropLast ? batchesPerEpoch_ * options_.batchSize : data_->n;
}

std::vector<int64_t> BatchLoader::epochOrder(int64_t epoch) const {
  const int64_t n = data_->n;
  std::vector<int64_t> order((size_t)n);
  for (int64_t i = 0; i < n; ++i) order[(size_t)i] = i;
  if (options_.shuffle) {
    Rng rng = Rng(options_.seed).split(shuffleKey(epoch));
    for (int64_t i = n - 1; i > 0; --i) {
      int64_t j = (int64_t)rng.uniformInt((uint64_t)i + 1);
      std::swap(order[(size_t)i], order[(size_t)j]);
    }
  }
  return order;
}

Batch BatchLoader::get(int64_t epoch, int64_t batchIndex) const {
  Batch out;
  get(epoch, batchIndex, out);
  return out;
}

void BatchLoader::get(int64_t epoch, int64_t batchIndex, Batch& out) const {
  if (epoch < 0) throw InputError("data loader (" + data_->name + "): negative epoch " + std::to_string(epoch));
  if (batchIndex < 0 || batchIndex >= batchesPerEpoch_)
    throw InputError("data loader (" + data_->name + "): batch " + std::to_string(batchIndex) + " is outside [0, " +
                     std::to_string(batchesPerEpoch_) + ")");
  const int64_t begin = batchIndex * options_.batchSize;
  const int64_t count = std::min(options_.batchSize, data_->n - begin);
  std::vector<int64_t> indices((size_t)count);
  if (!options_.shuffle) {
    for (int64_t k = 0; k < count; ++k) indices[(size_t)k] = begin + k;
  } else {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    if (cache_->epoch != epoch) {
      cache_->order = epochOrder(epoch);
      cache_->epoch = epoch;
    }
    std::copy(cache_->order.begin() + begin, cache_->order.begin() + begin + count, indices.begin());
  }
  fill(epoch, indices.data(), count, out);
}

void BatchLoader::fill(int64_t epoch, const int64_t* indices, int64_t count, Batch& out) const {
  const ImageDataset& d = *data_;
  const int C = d.channels, H = d.height, W = d.width;
  const int64_t plane = (int64_t)H * W, sampleSize = C * plane;
  const Shape shape{count, C, H, W};
  if (!(out.x.defined() && out.x.unique() && out.x.shape() == shape)) out.x = Tensor::empty(shape);
  out.y.resize((size_t)count);
  out.index.assign(indices, indices + count);
  for (int64_t k = 0; k < count; ++k) out.y[(size_t)k] = d.labels[(size_t)indices[k]];

  const int P = options_.padCrop;
  const bool augment = P > 0 || options_.hflip || options_.erase > 0.0;
  const Rng epochRng = Rng(options_.seed).split(augmentKey(epoch));
  const float* lut = lut_.data();
  float* dst = out.x.data();
  tbb::parallel_for(
      tbb::blocked_range<int64_t>(0, count, kGrain),
      [&](const tbb::blocked_range<int64_t>& r) {
        for (int64_t k = r.begin(); k < r.end(); ++k) {
          const int64_t idx = indices[k];
          const uint8_t* src = d.image(idx);
          float* o = dst + k * sampleSize;
          if (!augment) {
            convertPlain(src, o, C, plane, lut);
            continue;
          }
          // Draws, in order: crop offsets dy, dx in [0, 2P]; then the flip coin.
          Rng rng = epochRng.split((uint64_t)idx);
          int dy = P, dx = P;
          if (P > 0) {
            dy = (int)rng.uniformInt(2 * (uint64_t)P + 1);
            dx = (int)rng.uniformInt(2 * (uint64_t)P + 1);
          }
          const bool flip = options_.hflip && rng.uniform() < 0.5;
          // Then the erasing coin and rectangle (drawn only when erasing is on, so the crop
          // and flip streams are those of a run without it).
          int ey = 0, ex = 0, eh = 0, ew = 0;
          if (options_.erase > 0.0 && rng.uniform() < options_.erase) {
            for (int t = 0; t < 10; ++t) {
              const double area = rng.uniform(0.02, 0.4) * H * W;
              const double ratio = std::exp(rng.uniform(std::log(0.3), std::log(1 / 0.3)));
              const int h = (int)std::lround(std::sqrt(area * ratio)), w = (int)std::lround(std::sqrt(area / ratio));
              if (h < 1 || w < 1 || h >= H || w >= W) continue;
              ey = (int)rng.uniformInt((uint64_t)(H - h + 1));
              ex = (int)rng.uniformInt((uint64_t)(W - w + 1));
              eh = h, ew = w;
              break;
            }
          }
          // out(y, x) = in(y + dy - P, x' + dx - P) with x' = flip ? W-1-x : x; outside is pixel 0.
          for (int c = 0; c < C; ++c) {
            const float* l = lut + (size_t)c * 256;
            const float zero = l[0];
            const uint8_t* s = src + c * plane;
            float* oc = o + c * plane;
            for (int y = 0; y < H; ++y) {
              const int sy = y + dy - P;
              float* row = oc + (int64_t)y * W;
              if (sy < 0 || sy >= H) {
                std::fill(row, row + W, zero);
                continue;
              }
              const uint8_t* srow = s + (int64_t)sy * W;
              for (int x = 0; x < W; ++x) {
                const int sx = (flip ? W - 1 - x : x) + dx - P;
                row[x] = (sx < 0 || sx >= W) ? zero : l[srow[sx]];
              }
            }
            for (int y = ey; y < ey + eh; ++y) std::fill(oc + (int64_t)y * W + ex, oc + (int64_t)y * W + ex + ew, 0.0f);
          }
        }
      },
      tbb::simple_partitioner());
}

Tensor toTensor(const ImageDataset& data, int64_t begin, int64_t end, const std::vector<float>& mean,
                const std::vector<float>& stddev) {
  if (begin < 0 || end > data.n || begin > end)
    throw InputError(data.name + ": sample range [" + std::to_string(begin) + ", " + std::to_string(end) +
                     ") is outside [0, " + std::to_string(data.n) + ")");
  std::vector<float> lut = buildLut(data.channels, mean, stddev, "toTensor (" + data.name + ")");
  const int64_t plane = (int64_t)data.height * data.width, sampleSize = data.channels * plane;
  Tensor x = Tensor::empty({end - begin, data.channels, data.height, data.width});
  float* dst = x.data();
  tbb::parallel_for(
      tbb::blocked_range<int64_t>(begin, end, kGrain),
      [&](const tbb::blocked_range<int64_t>& r) {
        for (int64_t i = r.begin(); i < r.end(); ++i)
          convertPlain(data.image(i), dst + (i - begin) * sampleSize, data.channels, plane, lut.data());
      },
      tbb::simple_partitioner());
  return x;
}

}  // namespace hwnas
