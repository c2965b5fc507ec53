// Zero-cost proxies on tiny nets with closed forms: a bias-free linear classifier (grad-norm and
// SNIP from the softmax gradient computed here in double; SynFlow of a two-layer linear net is
// 2 x 1'|W2||W1|1; NASWOT of a linear net, whose per-sample Jacobians are all equal, has a rank-1
// correlation matrix), params/FLOPs against the layer sizes, and that the module is left as found.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "predictors/zero_cost.h"
#include "trainer/model_def.h"
#include "trainer/nn.h"

using namespace hwnas;

namespace {

Tensor batch(int n, int d, uint64_t seed) {
  Rng rng(seed);
  Tensor x(Shape{n, d});
  for (int64_t i = 0; i < x.numel(); ++i) x[i] = float(rng.normal());
  return x;
}

std::shared_ptr<nn::Sequential> twoLayer(bool bias, bool relu, uint64_t seed) {
  Rng rng(seed);
  auto s = std::make_shared<nn::Sequential>();
  s->add("fc1", std::make_shared<nn::Linear>(4, 3, bias, rng));
  if (relu) {
    struct Relu : nn::Module {
      Variable forward(const Variable& x) override { return ops::relu(x); }
      int toGraph(Graph& g, int input, const std::string& name) const override {
        return g.addAct(name, input, ActKind::Relu);
      }
    };
    s->add("relu", std::make_shared<Relu>());
  }
  s->add("fc2", std::make_shared<nn::Linear>(3, 2, bias, rng));
  return s;
}

// dL/dW of mean cross-entropy for logits = W x, computed in double.
std::vector<double> linearGrad(const nn::Linear& l, const Tensor& x, const std::vector<int32_t>& y) {
  const int n = int(x.size(0)), in = int(x.size(1)), out = int(l.weight.value().size(0));
  const float* w = l.weight.value().data();
  std::vector<double> g(size_t(out) * in, 0.0);
  for (int i = 0; i < n; ++i) {
    std::vector<double> z(out);
    double mx = -1e300;
    for (int o = 0; o < out; ++o) {
      z[o] = 0;
      for (int k = 0; k < in; ++k) z[o] += double(w[o * in + k]) * x[i * in + k];
      mx = std::max(mx, z[o]);
    }
    double sum = 0;
    for (double& v : z) sum += (v = std::exp(v - mx));
    for (int o = 0; o < out; ++o) {
      const double d = z[o] / sum - (o == y[i] ? 1.0 : 0.0);
      for (int k = 0; k < in; ++k) g[o * in + k] += d * x[i * in + k] / n;
    }
  }
  return g;
}

}  // namespace

TEST(ZeroCost, ParamsAndFlopsOfTwoLinearLayers) {
  auto net = twoLayer(true, true, 1);
  EXPECT_EQ(zcParams(*net), 4 * 3 + 3 + 3 * 2 + 2);
  EXPECT_EQ(zcFlops(*net, {4}), 2 * (4 * 3 + 3 * 2));  // 2 x MACs
}

TEST(ZeroCost, GradNormAndSnipOfALinearClassifier) {
  Rng rng(3);
  nn::Linear l(5, 3, false, rng);
  const Tensor x = batch(8, 5, 4);
  const std::vector<int32_t> y = {0, 1, 2, 0, 1, 2, 0, 1};
  const std::vector<double> g = linearGrad(l, x, y);
  double norm = 0, snip = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    norm += g[i] * g[i];
    snip += std::abs(g[i] * l.weight.value()[i]);
  }
  EXPECT_NEAR(zcGradNorm(l, x, y), std::sqrt(norm), 1e-5 * std::sqrt(norm));
  EXPECT_NEAR(zcSnip(l, x, y), snip, 1e-5 * snip);
  EXPECT_FALSE(l.weight.grad().defined());  // left as found
}

