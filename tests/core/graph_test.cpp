// Graph IR: shapes, MACs/params/bytes against hand-computed values, registry completeness,
// JSON round trip and errors.
#include "core/graph.h"

#include <gtest/gtest.h>

#include "core/error.h"

using namespace hwnas;

namespace {

// A MobileNetV2 inverted residual (expand 1x1, depthwise kxk, project 1x1; BN after each conv,
// ReLU6 after the first two; residual when stride 1 and cin == cout), as in refnet_def.py.
int mbBlock(Graph& g, const std::string& p, int x, int64_t cout, int k, int stride, int expand) {
  int64_t cin = g.node(x).shape[1];
  int64_t hidden = cin * expand;
  int h = g.addConv2d(p + ".pw", x, hidden, 1, 1, 0, 1, false);
  h = g.addBatchNorm(p + ".pw_bn", h);
  h = g.addAct(p + ".pw_act", h, ActKind::Relu6);
  h = g.addConv2d(p + ".dw", h, hidden, k, stride, k / 2, hidden, false);
  h = g.addBatchNorm(p + ".dw_bn", h);
  h = g.addAct(p + ".dw_act", h, ActKind::Relu6);
  h = g.addConv2d(p + ".pwl", h, cout, 1, 1, 0, 1, false);
  h = g.addBatchNorm(p + ".pwl_bn", h);
  if (stride == 1 && cin == cout) h = g.addAdd(p + ".add", x, h);
  return h;
}

// The reference network of ../shared/anchors/refnet_def.py.
Graph buildRefnet() {
  Graph g;
  int x = g.addInput("input", {1, 1, 28, 28});
  x = g.addConv2d("stem", x, 16, 3, 1, 1);
  x = g.addBatchNorm("stem_bn", x);
  x = g.addAct("stem_act", x, ActKind::Relu6);
  struct B { int cout, k, s; };
  const B blocks[] = {{24, 3, 2}, {24, 3, 1}, {40, 5, 2}, {40, 5, 1}, {80, 3, 2}, {80, 3, 1}};
  int i = 0;
  for (const auto& b : blocks) x = mbBlock(g, "blocks." + std::to_string(i++), x, b.cout, b.k, b.s, 4);
  x = g.addConv2d("head", x, 256, 1, 1, 0);
  x = g.addBatchNorm("head_bn", x);
  x = g.addAct("head_act", x, ActKind::Relu6);
  x = g.addGlobalAvgPool("pool", x);
  x = g.addFlatten("flatten", x);
  g.addLinear("classifier", x, 10, true);
  return g;
}

}  // namespace

TEST(Graph, RegistryCoversEveryOpKind) {
  const auto& reg = OpRegistry::instance();
  EXPECT_EQ(reg.all().size(), size_t(kOpKindCount));
  for (int k = 0; k < kOpKindCount; ++k) {
    const OpInfo* info = reg.find(OpKind(k));
    ASSERT_NE(info, nullptr) << "op kind #" << k << " is not registered";
    EXPECT_EQ(info->kind, OpKind(k));
    EXPECT_FALSE(info->name.empty());
    EXPECT_TRUE(bool(info->inferType)) << info->name;
    EXPECT_TRUE(bool(info->cost)) << info->name;
    EXPECT_EQ(reg.find(info->name), info) << info->name;
  }
  for (int a = 0; a < int(ActKind::Count); ++a) EXPECT_EQ(parseActKind(actKindName(ActKind(a))), ActKind(a));
  EXPECT_THROW(parseActKind("relu7"), InputError);
}

