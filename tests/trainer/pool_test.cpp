#include <gtest/gtest.h>

#include <numeric>

#include "core/error.h"
#include "tests/trainer/op_test_util.h"
#include "trainer/kernels/pool.h"
#include "trainer/kernels/pool_ref.h"
#include "trainer/ops.h"

using namespace hwnas;
using namespace hwnas::testing;
using ops::Pool2dParams;

namespace {

struct PoolCase {
  int64_t n, c, h, w;
  Pool2dParams p;
};

Pool2dParams params(int kh, int kw, int sh, int sw, int ph, int pw) {
  Pool2dParams p;
  p.kernelH = kh;
  p.kernelW = kw;
  p.strideH = sh;
  p.strideW = sw;
  p.padH = ph;
  p.padW = pw;
  return p;
}

const std::vector<PoolCase> kCases = {
    {2, 3, 7, 9, params(3, 3, 2, 2, 1, 1)},  // odd sizes, stride 2, padding
    {1, 2, 5, 5, params(2, 2, 2, 2, 0, 0)},  // floor: last row/col dropped
    {2, 2, 1, 1, params(1, 1, 1, 1, 0, 0)},  // 1x1
    {1, 1, 8, 8, params(3, 3, 1, 1, 1, 1)},  // same-size output
    {3, 2, 6, 7, params(2, 3, 1, 2, 1, 1)},  // rectangular kernel and stride
    {2, 4, 3, 3, params(3, 3, 1, 1, 0, 0)},  // one window covers the plane
};

std::string caseName(const PoolCase& c) {
  return "[" + std::to_string(c.n) + "," + std::to_string(c.c) + "," + std::to_string(c.h) + "," +
         std::to_string(c.w) + "] k" + std::to_string(c.p.kernelH) + "x" + std::to_string(c.p.kernelW) + " s" +
         std::to_string(c.p.strideH) + "x" + std::to_string(c.p.strideW) + " p" + std::to_string(c.p.padH) + "x" +
         std::to_string(c.p.padW);
}

int64_t outNumel(const PoolCase& c) {
  return c.n * c.c * kernels::poolOutSize(c.h, c.p.kernelH, c.p.strideH, c.p.padH) *
         kernels::poolOutSize(c.w, c.p.kernelW, c.p.strideW, c.p.padW);
}

// Distinct values at least 1e-2 apart (a shuffled ramp), so no max-pool window is within 1e-3 of a tie.
Vec distinctValues(int64_t n, Rng& rng) {
  std::vector<int64_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  for (int64_t i = n - 1; i > 0; --i) std::swap(idx[i], idx[rng.uniformInt(i + 1)]);
  Vec v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = (double)idx[i] * 0.01 - 0.005 * n;
  return v;
}

}  // namespace

// gradcheck(avg/max/global pool, f64, eps 1e-6) within 1e-4 relative.
TEST(Pool, NaiveBackwardMatchesFiniteDifferences) {
  Rng rng(20);
  for (const auto& c : kCases) {
    const int64_t P = c.n * c.c, numel = P * c.h * c.w, on = outNumel(c);
    Vec x = distinctValues(numel, rng), gy = randomVec(on, rng);
    auto avg = [&](const std::vector<Vec>& in) {
      Vec y(on);
      kernels::avgPool2dRef(in[0].data(), P, c.h, c.w, c.p, y.data());
      return y;
    };
    auto mx = [&](const std::vector<Vec>& in) {
      Vec y(on);
      kernels::maxPool2dRef(in[0].data(), P, c.h, c.w, c.p, y.data());
      return y;
    };
    Vec ga(numel), gm(numel);
    kernels::avgPool2dBackwardRef(gy.data(), P, c.h, c.w, c.p, ga.data());
    kernels::maxPool2dBackwardRef(x.data(), gy.data(), P, c.h, c.w, c.p, gm.data());
    EXPECT_LE(maxRelError(numericGrad(avg, {x}, 0, gy), ga), 1e-4) << "avg " << caseName(c);
    EXPECT_LE(maxRelError(numericGrad(mx, {x}, 0, gy), gm), 1e-4) << "max " << caseName(c);
  }
  const int64_t P = 6, HW = 35;
  Vec x = randomVec(P * HW, rng), gy = randomVec(P, rng), gg(P * HW);
  auto gap = [&](const std::vector<Vec>& in) {
    Vec y(P);
    kernels::globalAvgPoolRef(in[0].data(), P, HW, y.data());
    return y;
  };
  kernels::globalAvgPoolBackwardRef(gy.data(), P, HW, gg.data());
  EXPECT_LE(maxRelError(numericGrad(gap, {x}, 0, gy), gg), 1e-4);
}

