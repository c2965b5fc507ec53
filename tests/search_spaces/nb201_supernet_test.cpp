// The NB201 cell supernet: extract() == forward() in eval mode for any edge assignment
// (including zero nodes and the count_include_pad=False pooling), parameter counts equal the
// space's cost, forward is pure, uniform single-path training learns a toy task and resumes
// bit-exactly.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <unistd.h>

#include "core/error.h"
#include "search_spaces/nb201_supernet.h"
#include "trainer/training.h"

using namespace hwnas;

namespace {

// A small NB201 network: 1x12x12 inputs, 4 classes, C = 4, one cell per stage.
Nb201Space smallSpace() {
  return Nb201Space(YamlNode::loadString(
      "kind: nb201\nname: nb201_tiny\ninput: {channels: 1, classes: 4, resolution: 12}\ncell: {channels: 4, cells_per_stage: 1}\n",
      "tiny.yaml"));
}

Tensor randomInput(int64_t n, int h, uint64_t seed) {
  Rng rng(seed);
  Tensor t = Tensor::empty({n, 1, h, h});
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = (float)rng.normal();
  return t;
}

void perturb(nn::Module& net, uint64_t seed) {
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

bool stateEqual(const std::map<std::string, Tensor>& a, const std::map<std::string, Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [n, t] : a) {
    auto it = b.find(n);
    if (it == b.end() || it->second.shape() != t.shape() ||
        std::memcmp(t.data(), it->second.data(), sizeof(float) * t.numel()) != 0)
      return false;
  }
  return true;
}

std::map<std::string, Tensor> cloneState(const nn::Module& m) {
  std::map<std::string, Tensor> s;
  for (auto& [n, t] : stateDict(m)) s[n] = t.clone();
  return s;
}

// Class c: a bright 3x3 patch in quadrant c of a noisy 12x12 image.
ImageDataset toyData(int64_t n, uint64_t seed) {
  ImageDataset d;
  d.name = "toy";
  d.n = n;
  d.channels = 1;
  d.height = d.width = 12;
  d.numClasses = 4;
  Rng rng(seed);
  d.images.resize((size_t)n * 144);
  d.labels.resize((size_t)n);
  for (int64_t i = 0; i < n; ++i) {
    const int c = (int)rng.uniformInt(4);
    d.labels[i] = c;
    uint8_t* img = d.images.data() + i * 144;
    for (int p = 0; p < 144; ++p) img[p] = (uint8_t)rng.uniformInt(80);
    const int oy = (c / 2) * 6 + 1, ox = (c % 2) * 6 + 1;
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 3; ++x) img[(oy + y) * 12 + ox + x] = (uint8_t)(180 + rng.uniformInt(70));
  }
  return d;
}

DataSplits toySplits() {
  DataSplits s;
  s.train = toyData(128, 1);
  s.val = toyData(64, 2);
  s.test = toyData(64, 3);
  s.mean = {0.3f};
  s.std = {0.3f};
  return s;
}

}  // namespace

TEST(Nb201Supernet, ExtractMatchesForwardAndParamsMatchSpace) {
  Nb201Space space = smallSpace();
  Nb201Supernet net(space, 3);
  perturb(net, 4);
  net.eval();
  std::vector<ArchConfig> archs{space.largest(), space.smallest(),
                                Nb201Space::fromArchStr("|avg_pool_3x3~0|+|none~0|skip_connect~1|+|nor_conv_1x1~0|none~1|avg_pool_3x3~2|"),
                                // node 1 is zero (only `none` in): the 3x3 conv reading it still runs
                                Nb201Space::fromArchStr("|none~0|+|skip_connect~0|nor_conv_3x3~1|+|none~0|nor_conv_1x1~1|none~2|")};
  Rng rng(5);
  for (int i = 0; i < 6; ++i) archs.push_back(space.sample(rng));
  for (size_t i = 0; i < archs.size(); ++i) {
    const ArchConfig& a = archs[i];
    BnStats st = net.calibrateBatchNorm(a, {randomInput(6, 12, 10 + i), randomInput(4, 12, 20 + i)});
    EXPECT_EQ(st.images, 10);
    Tensor x = randomInput(3, 12, 30 + i);
    Tensor y;
    {
      NoGradGuard g;
      y = net.forward(Variable(x), a, &st).value();
    }
    auto model = net.extract(a, st);
    EXPECT_EQ(model->numParameters(), space.cost(a).params) << Nb201Space::archStr(a);
    NoGradGuard g;
    EXPECT_LE(maxRelDiff(y, model->forward(Variable(x)).value()), 1e-5) << Nb201Space::archStr(a);
  }
}

