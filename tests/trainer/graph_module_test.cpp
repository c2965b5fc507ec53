#include "trainer/graph_module.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "core/lower.h"
#include "runtime/executor.h"
#include "trainer/model_def.h"
#include "trainer/optim.h"
#include "trainer/weight_map.h"

using namespace hwnas;

namespace {

const std::string kRefnet = std::string(HWNAS_SOURCE_DIR) + "/configs/models/refnet.yaml";

Tensor randomTensor(const Shape& s, Rng& rng, double lo = -1, double hi = 1) {
  Tensor t = Tensor::empty(s);
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = float(rng.uniform(lo, hi));
  return t;
}

// max |a - b| / max(1, |a|, |b|)
double maxRelDiff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  double e = 0;
  for (int64_t i = 0; i < std::min(a.numel(), b.numel()); ++i)
    e = std::max(e, std::fabs(double(a[i]) - b[i]) / std::max({1.0, std::fabs(double(a[i])), std::fabs(double(b[i]))}));
  return e;
}

// A refnet with non-trivial BN statistics (so eval mode really uses them).
std::shared_ptr<Model> refnet(uint64_t seed) {
  auto m = buildModel(loadModelDef(kRefnet), seed);
  Rng rng(seed + 100);
  for (auto& [name, t] : m->namedBuffers()) {
    const bool var = name.find("running_var") != std::string::npos;
    for (int64_t i = 0; i < t.numel(); ++i) t[i] = float(var ? rng.uniform(0.5, 1.5) : rng.uniform(-0.2, 0.2));
  }
  for (auto& [name, v] : m->namedParameters())
    if (name.find(".bn.") != std::string::npos)
      for (int64_t i = 0; i < v.value().numel(); ++i) v.value()[i] += float(rng.uniform(-0.1, 0.1));
  return m;
}

WeightMap randomWeights(const Graph& g, Rng& rng) {
  WeightMap w;
  for (const Node& n : g.nodes()) {
    auto put = [&](const std::string& suffix, const Shape& s, double lo, double hi) {
      Tensor t = randomTensor(s, rng, lo, hi);
      w[n.name + suffix] = {s, t.toVector()};
    };
    const OpAttrs& a = n.attrs;
    if (n.kind == OpKind::Conv2d) {
      const int64_t cin = g.node(n.inputs[0]).shape[1];
      put(".weight", {a.outChannels, cin / a.groups, a.kernelH, a.kernelW}, -0.5, 0.5);
      if (a.bias) put(".bias", {a.outChannels}, -0.2, 0.2);
    } else if (n.kind == OpKind::Linear) {
      put(".weight", {a.outChannels, g.node(n.inputs[0]).shape[1]}, -0.3, 0.3);
      if (a.bias) put(".bias", {a.outChannels}, -0.2, 0.2);
    } else if (n.kind == OpKind::BatchNorm) {
      const int64_t c = g.node(n.inputs[0]).shape[1];
      put(".weight", {c}, 0.5, 1.5);
      put(".bias", {c}, -0.2, 0.2);
      put(".running_mean", {c}, -0.2, 0.2);
      put(".running_var", {c}, 0.5, 1.5);
    } else if (n.kind == OpKind::SqueezeExcite) {
      const int64_t c = g.node(n.inputs[0]).shape[1], r = a.outChannels;
      put(".reduce.weight", {r, c, 1, 1}, -0.5, 0.5);
      put(".reduce.bias", {r}, -0.2, 0.2);
      put(".expand.weight", {c, r, 1, 1}, -0.5, 0.5);
      put(".expand.bias", {c}, -0.2, 0.2);
    }
  }
  return w;
}

