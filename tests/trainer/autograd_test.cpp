#include <gtest/gtest.h>

#include "core/error.h"
#include "trainer/autograd.h"

using namespace hwnas;

// y = a*b + a, built from recordOp by hand: dy/da = b + 1, dy/db = a.
static Variable mulScalar(const Variable& a, const Variable& b) {
  Tensor out = Tensor::full({1}, a.value()[0] * b.value()[0]);
  return recordOp("mul", out, {a, b}, [a, b](const Tensor& g) {
    accumulateGrad(a, Tensor::full({1}, g[0] * b.value()[0]));
    accumulateGrad(b, Tensor::full({1}, g[0] * a.value()[0]));
  });
}
static Variable addScalar(const Variable& a, const Variable& b) {
  Tensor out = Tensor::full({1}, a.value()[0] + b.value()[0]);
  return recordOp("add", out, {a, b}, [a, b](const Tensor& g) {
    accumulateGrad(a, g);
    accumulateGrad(b, g);
  });
}

TEST(Autograd, ChainRuleAndSharedGradients) {
  Variable a(Tensor::full({1}, 3.f), true), b(Tensor::full({1}, -2.f), true);
  Variable y = addScalar(mulScalar(a, b), a);
  y.backward();
  EXPECT_FLOAT_EQ(a.grad()[0], -2.f + 1.f);
  EXPECT_FLOAT_EQ(b.grad()[0], 3.f);
  // A second backward on a new graph accumulates into leaf gradients.
  Variable z = addScalar(a, a);
  z.backward();
  EXPECT_FLOAT_EQ(a.grad()[0], -1.f + 2.f);
}

TEST(Autograd, NoGradRecordsNothing) {
  Variable a(Tensor::full({1}, 3.f), true);
  NoGradGuard g;
  Variable y = addScalar(a, a);
  EXPECT_FALSE(y.requiresGrad());
  EXPECT_TRUE(y.isLeaf());
  EXPECT_THROW(y.backward(), Error);
}

TEST(Tensor, ViewSharesStorageAndChecksSize) {
  Tensor t = Tensor::fromVector({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor v = t.view({3, 2});
  v[0] = 10;
  EXPECT_EQ(t[0], 10);
  EXPECT_THROW(t.view({4, 2}), ShapeError);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % 64, 0u);
  Tensor c = t.clone();
  c[1] = 0;
  EXPECT_EQ(t[1], 2);
}
