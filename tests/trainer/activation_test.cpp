#include <gtest/gtest.h>

#include "core/error.h"
#include "tests/trainer/op_test_util.h"
#include "trainer/kernels/activation.h"
#include "trainer/kernels/activation_ref.h"
#include "trainer/ops.h"

using namespace hwnas;
using namespace hwnas::testing;
using ops::Act;

namespace {

const Act kAllActs[] = {Act::Identity, Act::ReLU,  Act::ReLU6,  Act::HardSwish,
                        Act::HardSigmoid, Act::SiLU, Act::Sigmoid};

// Random points in [-8, 8] at least 1e-3 away from every kink of the piecewise activations.
Vec pointsAwayFromKinks(size_t n, Rng& rng) {
  const double kinks[] = {-3.0, 0.0, 3.0, 6.0};
  Vec v;
  while (v.size() < n) {
    double x = rng.uniform(-8.0, 8.0);
    bool near = false;
    for (double k : kinks) near = near || std::abs(x - k) < 1e-3;
    if (!near) v.push_back(x);
  }
  return v;
}

}  // namespace

// gradcheck(activation, f64, eps 1e-6) within 1e-4 relative, for every activation.
TEST(Activation, NaiveBackwardMatchesFiniteDifferences) {
  Rng rng(1);
  for (Act a : kAllActs) {
    Vec x = pointsAwayFromKinks(200, rng);
    Vec gy = randomVec(x.size(), rng);
    auto f = [a](const std::vector<Vec>& in) {
      Vec y(in[0].size());
      kernels::activationForwardRef(in[0].data(), (int64_t)y.size(), a, y.data());
      return y;
    };
    Vec num = numericGrad(f, {x}, 0, gy);
    Vec ana(x.size());
    kernels::activationBackwardRef(x.data(), gy.data(), (int64_t)x.size(), a, ana.data());
    EXPECT_LE(maxRelError(num, ana), 1e-4) << ops::actName(a);
  }
}

// fast f32 == naive f64 within 1e-5, odd sizes (tail handling) and a size spanning many chunks.
TEST(Activation, FastMatchesNaive) {
  Rng rng(2);
  for (int64_t n : {1, 17, 1001, 100003}) {
    Vec x = roundToFloat(randomVec(n, rng, -9.0, 9.0));
    Vec gy = roundToFloat(randomVec(n, rng));
    Tensor xt = toTensor({n}, x), gt = toTensor({n}, gy);
    for (Act a : kAllActs) {
      Vec yr(n), gr(n);
      kernels::activationForwardRef(x.data(), n, a, yr.data());
      kernels::activationBackwardRef(x.data(), gy.data(), n, a, gr.data());
      Tensor y = Tensor::empty({n}), g = Tensor::empty({n});
      kernels::activationForward(xt.data(), n, a, y.data());
      kernels::activationBackward(xt.data(), gt.data(), n, a, g.data());
      expectClose(toVec(y), yr, 1e-5, std::string("forward ") + ops::actName(a));
      expectClose(toVec(g), gr, 1e-5, std::string("backward ") + ops::actName(a));
    }
  }
}

TEST(Activation, OpForwardBackwardAndKnownValues) {
  Tensor xt = Tensor::fromVector({1, 2, 2, 2}, {-4.f, -1.f, 0.f, 1.f, 2.5f, 3.f, 6.f, 7.f});
  struct Case {
    Act act;
    std::vector<float> y, g;
  };
  const std::vector<Case> cases = {
      {Act::ReLU, {0, 0, 0, 1, 2.5f, 3, 6, 7}, {0, 0, 0, 1, 1, 1, 1, 1}},
      {Act::ReLU6, {0, 0, 0, 1, 2.5f, 3, 6, 6}, {0, 0, 0, 1, 1, 1, 0, 0}},
      {Act::HardSigmoid, {0, 2.f / 6, 0.5f, 4.f / 6, 5.5f / 6, 1, 1, 1}, {0, 1.f / 6, 1.f / 6, 1.f / 6, 1.f / 6, 0, 0, 0}},
      {Act::HardSwish,
       {0, -2.f / 6, 0, 4.f / 6, 2.5f * 5.5f / 6, 3, 6, 7},
       {0, -1.f / 3 + 0.5f, 0.5f, 1.f / 3 + 0.5f, 2.5f / 3 + 0.5f, 1.5f, 1, 1}},
  };
  for (const auto& c : cases) {
    Variable x(xt.clone(), true);
    Variable y = ops::activation(x, c.act);
    y.backward(Tensor::full(y.shape(), 1.f));
    EXPECT_EQ(y.shape(), xt.shape());
    for (int i = 0; i < 8; ++i) {
      EXPECT_NEAR(y.value()[i], c.y[i], 1e-6) << ops::actName(c.act) << " y[" << i << "]";
      EXPECT_NEAR(x.grad()[i], c.g[i], 1e-6) << ops::actName(c.act) << " grad[" << i << "]";
    }
  }
  // Sigmoid and SiLU against closed forms.
  Variable x(xt.clone(), true);
  Variable s = ops::sigmoid(x);
  Variable z = ops::silu(x);
  for (int i = 0; i < 8; ++i) {
    double v = xt[i], sv = 1 / (1 + std::exp(-v));
    EXPECT_NEAR(s.value()[i], sv, 1e-6);
    EXPECT_NEAR(z.value()[i], v * sv, 1e-5);
  }
}

TEST(Activation, NamesRoundTripAndUnknownNameThrows) {
  for (Act a : kAllActs) EXPECT_EQ(ops::actFromName(ops::actName(a)), a);
  EXPECT_EQ(ops::actFromName("hswish"), Act::HardSwish);
  EXPECT_THROW(ops::actFromName("foo"), InputError);
  try {
    ops::actFromName("foo");
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("foo"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("relu6"), std::string::npos);
  }
}

TEST(Activation, NoGradInputRecordsNothing) {
  Variable x(Tensor::full({2, 3}, -1.f), false);
  Variable y = ops::relu(x);
  EXPECT_FALSE(y.requiresGrad());
  EXPECT_EQ(y.value()[0], 0.f);
}
