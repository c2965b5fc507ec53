// Pass helpers and the export pipeline without a dataset: withBatch, copyNode, and a recipe of
// fold_bn + channel pruning + SVD measured step by step (MACs, params, ONNX size, latency, predictions).
#include <gtest/gtest.h>

#include "core/error.h"
#include "exporter/export_pipeline.h"
#include "exporter/pass.h"
#include "tests/exporter/compress_test_util.h"

namespace hwnas {
namespace {

Graph smallNet() {
  Graph g;
  int x = g.addInput("x", {1, 3, 12, 12});
  int s = g.addAct("s_act", g.addBatchNorm("s_bn", g.addConv2d("stem", x, 16, 3, 2)), ActKind::Relu6);
  int e = g.addAct("e_act", g.addBatchNorm("e_bn", g.addConv2d("expand", s, 32, 1)), ActKind::Relu6);
  int d = g.addAct("d_act", g.addBatchNorm("d_bn", g.addDepthwiseConv2d("dw", e, 3)), ActKind::Relu6);
  int p = g.addBatchNorm("p_bn", g.addConv2d("project", d, 16, 1));
  int a = g.addAdd("add", p, s);
  g.addLinear("fc", g.addFlatten("flat", g.addGlobalAvgPool("gap", a)), 10);
  return g;
}

TEST(Pass, WithBatchKeepsNamesAndScalesCosts) {
  const Graph g = smallNet();
  const Graph g4 = withBatch(g, 4);
  ASSERT_EQ(g4.size(), g.size());
  EXPECT_EQ(g4.node(0).shape[0], 4);
  EXPECT_EQ(g4.nodes().back().name, "fc");
  EXPECT_EQ(g4.cost().macs, 4 * g.cost().macs);
  EXPECT_EQ(g4.cost().params, g.cost().params);
}

TEST(Pass, RequireWeightNamesTheMissingWeight) {
  const Graph g = smallNet();
  WeightMap w;
  try {
    requireWeight(w, "prune", g.node(g.findNode("stem")), ".weight");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("stem.weight"), std::string::npos);
  }
}

TEST(Pipeline, StepsAreMeasuredWithoutData) {
  ExportModel m;
  m.name = "small";
  m.graph = smallNet();
  m.weights = ctest::randomWeights(m.graph, 1);
  const ExportRecipe r = parseExportRecipe(R"(name: t
measure: {predict: [analytic:gpu, analytic:fpga], latency_repeats: 3, latency_batches: [1, 4]}
passes:
  - {pass: fold_bn}
  - {pass: prune, method: l1, sparsity: 0.5}
  - {pass: lowrank, method: svd, energy: 0.5}
)", "t.yaml");
  ExportPipelineOptions o;
  o.measureAccuracy = false;
  ExportPipelineResult res = runExportPipeline(m, r, o);
  const auto& steps = res.report.steps;
  ASSERT_EQ(steps.size(), 4u);
  EXPECT_EQ(steps[0].name, "input");
  EXPECT_EQ(steps[1].name, "fold_bn");
  EXPECT_EQ(steps[0].metrics.macs, m.graph.cost().macs);
  EXPECT_EQ(steps[1].metrics.macs, steps[0].metrics.macs);
  EXPECT_LT(steps[1].metrics.params, steps[0].metrics.params);  // BN gamma/beta gone
  EXPECT_LT(steps[2].metrics.macs, steps[1].metrics.macs);
  EXPECT_LT(steps[2].metrics.sizeBytes, steps[1].metrics.sizeBytes);
  for (const auto& s : steps) {
    EXPECT_GT(s.metrics.sizeBytes, 0);
    ASSERT_EQ(s.metrics.measured.size(), 2u);
    EXPECT_GT(s.metrics.measured.at(4).medianMs, 0);
    EXPECT_EQ(s.metrics.predictedMs.count("analytic:gpu"), 1u);
    EXPECT_LT(s.metrics.valAccuracy, 0);  // not measured
  }
  EXPECT_EQ(res.model.graph.cost().macs, steps.back().metrics.macs);
  const Json j = res.report.toJson();
  EXPECT_EQ(j["steps"].size(), 4u);
  EXPECT_EQ(j["steps"][1]["name"], "fold_bn");
  const std::string md = res.report.toMarkdown();
  EXPECT_NE(md.find("| prune(l1 0.5 per_layer) |"), std::string::npos) << md;
}

}  // namespace
}  // namespace hwnas