// Every op kind GraphModule runs, at batch n.
Graph toyGraph(int64_t n) {
  Graph g;
  int x = g.addInput("x", {n, 3, 9, 9});
  int c = g.addConv2d("c1", x, 8, 3, 1, 1, 1, true);
  c = g.addBatchNorm("c1.bn", c);
  c = g.addAct("c1.act", c, ActKind::HSwish);
  int mp = g.addMaxPool("mp", c, 3, 2, 1);                        // 8x5x5
  int dw = g.addDepthwiseConv2d("dw", c, 3, 2, 1, false);        // 8x5x5
  dw = g.addAct("dw.act", dw, ActKind::Relu6);
  int gc = g.addConv2d("gc", c, 8, 3, 2, 1, 2, false);            // grouped, 8x5x5
  gc = g.addBatchNorm("gc.bn", gc);                               // BN alone (no act after)
  int cat = g.addConcat("cat", {mp, dw, gc});                     // 24x5x5
  int se = g.addSqueezeExcite("se", cat, 6, ActKind::Relu, ActKind::HSigmoid);
  int ap = g.addAvgPool("ap", se, 3, 1, 1);                       // padded avg pool
  int sig = g.addAct("sig", g.addGlobalAvgPool("gap", ap), ActKind::Sigmoid);
  int mul = g.addMul("mul", ap, sig);                             // [N,C,H,W] * [N,C,1,1]
  int pw = g.addConv2d("pw", mul, 24, 1, 1, 0, 1, false);
  int add = g.addAdd("add", pw, mul);
  add = g.addAct("add.act", add, ActKind::Silu);
  int f = g.addFlatten("flat", g.addGlobalAvgPool("pool", add));
  int l = g.addLinear("fc1", f, 16, true);
  l = g.addBatchNorm("fc1.bn", l);
  l = g.addAct("fc1.act", l, ActKind::Relu);
  g.addLinear("fc2", l, 5, true);
  return g;
}

}  // namespace

TEST(GraphModule, RefnetEvalMatchesModel) {
  auto model = refnet(3);
  GraphModule gm(model->toGraph(1), weightMapOf(*model));
  Rng rng(1);
  Variable x(randomTensor({4, 1, 28, 28}, rng));
  model->eval();
  gm.eval();
  NoGradGuard ng;
  Tensor a = model->forward(x).value(), b = gm.forward(x).value();
  EXPECT_EQ(b.shape(), (Shape{4, 10}));
  EXPECT_LE(maxRelDiff(a, b), 1e-5);
  // Any batch size runs.
  EXPECT_EQ(gm.forward(Variable(randomTensor({1, 1, 28, 28}, rng))).shape(), (Shape{1, 10}));
  EXPECT_THROW(gm.forward(Variable(Tensor::zeros({2, 1, 27, 28}))), ShapeError);
}

TEST(GraphModule, RefnetTrainModeOutputsGradientsAndRunningStatsMatchModel) {
  auto model = refnet(4);
  GraphModule gm(model->toGraph(1), weightMapOf(*model));
  Rng rng(2);
  Tensor xt = randomTensor({6, 1, 28, 28}, rng);
  std::vector<int32_t> labels = {0, 3, 9, 2, 2, 7};
  model->train();
  gm.train();
  Variable ya = model->forward(Variable(xt)), yb = gm.forward(Variable(xt));
  EXPECT_LE(maxRelDiff(ya.value(), yb.value()), 1e-5);
  ops::crossEntropy(ya, labels).backward();
  ops::crossEntropy(yb, labels).backward();
  auto pa = model->namedParameters(), pb = gm.namedParameters();
  ASSERT_EQ(pa.size(), pb.size());
  std::map<std::string, Variable> byName(pb.begin(), pb.end());
  for (auto& [name, v] : pa) {
    ASSERT_TRUE(byName.count(name)) << name;
    ASSERT_TRUE(byName[name].grad().defined()) << name;
    EXPECT_LE(maxRelDiff(v.grad(), byName[name].grad()), 1e-5) << name;
  }
  // The running statistics moved the same way.
  WeightMap wa = weightMapOf(*model), wb = weightMapOf(gm);
  ASSERT_EQ(wa.size(), wb.size());
  for (auto& [name, t] : wa) {
    ASSERT_TRUE(wb.count(name)) << name;
    EXPECT_EQ(wb[name].shape, t.shape) << name;
    Tensor ta = Tensor::fromVector(t.shape, t.values), tb = Tensor::fromVector(wb[name].shape, wb[name].values);
    EXPECT_LE(maxRelDiff(ta, tb), 1e-6) << name;
  }
}

TEST(GraphModule, ToyGraphMatchesRuntimeInEval) {
  Rng rng(5);
  const Graph g = toyGraph(3);
  WeightMap w = randomWeights(g, rng);
  GraphModule gm(g, w);
  gm.eval();
  Tensor x = randomTensor({3, 3, 9, 9}, rng, -2, 2);
  Tensor y;
  {
    NoGradGuard ng;
    y = gm.forward(Variable(x)).value();
  }
  runtime::Executor ex(lower(g, w));
  std::vector<float> ref = ex.run(x.toVector());
  ASSERT_EQ(int64_t(ref.size()), y.numel());
  EXPECT_LE(maxRelDiff(Tensor::fromVector(y.shape(), ref), y), 1e-5);
  // Train mode runs too and every parameter gets a gradient.
  gm.train();
  ops::crossEntropy(gm.forward(Variable(x)), {0, 4, 2}).backward();
  for (auto& [name, v] : gm.namedParameters()) EXPECT_TRUE(v.grad().defined()) << name;
}

