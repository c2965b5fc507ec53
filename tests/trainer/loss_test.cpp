#include <gtest/gtest.h>

#include "core/error.h"
#include "tests/trainer/op_test_util.h"
#include "trainer/kernels/loss.h"
#include "trainer/kernels/loss_ref.h"
#include "trainer/ops.h"

using namespace hwnas;
using namespace hwnas::testing;

namespace {
std::vector<int32_t> randomLabels(int64_t n, int64_t k, Rng& rng) {
  std::vector<int32_t> l(n);
  for (auto& v : l) v = (int32_t)rng.uniformInt(k);
  return l;
}
}  // namespace

// gradcheck(crossEntropy with smoothing, kdLoss, f64, eps 1e-6) within 1e-4 relative.
TEST(Loss, NaiveBackwardMatchesFiniteDifferences) {
  Rng rng(40);
  const int64_t N = 5, K = 7;
  auto labels = randomLabels(N, K, rng);
  Vec x = randomVec(N * K, rng, -3, 3), t = randomVec(N * K, rng, -3, 3);
  for (double eps : {0.0, 0.1, 0.5}) {
    auto f = [&](const std::vector<Vec>& in) {
      return Vec{kernels::crossEntropyRef<double>(in[0].data(), N, K, labels.data(), eps, nullptr)};
    };
    Vec g(N * K);
    kernels::crossEntropyRef<double>(x.data(), N, K, labels.data(), eps, g.data());
    EXPECT_LE(maxRelError(numericGrad(f, {x}, 0, {1.0}), g), 1e-4) << "eps " << eps;
  }
  for (double T : {1.0, 4.0})
    for (double alpha : {0.0, 0.3, 1.0}) {
      auto f = [&](const std::vector<Vec>& in) {
        return Vec{kernels::kdLossRef<double>(in[0].data(), t.data(), N, K, labels.data(), T, alpha, nullptr)};
      };
      Vec g(N * K);
      kernels::kdLossRef<double>(x.data(), t.data(), N, K, labels.data(), T, alpha, g.data());
      EXPECT_LE(maxRelError(numericGrad(f, {x}, 0, {1.0}), g), 1e-4) << "T " << T << " alpha " << alpha;
    }
}

// fast f32 == naive f64 within 1e-5, also with large logits (stability) and a single class.
TEST(Loss, FastAndOpsMatchNaive) {
  Rng rng(41);
  for (auto [N, K, scale] : {std::tuple<int64_t, int64_t, double>{1, 1, 1.0}, {3, 10, 1.0}, {128, 10, 5.0},
                             {7, 3, 200.0}}) {
    auto labels = randomLabels(N, K, rng);
    Vec x = roundToFloat(randomVec(N * K, rng, -scale, scale)), t = roundToFloat(randomVec(N * K, rng, -scale, scale));
    const std::string what = "N=" + std::to_string(N) + " K=" + std::to_string(K);
    {
      Vec gr(N * K);
      double lr = kernels::crossEntropyRef<double>(x.data(), N, K, labels.data(), 0.1, gr.data());
      Variable xv(toTensor({N, K}, x), true);
      Variable l = ops::crossEntropy(xv, labels, 0.1f);
      ASSERT_EQ(l.value().numel(), 1);
      EXPECT_TRUE(std::isfinite(l.value()[0]));
      EXPECT_NEAR(l.value()[0], lr, 1e-5 * std::max(1.0, std::abs(lr))) << what;
      l.backward();
      expectClose(toVec(xv.grad()), gr, 1e-5, "ce grad " + what);
    }
    {
      Vec gr(N * K);
      double lr = kernels::kdLossRef<double>(x.data(), t.data(), N, K, labels.data(), 3.0, 0.7, gr.data());
      Variable xv(toTensor({N, K}, x), true);
      Variable l = ops::kdLoss(xv, toTensor({N, K}, t), labels, 3.f, 0.7f);
      EXPECT_NEAR(l.value()[0], lr, 1e-5 * std::max(1.0, std::abs(lr))) << what;
      l.backward(Tensor::full({1}, 2.f));  // the incoming gradient scales the result
      for (auto& v : gr) v *= 2;
      expectClose(toVec(xv.grad()), gr, 1e-5, "kd grad " + what);
    }
  }
}