// count_include_pad=False: pooling a constant feature map leaves it constant, borders and
// corners included, so a pool edge acts as a skip edge on it (with padding counted, the
// border would shrink, e.g. a corner to 4/9 of the value).
TEST(Nb201Supernet, PoolingIgnoresPadding) {
  Nb201Shape s;
  s.inChannels = 1;
  s.numClasses = 2;
  s.resolution = 8;
  s.channels = 2;
  s.cellsPerStage = 1;
  ArchConfig poolOnly = Nb201Space::fromArchStr("|avg_pool_3x3~0|+|none~0|none~1|+|none~0|skip_connect~1|none~2|");
  ArchConfig skipOnly = Nb201Space::fromArchStr("|skip_connect~0|+|none~0|none~1|+|none~0|skip_connect~1|none~2|");
  Nb201Model mp(s, poolOnly, 2), ms(s, skipOnly, 2);  // same parameters: neither has a conv edge
  for (Nb201Model* m : {&mp, &ms}) {
    m->eval();
    // Every feature map becomes constant: all conv weights 0, all BN biases 0.7 (the stem and
    // the reduction cells then output constants, whatever the input).
    for (auto& [n, v] : m->namedParameters()) {
      Tensor& t = v.value();
      const bool convW = n.size() > 11 && n.compare(n.size() - 11, 11, "conv.weight") == 0;
      const bool bnBias = n.size() > 7 && n.compare(n.size() - 7, 7, "bn.bias") == 0 && n != "lastact.bn.bias";
      if (convW || bnBias)
        for (int64_t i = 0; i < t.numel(); ++i) t[i] = bnBias ? 0.7f : 0.f;
    }
  }
  Tensor x = randomInput(2, 8, 1);
  NoGradGuard g;
  EXPECT_LE(maxRelDiff(mp.forward(Variable(x)).value(), ms.forward(Variable(x)).value()), 1e-6);
}

TEST(Nb201Supernet, ForwardIsPureAndNeedsItsStats) {
  Nb201Space space = smallSpace();
  Nb201Supernet net(space, 7);
  perturb(net, 8);
  const auto before = cloneState(net);
  Rng rng(9);
  ArchConfig a = space.sample(rng), b = space.largest();
  BnStats sa = net.calibrateBatchNorm(a, {randomInput(4, 12, 1)});
  net.forward(Variable(randomInput(4, 12, 2)), a, nullptr);  // training mode
  EXPECT_TRUE(stateEqual(before, cloneState(net)));
  net.eval();
  NoGradGuard g;
  EXPECT_THROW(net.forward(Variable(randomInput(2, 12, 3)), b, &sa), InputError);
  EXPECT_THROW(net.forward(Variable(randomInput(2, 12, 3)), a, nullptr), InputError);
  EXPECT_THROW(net.forward(Variable(randomInput(2, 10, 3)), a, &sa), ShapeError);
}

TEST(Nb201Supernet, UniformTrainingLearnsAndResumesExactly) {
  Nb201Space space = smallSpace();
  DataSplits data = toySplits();
  SupernetTrainOptions o;
  o.method = "uniform";
  o.randomSubnets = 1;
  o.base.epochs = 15;
  o.base.batchSize = 32;
  o.base.lr = 0.1;
  o.base.seed = 3;
  Nb201Supernet net(space, 11);
  auto r = trainSupernet(net, data, o, nb201Sampler(), "", false);
  ASSERT_EQ(r.curve.size(), 15u);
  EXPECT_LT(r.curve.back().largestLoss, 0.8 * r.curve.front().largestLoss);
  EXPECT_GT(evaluateSubnet(net, space.largest(), data, 128, 64, 0).valAccuracy, 0.5);

  o.base.epochs = 2;
  Nb201Supernet straight(space, 12);
  trainSupernet(straight, data, o, nb201Sampler(), "", false);
  const auto dir = (std::filesystem::temp_directory_path() /
                    ("hwnas-nb201sn-" + std::to_string(::getpid()) + "-" +
                     std::to_string(std::chrono::steady_clock::now().time_since_epoch().count())))
                       .string();
  Nb201Supernet split(space, 12);
  SupernetTrainOptions first = o;
  first.base.maxSteps = 5;
  trainSupernet(split, data, first, nb201Sampler(), dir, false);
  Nb201Supernet resumed(space, 99);
  trainSupernet(resumed, data, o, nb201Sampler(), dir, true);
  EXPECT_TRUE(stateEqual(cloneState(straight), cloneState(resumed)));
  std::filesystem::remove_all(dir);

  o.method = "sandwich";
  EXPECT_THROW(trainSupernet(net, data, o, nb201Sampler(), "", false), InputError);
}