TEST(GraphModule, WeightMapRoundTripAndGraph) {
  Rng rng(6);
  const Graph g = toyGraph(1);
  WeightMap w = randomWeights(g, rng);
  GraphModule gm(g, w);
  WeightMap back = weightMapOf(gm);
  ASSERT_EQ(back.size(), w.size());
  for (auto& [name, t] : w) {
    ASSERT_TRUE(back.count(name)) << name;
    EXPECT_EQ(back[name].shape, t.shape);
    EXPECT_EQ(back[name].values, t.values);
  }
  EXPECT_EQ(gm.toGraph().toJson().dump(), g.toJson().dump());
  EXPECT_EQ(gm.toGraph(4).toJson().dump(), toyGraph(4).toJson().dump());
  Graph h;
  int out = gm.toGraph(h, h.addInput("in", {2, 3, 9, 9}), "m");
  EXPECT_EQ(h.node(out).name, "m.fc2");
  EXPECT_EQ(h.node(out).shape, (Shape{2, 5}));
}

TEST(GraphModule, MissingOrMisshapedWeightsAndUnsupportedGraphsAreClearErrors) {
  Rng rng(7);
  const Graph g = toyGraph(1);
  WeightMap w = randomWeights(g, rng);
  WeightMap missing = w;
  missing.erase("se.expand.bias");
  try {
    GraphModule gm(g, missing);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'se.expand.bias'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("node 'se'"), std::string::npos) << e.what();
  }
  WeightMap bad = w;
  bad["gc.weight"] = {{8, 8, 3, 3}, std::vector<float>(8 * 8 * 9, 0.f)};  // groups 2 needs [8,4,3,3]
  try {
    GraphModule gm(g, bad);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'gc.weight' has shape [8,8,3,3]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("needs [8,4,3,3]"), std::string::npos) << e.what();
  }
  // Trailing ones are accepted and stored canonically.
  WeightMap ones = w;
  ones["fc1.bias"].shape = {16, 1};
  EXPECT_EQ(weightMapOf(GraphModule(g, ones))["fc1.bias"].shape, (Shape{16}));

  Graph q;
  q.addQuant("q", q.addInput("x", {1, 4}), 0.1);
  EXPECT_THROW(GraphModule(q, {}), Error);
  Graph two;
  int x = two.addInput("x", {1, 2, 4, 4});
  two.addAct("a", x, ActKind::Relu);
  two.addAct("b", x, ActKind::Relu6);
  EXPECT_THROW(GraphModule(two, {}), Error);
}

TEST(GraphModule, MaskedWeightsAreZeroInForwardAndStayZeroThroughOptimizerSteps) {
  Rng rng(8);
  const Graph g = toyGraph(4);
  GraphModule gm(g, randomWeights(g, rng));
  Tensor mask = Tensor::empty({8, 3, 3, 3});
  for (int64_t i = 0; i < mask.numel(); ++i) mask[i] = rng.bernoulli(0.5) ? 1.f : 0.f;
  Tensor before = gm.namedParameters()[0].second.value().clone();
  ASSERT_EQ(gm.namedParameters()[0].first, "c1.weight");
  gm.setWeightMask("c1.weight", mask);
  EXPECT_THROW(gm.setWeightMask("nope.weight", mask), InputError);
  EXPECT_THROW(gm.setWeightMask("c1.weight", Tensor::zeros({8, 3, 3})), InputError);
  Tensor half = Tensor::full({8, 3, 3, 3}, 0.5f);
  EXPECT_THROW(gm.setWeightMask("c1.weight", half), InputError);

  // The forward equals that of a module whose weights are zeroed by hand.
  WeightMap zeroed = weightMapOf(gm);
  GraphModule ref(g, zeroed);
  Tensor x = randomTensor({4, 3, 9, 9}, rng);
  gm.eval();
  ref.eval();
  {
    NoGradGuard ng;
    EXPECT_EQ(gm.forward(Variable(x)).value().toVector(), ref.forward(Variable(x)).value().toVector());
  }
  gm.train();
  for (const std::string opt : {"sgd", "adamw"}) {
    auto groups = optim::makeParamGroups(gm.namedParameters(), 0.05f, true);
    std::unique_ptr<optim::Optimizer> o;
    if (opt == "sgd")
      o = std::make_unique<optim::Sgd>(groups, 0.9f, true);
    else
      o = std::make_unique<optim::AdamW>(groups);
    for (int step = 0; step < 3; ++step) {
      o->zeroGrad();
      ops::crossEntropy(gm.forward(Variable(x)), {1, 2, 3, 4}).backward();
      const Tensor& grad = gm.namedParameters()[0].second.grad();
      for (int64_t i = 0; i < mask.numel(); ++i)
        if (mask[i] == 0.f) {
          ASSERT_EQ(grad[i], 0.f) << opt << " grad " << i;
        }
      o->step(0.1f);
    }
    const Tensor& w = gm.namedParameters()[0].second.value();
    int64_t kept = 0, moved = 0;
    for (int64_t i = 0; i < mask.numel(); ++i) {
      if (mask[i] == 0.f) {
        EXPECT_EQ(w[i], 0.f) << opt << " " << i;
      } else {
        ++kept;
        moved += w[i] != before[i];
      }
    }
    EXPECT_GT(kept, 0);
    EXPECT_EQ(moved, kept) << opt;  // the unmasked weights did train
  }
}

