// Post-training quantization: entropy and percentile thresholds on known histograms, and a
// briefly trained refnet calibrated on a few Fashion-MNIST training batches whose int8 plan
// agrees with the fp32 plan on test images (top-1 agreement, logit error, accuracy drop).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "core/lower.h"
#include "exporter/quantize.h"
#include "runtime/executor.h"
#include "trainer/model_def.h"
#include "trainer/training.h"
#include "trainer/weight_map.h"

namespace hwnas {
namespace {

namespace rt = runtime;

TEST(Quantize, EntropyThresholdClipsARareOutlier) {
  // 400 busy bins and one far outlier: the KL search clips near the busy range, not at the outlier.
  std::vector<double> h(2048, 0.0);
  for (int b = 0; b < 400; ++b) h[b] = 1000 + (b % 7) * 10;
  h[2000] = 1;
  const double t = entropyThreshold(h, 2048.0, 128);
  EXPECT_GE(t, 380.0);
  EXPECT_LE(t, 480.0);
  // With the mass spread over the whole range there is nothing to clip.
  std::vector<double> flat(2048, 5.0);
  EXPECT_GE(entropyThreshold(flat, 1.0, 128), 0.95);
}

TEST(Quantize, ActivationParamsCoverTheRangeAndZero) {
  float s;
  int32_t zp;
  activationParams(0.0, 6.0, s, zp);  // relu6: zero at -128, 6 at 127
  EXPECT_FLOAT_EQ(s, 6.f / 255);
  EXPECT_EQ(zp, -128);
  activationParams(-1.0, 1.0, s, zp);
  EXPECT_FLOAT_EQ(s, 2.f / 255);
  EXPECT_LE(std::abs(zp), 1);  // -128 + 127.5: a half, either way
  activationParams(2.0, 3.0, s, zp);  // widened to include 0
  EXPECT_FLOAT_EQ(s, 3.f / 255);
  EXPECT_EQ(zp, -128);
}

struct Trained {
  ExportModel model;
  DataSplits data;
  std::vector<std::vector<float>> calib;
  std::vector<float> test;
  std::vector<int32_t> labels;
  int64_t perImage = 0;
};

std::vector<float> normalized(const ImageDataset& d, int64_t first, int64_t n, const DataSplits& s) {
  std::vector<float> x(size_t(n * d.imageSize()));
  const int64_t plane = d.height * d.width;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < d.channels; ++c)
      for (int64_t p = 0; p < plane; ++p) {
        const float m = s.mean.size() == 1 ? s.mean[0] : s.mean[size_t(c)];
        const float sd = s.std.size() == 1 ? s.std[0] : s.std[size_t(c)];
        x[size_t((i * d.channels + c) * plane + p)] = (float(d.image(first + i)[c * plane + p]) / 255.f - m) / sd;
      }
  return x;
}

// refnet trained briefly (one epoch over 3072 images, 48 steps: about 70% test accuracy), once
// for all tests (the slow part of this binary, ~5 s on an idle core).
const Trained& trainedRefnet() {
  static Trained t = [] {
    Trained r;
    TrainOptions o;
    o.epochs = 1;
    o.trainLimit = 3072;
    o.evalLimit = 1000;
    o.batchSize = 64;
    o.lr = 0.05;
    o.seed = 3;
    r.data = loadDataSplits(o);
    auto net = buildModel(loadModelDef(std::string(HWNAS_SOURCE_DIR) + "/configs/models/refnet.yaml"), 3);
    trainModel(*net, r.data, o, "", false);
    net->eval();
    r.model.name = "refnet";
    r.model.graph = net->toGraph(1);
    r.model.weights = weightMapOf(*net);
    for (int b = 0; b < 4; ++b) r.calib.push_back(normalized(r.data.train, b * 64, 64, r.data));
    r.test = normalized(r.data.test, 0, 1000, r.data);
    r.labels.assign(r.data.test.labels.begin(), r.data.test.labels.begin() + 1000);
    r.perImage = r.data.test.imageSize();
    return r;
  }();
  return t;
}

std::vector<float> runPlan(const rt::Plan& p, const std::vector<float>& x, int64_t n) {
  rt::ExecutorOptions o;
  o.batch = n;
  rt::Executor ex(p, o);
  return ex.run(x);
}

int argmax(const float* v, int n) { return int(std::max_element(v, v + n) - v); }

void expectInt8CloseToFp32(CalibrationMethod method, double minAgreement) {
  const Trained& t = trainedRefnet();
  CalibrationOptions co;
  co.method = method;
  const QuantSpec spec = calibrate(t.model, t.calib, co);
  EXPECT_EQ(spec.calibration, calibrationMethodName(method));
  EXPECT_GE(spec.layers.size(), 20u);  // every conv and the linear layers
  const rt::Plan fp = lower(t.model.graph, t.model.weights);
  const rt::Plan q = lowerQuantized(t.model.graph, t.model.weights, spec);
  const int64_t n = 1000;
  const auto yf = runPlan(fp, t.test, n), yq = runPlan(q, t.test, n);
  int agree = 0, correctF = 0, correctQ = 0;
  double maxErr = 0, maxLogit = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int af = argmax(&yf[size_t(i * 10)], 10), aq = argmax(&yq[size_t(i * 10)], 10);
    agree += af == aq;
    correctF += af == t.labels[size_t(i)];
    correctQ += aq == t.labels[size_t(i)];
    for (int c = 0; c < 10; ++c) {
      maxErr = std::max(maxErr, double(std::fabs(yf[size_t(i * 10 + c)] - yq[size_t(i * 10 + c)])));
      maxLogit = std::max(maxLogit, double(std::fabs(yf[size_t(i * 10 + c)])));
    }
  }
  std::printf("[ figures ] refnet int8 (%s) vs fp32 on %lld test images: top-1 agreement %.3f, max |logit error| %.4f "
              "(logits up to %.2f), accuracy fp32 %.3f int8 %.3f\n",
              calibrationMethodName(method), (long long)n, agree / double(n), maxErr, maxLogit, correctF / double(n),
              correctQ / double(n));
  EXPECT_GT(correctF, n * 6 / 10) << "the briefly trained refnet should be far above chance";
  EXPECT_GE(agree, minAgreement * n) << "top-1 agreement int8 vs fp32";
  EXPECT_LE(std::abs(correctF - correctQ), n / 50) << "accuracy changed by over 2 points";
  EXPECT_LT(maxErr, 0.25 * maxLogit);
}

