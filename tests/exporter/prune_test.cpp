// Pruning: unstructured magnitude sparsity (global and per layer, masks), structured channel
// pruning that removes zero channels without changing outputs, MACs by hand, residual groups.
#include <gtest/gtest.h>

#include "core/error.h"
#include "exporter/prune.h"
#include "tests/exporter/compress_test_util.h"

namespace hwnas {
namespace {

// stem 3x3 (8) -> expand 1x1 (16) -> dw 3x3 -> project 1x1 (8) -> add(stem) -> head 1x1 (12) -> gap -> fc 10
Graph blockGraph() {
  Graph g;
  int x = g.addInput("x", {1, 4, 8, 8});
  int s = g.addAct("stem_act", g.addBatchNorm("stem_bn", g.addConv2d("stem", x, 8, 3)), ActKind::Relu6);
  int e = g.addAct("e_act", g.addBatchNorm("e_bn", g.addConv2d("expand", s, 16, 1)), ActKind::Relu6);
  int d = g.addAct("d_act", g.addBatchNorm("d_bn", g.addDepthwiseConv2d("dw", e, 3)), ActKind::Relu6);
  int p = g.addBatchNorm("p_bn", g.addConv2d("project", d, 8, 1));
  int add = g.addAdd("add", p, s);
  int h = g.addAct("h_act", g.addBatchNorm("h_bn", g.addConv2d("head", add, 12, 1)), ActKind::Relu);
  g.addLinear("fc", g.addFlatten("flat", g.addGlobalAvgPool("gap", h)), 10);
  return g;
}

// Zeroes channel c of the conv `conv` and makes its BN map 0 to 0 (beta = mean = 0).
void zeroChannel(WeightMap& w, const std::string& conv, const std::string& bn, int64_t c) {
  auto& wt = w.at(conv + ".weight");
  const int64_t per = int64_t(wt.values.size()) / wt.shape[0];
  for (int64_t i = 0; i < per; ++i) wt.values[size_t(c * per + i)] = 0.f;
  w.at(bn + ".bias").values[size_t(c)] = 0.f;
  w.at(bn + ".running_mean").values[size_t(c)] = 0.f;
}

TEST(PruneChannels, GroupsFollowResidualAddsAndStopAtOutputs) {
  const auto groups = channelGroups(blockGraph());
  int prunable = 0;
  bool residual = false, fcFixed = false;
  for (const auto& grp : groups) {
    prunable += grp.prunable;
    if (grp.producers == std::vector<std::string>{"stem", "project"}) residual = grp.prunable && grp.channels == 8;
    if (grp.producers == std::vector<std::string>{"fc"}) fcFixed = !grp.prunable && grp.reason == "graph output";
  }
  EXPECT_EQ(prunable, 3);  // stem+project, expand(+dw), head
  EXPECT_TRUE(residual);
  EXPECT_TRUE(fcFixed);
}

TEST(PruneChannels, RemovingZeroChannelsKeepsOutputsAndMacsDropByHand) {
  ExportModel m;
  m.graph = blockGraph();
  m.weights = ctest::randomWeights(m.graph, 11);
  for (int64_t c : {0, 3, 4, 7}) {  // residual group: both producers
    zeroChannel(m.weights, "stem", "stem_bn", c);
    zeroChannel(m.weights, "project", "p_bn", c);
  }
  for (int64_t c = 1; c < 16; c += 2) {
    zeroChannel(m.weights, "expand", "e_bn", c);
    m.weights.at("d_bn.bias").values[size_t(c)] = 0.f;
    m.weights.at("d_bn.running_mean").values[size_t(c)] = 0.f;
  }
  for (int64_t c : {2, 5, 6, 8, 9, 11}) zeroChannel(m.weights, "head", "h_bn", c);
  ChannelPruneOptions o;
  o.importance = "l1";
  o.sparsity = 0.5;
  ChannelPruneResult r = pruneChannels(m, o);
  EXPECT_EQ(r.channelsBefore, 8 + 16 + 12);
  EXPECT_EQ(r.channelsAfter, 4 + 8 + 6);
  const Graph& pg = r.model.graph;
  EXPECT_EQ(pg.node(pg.findNode("stem")).attrs.outChannels, 4);
  EXPECT_EQ(pg.node(pg.findNode("project")).attrs.outChannels, 4);
  EXPECT_EQ(pg.node(pg.findNode("dw")).attrs.groups, 8);
  EXPECT_EQ(pg.node(pg.findNode("fc")).attrs.outChannels, 10);
  const auto x = ctest::randomInput(m.graph, 5);
  EXPECT_LT(ctest::maxAbsDiff(ctest::runModel(m.graph, m.weights, x), ctest::runModel(pg, r.model.weights, x)), 1e-5);
  // by hand, 8x8 pixels: stem 64*4*4*9, expand 64*8*4, dw 64*8*9, project 64*4*8, head 64*6*4, fc 6*10
  EXPECT_EQ(m.graph.cost().macs, 64 * 8 * 4 * 9 + 64 * 16 * 8 + 64 * 16 * 9 + 64 * 8 * 16 + 64 * 12 * 8 + 12 * 10);
  EXPECT_EQ(pg.cost().macs, 64 * 4 * 4 * 9 + 64 * 8 * 4 + 64 * 8 * 9 + 64 * 4 * 8 + 64 * 6 * 4 + 6 * 10);
}

TEST(PruneChannels, BnGammaImportanceAndGlobalScopeGiveValidGraphs) {
  ExportModel m;
  m.graph = blockGraph();
  m.weights = ctest::randomWeights(m.graph, 3);
  // the smallest gammas of the expand group are channels 0..3
  for (int64_t c = 0; c < 4; ++c) m.weights.at("e_bn.weight").values[size_t(c)] = 0.01f * float(c + 1);
  ChannelPruneOptions o;
  o.importance = "bn_gamma";
  o.sparsity = 0.25;
  ChannelPruneResult r = pruneChannels(m, o);
  const Graph& pg = r.model.graph;
  EXPECT_EQ(pg.node(pg.findNode("expand")).attrs.outChannels, 12);
  // channels 0..3 gone: the kept gammas are the original 4..15
  EXPECT_FLOAT_EQ(r.model.weights.at("e_bn.weight").values[0], m.weights.at("e_bn.weight").values[4]);
  EXPECT_EQ(r.model.weights.at("project.weight").shape[1], 12);
  o.global = true;
  o.sparsity = 0.5;
  ChannelPruneResult g2 = pruneChannels(m, o);
  EXPECT_LT(g2.channelsAfter, g2.channelsBefore);
  const auto x = ctest::randomInput(m.graph, 1);
  EXPECT_EQ(ctest::runModel(g2.model.graph, g2.model.weights, x).size(), 10u);
  EXPECT_THROW(pruneChannels(m, {"weight", 0.5, false}), InputError);
  EXPECT_THROW(pruneChannels(m, {"l1", 1.0, false}), InputError);
}

TEST(PruneChannels, NothingRemovedAtZeroSparsity) {
  ExportModel m;
  m.graph = blockGraph();
  m.weights = ctest::randomWeights(m.graph, 9);
  ChannelPruneResult r = pruneChannels(m, {"l1", 0.0, false});
  EXPECT_EQ(r.channelsAfter, r.channelsBefore);
  const auto x = ctest::randomInput(m.graph, 2);
  EXPECT_EQ(ctest::runModel(m.graph, m.weights, x), ctest::runModel(r.model.graph, r.model.weights, x));
}

TEST(PruneMagnitude, GlobalAndPerLayerSparsityAndMasks) {
  ExportModel m;
  m.graph = blockGraph();
  m.weights = ctest::randomWeights(m.graph, 4);
  MagnitudePruneOptions o;
  o.sparsity = 0.5;
  o.global = true;
  MagnitudePruneResult g = pruneMagnitude(m, o);
  // stem, expand, project, head, fc (dw excluded)
  EXPECT_EQ(g.prunable, 8 * 4 * 9 + 16 * 8 + 8 * 16 + 12 * 8 + 10 * 12);
  EXPECT_EQ(g.zeroed, g.prunable / 2);
  EXPECT_EQ(g.masks.size(), 5u);
  EXPECT_EQ(g.masks.count("dw.weight"), 0u);
  for (const auto& [name, mask] : g.masks) {
    const auto& w = g.model.weights.at(name).values;
    ASSERT_EQ(mask.size(), w.size());
    for (size_t i = 0; i < w.size(); ++i)
      if (mask[i] == 0.f) EXPECT_EQ(w[i], 0.f);
  }
  o.global = false;
  MagnitudePruneResult p = pruneMagnitude(m, o);
  for (const auto& [name, mask] : p.masks) {
    int64_t zeros = 0;
    for (float v : mask) zeros += v == 0.f;
    EXPECT_EQ(zeros, int64_t(mask.size()) / 2) << name;
  }
  // the kept weights are the largest: every pruned |w| <= every kept |w| in a layer
  const auto& w0 = m.weights.at("head.weight").values;
  const auto& mk = p.masks.at("head.weight");
  float maxPruned = 0, minKept = 1e9f;
  for (size_t i = 0; i < w0.size(); ++i)
    (mk[i] == 0.f ? maxPruned : minKept) = mk[i] == 0.f ? std::max(maxPruned, std::fabs(w0[i])) : std::min(minKept, std::fabs(w0[i]));
  EXPECT_LE(maxPruned, minKept);
}

}  // namespace
}  // namespace hwnas
