#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "trainer/model_def.h"
#include "trainer/training.h"

using namespace hwnas;

static const std::string kRefnet = std::string(HWNAS_SOURCE_DIR) + "/configs/models/refnet.yaml";

TEST(ModelDef, RefnetHasTheAnchorsParametersAndMacs) {
  ModelDef def = loadModelDef(kRefnet);
  auto model = buildModel(def, 0);
  // refnet_def.py: 136,570 parameters; PyTorch forward hooks count 5,719,680 MACs at 1x1x28x28.
  EXPECT_EQ(model->numParameters(), 136570);
  GraphCost c = model->toGraph(1).cost();
  EXPECT_EQ(c.params, 136570);
  EXPECT_EQ(c.macs, 5719680);
  EXPECT_EQ(modelGraph(def).cost().macs, 5719680);
  // Residuals only where stride 1 and cin == cout: blocks 1, 3, 5.
  Graph g = model->toGraph(1);
  EXPECT_GE(g.findNode("blocks.1.add"), 0);
  EXPECT_LT(g.findNode("blocks.0.add"), 0);
}

TEST(ModelDef, ForwardShapeAndParameterNames) {
  auto model = buildModel(loadModelDef(kRefnet), 0);
  model->eval();
  NoGradGuard ng;
  Variable y = model->forward(Variable(Tensor::zeros({3, 1, 28, 28})));
  EXPECT_EQ(y.shape(), (Shape{3, 10}));
  auto names = model->namedParameters();
  EXPECT_EQ(names.front().first, "stem.conv.weight");
  EXPECT_EQ(names.back().first, "classifier.bias");
  EXPECT_THROW(model->forward(Variable(Tensor::zeros({1, 1, 32, 32}))), ShapeError);
}

TEST(ModelDef, YamlRoundTrip) {
  ModelDef a = loadModelDef(kRefnet);
  ModelDef b = parseModelDef(a.toYaml());
  EXPECT_EQ(a.toYaml(), b.toYaml());
  EXPECT_EQ(b.blocks.size(), 6u);
  EXPECT_EQ(b.blocks[2].kernel, 5);
}

TEST(ModelDef, RepeatAndSeExpand) {
  ModelDef d = parseModelDef(R"(
name: t
stem: {out: 8}
blocks:
  - {out: 16, stride: 2, expand: 3, se: true, act: hswish, repeat: 3}
head: {out: 0}
)");
  ASSERT_EQ(d.blocks.size(), 3u);
  EXPECT_EQ(d.blocks[0].stride, 2);
  EXPECT_EQ(d.blocks[1].stride, 1);
  auto m = buildModel(d, 1);
  NoGradGuard ng;
  m->eval();
  EXPECT_EQ(m->forward(Variable(Tensor::zeros({2, 1, 28, 28}))).shape(), (Shape{2, 10}));
  // The graph and the module agree on parameters (SE included).
  EXPECT_EQ(m->toGraph(1).cost().params, m->numParameters());
}

static std::string errorOf(const std::string& yaml) {
  try {
    parseModelDef(yaml, "m.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(ModelDef, BadInputNamesLineColumnAndKey) {
  EXPECT_EQ(errorOf("stem: {out: 8}\nblocks:\n  - {out: 16, kernal: 3}\n").substr(0, 24), "m.yaml:3:15: blocks[0].k");
  EXPECT_NE(errorOf("stem: {out: 8}\nblocks:\n  - {out: 16, kernal: 3}\n").find("did you mean 'kernel'"), std::string::npos);
  EXPECT_NE(errorOf("stem: {out: 8}\nblocks:\n  - {out: sixteen}\n").find("blocks[0].out"), std::string::npos);
  EXPECT_NE(errorOf("stem: {out: 8}\nblocks:\n  - {out: 16, kernel: 4}\n").find("odd"), std::string::npos);
  EXPECT_NE(errorOf("stem: {out: 8}\nblocks:\n  - {out: 16, act: relu7}\n").find("blocks[0].act"), std::string::npos);
  EXPECT_NE(errorOf("stem: {out: 8}\nblocks: []\nhead: {dropout: 1.5}\n").find("head.dropout"), std::string::npos);
  EXPECT_NE(errorOf("blocks: []\n").find("stem"), std::string::npos);
  EXPECT_THROW(loadModelDef("/nonexistent/model.yaml"), IoError);
}

TEST(ModelDef, StateDictRoundTripAndMismatch) {
  ModelDef d = loadModelDef(kRefnet);
  auto a = buildModel(d, 1), b = buildModel(d, 2);
  auto sa = stateDict(*a);
  EXPECT_EQ(sa.count("blocks.0.expand.bn.running_var"), 1u);
  loadStateDict(*b, sa, "a");
  for (auto& [n, t] : stateDict(*b))
    for (int64_t i = 0; i < t.numel(); ++i) ASSERT_EQ(t[i], sa[n][i]) << n;
  sa.erase("classifier.bias");
  EXPECT_THROW(loadStateDict(*b, sa, "a"), IoError);
}
