// lowerQuantized: BN folded first, spec'd conv / linear nodes become int8 ops chained without
// dequantizing, quantize / dequantize only at f32 <-> i8 boundaries, ":i8" op keys, outputs
// close to the fp32 plan under min-max scales; bad specs are clear errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/lower.h"
#include "core/rng.h"
#include "runtime/executor.h"
#include "runtime/reference.h"

namespace hwnas {
namespace {

namespace rt = runtime;

void randomWeights(const Graph& g, WeightMap& w, Rng& rng) {
  auto put = [&](const std::string& name, Shape s, double lo, double hi) {
    WeightTensor t{s, std::vector<float>(size_t(numel(s)))};
    for (auto& v : t.values) v = float(rng.uniform(lo, hi));
    w[name] = t;
  };
  for (const Node& n : g.nodes()) {
    if (n.kind == OpKind::Conv2d) {
      const int64_t cin = g.node(n.inputs[0]).shape[1];
      put(n.name + ".weight", {n.attrs.outChannels, cin / n.attrs.groups, n.attrs.kernelH, n.attrs.kernelW}, -0.5, 0.5);
    } else if (n.kind == OpKind::Linear) {
      put(n.name + ".weight", {n.attrs.outChannels, g.node(n.inputs[0]).shape[1]}, -0.3, 0.3);
      put(n.name + ".bias", {n.attrs.outChannels}, -0.2, 0.2);
    } else if (n.kind == OpKind::BatchNorm) {
      const int64_t c = n.shape[1];
      put(n.name + ".weight", {c}, 0.5, 1.5);
      put(n.name + ".bias", {c}, -0.3, 0.3);
      put(n.name + ".running_mean", {c}, -0.2, 0.2);
      put(n.name + ".running_var", {c}, 0.5, 2.0);
    }
  }
}

// x -> conv-bn-relu6 (a) -> dw-bn-relu6 -> 1x1 conv-bn (b) -> a + b -> gap -> flatten -> fc
Graph residualNet() {
  Graph g;
  const int x = g.addInput("x", {1, 3, 10, 10});
  const int a = g.addAct("r1", g.addBatchNorm("bn1", g.addConv2d("c1", x, 8, 3)), ActKind::Relu6);
  const int d = g.addAct("r2", g.addBatchNorm("bn2", g.addDepthwiseConv2d("dw", a, 3)), ActKind::Relu6);
  const int b = g.addBatchNorm("bn3", g.addConv2d("c3", d, 8, 1));
  const int s = g.addAdd("add", a, b);
  g.addLinear("fc", g.addFlatten("flat", g.addGlobalAvgPool("gap", s)), 5);
  return g;
}

// Min-max activation parameters from running the fp32 plan with every tensor as an output.
LayerQuant minmaxParams(float inLo, float inHi, float outLo, float outHi) {
  auto params = [](float lo, float hi, float& s, int32_t& zp) {
    lo = std::min(lo, 0.f);
    hi = std::max(hi, 0.f);
    s = std::max(hi - lo, 1e-6f) / 255.f;
    zp = int32_t(std::lround(-128 - lo / s));
  };
  LayerQuant q;
  params(inLo, inHi, q.inputScale, q.inputZeroPoint);
  params(outLo, outHi, q.outputScale, q.outputZeroPoint);
  return q;
}

QuantSpec calibrateByHand(const Graph& g, const WeightMap& w, const std::vector<float>& input) {
  rt::Plan p = lower(g, w);
  const auto sources = opSourceNodes(g);
  rt::Plan all = p;
  all.outputs.clear();
  for (size_t t = 1; t < all.tensors.size(); ++t) all.outputs.push_back(int32_t(t));
  const auto outs = rt::referenceRun(all, {input});
  auto range = [&](int32_t id, float& lo, float& hi) {
    const auto& v = id == 0 ? input : outs[size_t(id - 1)];
    lo = *std::min_element(v.begin(), v.end());
    hi = *std::max_element(v.begin(), v.end());
  };
  QuantSpec spec;
  spec.calibration = "minmax";
  for (size_t i = 0; i < p.ops.size(); ++i) {
    const auto& op = p.ops[i];
    if (op.type != rt::OpType::Conv2d && op.type != rt::OpType::DepthwiseConv2d && op.type != rt::OpType::Linear) continue;
    float a, b, c, d;
    range(op.inputs[0], a, b);
    range(op.output, c, d);
    spec.layers[sources[i]] = minmaxParams(a, b, c, d);
  }
  return spec;
}

TEST(LowerInt8, ResidualNetChainsInt8AndMatchesFp32) {
  Rng rng(21);
  Graph g = residualNet();
  WeightMap w;
  randomWeights(g, w, rng);
  std::vector<float> x(300);
  for (auto& v : x) v = float(rng.uniform(-2, 2));
  const QuantSpec spec = calibrateByHand(g, w, x);
  ASSERT_EQ(spec.layers.size(), 4u);
  const rt::Plan q = lowerQuantized(g, w, spec);

  // quantize x, c1, dw, c3 (i8), add (i8: fc is int8 and reads it through gap), gap, fc (i8), dequantize
  std::vector<std::string> types;
  for (const auto& op : q.ops) types.push_back(rt::opTypeName(op.type));
  EXPECT_EQ(types, (std::vector<std::string>{"quantize", "conv2d", "dwconv2d", "conv2d", "add", "global_avgpool",
                                             "linear", "dequantize"}));
  for (size_t i = 0; i + 1 < q.ops.size(); ++i)
    EXPECT_EQ(q.tensors[q.ops[i].output].dtype, rt::DType::I8) << q.ops[i].name;
  EXPECT_EQ(q.ops[1].act, rt::Act::Relu6);  // BN folded, act fused
  EXPECT_EQ(q.ops[1].name, "c1+bn1+r1");
  EXPECT_TRUE(q.ops[1].weight.empty());
  EXPECT_EQ(q.ops[1].qweight.size(), 8u * 3 * 9);
  EXPECT_EQ(q.ops[1].key, "conv2d:in=1x3x10x10:out=8:k=3:s=1:g=1:act=relu6:i8");
  EXPECT_EQ(q.ops[0].key, "quantize:in=1x3x10x10:i8");
  // the add (read by the gap, not by an int8 layer) covers the sum of its inputs' ranges; the
  // gap writes the input parameters of the fc that reads it
  const rt::TensorInfo& at = q.tensors[q.ops[4].output];
  EXPECT_EQ(at.dtype, rt::DType::I8);
  EXPECT_NEAR(at.scale * 255, spec.layers.at("c1").outputScale * 255 + spec.layers.at("c3").outputScale * 255, 1e-4);
  EXPECT_EQ(q.tensors[q.ops[5].output].scale, spec.layers.at("fc").inputScale);

  const rt::Plan fp = lower(g, w);
  rt::Executor ef(fp), eq(q);
  const auto yf = ef.run(x), yq = eq.run(x);
  EXPECT_EQ(yq, rt::referenceRun(q, {x})[0]);
  float maxAbs = 0, maxErr = 0;
  for (size_t i = 0; i < yf.size(); ++i) {
    maxAbs = std::max(maxAbs, std::fabs(yf[i]));
    maxErr = std::max(maxErr, std::fabs(yf[i] - yq[i]));
  }
  EXPECT_LT(maxErr, 0.05f * maxAbs + 0.02f) << "int8 logits deviate by " << maxErr << " (fp32 up to " << maxAbs << ")";
  // serialized as plan v2 and back, it runs the same
  rt::Executor er(rt::Plan::deserialize(q.serialize()));
  EXPECT_EQ(er.run(x), yq);
}

TEST(LowerInt8, PartialSpecKeepsOtherLayersFp32) {
  Rng rng(22);
  Graph g = residualNet();
  WeightMap w;
  randomWeights(g, w, rng);
  std::vector<float> x(300);
  for (auto& v : x) v = float(rng.uniform(-2, 2));
  QuantSpec spec = calibrateByHand(g, w, x);
  spec.layers["dw"].int8 = false;  // mixed precision: dw stays fp32
  spec.layers.erase("fc");
  const rt::Plan q = lowerQuantized(g, w, spec);
  std::vector<std::string> types;
  for (const auto& op : q.ops) types.push_back(rt::opTypeName(op.type));
  // c1 writes i8; dw needs f32 (dequantize); c3 quantizes again; the add mixes an f32 and an
  // i8 input; c1's i8 version still exists, so the add runs on int8 (at the sum of the
  // input ranges), and the gap too; the fp32 fc dequantizes.
  EXPECT_EQ(types, (std::vector<std::string>{"quantize", "conv2d", "dequantize", "dwconv2d", "quantize", "conv2d",
                                             "add", "global_avgpool", "dequantize", "linear"}));
  EXPECT_EQ(q.ops[3].key.substr(q.ops[3].key.size() - 4), ":f32");
  EXPECT_EQ(q.tensors[q.ops[6].output].dtype, rt::DType::I8);
  rt::Executor eq(q);
  const auto got = eq.run(x), ref = rt::referenceRun(q, {x})[0];
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], ref[i], 1e-5);
}

