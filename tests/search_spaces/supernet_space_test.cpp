// The space -> supernet bridge: every architecture of a YAML space runs on the supernet built
// from it, and the extracted standalone model equals the supernet's forward in eval mode and
// has the space's parameter count.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "search_spaces/mbconv_space.h"
#include "search_spaces/supernet.h"
#include "search_spaces/supernet_space.h"

using namespace hwnas;

namespace {

std::unique_ptr<MbconvSpace> loadMbconv(const std::string& file) {
  auto s = loadSearchSpace(std::string(HWNAS_SOURCE_DIR) + "/configs/spaces/" + file);
  auto* m = dynamic_cast<MbconvSpace*>(s.get());
  if (!m) throw Error(file + " is not an mbconv space");
  s.release();
  return std::unique_ptr<MbconvSpace>(m);
}

std::unique_ptr<MbconvSpace> parseMbconv(const std::string& text) {
  auto s = parseSearchSpace(text, "test-space");
  auto* m = dynamic_cast<MbconvSpace*>(s.get());
  if (!m) throw Error("not an mbconv space");
  s.release();
  return std::unique_ptr<MbconvSpace>(m);
}

Tensor randomInput(int64_t n, int c, int h, int w, uint64_t seed) {
  Rng rng(seed);
  Tensor t = Tensor::empty({n, c, h, w});
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = (float)rng.normal();
  return t;
}

// Moves every weight off its initial value, so kernel transformations and BN affines matter.
void perturb(Supernet& net, uint64_t seed) {
  Rng rng(seed);
  for (auto& [name, v] : net.namedParameters()) {
    Tensor& t = v.value();
    for (int64_t i = 0; i < t.numel(); ++i) t[i] += (float)(0.05 * rng.normal());
  }
}

double maxRelDiff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  double e = 0;
  for (int64_t i = 0; i < a.numel() && i < b.numel(); ++i)
    e = std::max(e, std::abs((double)a[i] - (double)b[i]) / std::max(1.0, std::abs((double)a[i])));
  return e;
}

// For each arch: the subnet resolves onto its own stages, extract() == forward() in eval mode
// to 1e-5, and the extracted model has the space's parameter count.
void checkArchs(const MbconvSpace& space, const std::vector<ArchConfig>& archs, uint64_t seed) {
  Supernet net(supernetFromSpace(space), seed);
  perturb(net, seed + 1);
  net.eval();
  for (size_t i = 0; i < archs.size(); ++i) {
    const ArchConfig& arch = archs[i];
    ModelDef sn = space.toModelDef(arch);
    SubnetPlan plan = resolveSubnet(net.def(), sn);
    EXPECT_EQ(plan.stageDepths, keptBlocksPerStage(space, arch)) << arch.canonical();
    const int c = space.inChannels();
    BnStats st = net.calibrateBatchNorm(sn, {randomInput(6, c, sn.height, sn.width, seed + 10 + i),
                                             randomInput(3, c, sn.height, sn.width, seed + 30 + i)});
    Tensor x = randomInput(2, c, sn.height, sn.width, seed + 50 + i);
    Tensor y;
    {
      NoGradGuard g;
      y = net.forward(Variable(x), sn, &st).value();
    }
    auto model = net.extract(sn, st);
    NoGradGuard g;
    Tensor ym = model->forward(Variable(x)).value();
    EXPECT_LE(maxRelDiff(y, ym), 1e-5) << "arch " << i << ": " << arch.canonical();
    EXPECT_EQ(model->numParameters(), space.cost(arch).params) << arch.canonical();
    EXPECT_EQ(model->toGraph(1).cost().macs, space.cost(arch).macs) << arch.canonical();
  }
}

}  // namespace

