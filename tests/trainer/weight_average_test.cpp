// TrainOptions::ema: the averaged weights against an average computed here from the live
// weights after every step of a run without it, and an interrupted run with the average that
// resumes bit-exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "core/error.h"
#include "core/fs_util.h"
#include "trainer/model_def.h"
#include "trainer/training.h"

using namespace hwnas;

namespace {

const std::string kRefnet = std::string(HWNAS_SOURCE_DIR) + "/configs/models/refnet.yaml";

const DataSplits& data() {
  static const DataSplits d = [] {
    TrainOptions o;
    o.trainLimit = 96;
    o.evalLimit = 50;
    return loadDataSplits(o);
  }();
  return d;
}

TrainOptions options(double ema) {
  TrainOptions t;
  t.epochs = 2;
  t.batchSize = 16;  // 6 steps per epoch
  t.lr = 0.05;
  t.seed = 3;
  t.trainLimit = 96;
  t.evalLimit = 50;
  t.ema = ema;
  return t;
}

std::map<std::string, std::vector<float>> values(const nn::Module& m) {
  std::map<std::string, std::vector<float>> v;
  for (const auto& [n, t] : stateDict(m)) v[n].assign(t.data(), t.data() + t.numel());
  return v;
}

}  // namespace

TEST(WeightAverage, IsTheMovingAverageOfTheLiveWeights) {
  const double decay = 0.8;
  // Without the average, record the live weights after every step and average them here.
  auto plain = buildModel(loadModelDef(kRefnet), 1);
  std::map<std::string, std::vector<double>> expect;
  for (const auto& [n, v] : values(*plain)) expect[n].assign(v.begin(), v.end());
  int64_t step = 0;
  TrainHooks hooks;
  hooks.afterStep = [&] {
    ++step;
    const double d = std::min(decay, (1.0 + double(step)) / (10.0 + double(step)));
    for (const auto& [n, v] : values(*plain))
      for (size_t i = 0; i < v.size(); ++i) expect[n][i] = d * expect[n][i] + (1 - d) * v[i];
  };
  trainModel(*plain, data(), options(0), "", false, nullptr, hooks);
  EXPECT_EQ(step, 12);

  auto averaged = buildModel(loadModelDef(kRefnet), 1);
  const TrainResult r = trainModel(*averaged, data(), options(decay), "", false);
  const auto got = values(*averaged), live = values(*plain);
  double maxErr = 0, maxLiveDiff = 0;
  for (const auto& [n, v] : got)
    for (size_t i = 0; i < v.size(); ++i) {
      maxErr = std::max(maxErr, std::abs(double(v[i]) - expect.at(n)[i]) / (1 + std::abs(expect.at(n)[i])));
      maxLiveDiff = std::max(maxLiveDiff, std::abs(double(v[i]) - double(live.at(n)[i])));
    }
  EXPECT_LT(maxErr, 1e-5);
  EXPECT_GT(maxLiveDiff, 1e-3);  // the returned model is the average, not the live weights
  EXPECT_GE(r.valAccuracy, 0);
}

TEST(WeightAverage, InterruptedRunResumesToTheSameAverage) {
  auto whole = buildModel(loadModelDef(kRefnet), 1);
  trainModel(*whole, data(), options(0.9), "", false);

  TempDir dir;
  auto part = buildModel(loadModelDef(kRefnet), 1);
  TrainOptions first = options(0.9);
  first.maxSteps = 8;  // mid-epoch 2
  trainModel(*part, data(), first, dir.path(), false);
  auto resumed = buildModel(loadModelDef(kRefnet), 1);
  trainModel(*resumed, data(), options(0.9), dir.path(), true);
  EXPECT_EQ(values(*resumed), values(*whole));

  // A checkpoint of a run without the average does not resume one with it.
  TempDir other;
  auto noAvg = buildModel(loadModelDef(kRefnet), 1);
  TrainOptions plain = options(0);
  plain.maxSteps = 3;
  trainModel(*noAvg, data(), plain, other.path(), false);
  EXPECT_THROW(trainModel(*noAvg, data(), options(0.9), other.path(), true), InputError);
}