TEST(Graph, MobileNetV2BlockCostsByHand) {
  // cin = cout = 24, expand 6 (hidden 144), 3x3 depthwise, stride 1, 14x14.
  Graph g;
  int x = g.addInput("x", {1, 24, 14, 14});
  int y = mbBlock(g, "b", x, 24, 3, 1, 6);
  EXPECT_EQ(g.node(y).kind, OpKind::Add);
  EXPECT_EQ(g.node(y).shape, (Shape{1, 24, 14, 14}));

  EXPECT_EQ(g.opCost(g.findNode("b.pw")).macs, 144 * 14 * 14 * 24);      // 677,376
  EXPECT_EQ(g.opCost(g.findNode("b.dw")).macs, 144 * 14 * 14 * 1 * 9);   // 254,016
  EXPECT_EQ(g.opCost(g.findNode("b.pwl")).macs, 24 * 14 * 14 * 144);     // 677,376
  EXPECT_EQ(g.opCost(g.findNode("b.dw")).params, 144 * 9);
  EXPECT_EQ(g.opCost(g.findNode("b.pw_bn")).params, 288);
  EXPECT_EQ(g.opCost(g.findNode("b.pw_bn")).buffers, 288);

  GraphCost c = g.cost();
  EXPECT_EQ(c.macs, 1608768);
  EXPECT_EQ(c.flops(), 2 * 1608768);
  // 3456 + 288 + 1296 + 288 + 3456 + 48
  EXPECT_EQ(c.params, 8832);
  // Peak: during the first BN, x (4704) + the expand conv's output (28224) + the BN's (28224)
  // are live: 61152 floats.
  EXPECT_EQ(c.peakActivationBytes, 61152 * 4);
  // Elementwise: 3 BNs + 2 ReLU6 + add = 2*28224 + 4704 + 2*28224 + 4704.
  EXPECT_EQ(c.elementwiseOps, 4 * 28224 + 2 * 4704);
  EXPECT_EQ(g.opCost(y).outputBytes, 4704 * 4);
}

TEST(Graph, RefnetHasExactlyTheReferenceParamsAndHandMacs) {
  Graph g = buildRefnet();
  GraphCost c = g.cost();
  EXPECT_EQ(c.params, 136570);

  // MACs by the hand formula Cout*Hout*Wout*(Cin/groups)*KH*KW per conv, In*Out for linear.
  int64_t macs = 16 * 28 * 28 * 1 * 3 * 3;  // stem
  int64_t cin = 16, hw = 28;
  struct B { int64_t cout, k, s; };
  const B blocks[] = {{24, 3, 2}, {24, 3, 1}, {40, 5, 2}, {40, 5, 1}, {80, 3, 2}, {80, 3, 1}};
  for (const auto& b : blocks) {
    int64_t hid = cin * 4;
    int64_t out = (hw + 2 * (b.k / 2) - b.k) / b.s + 1;
    macs += hid * hw * hw * cin;         // expand 1x1
    macs += hid * out * out * b.k * b.k;  // depthwise
    macs += b.cout * out * out * hid;    // project 1x1
    cin = b.cout;
    hw = out;
  }
  EXPECT_EQ(hw, 4);
  macs += 256 * hw * hw * 80;  // head 1x1
  macs += 256 * 10;            // classifier
  EXPECT_EQ(macs, 5719680);
  EXPECT_EQ(c.macs, macs);
  EXPECT_EQ(g.node(int(g.size()) - 1).shape, (Shape{1, 10}));
  EXPECT_EQ(g.outputIds(), std::vector<int>{int(g.size()) - 1});
  EXPECT_EQ(g.inputIds(), std::vector<int>{0});

  // Peak activation: in block 0 the expand conv's output and its BN (both 64x28x28 floats)
  // are live with nothing else (the block has no residual, so its input dies at the conv).
  EXPECT_EQ(c.peakActivationBytes, 2 * 64 * 28 * 28 * 4);
}

TEST(Graph, BatchScalesMacsButNotParams) {
  Graph g1, g8;
  g1.addConv2d("c", g1.addInput("x", {1, 3, 8, 8}), 4, 3);
  g8.addConv2d("c", g8.addInput("x", {8, 3, 8, 8}), 4, 3);
  EXPECT_EQ(g8.cost().macs, 8 * g1.cost().macs);
  EXPECT_EQ(g8.cost().params, g1.cost().params);
  EXPECT_EQ(g1.cost().macs, 4 * 8 * 8 * 3 * 9);
}