TEST(SupernetSpace, FmnistSmallChoicesAreTheSpaces) {
  auto space = loadMbconv("fmnist_small.yaml");
  SupernetDef d = supernetFromSpace(*space);
  ASSERT_EQ(d.stages.size(), 3u);
  EXPECT_EQ(d.resolutionChoices, (std::vector<int>{28}));
  EXPECT_EQ(d.stemOutChoices, (std::vector<int>{16}));
  EXPECT_EQ(d.headOutChoices, (std::vector<int>{256}));
  const std::vector<std::vector<int>> outs = {{16, 24}, {32, 40}, {64, 80}};
  for (int s = 0; s < 3; ++s) {
    EXPECT_EQ(d.stages[s].stride, 2);
    EXPECT_EQ(d.stages[s].depthChoices, (std::vector<int>{1, 2, 3}));
    EXPECT_EQ(d.stages[s].outChoices, outs[s]);
    EXPECT_EQ(d.stages[s].kernelChoices, (std::vector<int>{3, 5}));
    EXPECT_EQ(d.stages[s].expandChoices, (std::vector<int>{2, 4, 6}));
    EXPECT_TRUE(d.stages[s].seAllowed);
    EXPECT_EQ(d.stages[s].types, (std::vector<std::string>{"mbconv"}));
  }
  // The supernet's own largest is the space's largest network.
  SubnetSampler smp = spaceSampler(*space);
  EXPECT_EQ(subnetKey(d.largest()), subnetKey(smp.largest));
  EXPECT_EQ(subnetKey(d.smallest()), subnetKey(smp.smallest));
}

// The issue's done-when: largest, smallest and random archs of fmnist_small.
TEST(SupernetSpace, FmnistSmallExtractMatchesForward) {
  auto space = loadMbconv("fmnist_small.yaml");
  std::vector<ArchConfig> archs{space->largest(), space->smallest()};
  Rng rng(5);
  for (int i = 0; i < 5; ++i) archs.push_back(space->sample(rng));
  checkArchs(*space, archs, 100);
  EXPECT_EQ(space->cost(space->largest()).params > space->cost(space->smallest()).params, true);
}

// A space that uses every bridge feature: width multipliers (stem, stage and head widths),
// two resolutions, three block types plus skip, per-block activations, SE per block, expand 1.
TEST(SupernetSpace, EveryChoiceKindRunsOnTheSupernet) {
  auto space = parseMbconv(R"(
kind: mbconv
name: every_choice
input: {channels: 2, classes: 5}
macro:
  resolution: [12, 16]
  width: [50, 100]
  stem: {out: 16, kernel: 3, stride: 1, act: hswish}
  stages:
    - {stride: 2, blocks: 3, depth: [2, 3], out: [16, 24], type: [mbconv, fused_mbconv, skip]}
    - {stride: 1, blocks: 2, depth: [1, 2], out: [32], type: [conv, mbconv], expand: [1, 3], share: [type]}
    - {stride: 2, blocks: 2, depth: [1, 2], out: [40, 48], kernel: [3, 5, 7]}
  head: {out: 64, act: hswish}
micro:
  type: mbconv
  kernel: [3, 5]
  expand: [2, 4]
  se: [false, true]
  act: [relu, hswish]
)");
  SupernetDef d = supernetFromSpace(*space);
  EXPECT_EQ(d.stages[0].depthChoices, (std::vector<int>{1, 2, 3}));  // skip: any kept count
  EXPECT_EQ(d.stages[0].types, (std::vector<std::string>{"fused_mbconv", "mbconv"}));
  EXPECT_EQ(d.stemOutChoices, (std::vector<int>{8, 16}));
  EXPECT_EQ(d.stages[0].outChoices, (std::vector<int>{8, 16, 24}));  // 16@50 = 8, 24@50 = 16
  EXPECT_EQ(d.headOutChoices, (std::vector<int>{32, 64}));
  std::vector<ArchConfig> archs{space->largest(), space->smallest()};
  Rng rng(9);
  for (int i = 0; i < 8; ++i) archs.push_back(space->sample(rng));
  checkArchs(*space, archs, 200);
}

// The OFA MobileNetV3 space bridges too (no forward here: ImageNet-sized); samples resolve
// onto their own stages.
TEST(SupernetSpace, OfaMbv3SamplesResolve) {
  auto space = loadMbconv("ofa_mbv3.yaml");
  SupernetDef d = supernetFromSpace(*space);
  ASSERT_EQ(d.stages.size(), 6u);
  EXPECT_EQ(d.resolutionChoices.front(), 128);
  EXPECT_EQ(d.resolutionChoices.back(), 224);
  EXPECT_EQ(d.stages[3].kernelChoices, (std::vector<int>{3, 5, 7}));
  EXPECT_EQ(d.stages[3].expandChoices, (std::vector<int>{3, 4, 6}));
  Rng rng(3);
  for (int i = 0; i < 30; ++i) {
    ArchConfig a = space->sample(rng);
    EXPECT_EQ(resolveSubnet(d, space->toModelDef(a)).stageDepths, keptBlocksPerStage(*space, a));
  }
}