TEST(FakeQuant, WeightForwardByHandAndStraightThroughGradient) {
  Tensor w = Tensor::fromVector({2, 3}, {0.5f, -1.f, 0.26f, 0.1f, 0.f, -0.03f});
  EXPECT_EQ(qat::perChannelScales(w), (std::vector<float>{1.f / 127.f, 0.1f / 127.f}));
  Variable wv(w, true);
  Variable q = qat::fakeQuantWeight(wv);
  const float s0 = 1.f / 127.f, s1 = 0.1f / 127.f;
  // 0.5*127 = 63.5 rounds to even 64; 0.26*127 = 33.02 -> 33; -0.03/s1 = -38.1 -> -38.
  std::vector<float> want = {64 * s0, -127 * s0, 33 * s0, 127 * s1, 0.f, -38 * s1};
  for (int i = 0; i < 6; ++i) EXPECT_FLOAT_EQ(q.value()[i], want[size_t(i)]) << i;
  q.backward(Tensor::fromVector({2, 3}, {1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(wv.grad().toVector(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
}

TEST(FakeQuant, ActivationForwardByHandAndClippedGradientIsZero) {
  // scale 0.1, zero point -3: q = clamp(round(x / 0.1) - 3, -128, 127), out = (q + 3) * 0.1.
  Variable x(Tensor::fromVector({6}, {0.04f, 0.26f, 12.9f, 13.4f, -12.4f, -13.f}), true);
  Variable y = qat::fakeQuantActivation(x, 0.1f, -3);
  std::vector<float> want = {0.f, 0.3f, 12.9f, 13.f, -12.4f, -12.5f};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(y.value()[i], want[size_t(i)], 1e-5) << i;
  y.backward(Tensor::fromVector({6}, {1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(x.grad().toVector(), (std::vector<float>{1, 2, 3, 0, 5, 0}));  // 13.4 and -13 were clipped
  EXPECT_THROW(qat::fakeQuantActivation(x, 0.f, 0), InputError);
}

TEST(FakeQuant, ObserverEmaScaleAndZeroPoint) {
  qat::Observer o;
  o.observe(Tensor::fromVector({2}, {-1.f, 2.f}), 0.5f);
  EXPECT_FLOAT_EQ(o.min, -1.f);
  EXPECT_FLOAT_EQ(o.max, 2.f);
  o.observe(Tensor::fromVector({3}, {-3.f, 0.f, 4.f}), 0.5f);
  EXPECT_FLOAT_EQ(o.min, -2.f);
  EXPECT_FLOAT_EQ(o.max, 3.f);
  EXPECT_FLOAT_EQ(o.scale(), 5.f / 255.f);
  EXPECT_EQ(o.zeroPoint(), -26);  // -128 + 2 / (5/255) = -26
  qat::Observer pos;
  pos.observe(Tensor::fromVector({2}, {1.f, 3.f}), 0.5f);  // the range always holds 0
  EXPECT_FLOAT_EQ(pos.scale(), 3.f / 255.f);
  EXPECT_EQ(pos.zeroPoint(), -128);
}

TEST(FakeQuant, GraphModuleForwardEqualsQuantizeDequantizeByHand) {
  // conv (bias) -> bn -> relu, then linear: with BN folding the conv runs on the folded,
  // fake-quantized weights; the first train-mode batch sets the observers to its min/max.
  Graph g;
  int x = g.addInput("x", {2, 2, 5, 5});
  int c = g.addConv2d("conv", x, 3, 3, 1, 1, 1, true);
  c = g.addAct("act", g.addBatchNorm("bn", c), ActKind::Relu);
  g.addLinear("fc", g.addFlatten("flat", g.addGlobalAvgPool("gap", c)), 4, true);
  Rng rng(9);
  WeightMap w = randomWeights(g, rng);
  GraphModule gm(g, w);
  gm.enableFakeQuant();
  Tensor xt = randomTensor({2, 2, 5, 5}, rng, -1, 2);
  gm.train();
  Tensor y = gm.forward(Variable(xt)).value();

  auto T = [&](const std::string& k) { return Tensor::fromVector(w.at(k).shape, w.at(k).values); };
  auto minmax = [](const Tensor& t) {
    qat::Observer o;
    o.observe(t, 0.01f);
    return o;
  };
  NoGradGuard ng;
  qat::Observer ox = minmax(xt);
  Tensor xq = qat::fakeQuantActivation(Variable(xt), ox.scale(), ox.zeroPoint()).value();
  Tensor cw = T("conv.weight"), gamma = T("bn.weight"), var = T("bn.running_var");
  Tensor mean = T("bn.running_mean"), beta = T("bn.bias"), cb = T("conv.bias");
  Tensor wf = cw.clone(), bf = Tensor::empty({3});
  for (int64_t o = 0; o < 3; ++o) {
    const float s = float(gamma[o] / std::sqrt(double(var[o]) + 1e-5));
    for (int64_t i = 0; i < 18; ++i) wf[o * 18 + i] *= s;
    bf[o] = beta[o] + (cb[o] - mean[o]) * s;
  }
  ops::Conv2dParams p;
  p.padH = p.padW = 1;
  Variable h = ops::relu(ops::conv2d(Variable(xq), qat::fakeQuantWeight(Variable(wf)), Variable(bf), p));
  h = ops::flatten(ops::globalAvgPool(h));
  qat::Observer oh = minmax(h.value());
  Variable hq = qat::fakeQuantActivation(h, oh.scale(), oh.zeroPoint());
  Tensor want = ops::linear(hq, qat::fakeQuantWeight(Variable(T("fc.weight"))), Variable(T("fc.bias"))).value();
  EXPECT_LE(maxRelDiff(y, want), 1e-5);

  QuantSpec spec = gm.quantSpec();
  EXPECT_EQ(spec.calibration, "qat");
  ASSERT_EQ(spec.layers.size(), 2u);
  const LayerQuant& lc = spec.layers.at("conv");
  EXPECT_EQ(lc.weightScales, qat::perChannelScales(wf));  // of the folded weights
  EXPECT_FLOAT_EQ(lc.inputScale, ox.scale());
  EXPECT_EQ(lc.inputZeroPoint, ox.zeroPoint());
  // conv's fused output (after bn + relu) is observed where it is: the act's output.
  qat::Observer oa = minmax(ops::relu(ops::conv2d(Variable(xq), qat::fakeQuantWeight(Variable(wf)), Variable(bf), p)).value());
  EXPECT_FLOAT_EQ(lc.outputScale, oa.scale());
  EXPECT_EQ(lc.outputZeroPoint, oa.zeroPoint());
  EXPECT_FLOAT_EQ(spec.layers.at("fc").inputScale, oh.scale());
  // Folded BN statistics are frozen in QAT.
  EXPECT_EQ(weightMapOf(gm).at("bn.running_mean").values, w.at("bn.running_mean").values);
}

TEST(FakeQuant, ObserversUpdateInTrainAndAreFrozenInEval) {
  auto model = refnet(10);
  GraphModule gm(model->toGraph(1), weightMapOf(*model));
  gm.enableFakeQuant();
  Rng rng(11);
  Tensor x1 = randomTensor({4, 1, 28, 28}, rng), x2 = randomTensor({4, 1, 28, 28}, rng, -3, 3);
  gm.eval();
  EXPECT_THROW(gm.forward(Variable(x1)), Error);  // observers have seen nothing yet
  EXPECT_THROW(gm.quantSpec(), Error);
  gm.train();
  gm.forward(Variable(x1));
  const QuantSpec a = gm.quantSpec();
  int convLinear = 0;
  for (const Node& n : gm.graph().nodes()) convLinear += n.kind == OpKind::Conv2d || n.kind == OpKind::Linear;
  EXPECT_EQ(int(a.layers.size()), convLinear);
  // The stem's output is block 0's input: one observer, the same numbers.
  EXPECT_EQ(a.layers.at("stem.conv").outputScale, a.layers.at("blocks.0.expand.conv").inputScale);
  EXPECT_EQ(a.layers.at("stem.conv").outputZeroPoint, a.layers.at("blocks.0.expand.conv").inputZeroPoint);
  gm.eval();
  Tensor e1, e2;
  {
    NoGradGuard ng;
    e1 = gm.forward(Variable(x2)).value();
    e2 = gm.forward(Variable(x2)).value();
  }
  EXPECT_EQ(e1.toVector(), e2.toVector());
  EXPECT_EQ(gm.quantSpec().toJson().dump(), a.toJson().dump());  // eval froze them
  gm.train();
  gm.forward(Variable(x2));
  EXPECT_NE(gm.quantSpec().layers.at("stem.conv").inputScale, a.layers.at("stem.conv").inputScale);
  // Only the chosen layers, and names are checked.
  FakeQuantOptions some;
  some.layers = {"classifier"};
  gm.enableFakeQuant(some);
  gm.forward(Variable(x1));
  EXPECT_EQ(gm.quantSpec().layers.size(), 1u);
  some.layers = {"blocks.0.expand.bn"};
  EXPECT_THROW(gm.enableFakeQuant(some), InputError);
  gm.disableFakeQuant();
  EXPECT_FALSE(gm.fakeQuantEnabled());
}

TEST(FakeQuant, FoldedBatchNormGradientsByHand) {
  // 1x1 conv (bias) on one pixel, 2 output channels, BN folded: y[c] = xq * fq(w[c] s[c]) +
  // beta[c] + (b[c] - mean[c]) s[c] with s = gamma / sqrt(var + eps). With STE and loss sum(y):
  // dw = xq s, dgamma = (xq w + b - mean) / sqrt(var + eps), dbeta = 1, db = s.
  Graph g;
  g.addBatchNorm("bn", g.addConv2d("conv", g.addInput("x", {1, 1, 1, 1}), 2, 1, 1, 0, 1, true));
  WeightMap w;
  w["conv.weight"] = {{2, 1, 1, 1}, {0.5f, -0.25f}};
  w["conv.bias"] = {{2}, {0.1f, 0.2f}};
  w["bn.weight"] = {{2}, {1.5f, 0.75f}};
  w["bn.bias"] = {{2}, {0.05f, -0.1f}};
  w["bn.running_mean"] = {{2}, {0.3f, -0.2f}};
  w["bn.running_var"] = {{2}, {4.f, 0.25f}};
  GraphModule gm(g, w);
  gm.enableFakeQuant();
  gm.train();
  const float x = 0.8f;
  Variable y = gm.forward(Variable(Tensor::fromVector({1, 1, 1, 1}, {x})));
  y.backward(Tensor::full({1, 2, 1, 1}, 1.f));
  qat::Observer o;
  o.observe(Tensor::fromVector({1}, {x}), 0.01f);
  const float xq = qat::fakeQuantActivation(Variable(Tensor::fromVector({1}, {x})), o.scale(), o.zeroPoint()).value()[0];
  std::map<std::string, Variable> p;
  for (auto& [n, v] : gm.namedParameters()) p[n] = v;
  for (int c = 0; c < 2; ++c) {
    const double r = 1.0 / std::sqrt(double(w["bn.running_var"].values[c]) + 1e-5);
    const double s = w["bn.weight"].values[c] * r;
    const double wc = w["conv.weight"].values[c], bc = w["conv.bias"].values[c], m = w["bn.running_mean"].values[c];
    // Forward: the folded weight has one element per channel, so it is exactly representable.
    EXPECT_NEAR(y.value()[c], xq * wc * s + w["bn.bias"].values[c] + (bc - m) * s, 1e-5) << c;
    EXPECT_NEAR(p["conv.weight"].grad()[c], xq * s, 1e-6) << c;
    EXPECT_NEAR(p["bn.weight"].grad()[c], (xq * wc + bc - m) * r, 1e-6) << c;
    EXPECT_NEAR(p["bn.bias"].grad()[c], 1.0, 1e-7) << c;
    EXPECT_NEAR(p["conv.bias"].grad()[c], s, 1e-6) << c;
  }
}
