#include <gtest/gtest.h>
#include <tbb/global_control.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <thread>
#include <chrono>
#include <unistd.h>

#include "core/error.h"
#include "core/fs_util.h"
#include "search_spaces/supernet.h"
#include "search_spaces/supernet_train.h"
#include "trainer/ops_slice.h"
#include "trainer/safetensors.h"

using namespace hwnas;

namespace {

// A small space that exercises every elastic dimension: kernel {3,5,7} with SE, two block
// types with expand 1 allowed, a plain-conv stage, elastic stem/head widths and resolution.
SupernetDef tinyDef() {
  SupernetDef d;
  d.name = "tiny";
  d.inChannels = 1;
  d.numClasses = 4;
  d.resolutionChoices = {12, 16};
  d.stemOutChoices = {8, 12};
  SupernetStage s0;
  s0.types = {"mbconv"};
  s0.stride = 2;
  s0.depthChoices = {1, 2};
  s0.outChoices = {8, 16};
  s0.kernelChoices = {3, 5, 7};
  s0.expandChoices = {2, 3, 4};
  s0.seAllowed = true;
  s0.act = ops::Act::HardSwish;
  SupernetStage s1;
  s1.types = {"mbconv", "fused_mbconv"};
  s1.stride = 1;
  s1.depthChoices = {1, 2};
  s1.outChoices = {16, 24};
  s1.kernelChoices = {3, 5};
  s1.expandChoices = {1, 2};
  SupernetStage s2;
  s2.types = {"conv"};
  s2.stride = 2;
  s2.depthChoices = {1};
  s2.outChoices = {16, 32};
  s2.kernelChoices = {3};
  d.stages = {s0, s1, s2};
  d.headOutChoices = {32, 48};
  d.normalize();
  return d;
}

Tensor randomInput(int64_t n, int h, int w, uint64_t seed) {
  Rng rng(seed);
  Tensor t = Tensor::empty({n, 1, h, w});
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = (float)rng.normal();
  return t;
}

// Moves every weight away from its initial value (transforms off identity, BN affine off 1/0)
// so the equality tests see non-trivial kernel transformations and BN.
void perturb(Supernet& net, uint64_t seed) {
  Rng rng(seed);
  for (auto& [name, v] : net.namedParameters()) {
    Tensor& t = v.value();
    for (int64_t i = 0; i < t.numel(); ++i) t[i] += (float)(0.1 * rng.normal());
  }
}

double maxRelDiff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  double e = 0;
  for (int64_t i = 0; i < a.numel() && i < b.numel(); ++i)
    e = std::max(e, std::abs((double)a[i] - (double)b[i]) / std::max(1.0, std::abs((double)a[i])));
  return e;
}

bool bitEqual(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), sizeof(float) * a.numel()) == 0;
}

bool stateEqual(const std::map<std::string, Tensor>& a, const std::map<std::string, Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [n, t] : a) {
    auto it = b.find(n);
    if (it == b.end() || !bitEqual(t, it->second)) return false;
  }
  return true;
}

std::map<std::string, Tensor> cloneState(const nn::Module& m) {
  std::map<std::string, Tensor> s;
  for (auto& [n, t] : stateDict(m)) s[n] = t.clone();
  return s;
}

Variable evalForward(const Supernet& net, const Tensor& x, const ModelDef& sn, const BnStats& st) {
  NoGradGuard g;
  return net.forward(Variable(x), sn, &st);
}

// A learnable toy task: class c has a bright 4x4 patch in quadrant c of a noisy 16x16 image.
ImageDataset toyData(int64_t n, uint64_t seed, const std::string& name) {
  ImageDataset d;
  d.name = name;
  d.n = n;
  d.channels = 1;
  d.height = d.width = 16;
  d.numClasses = 4;
  Rng rng(seed);
  d.images.resize((size_t)n * 256);
  d.labels.resize((size_t)n);
  for (int64_t i = 0; i < n; ++i) {
    const int c = (int)rng.uniformInt(4);
    d.labels[i] = c;
    uint8_t* img = d.images.data() + i * 256;
    for (int p = 0; p < 256; ++p) img[p] = (uint8_t)rng.uniformInt(80);
    const int oy = (c / 2) * 8 + 2, ox = (c % 2) * 8 + 2;
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 4; ++x) img[(oy + y) * 16 + ox + x] = (uint8_t)(180 + rng.uniformInt(70));
  }
  return d;
}

