#include <gtest/gtest.h>
#include <tbb/global_control.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <tuple>
#include <vector>

#include "core/error.h"
#include "trainer/data_loader.h"

using namespace hwnas;

namespace {

// n images of c x h x w; pixel (i, ch, y, x) = pattern value; labels i % classes.
ImageDataset makeDataset(int64_t n, int c, int h, int w, int classes = 10) {
  ImageDataset ds;
  ds.name = "synthetic";
  ds.n = n;
  ds.channels = c;
  ds.height = h;
  ds.width = w;
  ds.numClasses = classes;
  for (int64_t i = 0; i < n; ++i) {
    for (int ch = 0; ch < c; ++ch)
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) ds.images.push_back((uint8_t)((i * 31 + ch * 67 + y * 5 + x * 3) % 256));
    ds.labels.push_back((int32_t)(i % classes));
  }
  return ds;
}

bool sameBatch(const Batch& a, const Batch& b) {
  return a.x.shape() == b.x.shape() && a.y == b.y && a.index == b.index &&
         std::memcmp(a.x.data(), b.x.data(), a.x.numel() * sizeof(float)) == 0;
}

std::vector<Batch> epochBatches(const BatchLoader& loader, int64_t epoch) {
  std::vector<Batch> out;
  for (int64_t b = 0; b < loader.batchesPerEpoch(); ++b) out.push_back(loader.get(epoch, b));
  return out;
}

}  // namespace

TEST(LoaderBasic, BatchesLabelsAndExactNormalisation) {
  ImageDataset ds = makeDataset(23, 3, 4, 5);
  LoaderOptions o;
  o.batchSize = 10;
  o.shuffle = false;
  o.mean = {0.5f, 0.25f, 0.125f};
  o.std = {0.2f, 0.3f, 0.4f};
  BatchLoader loader(ds, o);
  ASSERT_EQ(loader.batchesPerEpoch(), 3);
  EXPECT_EQ(loader.samplesPerEpoch(), 23);
  Batch last = loader.get(0, 2);
  ASSERT_EQ(last.x.shape(), (Shape{3, 3, 4, 5}));
  EXPECT_EQ(last.y, (std::vector<int32_t>{0, 1, 2}));  // samples 20, 21, 22
  EXPECT_EQ(last.index, (std::vector<int64_t>{20, 21, 22}));
  for (int64_t b = 0; b < 3; ++b) {
    Batch batch = loader.get(0, b);
    for (int64_t k = 0; k < batch.x.size(0); ++k) {
      const int64_t i = b * 10 + k;
      EXPECT_EQ(batch.y[k], ds.labels[i]);
      for (int c = 0; c < 3; ++c)
        for (int p = 0; p < 20; ++p) {
          const float expected = ((float)ds.image(i)[c * 20 + p] / 255.f - o.mean[c]) / o.std[c];
          ASSERT_EQ(batch.x[(k * 3 + c) * 20 + p], expected);
        }
    }
  }
  // A single mean/std applies to every channel; none means pixel/255.
  o.mean = {kFashionMnistMean};
  o.std = {kFashionMnistStd};
  Batch one = BatchLoader(ds, o).get(0, 0);
  EXPECT_EQ(one.x[2 * 20 + 7], ((float)ds.image(0)[2 * 20 + 7] / 255.f - 0.2860f) / 0.3530f);
  o.mean.clear();
  o.std.clear();
  Batch raw = BatchLoader(ds, o).get(0, 1);
  EXPECT_EQ(raw.x[5], (float)ds.image(10)[5] / 255.f);

  o.dropLast = true;
  BatchLoader dropping(ds, o);
  EXPECT_EQ(dropping.batchesPerEpoch(), 2);
  EXPECT_EQ(dropping.samplesPerEpoch(), 20);
  EXPECT_EQ(dropping.get(0, 1).x.size(0), 10);
  EXPECT_THROW(dropping.get(0, 2), InputError);
}

TEST(LoaderBasic, ToTensorMatchesUnaugmentedBatches) {
  ImageDataset ds = makeDataset(17, 1, 6, 6);
  LoaderOptions o;
  o.batchSize = 5;
  o.shuffle = false;
  o.mean = {0.3f};
  o.std = {0.7f};
  BatchLoader loader(ds, o);
  Tensor t = toTensor(ds, 5, 10, o.mean, o.std);
  Batch b = loader.get(0, 1);
  ASSERT_EQ(t.shape(), b.x.shape());
  EXPECT_EQ(t.toVector(), b.x.toVector());
  EXPECT_THROW(toTensor(ds, 10, 18, o.mean, o.std), InputError);
}

