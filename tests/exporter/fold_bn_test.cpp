// foldBatchNorm: the folded model computes what the original does (runtime, 1e-5), folded
// weights match the formula by hand, and batchnorms without a foldable producer are kept.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "exporter/fold_bn.h"
#include "tests/exporter/compress_test_util.h"

namespace hwnas {
namespace {

Graph mixedGraph() {
  Graph g;
  int x = g.addInput("x", {1, 3, 9, 9});
  int c1 = g.addConv2d("c1", x, 8, 3, 1, -1, 1, false);
  int b1 = g.addBatchNorm("b1", c1);
  int a1 = g.addAct("a1", b1, ActKind::Relu6);
  int dw = g.addDepthwiseConv2d("dw", a1, 3, 2, -1, true);
  int b2 = g.addBatchNorm("b2", dw);
  int c2 = g.addConv2d("c2", b2, 8, 1, 1, 0, 1, true);
  int b3 = g.addBatchNorm("b3", c2);
  int c3 = g.addConv2d("c3", b2, 8, 1, 1, 0, 1, false);
  int add = g.addAdd("add", b3, c3);
  int b4 = g.addBatchNorm("b4", add);  // after an add: kept
  int gap = g.addGlobalAvgPool("gap", b4);
  int f = g.addFlatten("f", gap);
  int l = g.addLinear("fc", f, 5, true);
  g.addBatchNorm("b5", l);  // 2-D BN after linear
  return g;
}

TEST(FoldBn, FoldedGraphComputesTheSameOutputs) {
  ExportModel m;
  m.graph = mixedGraph();
  m.weights = ctest::randomWeights(m.graph, 7);
  FoldBnResult r = foldBatchNorm(m);
  EXPECT_EQ(r.folded, 4);
  EXPECT_EQ(r.kept, 1);
  int bns = 0;
  for (const Node& n : r.model.graph.nodes()) bns += n.kind == OpKind::BatchNorm;
  EXPECT_EQ(bns, 1);
  EXPECT_EQ(r.model.graph.findNode("b1"), -1);
  EXPECT_GE(r.model.graph.findNode("b4"), 0);
  EXPECT_TRUE(r.model.graph.node(r.model.graph.findNode("c1")).attrs.bias);
  EXPECT_EQ(r.model.weights.count("b1.weight"), 0u);
  const auto x = ctest::randomInput(m.graph, 3);
  const auto y0 = ctest::runModel(m.graph, m.weights, x);
  const auto y1 = ctest::runModel(r.model.graph, r.model.weights, x);
  ASSERT_EQ(y0.size(), 5u);
  EXPECT_LT(ctest::maxAbsDiff(y0, y1), 1e-5);
  // MACs unchanged (BN is not a MAC), params drop by the folded BNs' gamma + beta minus new biases.
  EXPECT_EQ(r.model.graph.cost().macs, m.graph.cost().macs);
}

TEST(FoldBn, WeightsFollowTheFormula) {
  Graph g;
  int x = g.addInput("x", {1, 2, 1, 1});
  int c = g.addConv2d("c", x, 1, 1, 1, 0, 1, true);
  g.addBatchNorm("bn", c, 0.25);
  ExportModel m;
  m.graph = g;
  m.weights["c.weight"] = {{1, 2, 1, 1}, {2.f, -1.f}};
  m.weights["c.bias"] = {{1}, {0.5f}};
  m.weights["bn.weight"] = {{1}, {3.f}};
  m.weights["bn.bias"] = {{1}, {1.f}};
  m.weights["bn.running_mean"] = {{1}, {1.5f}};
  m.weights["bn.running_var"] = {{1}, {0.75f}};
  FoldBnResult r = foldBatchNorm(m);
  // s = 3 / sqrt(0.75 + 0.25) = 3; w' = (6, -3); b' = 1 + (0.5 - 1.5) * 3 = -2
  ASSERT_EQ(r.model.weights.at("c.weight").values.size(), 2u);
  EXPECT_FLOAT_EQ(r.model.weights.at("c.weight").values[0], 6.f);
  EXPECT_FLOAT_EQ(r.model.weights.at("c.weight").values[1], -3.f);
  EXPECT_FLOAT_EQ(r.model.weights.at("c.bias").values[0], -2.f);
  // input (1, 2): conv 2 - 2 + 0.5 = 0.5, BN 3 * (0.5 - 1.5) / 1 + 1 = -2; folded 6 - 6 - 2 = -2
  EXPECT_NEAR(ctest::runModel(r.model.graph, r.model.weights, {1.f, 2.f})[0], -2.f, 1e-6);
}

TEST(FoldBn, MissingStatisticIsAnInputErrorNamingIt) {
  ExportModel m;
  m.graph = mixedGraph();
  m.weights = ctest::randomWeights(m.graph, 7);
  m.weights.erase("b3.running_var");
  try {
    foldBatchNorm(m);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("b3.running_var"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hwnas