TEST(ZeroCost, SynflowOfATwoLayerLinearNetIsTwiceItsPathSum) {
  auto net = twoLayer(false, false, 5);
  auto w1 = net->namedParameters()[0].second.value().toVector();  // [3, 4]
  auto w2 = net->namedParameters()[1].second.value().toVector();  // [2, 3]
  // R = 1'|W2||W1|1; each layer's sum of W dR/dW equals R, so the score is 2R.
  double r = 0;
  for (int o = 0; o < 2; ++o)
    for (int h = 0; h < 3; ++h)
      for (int i = 0; i < 4; ++i) r += std::abs(double(w2[o * 3 + h])) * std::abs(double(w1[h * 4 + i]));
  EXPECT_NEAR(zcSynflow(*net, {4}), 2 * r, 1e-5 * r);
  // Weights restored, signs included.
  EXPECT_EQ(net->namedParameters()[0].second.value().toVector(), w1);
}

TEST(ZeroCost, NaswotOfALinearNetHasARankOneCorrelation) {
  auto net = twoLayer(true, false, 6);
  const int n = 6;
  const Tensor x = batch(n, 4, 7);
  // Every row of J is W1'W2'1: C is all ones, eigenvalues n and 0 (n - 1 times).
  const double k = 1e-5;
  const double expect = -((std::log(n + k) + 1 / (n + k)) + (n - 1) * (std::log(k) + 1 / k));
  EXPECT_NEAR(zcNaswot(*net, x), expect, 1e-3 * std::abs(expect));
  // ReLU makes the Jacobians differ between samples: at least one eigenvalue fewer near 0, each
  // of which costs about 1 / k = 1e5.
  auto relu = twoLayer(true, true, 6);
  EXPECT_GT(zcNaswot(*relu, x), expect + 1e5);
  EXPECT_THROW(zcNaswot(*net, batch(1, 4, 1)), InputError);
}

TEST(ZeroCost, AllScoresLeaveTheModuleAsFound) {
  auto net = twoLayer(true, true, 8);
  net->eval();
  const auto before = net->namedParameters()[0].second.value().toVector();
  const Tensor x = batch(4, 4, 9);
  const ZeroCostScores s = zeroCostScores(*net, x, {0, 1, 1, 0});
  EXPECT_GT(s.gradNorm, 0);
  EXPECT_GT(s.snip, 0);
  EXPECT_GT(s.synflow, 0);
  EXPECT_FALSE(net->isTraining());
  EXPECT_EQ(net->namedParameters()[0].second.value().toVector(), before);
  EXPECT_EQ(zeroCostScores(*net, x, {0, 1, 1, 0}).snip, s.snip);  // deterministic
  EXPECT_THROW(zcGradNorm(*net, x, {0, 1}), InputError);
}

TEST(ZeroCost, RefnetScoresAreFiniteAndLeaveBatchNormStatisticsAlone) {
  auto model = buildModel(loadModelDef(std::string(HWNAS_SOURCE_DIR) + "/configs/models/refnet.yaml"), 0);
  Rng rng(1);
  Tensor x(Shape{8, 1, 28, 28});
  for (int64_t i = 0; i < x.numel(); ++i) x[i] = float(rng.normal());
  const std::vector<int32_t> y = {0, 1, 2, 3, 4, 5, 6, 7};
  std::vector<std::vector<float>> before;
  for (auto& [name, b] : model->namedBuffers()) before.push_back(b.toVector());
  const ZeroCostScores s = zeroCostScores(*model, x, y);
  // refnet: 136,570 parameters and 5,719,680 MACs (the anchors' PyTorch count).
  EXPECT_EQ(s.params, 136570);
  EXPECT_EQ(s.flops, 2 * 5719680);
  for (double v : {s.gradNorm, s.snip, s.synflow}) {
    EXPECT_TRUE(std::isfinite(v));
    EXPECT_GT(v, 0);
  }
  EXPECT_TRUE(std::isfinite(s.naswot));
  size_t i = 0;
  for (auto& [name, b] : model->namedBuffers()) EXPECT_EQ(b.toVector(), before[i++]) << name;
}