DataSplits toySplits() {
  DataSplits s;
  s.train = toyData(128, 1, "toy/train");
  s.val = toyData(64, 2, "toy/val");
  s.test = toyData(64, 3, "toy/test");
  s.mean = {0.3f};
  s.std = {0.3f};
  return s;
}

SupernetTrainOptions toyOptions() {
  SupernetTrainOptions o;
  o.base.epochs = 2;
  o.base.batchSize = 32;
  o.base.lr = 0.05;
  o.base.seed = 7;
  o.randomSubnets = 1;
  return o;
}

std::string freshDir(const std::string& tag) {
  auto p = std::filesystem::temp_directory_path() /
           ("hwnas-supernet-" + tag + "-" + std::to_string(::getpid()) + "-" +
            std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  std::filesystem::create_directories(p);
  return p.string();
}

}  // namespace

TEST(SupernetDef, LargestSmallestAndSamplesResolve) {
  SupernetDef d = tinyDef();
  ModelDef big = d.largest(), small = d.smallest();
  EXPECT_EQ(big.blocks.size(), 5u);
  EXPECT_EQ(small.blocks.size(), 3u);
  EXPECT_EQ(big.blocks[0].kernel, 7);
  EXPECT_EQ(big.blocks[0].expand, 4);
  EXPECT_EQ(small.blocks[0].kernel, 3);
  SubnetPlan p = resolveSubnet(d, big);
  EXPECT_EQ(p.stageDepths, (std::vector<int>{2, 2, 1}));
  EXPECT_EQ(p.blocks[2].cin, 16);
  Rng rng(3);
  for (int i = 0; i < 50; ++i) EXPECT_NO_THROW(resolveSubnet(d, d.sample(rng)));
}

TEST(SupernetDef, MismatchedSubnetsAreInputErrors) {
  SupernetDef d = tinyDef();
  ModelDef m = d.largest();
  m.blocks[0].kernel = 9;
  EXPECT_THROW(resolveSubnet(d, m), InputError);
  m = d.largest();
  m.stemOut = 10;
  EXPECT_THROW(resolveSubnet(d, m), InputError);
  m = d.largest();
  m.blocks.push_back(m.blocks.back());
  EXPECT_THROW(resolveSubnet(d, m), InputError);
  m = d.largest();
  m.blocks[1].stride = 2;
  try {
    resolveSubnet(d, m);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("block 1"), std::string::npos) << e.what();
  }
}

TEST(SupernetDef, FromRefnetSplitsStages) {
  ModelDef ref = loadModelDef(std::string(HWNAS_SOURCE_DIR) + "/configs/models/refnet.yaml");
  ElasticChoices c;
  c.kernels = {3, 5};
  c.expands = {2, 3, 4};
  c.depthReductions = {0, 1};
  c.widthMults = {0.5, 1.0};
  SupernetDef d = supernetFromModel(ref, c);
  ASSERT_EQ(d.stages.size(), 3u);
  EXPECT_EQ(d.stages[0].outChoices, (std::vector<int>{16, 24}));
  EXPECT_EQ(d.stages[2].depthChoices, (std::vector<int>{1, 2}));
  EXPECT_EQ(d.headOutChoices, (std::vector<int>{128, 256}));
  EXPECT_NO_THROW(resolveSubnet(d, ref));  // the model itself is one of the subnets
}