TEST(LowerInt8, Fp32LoweringIsUnchanged) {
  Rng rng(23);
  Graph g = residualNet();
  WeightMap w;
  randomWeights(g, w, rng);
  const rt::Plan fp = lower(g, w);
  const rt::Plan same = lowerQuantized(g, w, QuantSpec{});
  EXPECT_EQ(same.serialize(), fp.serialize());
  for (const auto& op : fp.ops) EXPECT_EQ(op.key.substr(op.key.size() - 4), ":f32");
  EXPECT_EQ(opSourceNodes(g), (std::vector<std::string>{"c1", "dw", "c3", "add", "gap", "fc"}));
}

TEST(LowerInt8, BadSpecsAreClearErrors) {
  Rng rng(24);
  Graph g = residualNet();
  WeightMap w;
  randomWeights(g, w, rng);
  QuantSpec spec;
  spec.layers["nope"] = LayerQuant{};
  try {
    lowerQuantized(g, w, spec);
    FAIL() << "accepted a spec for a missing node";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'nope'"), std::string::npos) << e.what();
  }
  spec.layers.clear();
  spec.layers["c1"].weightScales = {1.f, 2.f};
  try {
    lowerQuantized(g, w, spec);
    FAIL() << "accepted 2 weight scales for 8 channels";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("8 output channels"), std::string::npos) << e.what();
  }
  spec.layers["c1"].weightScales.clear();
  spec.layers["c1"].inputZeroPoint = 300;
  EXPECT_THROW(lowerQuantized(g, w, spec), InputError);
}

}  // namespace
}  // namespace hwnas