TEST(LoaderBasic, RejectsBadOptions) {
  ImageDataset ds = makeDataset(8, 3, 4, 4);
  LoaderOptions o;
  o.batchSize = 0;
  EXPECT_THROW(BatchLoader(ds, o), InputError);
  o.batchSize = 4;
  o.mean = {0.5f, 0.5f};
  o.std = {0.5f, 0.5f};
  EXPECT_THROW(BatchLoader(ds, o), InputError);  // 2 values for 3 channels
  o.mean = {0.5f};
  o.std = {0.f};
  EXPECT_THROW(BatchLoader(ds, o), InputError);
  o.std = {0.5f};
  o.padCrop = -1;
  EXPECT_THROW(BatchLoader(ds, o), InputError);
  o.padCrop = 0;
  o.batchSize = 9;
  o.dropLast = true;
  EXPECT_THROW(BatchLoader(ds, o), InputError);
}

TEST(LoaderShuffle, EpochsArePermutationsAndDiffer) {
  ImageDataset ds = makeDataset(100, 1, 3, 3);
  LoaderOptions o;
  o.batchSize = 16;
  o.seed = 7;
  BatchLoader loader(ds, o);
  std::vector<std::vector<int64_t>> orders;
  for (int64_t e = 0; e < 3; ++e) {
    std::vector<int64_t> seen;
    for (const Batch& b : epochBatches(loader, e)) seen.insert(seen.end(), b.index.begin(), b.index.end());
    EXPECT_EQ(seen, loader.epochOrder(e));
    std::vector<int64_t> sorted = seen;
    std::sort(sorted.begin(), sorted.end());
    for (int64_t i = 0; i < 100; ++i) ASSERT_EQ(sorted[i], i);
    orders.push_back(seen);
  }
  EXPECT_NE(orders[0], orders[1]);
  EXPECT_NE(orders[1], orders[2]);
  // The order is a pure function of (seed, epoch): a new loader agrees; another seed does not.
  EXPECT_EQ(BatchLoader(ds, o).epochOrder(1), orders[1]);
  o.seed = 8;
  EXPECT_NE(BatchLoader(ds, o).epochOrder(1), orders[1]);
  o.shuffle = false;
  std::vector<int64_t> identity(100);
  for (int64_t i = 0; i < 100; ++i) identity[i] = i;
  EXPECT_EQ(BatchLoader(ds, o).epochOrder(3), identity);
}

TEST(LoaderShuffle, RandomAccessEqualsSequential) {
  ImageDataset ds = makeDataset(90, 3, 8, 8);
  LoaderOptions o;
  o.batchSize = 16;
  o.padCrop = 2;
  o.hflip = true;
  o.mean = {0.4f, 0.5f, 0.6f};
  o.std = {0.2f, 0.25f, 0.3f};
  o.seed = 123;
  BatchLoader sequential(ds, o);
  std::vector<Batch> seq;
  for (int64_t e = 0; e < 3; ++e)
    for (Batch& b : epochBatches(sequential, e)) seq.push_back(std::move(b));
  // A fresh loader (as after a restart) visiting the steps in scrambled order.
  BatchLoader resumed(ds, o);
  const int64_t steps = (int64_t)seq.size();
  ASSERT_EQ(steps, 3 * resumed.batchesPerEpoch());
  for (int64_t k = 0; k < steps; ++k) {
    const int64_t s = (k * 7) % steps;  // 7 is coprime with 18
    ASSERT_TRUE(sameBatch(resumed.getStep(s), seq[s])) << "step " << s;
  }
  // Reusing the output buffers gives the same values and keeps the allocation.
  Batch reuse;
  resumed.get(1, 2, reuse);
  const float* p = reuse.x.data();
  resumed.get(2, 1, reuse);
  EXPECT_EQ(reuse.x.data(), p);
  EXPECT_TRUE(sameBatch(reuse, seq[2 * resumed.batchesPerEpoch() + 1]));
}