// extract(cfg, stats) in eval mode == forward(x, cfg, stats) in eval mode, to 1e-5 (relative
// where |y| > 1): largest, smallest and 3 random subnets (random types, SE, resolution, widths).
TEST(Supernet, ExtractMatchesForward) {
  Supernet net(tinyDef(), 11);
  perturb(net, 12);
  net.eval();
  std::vector<ModelDef> subnets{net.largest(), net.smallest()};
  Rng rng(13);
  for (int i = 0; i < 3; ++i) subnets.push_back(net.def().sample(rng));
  for (size_t i = 0; i < subnets.size(); ++i) {
    const ModelDef& sn = subnets[i];
    std::vector<Tensor> calib{randomInput(8, sn.height, sn.width, 20 + i), randomInput(5, sn.height, sn.width, 40 + i)};
    BnStats st = net.calibrateBatchNorm(sn, calib);
    EXPECT_EQ(st.images, 13);
    Tensor x = randomInput(3, sn.height, sn.width, 60 + i);
    Variable y = evalForward(net, x, sn, st);
    auto model = net.extract(sn, st);
    NoGradGuard g;
    Variable ym = model->forward(Variable(x));
    EXPECT_LE(maxRelDiff(y.value(), ym.value()), 1e-5) << "subnet " << i << "\n" << sn.toYaml();
    // And with gradients on (the unfolded BN path of both).
    {
      Variable xv(x, true);
      Variable y2 = net.forward(xv, sn, &st);
      EXPECT_LE(maxRelDiff(y.value(), y2.value()), 1e-5);
    }

    // Saved as model.yaml + model.safetensors, reloaded the way nas-train does.
    const std::string dir = freshDir("extract");
    saveSubnetModel(dir, *model);
    ModelDef back = loadModelDef(dir + "/model.yaml");
    auto reloaded = buildModel(back, 99);
    loadStateDict(*reloaded, loadSafetensors(dir + "/model.safetensors").tensors, dir);
    reloaded->eval();
    EXPECT_LE(maxRelDiff(y.value(), reloaded->forward(Variable(x)).value()), 1e-5);
    std::filesystem::remove_all(dir);
  }
}

// forward is a pure function: interleaving subnets, running them on two threads at once, and
// calibrating never changes outputs or any shared tensor.
TEST(Supernet, ForwardIsPure) {
  Supernet net(tinyDef(), 21);
  perturb(net, 22);
  const auto before = cloneState(net);
  Rng rng(23);
  ModelDef a = net.def().sample(rng), b = net.def().sample(rng);
  b.height = b.width = a.height;  // one input for both
  Tensor x = randomInput(4, a.height, a.width, 24);
  BnStats sa = net.calibrateBatchNorm(a, {randomInput(6, a.height, a.width, 25)});
  BnStats sb = net.calibrateBatchNorm(b, {randomInput(6, b.height, b.width, 26)});
  EXPECT_TRUE(stateEqual(before, cloneState(net))) << "calibration wrote shared state";

  // Training mode (batch statistics) writes nothing either.
  Variable ta = net.forward(Variable(x), a, nullptr);
  EXPECT_TRUE(stateEqual(before, cloneState(net))) << "a training-mode forward wrote shared state";

  net.eval();
  Tensor ya = evalForward(net, x, a, sa).value(), yb = evalForward(net, x, b, sb).value();
  Tensor ya2 = evalForward(net, x, a, sa).value();
  Tensor yb2 = evalForward(net, x, b, sb).value();
  EXPECT_TRUE(bitEqual(ya, ya2));
  EXPECT_TRUE(bitEqual(yb, yb2));
  EXPECT_FALSE(bitEqual(ya, yb));

  Tensor ca, cb;
  std::thread t1([&] { ca = evalForward(net, x, a, sa).value(); });
  std::thread t2([&] { cb = evalForward(net, x, b, sb).value(); });
  t1.join();
  t2.join();
  EXPECT_TRUE(bitEqual(ya, ca));
  EXPECT_TRUE(bitEqual(yb, cb));
  EXPECT_TRUE(stateEqual(before, cloneState(net)));

  // Stats of another subnet, or none, are refused in eval mode.
  EXPECT_THROW(evalForward(net, x, a, sb), InputError);
  NoGradGuard g;
  EXPECT_THROW(net.forward(Variable(x), a, nullptr), InputError);
}