TEST(Graph, ConvShapesStrideDilationGroupsBias) {
  Graph g;
  int x = g.addInput("x", {2, 8, 15, 15});
  int a = g.addConv2d("s2", x, 16, 3, 2, 1);
  EXPECT_EQ(g.node(a).shape, (Shape{2, 16, 8, 8}));
  int b = g.addConv2d("dil", x, 8, 3, 1, -1, 1, false, 2);  // same padding = 2
  EXPECT_EQ(g.node(b).shape, (Shape{2, 8, 15, 15}));
  int c = g.addConv2d("grp", x, 12, 1, 1, 0, 4, true);
  EXPECT_EQ(g.opCost(c).params, 12 * 2 + 12);
  EXPECT_EQ(g.opCost(c).macs, 2 * 12 * 15 * 15 * 2);
  int d = g.addDepthwiseConv2d("dw", x, 5, 2);
  EXPECT_EQ(g.node(d).shape, (Shape{2, 8, 8, 8}));
  EXPECT_EQ(g.node(d).attrs.groups, 8);
  EXPECT_EQ(g.opCost(d).params, 8 * 25);
  OpAttrs r;  // a rectangular kernel through the general form
  r.outChannels = 4;
  r.kernelH = 1;
  r.kernelW = 3;
  r.padW = 1;
  int e = g.addNode("rect", OpKind::Conv2d, {x}, r);
  EXPECT_EQ(g.node(e).shape, (Shape{2, 4, 15, 15}));
  EXPECT_EQ(g.opCost(e).macs, 2 * 4 * 15 * 15 * 8 * 3);
}

TEST(Graph, ShapeMismatchThrowsNamingTheOp) {
  Graph g;
  int x = g.addInput("x", {1, 16, 8, 8});
  int y = g.addConv2d("c", x, 24, 1);
  try {
    g.addAdd("blocks.1.add", x, y);
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("add 'blocks.1.add'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[1,16,8,8]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[1,24,8,8]"), std::string::npos) << msg;
    EXPECT_EQ(e.exitCode(), 2);
  }
  EXPECT_THROW(g.addConv2d("badgroups", x, 24, 3, 1, 1, 5), ShapeError);
  EXPECT_THROW(g.addConv2d("huge", x, 4, 11, 1, 0), ShapeError);
  EXPECT_THROW(g.addLinear("lin4d", x, 10), ShapeError);
  EXPECT_THROW(g.addMul("m", x, y), ShapeError);
  EXPECT_THROW(g.addConcat("cat", {x, g.addInput("z", {1, 4, 7, 8})}), ShapeError);
  EXPECT_THROW(g.addAdd("oneinput", x, 99), InputError);
  EXPECT_THROW(g.addNode("arity", OpKind::Add, {x}, OpAttrs()), ShapeError);
  EXPECT_THROW(g.addAct("x", x, ActKind::Relu), InputError);  // duplicate name
  EXPECT_THROW(g.addInput("zero", {1, 0, 3, 3}), ShapeError);
}

TEST(Graph, SqueezeExciteCompositeAndExplicitMul) {
  Graph g;
  int x = g.addInput("x", {1, 32, 7, 7});
  int se = g.addSqueezeExcite("se", x, 8, ActKind::Relu, ActKind::HSigmoid);
  EXPECT_EQ(g.node(se).shape, (Shape{1, 32, 7, 7}));
  OpCost c = g.opCost(se);
  EXPECT_EQ(c.macs, 32 * 8 + 8 * 32);
  EXPECT_EQ(c.params, 32 * 8 + 8 + 8 * 32 + 32);

  // The same SE spelled out with primitives gives the same MACs and params.
  Graph h;
  int y = h.addInput("x", {1, 32, 7, 7});
  int p = h.addGlobalAvgPool("gap", y);
  EXPECT_EQ(h.node(p).shape, (Shape{1, 32, 1, 1}));
  int f1 = h.addConv2d("fc1", p, 8, 1, 1, 0, 1, true);
  int a1 = h.addAct("a1", f1, ActKind::Relu);
  int f2 = h.addConv2d("fc2", a1, 32, 1, 1, 0, 1, true);
  int gate = h.addAct("gate", f2, ActKind::HSigmoid);
  int m = h.addMul("scale", y, gate);  // channel broadcast
  EXPECT_EQ(h.node(m).shape, (Shape{1, 32, 7, 7}));
  EXPECT_EQ(h.cost().macs, c.macs);
  EXPECT_EQ(h.cost().params, c.params);
  int m2 = h.addMul("scale2", gate, y);  // either order
  EXPECT_EQ(h.node(m2).shape, (Shape{1, 32, 7, 7}));
}