TEST(LoaderShuffle, IdenticalAtOneAndTwoThreads) {
  ImageDataset ds = makeDataset(301, 3, 12, 12);
  LoaderOptions o;
  o.batchSize = 64;
  o.padCrop = 3;
  o.hflip = true;
  o.mean = {0.4f};
  o.std = {0.3f};
  o.seed = 99;
  auto run = [&](int threads) {
    tbb::global_control gc(tbb::global_control::max_allowed_parallelism, threads);
    BatchLoader loader(ds, o);
    std::vector<Batch> all;
    for (int64_t e = 0; e < 2; ++e)
      for (Batch& b : epochBatches(loader, e)) all.push_back(std::move(b));
    return all;
  };
  std::vector<Batch> one = run(1), two = run(2);
  ASSERT_EQ(one.size(), two.size());
  for (size_t i = 0; i < one.size(); ++i) EXPECT_TRUE(sameBatch(one[i], two[i])) << "batch " << i;
}

namespace {

// The pattern image: pixel (y, x) = 1 + y*W + x (unique, never 0), one channel.
ImageDataset patternDataset(int64_t n, int h, int w) {
  ImageDataset ds;
  ds.name = "pattern";
  ds.n = n;
  ds.channels = 1;
  ds.height = h;
  ds.width = w;
  ds.numClasses = 2;
  for (int64_t i = 0; i < n; ++i) {
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) ds.images.push_back((uint8_t)(1 + y * w + x));
    ds.labels.push_back((int32_t)(i % 2));
  }
  return ds;
}

// The exact image a crop at offset (dy, dx) of the P-padded input, then an optional flip, gives.
std::vector<float> expectedAugmented(int h, int w, int P, int dy, int dx, bool flip, float mean, float stddev) {
  std::vector<float> out((size_t)h * w);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const int sy = y + dy - P, sx = (flip ? w - 1 - x : x) + dx - P;
      const int v = (sy < 0 || sy >= h || sx < 0 || sx >= w) ? 0 : 1 + sy * w + sx;
      out[(size_t)y * w + x] = ((float)v / 255.f - mean) / stddev;
    }
  return out;
}

}  // namespace

TEST(LoaderAugment, CropsAndFlipsAreExactShiftsOfTheImage) {
  const int H = 6, W = 7, P = 2;
  ImageDataset ds = patternDataset(400, H, W);
  LoaderOptions o;
  o.batchSize = 400;
  o.padCrop = P;
  o.hflip = true;
  o.mean = {0.1f};
  o.std = {0.5f};
  o.seed = 5;
  Batch b = BatchLoader(ds, o).get(0, 0);
  std::map<std::tuple<int, int, bool>, int> seen;
  for (int64_t k = 0; k < 400; ++k) {
    std::vector<float> img(b.x.data() + k * H * W, b.x.data() + (k + 1) * H * W);
    int matches = 0;
    for (int dy = 0; dy <= 2 * P; ++dy)
      for (int dx = 0; dx <= 2 * P; ++dx)
        for (bool flip : {false, true})
          if (img == expectedAugmented(H, W, P, dy, dx, flip, 0.1f, 0.5f)) {
            ++matches;
            seen[{dy, dx, flip}]++;
          }
    ASSERT_EQ(matches, 1) << "sample " << k << " is not exactly one crop+flip of its image";
  }
  // All 5x5 offsets and both flip states occur, roughly uniformly.
  EXPECT_EQ(seen.size(), 50u);
  int flips = 0;
  for (const auto& kv : seen) flips += std::get<2>(kv.first) ? kv.second : 0;
  EXPECT_GT(flips, 140);
  EXPECT_LT(flips, 260);
}