// Calibrated statistics are the batch-size weighted average of per-batch mean and biased variance.
TEST(Supernet, CalibrationAveragesBatchStatistics) {
  Supernet net(tinyDef(), 31);
  ModelDef sn = net.smallest();
  Tensor b1 = randomInput(4, sn.height, sn.width, 32), b2 = randomInput(2, sn.height, sn.width, 33);
  // Stem BN sees conv(x): compute it by hand from the stem weights.
  BnStats st = net.calibrateBatchNorm(sn, {b1, b2});
  const auto& stem = st.layers.at("stem.bn");
  ASSERT_EQ(stem.mean.numel(), sn.stemOut);
  Variable w = ops::sliceLeading(net.namedParameters()[0].second, {sn.stemOut, 1, 3, 3});
  ops::Conv2dParams p;
  p.padH = p.padW = 1;
  NoGradGuard g;
  double expMean = 0, expVar = 0;
  for (const Tensor* b : {&b1, &b2}) {
    Tensor y = ops::conv2d(Variable(*b), w, Variable(), p).value();
    const int64_t hw = y.size(2) * y.size(3), n = y.size(0), c = y.size(1);
    double s = 0, v = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < hw; ++k) s += y[(i * c + 0) * hw + k];
    const double m = s / (double)(n * hw);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < hw; ++k) v += std::pow(y[(i * c + 0) * hw + k] - m, 2);
    expMean += m * n / 6.0;
    expVar += v / (double)(n * hw) * n / 6.0;
  }
  EXPECT_NEAR(stem.mean[0], expMean, 1e-5);
  EXPECT_NEAR(stem.var[0], expVar, 1e-5);
}

// The kernel transformation (7 -> 5 -> 3: centre crop, then a learned k^2 x k^2 map per layer):
// forward and gradients against an f64 reference, gradients checked by central differences.
TEST(Supernet, KernelTransformGradient) {
  Rng init(41);
  elastic::ElasticConvBn conv(3, 2, {3, 5, 7}, false, init);
  // Off-identity transforms so both maps matter.
  for (auto& t : conv.transforms)
    for (int64_t i = 0; i < t.value().numel(); ++i) t.value()[i] += (float)(0.2 * init.normal());
  const int out = 2, in = 2;  // leading channels of a 3->2 conv... in 2 of 3
  using Vec = std::vector<double>;
  auto toVec = [](const Tensor& t) { return Vec(t.data(), t.data() + t.numel()); };
  // f64 reference: W7 [2,3,7,7], M75 [25,25], M53 [9,9] -> W3 [out,in,3,3].
  auto ref = [&](const std::vector<Vec>& a) {
    const Vec &w7 = a[0], &m75 = a[1], &m53 = a[2];
    Vec w5((size_t)out * in * 25), w3((size_t)out * in * 9);
    for (int o = 0; o < out; ++o)
      for (int c = 0; c < in; ++c) {
        Vec crop(25);
        for (int y = 0; y < 5; ++y)
          for (int x = 0; x < 5; ++x) crop[y * 5 + x] = w7[((o * 3 + c) * 7 + y + 1) * 7 + x + 1];
        for (int r = 0; r < 25; ++r) {
          double s = 0;
          for (int k = 0; k < 25; ++k) s += crop[k] * m75[r * 25 + k];
          w5[(o * in + c) * 25 + r] = s;
        }
        Vec crop3(9);
        for (int y = 0; y < 3; ++y)
          for (int x = 0; x < 3; ++x) crop3[y * 3 + x] = w5[(o * in + c) * 25 + (y + 1) * 5 + x + 1];
        for (int r = 0; r < 9; ++r) {
          double s = 0;
          for (int k = 0; k < 9; ++k) s += crop3[k] * m53[r * 9 + k];
          w3[(o * in + c) * 9 + r] = s;
        }
      }
    return w3;
  };
  // transforms[0] maps 5 -> 3, transforms[1] maps 7 -> 5.
  std::vector<Vec> inputs{toVec(conv.weight.value()), toVec(conv.transforms[1].value()), toVec(conv.transforms[0].value())};
  Variable w3 = conv.effectiveWeight(in, out, 3);
  ASSERT_EQ(w3.shape(), (Shape{out, in, 3, 3}));
  Vec expect = ref(inputs);
  for (size_t i = 0; i < expect.size(); ++i) EXPECT_NEAR(w3.value()[i], expect[i], 1e-5);

  Rng rg(42);
  Vec gy(expect.size());
  for (auto& v : gy) v = rg.uniform(-1, 1);
  Tensor seed = Tensor::empty(w3.shape());
  for (size_t i = 0; i < gy.size(); ++i) seed[i] = (float)gy[i];
  w3.backward(seed);
  const Variable* params[3] = {&conv.weight, &conv.transforms[1], &conv.transforms[0]};
  for (int which = 0; which < 3; ++which) {
    Vec num((size_t)params[which]->value().numel());
    {
      std::vector<Vec> a = inputs;
      const double eps = 1e-6;
      for (size_t i = 0; i < num.size(); ++i) {
        const double orig = a[which][i];
        a[which][i] = orig + eps;
        Vec yp = ref(a);
        a[which][i] = orig - eps;
        Vec ym = ref(a);
        a[which][i] = orig;
        double s = 0;
        for (size_t k = 0; k < yp.size(); ++k) s += gy[k] * (yp[k] - ym[k]);
        num[i] = s / (2 * eps);
      }
    }
    const Tensor& g = params[which]->grad();
    ASSERT_TRUE(g.defined()) << which;
    double err = 0;
    for (size_t i = 0; i < num.size(); ++i)
      err = std::max(err, std::abs(g[i] - num[i]) / std::max(1.0, std::abs(num[i])));
    EXPECT_LE(err, 1e-4) << "parameter " << which;
  }
  // The third input channel and everything outside the 5x5 centre get no gradient.
  EXPECT_EQ(conv.weight.grad()[(0 * 3 + 2) * 49 + 24], 0.f);
  EXPECT_EQ(conv.weight.grad()[(0 * 3 + 0) * 49 + 0], 0.f);
}