TEST(Quantize, RefnetMinMaxInt8AgreesWithFp32) { expectInt8CloseToFp32(CalibrationMethod::MinMax, 0.97); }
TEST(Quantize, RefnetPercentileInt8AgreesWithFp32) { expectInt8CloseToFp32(CalibrationMethod::Percentile, 0.97); }
// Entropy clips the relu6 tails of this barely trained net harder (measured 0.96 agreement).
TEST(Quantize, RefnetEntropyInt8AgreesWithFp32) { expectInt8CloseToFp32(CalibrationMethod::Entropy, 0.93); }

TEST(Quantize, ChainedLayersShareParametersAndWeightScalesAreFolded) {
  const Trained& t = trainedRefnet();
  const QuantSpec spec = calibrate(t.model, t.calib);
  const rt::Plan fp = lower(t.model.graph, t.model.weights);
  const auto sources = opSourceNodes(t.model.graph);
  // A conv that reads another conv's output: its input parameters are that conv's output ones.
  int chained = 0;
  for (size_t i = 1; i < fp.ops.size(); ++i) {
    const auto* li = spec.find(sources[i]);
    if (!li) continue;
    for (size_t j = 0; j < i; ++j)
      if (fp.ops[j].output == fp.ops[i].inputs[0])
        if (const auto* lj = spec.find(sources[j])) {
          EXPECT_EQ(li->inputScale, lj->outputScale) << sources[j] << " -> " << sources[i];
          EXPECT_EQ(li->inputZeroPoint, lj->outputZeroPoint);
          ++chained;
        }
    // weight scales from the BN-folded weight: the largest |w| maps to 127
    float mx = 0;
    const int64_t per = int64_t(fp.ops[i].weight.size()) / fp.ops[i].outChannels;
    for (int64_t k = 0; k < per; ++k) mx = std::max(mx, std::fabs(fp.ops[i].weight[size_t(k)]));
    EXPECT_FLOAT_EQ(li->weightScales[0], mx / 127.f) << sources[i];
  }
  EXPECT_GE(chained, 10);
  // Round trip through JSON gives the same int8 plan.
  const QuantSpec back = QuantSpec::fromJson(spec.toJson());
  EXPECT_EQ(lowerQuantized(t.model.graph, t.model.weights, back).serialize(),
            lowerQuantized(t.model.graph, t.model.weights, spec).serialize());
}

TEST(Quantize, SensitivityRanksLayersAndMixedPrecisionKeepsTheWorstFp32) {
  const Trained& t = trainedRefnet();
  const QuantSpec spec = calibrate(t.model, {t.calib[0]});
  const auto sens = layerSensitivity(t.model, spec, {t.calib[0]});
  ASSERT_EQ(sens.size(), spec.layers.size());
  for (size_t i = 1; i < sens.size(); ++i) EXPECT_GE(sens[i - 1].relativeError, sens[i].relativeError);
  EXPECT_GT(sens.front().relativeError, 0.0);
  const QuantSpec mixed = keepSensitiveLayersFp32(spec, sens, 2);
  EXPECT_EQ(mixed.find(sens[0].layer), nullptr);
  EXPECT_EQ(mixed.find(sens[1].layer), nullptr);
  EXPECT_NE(mixed.find(sens[2].layer), nullptr);
  const rt::Plan q = lowerQuantized(t.model.graph, t.model.weights, mixed);
  int fp32Layers = 0;
  for (const auto& op : q.ops)
    fp32Layers += (op.type == rt::OpType::Conv2d || op.type == rt::OpType::DepthwiseConv2d ||
                   op.type == rt::OpType::Linear) && !rt::isInt8Op(q, op);
  EXPECT_EQ(fp32Layers, 2);
}

TEST(Quantize, BadInputsAreClearErrors) {
  const Trained& t = trainedRefnet();
  EXPECT_THROW(calibrate(t.model, {}), InputError);
  EXPECT_THROW(calibrate(t.model, {std::vector<float>(100)}), InputError);
  CalibrationOptions o;
  o.layers = {"no_such_layer"};
  EXPECT_THROW(calibrate(t.model, t.calib, o), InputError);
  o = {};
  o.percentile = 20;
  EXPECT_THROW(calibrate(t.model, t.calib, o), InputError);
  EXPECT_THROW(parseCalibrationMethod("kl"), InputError);
  EXPECT_EQ(parseCalibrationMethod("entropy"), CalibrationMethod::Entropy);
}

}  // namespace
}  // namespace hwnas
