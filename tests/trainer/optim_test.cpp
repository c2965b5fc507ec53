#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "trainer/optim.h"
#include "trainer/schedule.h"

using namespace hwnas;
using namespace hwnas::optim;

static std::vector<std::pair<std::string, Variable>> oneParam(float w) {
  return {{"w", Variable(Tensor::full({1}, w), true)}};
}

// torch.optim.SGD(lr, momentum=0.9, nesterov=True, weight_decay=wd) by hand, gradients 1.0 then 2.0.
TEST(Optim, SgdNesterovMatchesTheTorchUpdateRule) {
  auto p = oneParam(1.0f);
  Sgd opt(makeParamGroups(p, 0.1f, false), 0.9f, true);
  Variable w = p[0].second;
  double wd = 1.0, buf = 0;
  const double grads[] = {1.0, 2.0, -0.5};
  for (int s = 0; s < 3; ++s) {
    w.grad() = Tensor::full({1}, (float)grads[s]);
    opt.step(0.5f);
    double d = grads[s] + 0.1 * wd;
    buf = s == 0 ? d : 0.9 * buf + d;
    wd -= 0.5 * (d + 0.9 * buf);
    EXPECT_NEAR(w.value()[0], wd, 1e-6) << "step " << s;
  }
}

TEST(Optim, AdamWMatchesHandComputation) {
  auto p = oneParam(1.0f);
  AdamW opt(makeParamGroups(p, 0.01f, false));
  Variable w = p[0].second;
  double x = 1.0, m = 0, v = 0;
  for (int t = 1; t <= 3; ++t) {
    const double g = 0.3 * t;
    w.grad() = Tensor::full({1}, (float)g);
    opt.step(0.1f);
    x *= 1 - 0.1 * 0.01;
    m = 0.9 * m + 0.1 * g;
    v = 0.999 * v + 0.001 * g * g;
    const double mh = m / (1 - std::pow(0.9, t)), vh = v / (1 - std::pow(0.999, t));
    x -= 0.1 * mh / (std::sqrt(vh) + 1e-8);
    EXPECT_NEAR(w.value()[0], x, 1e-6);
  }
}

TEST(Optim, NoDecayForBnAndBias) {
  std::vector<std::pair<std::string, Variable>> named = {
      {"conv.weight", Variable(Tensor::full({2, 2, 1, 1}, 1.f), true)},
      {"bn.weight", Variable(Tensor::full({2}, 1.f), true)},
      {"fc.bias", Variable(Tensor::full({2}, 1.f), true)}};
  auto groups = makeParamGroups(named, 0.5f, true);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].params.size(), 1u);
  EXPECT_EQ(groups[0].weightDecay, 0.5f);
  EXPECT_EQ(groups[1].params.size(), 2u);
  EXPECT_EQ(groups[1].weightDecay, 0.f);
}

TEST(Optim, StateRoundTripResumesExactly) {
  auto run = [](int split) {
    auto p = oneParam(0.7f);
    auto opt = std::make_unique<Sgd>(makeParamGroups(p, 0.01f, false), 0.9f, true);
    Variable w = p[0].second;
    for (int s = 0; s < 6; ++s) {
      if (s == split) {  // "restart": a fresh optimizer loads the saved state
        auto state = opt->state();
        const int64_t steps = opt->steps();
        opt = std::make_unique<Sgd>(makeParamGroups(p, 0.01f, false), 0.9f, true);
        opt->loadState(state);
        opt->setSteps(steps);
      }
      w.grad() = Tensor::full({1}, std::sin((float)s));
      opt->step(0.1f);
    }
    return w.value()[0];
  };
  EXPECT_EQ(run(-1), run(3));
  auto p = oneParam(0.f);
  Sgd opt(makeParamGroups(p, 0.f, false), 0.9f, true);
  EXPECT_THROW(opt.loadState({}), IoError);
}

TEST(Schedule, CosineWarmupStep) {
  CosineSchedule c(0.1f, 100);
  EXPECT_FLOAT_EQ(c.lr(0), 0.1f);
  EXPECT_NEAR(c.lr(50), 0.05f, 1e-7);
  EXPECT_NEAR(c.lr(100), 0.f, 1e-9);
  auto w = makeSchedule("cosine", 0.2f, 110, 10);
  EXPECT_NEAR(w->lr(0), 0.02f, 1e-7);
  EXPECT_NEAR(w->lr(9), 0.2f, 1e-7);
  EXPECT_NEAR(w->lr(10), 0.2f, 1e-7);
  EXPECT_NEAR(w->lr(60), 0.1f, 1e-6);
  auto s = makeSchedule("step", 1.f, 90, 0);
  EXPECT_FLOAT_EQ(s->lr(29), 1.f);
  EXPECT_FLOAT_EQ(s->lr(30), 0.1f);
  EXPECT_NEAR(s->lr(60), 0.01f, 1e-8);
  EXPECT_THROW(makeSchedule("linear-ish", 1.f, 10, 0), InputError);
}