// Sorting hidden channels by importance keeps the largest subnet's function (a permutation).
TEST(Supernet, SortChannelsKeepsLargestFunction) {
  Supernet net(tinyDef(), 51);
  perturb(net, 52);
  net.eval();
  ModelDef big = net.largest();
  BnStats st = net.calibrateBatchNorm(big, {randomInput(8, 16, 16, 53)});
  Tensor x = randomInput(2, 16, 16, 54);
  Tensor y = evalForward(net, x, big, st).value();
  const auto before = cloneState(net);
  net.sortChannelsByImportance();
  EXPECT_FALSE(stateEqual(before, cloneState(net)));
  BnStats st2 = net.calibrateBatchNorm(big, {randomInput(8, 16, 16, 53)});
  EXPECT_LE(maxRelDiff(y, evalForward(net, x, big, st2).value()), 1e-4);
  // The first stage's projection now reads its most important hidden channels first.
  for (auto& [n, v] : net.namedParameters())
    if (n == "stages.0.blocks.0.project.conv.weight") {
      const Tensor& w = v.value();
      const int64_t out = w.size(0), hidden = w.size(1);
      auto l1 = [&](int64_t c) {
        double s = 0;
        for (int64_t o = 0; o < out; ++o) s += std::abs(w[o * hidden + c]);
        return s;
      };
      for (int64_t c = 0; c + 1 < hidden; ++c) EXPECT_GE(l1(c), l1(c + 1));
    }
}

// A few sandwich steps on a learnable toy task lower the largest's and the others' loss, and
// the inherited accuracy after calibration beats chance.
TEST(SupernetTraining, SandwichLowersLoss) {
  Supernet net(tinyDef(), 61);
  DataSplits data = toySplits();
  SupernetTrainOptions o = toyOptions();
  o.base.epochs = 6;
  auto r = trainSupernet(net, data, o, defaultSampler(net.def()), "", false);
  ASSERT_EQ(r.curve.size(), 6u);
  EXPECT_LT(r.curve.back().largestLoss, 0.7 * r.curve.front().largestLoss);
  EXPECT_LT(r.curve.back().othersLoss, r.curve.front().othersLoss);
  SubnetEvaluation ev = evaluateSubnet(net, net.largest(), data, 128, 64, 0);
  EXPECT_GT(ev.valAccuracy, 0.5);

  // Saved and loaded into a fresh supernet: the same inherited accuracy.
  const std::string dir = freshDir("weights");
  saveSupernetWeights(dir + "/supernet.safetensors", net);
  Supernet back(tinyDef(), 1234);
  loadSupernetWeights(dir + "/supernet.safetensors", back);
  EXPECT_TRUE(stateEqual(cloneState(net), cloneState(back)));
  EXPECT_EQ(evaluateSubnet(back, back.largest(), data, 128, 64, 0).valAccuracy, ev.valAccuracy);
  std::filesystem::remove_all(dir);
}

