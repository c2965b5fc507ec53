// Low-rank decomposition: full rank reproduces outputs (1e-4), exactly low-rank weights are
// found at their rank with the MACs by hand, a MAC-reduction target is met, depthwise skipped.
#include <gtest/gtest.h>

#include "core/error.h"
#include "exporter/lowrank.h"
#include "tests/exporter/compress_test_util.h"

namespace hwnas {
namespace {

Graph svdGraph() {
  Graph g;
  int x = g.addInput("x", {1, 6, 5, 5});
  int c = g.addAct("a", g.addBatchNorm("bn", g.addConv2d("pw", x, 10, 1, 2, 0, 1, true)), ActKind::Relu6);
  int d = g.addDepthwiseConv2d("dw", c, 3);
  g.addLinear("fc", g.addFlatten("f", g.addGlobalAvgPool("gap", d)), 7, true);
  return g;
}

Graph tuckerGraph() {
  Graph g;
  int x = g.addInput("x", {1, 16, 8, 8});
  int c = g.addAct("a", g.addBatchNorm("bn", g.addConv2d("conv", x, 16, 3, 1, 1, 1, true)), ActKind::Relu);
  g.addConv2d("conv2", c, 12, 3, 2, 1, 1, false);
  return g;
}

TEST(LowRank, SvdAtFullRankReproducesOutputs) {
  ExportModel m;
  m.graph = svdGraph();
  m.weights = ctest::randomWeights(m.graph, 2);
  LowRankOptions o;
  o.energy = 1.0;
  o.onlyIfFewerMacs = false;
  LowRankResult r = decomposeLowRank(m, o);
  ASSERT_EQ(r.layers.size(), 2u);  // pw and fc; dw skipped
  EXPECT_EQ(r.layers[0].node, "pw");
  EXPECT_EQ(r.layers[0].rank, 6);
  EXPECT_GE(r.model.graph.findNode("pw_lr"), 0);
  EXPECT_EQ(r.model.graph.node(r.model.graph.findNode("pw_lr")).attrs.strideH, 2);
  const auto x = ctest::randomInput(m.graph, 8);
  EXPECT_LT(ctest::maxAbsDiff(ctest::runModel(m.graph, m.weights, x), ctest::runModel(r.model.graph, r.model.weights, x)), 1e-4);
}

TEST(LowRank, TuckerAtFullRankReproducesOutputs) {
  ExportModel m;
  m.graph = tuckerGraph();
  m.weights = ctest::randomWeights(m.graph, 5);
  LowRankOptions o;
  o.method = "tucker2";
  o.energy = 1.0;
  o.onlyIfFewerMacs = false;
  LowRankResult r = decomposeLowRank(m, o);
  ASSERT_EQ(r.layers.size(), 2u);
  const auto x = ctest::randomInput(m.graph, 8);
  EXPECT_LT(ctest::maxAbsDiff(ctest::runModel(m.graph, m.weights, x), ctest::runModel(r.model.graph, r.model.weights, x)), 1e-4);
}

TEST(LowRank, ExactlyLowRankWeightsGiveTheirRankAndMacsByHand) {
  ExportModel m;
  m.graph = tuckerGraph();
  m.weights = ctest::randomWeights(m.graph, 5);
  // conv.weight = U0 x G x U1 with ranks (4, 4): random core, random factors
  Rng rng(1);
  std::vector<double> u0(16 * 4), u1(16 * 4), core(4 * 4 * 9);
  for (double& v : u0) v = rng.uniform(-1, 1);
  for (double& v : u1) v = rng.uniform(-1, 1);
  for (double& v : core) v = rng.uniform(-1, 1);
  auto& w = m.weights.at("conv.weight").values;
  for (int o = 0; o < 16; ++o)
    for (int c = 0; c < 16; ++c)
      for (int t = 0; t < 9; ++t) {
        double acc = 0;
        for (int a = 0; a < 4; ++a)
          for (int b = 0; b < 4; ++b) acc += u0[size_t(o * 4 + a)] * core[size_t((a * 4 + b) * 9 + t)] * u1[size_t(c * 4 + b)];
        w[size_t((o * 16 + c) * 9 + t)] = float(acc * 0.1);
      }
  LowRankOptions o;
  o.method = "tucker2";
  o.energy = 0.99999;
  o.skip = {"conv2"};
  LowRankResult r = decomposeLowRank(m, o);
  ASSERT_EQ(r.layers.size(), 1u);
  EXPECT_EQ(r.layers[0].rank, 4);
  EXPECT_EQ(r.layers[0].rank2, 4);
  // 1x1 16->4 at 8x8, 3x3 4->4 at 8x8, 1x1 4->16 at 8x8
  const int64_t convMacs = 64 * 4 * 16 + 64 * 4 * 4 * 9 + 64 * 16 * 4;
  EXPECT_EQ(r.layers[0].macsAfter, convMacs);
  EXPECT_EQ(r.model.graph.cost().macs, convMacs + 16 * 12 * 16 * 9);
  const auto x = ctest::randomInput(m.graph, 8);
  EXPECT_LT(ctest::maxAbsDiff(ctest::runModel(m.graph, m.weights, x), ctest::runModel(r.model.graph, r.model.weights, x)), 1e-4);
}

TEST(LowRank, MacReductionTargetIsMet) {
  ExportModel m;
  m.graph = tuckerGraph();
  m.weights = ctest::randomWeights(m.graph, 6);
  LowRankOptions o;
  o.method = "tucker2";
  o.macReduction = 2.0;
  LowRankResult r = decomposeLowRank(m, o);
  EXPECT_GE(double(m.graph.cost().macs) / double(r.model.graph.cost().macs), 2.0);
  EXPECT_GT(r.energy, 0.0);
  o.macReduction = 1e6;
  EXPECT_THROW(decomposeLowRank(m, o), InputError);
  o.macReduction = 0;
  EXPECT_THROW(decomposeLowRank(m, o), InputError);  // neither energy nor target
  o.method = "cp";
  o.energy = 0.5;
  EXPECT_THROW(decomposeLowRank(m, o), InputError);
}

}  // namespace
}  // namespace hwnas