// fast f32 == naive f64 within 1e-5 on awkward shapes; the autograd ops use the fast kernels.
TEST(Pool, FastAndOpsMatchNaive) {
  Rng rng(21);
  for (const auto& c : kCases) {
    const int64_t P = c.n * c.c, numel = P * c.h * c.w, on = outNumel(c);
    const Shape xs = {c.n, c.c, c.h, c.w};
    Vec x = roundToFloat(randomVec(numel, rng)), gy = roundToFloat(randomVec(on, rng));
    Vec ya(on), ym(on), ga(numel), gm(numel);
    kernels::avgPool2dRef(x.data(), P, c.h, c.w, c.p, ya.data());
    kernels::maxPool2dRef(x.data(), P, c.h, c.w, c.p, ym.data());
    kernels::avgPool2dBackwardRef(gy.data(), P, c.h, c.w, c.p, ga.data());
    kernels::maxPool2dBackwardRef(x.data(), gy.data(), P, c.h, c.w, c.p, gm.data());

    Variable xa(toTensor(xs, x), true), xm(toTensor(xs, x), true);
    Variable a = ops::avgPool2d(xa, c.p), m = ops::maxPool2d(xm, c.p);
    ASSERT_EQ(a.value().numel(), on) << caseName(c);
    ASSERT_EQ(m.value().numel(), on) << caseName(c);
    Tensor gyt = toTensor(a.shape(), gy);
    a.backward(gyt);
    m.backward(gyt);
    expectClose(toVec(a.value()), ya, 1e-5, "avg y " + caseName(c));
    expectClose(toVec(m.value()), ym, 1e-5, "max y " + caseName(c));
    expectClose(toVec(xa.grad()), ga, 1e-5, "avg dx " + caseName(c));
    expectClose(toVec(xm.grad()), gm, 1e-5, "max dx " + caseName(c));
  }
  for (Shape xs : {Shape{3, 5, 7, 7}, Shape{2, 3, 1, 1}, Shape{128, 4, 4, 4}}) {
    const int64_t P = xs[0] * xs[1], HW = xs[2] * xs[3];
    Vec x = roundToFloat(randomVec(P * HW, rng)), gy = roundToFloat(randomVec(P, rng));
    Vec y(P), gx(P * HW);
    kernels::globalAvgPoolRef(x.data(), P, HW, y.data());
    kernels::globalAvgPoolBackwardRef(gy.data(), P, HW, gx.data());
    Variable xv(toTensor(xs, x), true);
    Variable g = ops::globalAvgPool(xv);
    EXPECT_EQ(g.shape(), (Shape{xs[0], xs[1], 1, 1}));
    g.backward(toTensor(g.shape(), gy));
    expectClose(toVec(g.value()), y, 1e-5, "gap y " + shapeToString(xs));
    expectClose(toVec(xv.grad()), gx, 1e-5, "gap dx " + shapeToString(xs));
  }
}

TEST(Pool, KnownValues) {
  // 4x4 plane 0..15, 2x2 stride 2.
  std::vector<float> v(16);
  std::iota(v.begin(), v.end(), 0.f);
  Variable x(Tensor::fromVector({1, 1, 4, 4}, v), true);
  Pool2dParams p;
  Variable m = ops::maxPool2d(x, p);
  EXPECT_EQ(m.value().toVector(), (std::vector<float>{5, 7, 13, 15}));
  Variable a = ops::avgPool2d(x, p);
  EXPECT_EQ(a.value().toVector(), (std::vector<float>{2.5f, 4.5f, 10.5f, 12.5f}));
  // count_include_pad: 3x3 window with padding 1 at the corner sees 4 values, divides by 9.
  Variable ap = ops::avgPool2d(x, params(3, 3, 1, 1, 1, 1));
  EXPECT_NEAR(ap.value()[0], (0 + 1 + 4 + 5) / 9.f, 1e-6);
}

TEST(Pool, BadShapesThrow) {
  Variable x3(Tensor::zeros({2, 3, 4}));
  Variable x(Tensor::zeros({1, 1, 3, 3}));
  EXPECT_THROW(ops::avgPool2d(x3, Pool2dParams()), ShapeError);
  EXPECT_THROW(ops::maxPool2d(x3, Pool2dParams()), ShapeError);
  EXPECT_THROW(ops::globalAvgPool(x3), ShapeError);
  EXPECT_THROW(ops::maxPool2d(x, params(5, 5, 1, 1, 0, 0)), ShapeError);  // window larger than input
  EXPECT_THROW(ops::maxPool2d(x, params(2, 2, 1, 1, 2, 2)), ShapeError);  // pad > kernel/2
  EXPECT_THROW(ops::avgPool2d(x, params(2, 2, 0, 1, 0, 0)), ShapeError);  // stride 0
  try {
    ops::maxPool2d(x, params(5, 5, 1, 1, 0, 0));
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find(shapeToString({1, 1, 3, 3})), std::string::npos) << e.what();
  }
}