// Hand-computed: logits [1,2,3], label 0, eps 0.1: logsumexp = 3.40760596,
// loss = 0.9*2.40760596 + 0.1/3*(2.40760596+1.40760596+0.40760596) = 2.30760596.
// A uniform row [0,0,0] costs log 3 whatever the smoothing; the batch mean averages the two.
TEST(Loss, CrossEntropyLabelSmoothingKnownAnswer) {
  Variable x(Tensor::fromVector({1, 3}, {1, 2, 3}), true);
  Variable l = ops::crossEntropy(x, {0}, 0.1f);
  EXPECT_NEAR(l.value()[0], 2.30760596444438, 1e-6);
  l.backward();
  // grad = softmax - target, target = [0.9 + 0.1/3, 0.1/3, 0.1/3].
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(x.grad()[0], std::exp(1.0) / z - (0.9 + 0.1 / 3), 1e-6);
  EXPECT_NEAR(x.grad()[2], std::exp(3.0) / z - 0.1 / 3, 1e-6);
  Variable x2(Tensor::fromVector({2, 3}, {1, 2, 3, 0, 0, 0}));
  EXPECT_NEAR(ops::crossEntropy(x2, {0, 2}, 0.1f).value()[0], 1.703109126556245, 1e-6);
  // No smoothing: -log softmax.
  EXPECT_NEAR(ops::crossEntropy(x, {2}).value()[0], 0.40760596444438, 1e-6);
}

TEST(Loss, KdLossKnownAnswers) {
  Rng rng(42);
  Vec s = roundToFloat(randomVec(12, rng, -2, 2));
  Tensor st = toTensor({4, 3}, s);
  std::vector<int32_t> labels = {0, 1, 2, 1};
  const float ce = ops::crossEntropy(Variable(st), labels).value()[0];
  // alpha = 0: plain cross-entropy; teacher == student: KL = 0.
  EXPECT_NEAR(ops::kdLoss(Variable(st), st, labels, 4.f, 0.f).value()[0], ce, 1e-6);
  EXPECT_NEAR(ops::kdLoss(Variable(st), st, labels, 4.f, 0.6f).value()[0], 0.4f * ce, 1e-6);
  // One row, T = 1, alpha = 1: KL(softmax([0,0]) || softmax([log 3, 0])) = 0.5*log(0.5/0.75) + 0.5*log(0.5/0.25).
  Tensor stu = Tensor::fromVector({1, 2}, {(float)std::log(3.0), 0.f});
  Tensor tea = Tensor::fromVector({1, 2}, {0.f, 0.f});
  EXPECT_NEAR(ops::kdLoss(Variable(stu), tea, {0}, 1.f, 1.f).value()[0],
              0.5 * std::log(0.5 / 0.75) + 0.5 * std::log(2.0), 1e-6);
}

TEST(Loss, BadInputsThrow) {
  Variable x(Tensor::zeros({2, 3}));
  EXPECT_THROW(ops::crossEntropy(x, {0}), ShapeError);
  EXPECT_THROW(ops::crossEntropy(Variable(Tensor::zeros({2, 3, 1})), {0, 1}), ShapeError);
  EXPECT_THROW(ops::crossEntropy(x, {0, 3}), InputError);
  EXPECT_THROW(ops::crossEntropy(x, {0, -1}), InputError);
  EXPECT_THROW(ops::kdLoss(x, Tensor::zeros({2, 4}), {0, 1}, 2.f, 0.5f), ShapeError);
  EXPECT_THROW(ops::kdLoss(x, Tensor::zeros({2, 3}), {0, 1}, 0.f, 0.5f), InputError);
  try {
    ops::crossEntropy(x, {0});
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find(shapeToString({2, 3})), std::string::npos) << e.what();
  }
}