// Single-path one-shot (uniform): N random subnets per step, cross-entropy each, no teacher.
TEST(SupernetTraining, UniformLowersLoss) {
  Supernet net(tinyDef(), 63);
  DataSplits data = toySplits();
  SupernetTrainOptions o = toyOptions();
  o.method = "uniform";
  o.randomSubnets = 2;
  o.base.epochs = 5;
  auto r = trainSupernet(net, data, o, defaultSampler(net.def()), "", false);
  ASSERT_EQ(r.curve.size(), 5u);
  EXPECT_EQ(r.curve[0].phase, "uniform");
  EXPECT_LT(r.curve.back().largestLoss, 0.8 * r.curve.front().largestLoss);
  EXPECT_LT(r.curve.back().othersLoss, r.curve.front().othersLoss);
  o.randomSubnets = 0;
  EXPECT_THROW(trainSupernet(net, data, o, defaultSampler(net.def()), "", false), InputError);
}

TEST(SupernetTraining, ProgressiveShrinkingRuns) {
  Supernet net(tinyDef(), 62);
  DataSplits data = toySplits();
  SupernetTrainOptions o = toyOptions();
  o.method = "progressive";
  o.base.epochs = 4;
  auto r = trainSupernet(net, data, o, defaultSampler(net.def()), "", false);
  ASSERT_EQ(r.curve.size(), 4u);
  EXPECT_EQ(r.curve[0].phase, "largest");
  EXPECT_EQ(r.curve[3].phase, "expand");
  EXPECT_LT(r.curve.back().largestLoss, r.curve.front().largestLoss);
}

// A run stopped (mid-epoch, or at a phase boundary where channels get sorted) and resumed
// ends bit-identical to a straight run.
TEST(SupernetTraining, ResumeIsExact) {
  DataSplits data = toySplits();
  for (const std::string method : {"sandwich", "progressive"}) {
    SupernetTrainOptions o = toyOptions();
    o.method = method;
    o.base.epochs = method == "sandwich" ? 2 : 4;
    Supernet straight(tinyDef(), 71);
    trainSupernet(straight, data, o, defaultSampler(straight.def()), "", false);
    const auto want = cloneState(straight);
    for (int64_t stopAt : {3, 12}) {
      if (method == "sandwich" && stopAt > 6) continue;
      const std::string dir = freshDir("resume");
      Supernet split(tinyDef(), 71);
      SupernetTrainOptions first = o;
      first.base.maxSteps = stopAt;
      trainSupernet(split, data, first, defaultSampler(split.def()), dir, false);
      Supernet resumed(tinyDef(), 999);  // other init: everything must come from the checkpoint
      trainSupernet(resumed, data, o, defaultSampler(resumed.def()), dir, true);
      EXPECT_TRUE(stateEqual(want, cloneState(resumed))) << method << " stopped at step " << stopAt;
      std::filesystem::remove_all(dir);
    }
  }
}

TEST(SupernetTraining, SameResultAtOneAndTwoThreads) {
  DataSplits data = toySplits();
  SupernetTrainOptions o = toyOptions();
  o.base.maxSteps = 3;
  std::map<std::string, Tensor> states[2];
  for (int threads : {1, 2}) {
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, threads);
    Supernet net(tinyDef(), 81);
    trainSupernet(net, data, o, defaultSampler(net.def()), "", false);
    states[threads - 1] = cloneState(net);
  }
  EXPECT_TRUE(stateEqual(states[0], states[1]));
}

TEST(SupernetTraining, BadOptionsAreInputErrors) {
  Supernet net(tinyDef(), 91);
  DataSplits data = toySplits();
  SupernetTrainOptions o = toyOptions();
  o.method = "shrink";
  EXPECT_THROW(trainSupernet(net, data, o, defaultSampler(net.def()), "", false), InputError);
  o = toyOptions();
  o.method = "progressive";
  o.phases = {{"width", 1}};
  EXPECT_THROW(trainSupernet(net, data, o, defaultSampler(net.def()), "", false), InputError);
  o = toyOptions();
  SubnetSampler bad = defaultSampler(net.def());
  bad.largest.blocks[0].kernel = 9;
  EXPECT_THROW(trainSupernet(net, data, o, bad, "", false), InputError);
}