TEST(Graph, PoolsConcatFlattenLinear) {
  Graph g;
  int x = g.addInput("x", {1, 8, 9, 9});
  int mp = g.addMaxPool("mp", x, 3, 2, 1);
  EXPECT_EQ(g.node(mp).shape, (Shape{1, 8, 5, 5}));
  EXPECT_EQ(g.opCost(mp).elementwiseOps, 8 * 5 * 5 * 9);
  EXPECT_EQ(g.opCost(mp).macs, 0);
  int ap = g.addAvgPool("ap", x, 3, 2, 1);
  int cat = g.addConcat("cat", {mp, ap});
  EXPECT_EQ(g.node(cat).shape, (Shape{1, 16, 5, 5}));
  int fl = g.addFlatten("fl", cat);
  EXPECT_EQ(g.node(fl).shape, (Shape{1, 400}));
  int fc = g.addLinear("fc", fl, 10, false);
  EXPECT_EQ(g.opCost(fc).macs, 4000);
  EXPECT_EQ(g.opCost(fc).params, 4000);
  EXPECT_EQ(g.consumers(x), (std::vector<int>{mp, ap}));
}

TEST(Graph, QuantChangesDtypeAndBytes) {
  Graph g;
  int x = g.addInput("x", {1, 4, 8, 8});
  int q = g.addQuant("q", x, 0.05);
  EXPECT_EQ(g.node(q).dtype, DType::I8);
  EXPECT_EQ(g.opCost(q).outputBytes, 256);
  int c = g.addConv2d("c", q, 4, 3);
  EXPECT_EQ(g.node(c).dtype, DType::I8);
  int d = g.addDequant("d", c, 0.1);
  EXPECT_EQ(g.node(d).dtype, DType::F32);
  EXPECT_EQ(g.opCost(d).outputBytes, 1024);
  EXPECT_THROW(g.addDequant("dd", d, 0.1), ShapeError);
  // Peak: at the quant step, x (1024 B) + q (256 B).
  EXPECT_EQ(g.peakActivationBytes(), 1024 + 256);
}

TEST(Graph, JsonRoundTripKeepsStructureAndCosts) {
  Graph g = buildRefnet();
  int x = g.findNode("classifier");
  ASSERT_GE(x, 0);
  Json j = g.toJson();
  Graph back = Graph::fromJson(j, "refnet.json");
  EXPECT_EQ(canonicalDump(back.toJson()), canonicalDump(j));
  EXPECT_EQ(back.cost().macs, g.cost().macs);
  EXPECT_EQ(back.cost().params, 136570);
  EXPECT_EQ(back.cost().peakActivationBytes, g.cost().peakActivationBytes);
  EXPECT_EQ(j["nodes"][1]["op"], "conv2d");
  EXPECT_EQ(j["nodes"][1]["attrs"]["kernel"], Json::array({3, 3}));
}

TEST(Graph, JsonErrorsNameTheKeyPath) {
  Graph g;
  g.addConv2d("c", g.addInput("x", {1, 3, 8, 8}), 4, 3);
  Json j = g.toJson();
  Json typo = j;
  typo["nodes"][1]["attrs"]["kernal"] = 3;
  try {
    Graph::fromJson(typo, "g.json");
    FAIL();
  } catch (const ConfigError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("g.json: nodes[1].attrs.kernal: unknown key 'kernal'; did you mean 'kernel'?"), std::string::npos)
        << m;
  }
  Json badShape = j;
  badShape["nodes"][1]["shape"] = Json::array({1, 4, 7, 7});
  EXPECT_THROW(Graph::fromJson(badShape, "g.json"), ConfigError);
  Json badOp = j;
  badOp["nodes"][1]["op"] = "conv";
  EXPECT_THROW(Graph::fromJson(badOp, "g.json"), ConfigError);
  Json badIn = j;
  badIn["nodes"][1]["inputs"] = Json::array({"nope"});
  EXPECT_THROW(Graph::fromJson(badIn, "g.json"), ConfigError);
  Json misfit = j;
  misfit["nodes"][1]["attrs"]["kernel"] = 11;  // does not fit an 8x8 input with padding 1
  try {
    Graph::fromJson(misfit, "g.json");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("nodes[1]: conv2d 'c'"), std::string::npos) << e.what();
  }
}