TEST(LoaderAugment, FlipOnlyAndCropOnly) {
  const int H = 4, W = 5;
  ImageDataset ds = patternDataset(64, H, W);
  LoaderOptions o;
  o.batchSize = 64;
  o.hflip = true;
  o.seed = 11;
  Batch flipped = BatchLoader(ds, o).get(0, 0);
  int nFlipped = 0;
  for (int64_t k = 0; k < 64; ++k) {
    std::vector<float> img(flipped.x.data() + k * H * W, flipped.x.data() + (k + 1) * H * W);
    const bool plain = img == expectedAugmented(H, W, 0, 0, 0, false, 0.f, 1.f);
    const bool mirror = img == expectedAugmented(H, W, 0, 0, 0, true, 0.f, 1.f);
    ASSERT_TRUE(plain != mirror) << "sample " << k;
    nFlipped += mirror;
    if (mirror) {
      EXPECT_EQ(img[0], (float)W / 255.f);  // top-left shows the top-right pixel
    }
  }
  EXPECT_GT(nFlipped, 10);
  EXPECT_LT(nFlipped, 54);

  o.hflip = false;
  o.padCrop = 1;
  Batch cropped = BatchLoader(ds, o).get(0, 0);
  int shifted = 0;
  for (int64_t k = 0; k < 64; ++k) {
    std::vector<float> img(cropped.x.data() + k * H * W, cropped.x.data() + (k + 1) * H * W);
    int matches = 0;
    for (int dy = 0; dy <= 2; ++dy)
      for (int dx = 0; dx <= 2; ++dx)
        if (img == expectedAugmented(H, W, 1, dy, dx, false, 0.f, 1.f)) {
          ++matches;
          shifted += (dy != 1 || dx != 1);
        }
    ASSERT_EQ(matches, 1) << "sample " << k;
  }
  EXPECT_GT(shifted, 40);  // 8 of 9 offsets move the image
}

TEST(LoaderAugment, SampleAugmentationIndependentOfBatchSize) {
  ImageDataset ds = makeDataset(40, 3, 8, 8);
  LoaderOptions o;
  o.shuffle = false;
  o.padCrop = 2;
  o.hflip = true;
  o.seed = 3;
  o.batchSize = 7;
  BatchLoader a(ds, o);
  o.batchSize = 40;
  Batch whole = BatchLoader(ds, o).get(4, 0);
  const int64_t sz = 3 * 8 * 8;
  for (int64_t b = 0; b < a.batchesPerEpoch(); ++b) {
    Batch part = a.get(4, b);
    for (int64_t k = 0; k < part.x.size(0); ++k)
      ASSERT_EQ(0, std::memcmp(part.x.data() + k * sz, whole.x.data() + (b * 7 + k) * sz, sz * sizeof(float)));
  }
  // Another epoch augments differently.
  Batch other = BatchLoader(ds, o).get(5, 0);
  EXPECT_NE(other.x.toVector(), whole.x.toVector());
}

TEST(LoaderAugment, RandomErasingBlanksOneRectangleAndKeepsTheFlipStream) {
  const int H = 12, W = 12;
  ImageDataset ds = patternDataset(300, H, W);
  LoaderOptions o;
  o.batchSize = 300;
  o.hflip = true;
  o.mean = {0.1f};
  o.std = {0.5f};
  o.seed = 5;
  const Batch plain = BatchLoader(ds, o).get(0, 0);
  for (double p : {1.0, 0.5}) {
    o.erase = p;
    const Batch erased = BatchLoader(ds, o).get(0, 0);
    int nErased = 0;
    for (int64_t k = 0; k < 300; ++k) {
      const float* a = plain.x.data() + k * H * W;
      const float* b = erased.x.data() + k * H * W;
      // The pixels that differ form one axis-aligned rectangle of zeros (the normalised mean;
      // no pattern pixel normalises to 0); everything else is the flip-only image.
      int y0 = H, y1 = -1, x0 = W, x1 = -1, n = 0;
      for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x)
          if (a[y * W + x] != b[y * W + x]) {
            ASSERT_EQ(b[y * W + x], 0.0f) << "sample " << k;
            y0 = std::min(y0, y), y1 = std::max(y1, y), x0 = std::min(x0, x), x1 = std::max(x1, x);
            ++n;
          }
      if (n == 0) continue;
      ++nErased;
      ASSERT_EQ(n, (y1 - y0 + 1) * (x1 - x0 + 1)) << "sample " << k << ": the erased pixels are not a rectangle";
      // area fraction U(0.02, 0.4), sides rounded to whole pixels
      EXPECT_GE(n, 2) << "sample " << k;
      EXPECT_LE(n, 80) << "sample " << k;
    }
    if (p == 1.0) EXPECT_GE(nErased, 290);  // a rectangle fits in 10 draws nearly always on 12x12
    else EXPECT_TRUE(nErased > 110 && nErased < 190) << nErased;
  }
  o.erase = 1.5;
  EXPECT_THROW(BatchLoader(ds, o), InputError);
}
