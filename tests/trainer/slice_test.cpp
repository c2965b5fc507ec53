#include <gtest/gtest.h>

#include "core/error.h"
#include "tests/trainer/op_test_util.h"
#include "trainer/kernels/slice_ref.h"
#include "trainer/ops.h"
#include "trainer/ops_slice.h"

using namespace hwnas;
using namespace hwnas::testing;

namespace {

struct SliceCase {
  std::vector<int64_t> full, starts, sizes;
};

std::vector<SliceCase> cases() {
  return {
      {{7}, {2}, {4}},                          // 1-D (BN gamma)
      {{5, 9}, {0, 0}, {3, 7}},                 // leading rows and columns (classifier)
      {{6, 1, 7, 7}, {0, 0, 1, 1}, {4, 1, 5, 5}},  // depthwise centre crop
      {{5, 4, 3, 3}, {1, 2, 0, 1}, {3, 1, 3, 2}},  // odd offsets everywhere
      {{3, 3, 1, 1}, {0, 0, 0, 0}, {3, 3, 1, 1}},  // the whole tensor
      {{4, 5, 2, 3}, {0, 0, 0, 0}, {1, 1, 1, 1}},  // a single element
  };
}

}  // namespace

// fast slice == naive sliceRef exactly (a copy), on the awkward boxes above.
TEST(Slice, FastMatchesNaive) {
  Rng rng(1);
  for (const auto& c : cases()) {
    Vec x = randomVec((size_t)numel(c.full), rng);
    Tensor xt = toTensor(c.full, x);
    Variable y = ops::slice(Variable(xt), c.starts, c.sizes);
    Vec ref((size_t)numel(c.sizes));
    kernels::sliceRef(x.data(), c.full, c.starts, c.sizes, ref.data());
    ASSERT_EQ(y.shape(), c.sizes);
    expectClose(toVec(y.value()), roundToFloat(ref), 0.0, "slice " + shapeToString(c.full));
  }
}

// gradcheck(sliceRef, f64, eps 1e-6) within 1e-6, and the op's backward equals sliceBackwardRef.
TEST(Slice, BackwardMatchesFiniteDifferencesAndNaive) {
  Rng rng(2);
  for (const auto& c : cases()) {
    Vec x = randomVec((size_t)numel(c.full), rng), gy = randomVec((size_t)numel(c.sizes), rng);
    auto f = [&](const std::vector<Vec>& in) {
      Vec y((size_t)numel(c.sizes));
      kernels::sliceRef(in[0].data(), c.full, c.starts, c.sizes, y.data());
      return y;
    };
    Vec gxRef((size_t)numel(c.full));
    kernels::sliceBackwardRef(gy.data(), c.full, c.starts, c.sizes, gxRef.data());
    EXPECT_LE(maxRelError(numericGrad(f, {x}, 0, gy), gxRef), 1e-6);

    Variable xv(toTensor(c.full, x), true);
    Variable y = ops::slice(xv, c.starts, c.sizes);
    y.backward(toTensor(c.sizes, gy));
    expectClose(toVec(xv.grad()), roundToFloat(gxRef), 0.0, "slice backward " + shapeToString(c.full));
  }
}

// Two slices of one weight accumulate into one gradient (weight sharing).
TEST(Slice, SharedWeightGradientsAccumulate) {
  Variable w(Tensor::fromVector({4}, {1, 2, 3, 4}), true);
  Variable a = ops::sliceLeading(w, {2});
  Variable b = ops::slice(w, {1}, {3});
  Variable s = ops::add(ops::reshape(a, {2}), ops::slice(b, {0}, {2}));  // w0+w1, w1+w2
  s.backward(Tensor::fromVector({2}, {1, 10}));
  EXPECT_EQ(w.grad().toVector(), (std::vector<float>{1, 11, 10, 0}));
}

TEST(Slice, ReshapeGradientAndErrors) {
  Variable x(Tensor::fromVector({2, 3}, {1, 2, 3, 4, 5, 6}), true);
  Variable r = ops::reshape(x, {3, 2});
  EXPECT_EQ(r.shape(), (Shape{3, 2}));
  r.backward(Tensor::fromVector({3, 2}, {1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(x.grad().shape(), (Shape{2, 3}));
  EXPECT_EQ(x.grad().toVector(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_THROW(ops::reshape(x, {4, 2}), ShapeError);
  EXPECT_THROW(ops::slice(x, {1, 0}, {2, 3}), ShapeError);
  EXPECT_THROW(ops::slice(x, {0}, {2}), ShapeError);
}
