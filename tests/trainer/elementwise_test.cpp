#include <gtest/gtest.h>
#include <tbb/global_control.h>

#include "core/error.h"
#include "tests/trainer/op_test_util.h"
#include "trainer/kernels/elementwise.h"
#include "trainer/kernels/elementwise_ref.h"
#include "trainer/ops.h"

using namespace hwnas;
using namespace hwnas::testing;

// gradcheck(mul, mul broadcast, add, f64, eps 1e-6) within 1e-4 relative.
TEST(Elementwise, NaiveBackwardMatchesFiniteDifferences) {
  Rng rng(30);
  const int64_t n = 60;
  Vec a = randomVec(n, rng), b = randomVec(n, rng), gy = randomVec(n, rng);
  auto mulF = [&](const std::vector<Vec>& in) {
    Vec y(n);
    kernels::mulRef(in[0].data(), in[1].data(), n, y.data());
    return y;
  };
  auto addF = [&](const std::vector<Vec>& in) {
    Vec y(n);
    kernels::addRef(in[0].data(), in[1].data(), n, y.data());
    return y;
  };
  Vec ga(n), gb(n);
  kernels::mulBackwardRef(a.data(), b.data(), gy.data(), n, ga.data(), gb.data());
  EXPECT_LE(maxRelError(numericGrad(mulF, {a, b}, 0, gy), ga), 1e-4);
  EXPECT_LE(maxRelError(numericGrad(mulF, {a, b}, 1, gy), gb), 1e-4);
  EXPECT_LE(maxRelError(numericGrad(addF, {a, b}, 0, gy), gy), 1e-4);
  EXPECT_LE(maxRelError(numericGrad(addF, {a, b}, 1, gy), gy), 1e-4);

  const int64_t P = 6, HW = 10;
  Vec s = randomVec(P, rng);
  auto rowsF = [&](const std::vector<Vec>& in) {
    Vec y(P * HW);
    kernels::mulRowsRef(in[0].data(), in[1].data(), P, HW, y.data());
    return y;
  };
  Vec gr(P * HW), gs(P);
  kernels::mulRowsBackwardRef(a.data(), s.data(), gy.data(), P, HW, gr.data(), gs.data());
  EXPECT_LE(maxRelError(numericGrad(rowsF, {a, s}, 0, gy), gr), 1e-4);
  EXPECT_LE(maxRelError(numericGrad(rowsF, {a, s}, 1, gy), gs), 1e-4);
}

// fast f32 == naive f64 within 1e-5 (odd sizes, many chunks); the ops use the fast kernels.
TEST(Elementwise, FastAndOpsMatchNaive) {
  Rng rng(31);
  for (Shape shape : {Shape{3, 5, 7, 9}, Shape{2, 3, 1, 1}, Shape{32, 24, 14, 14}}) {
    const int64_t n = shapeNumel(shape), P = shape[0] * shape[1], HW = shape[2] * shape[3];
    Vec a = roundToFloat(randomVec(n, rng)), b = roundToFloat(randomVec(n, rng)),
        gy = roundToFloat(randomVec(n, rng)), s = roundToFloat(randomVec(P, rng));
    const std::string what = shapeToString(shape);
    {
      Variable av(toTensor(shape, a), true), bv(toTensor(shape, b), true);
      Variable y = ops::add(av, bv);
      y.backward(toTensor(shape, gy));
      Vec yr(n);
      kernels::addRef(a.data(), b.data(), n, yr.data());
      expectClose(toVec(y.value()), yr, 1e-6, "add " + what);
      expectClose(toVec(av.grad()), gy, 0, "add da " + what);
      expectClose(toVec(bv.grad()), gy, 0, "add db " + what);
    }
    {
      Variable av(toTensor(shape, a), true), bv(toTensor(shape, b), true);
      Variable y = ops::mul(av, bv);
      y.backward(toTensor(shape, gy));
      Vec yr(n), ga(n), gb(n);
      kernels::mulRef(a.data(), b.data(), n, yr.data());
      kernels::mulBackwardRef(a.data(), b.data(), gy.data(), n, ga.data(), gb.data());
      expectClose(toVec(y.value()), yr, 1e-6, "mul " + what);
      expectClose(toVec(av.grad()), ga, 1e-6, "mul da " + what);
      expectClose(toVec(bv.grad()), gb, 1e-6, "mul db " + what);
    }
    for (bool swapped : {false, true}) {  // squeeze-excite scale on either side
      Variable av(toTensor(shape, a), true), sv(toTensor({shape[0], shape[1], 1, 1}, s), true);
      Variable y = swapped ? ops::mul(sv, av) : ops::mul(av, sv);
      EXPECT_EQ(y.shape(), shape);
      y.backward(toTensor(shape, gy));
      Vec yr(n), ga(n), gs(P);
      kernels::mulRowsRef(a.data(), s.data(), P, HW, yr.data());
      kernels::mulRowsBackwardRef(a.data(), s.data(), gy.data(), P, HW, ga.data(), gs.data());
      expectClose(toVec(y.value()), yr, 1e-6, "mul rows " + what);
      expectClose(toVec(av.grad()), ga, 1e-6, "mul rows da " + what);
      expectClose(toVec(sv.grad()), gs, 1e-5, "mul rows ds " + what);
    }
  }
}

TEST(Elementwise, ConcatAndFlatten) {
  Rng rng(32);
  const int64_t N = 3, H = 5, W = 2;
  const std::vector<int64_t> cs = {2, 1, 4};
  std::vector<Variable> xs;
  std::vector<Vec> vals;
  for (int64_t c : cs) {
    vals.push_back(roundToFloat(randomVec(N * c * H * W, rng)));
    xs.emplace_back(toTensor({N, c, H, W}, vals.back()), true);
  }
  Variable y = ops::concat(xs);
  EXPECT_EQ(y.shape(), (Shape{N, 7, H, W}));
  Vec yr(N * 7 * H * W);
  std::vector<const double*> ptrs;
  for (auto& v : vals) ptrs.push_back(v.data());
  kernels::concatRef(ptrs, cs, N, H * W, yr.data());
  expectClose(toVec(y.value()), yr, 0, "concat");
  // Flatten after concat, then backward: each input gets its own slice.
  Variable f = ops::flatten(y);
  EXPECT_EQ(f.shape(), (Shape{N, 7 * H * W}));
  Vec gy = roundToFloat(randomVec(N * 7 * H * W, rng));
  f.backward(toTensor(f.shape(), gy));
  int64_t off = 0;
  for (size_t k = 0; k < cs.size(); ++k) {
    Vec gr(N * cs[k] * H * W);
    kernels::concatBackwardRef(gy.data(), N, 7, off, cs[k], H * W, gr.data());
    expectClose(toVec(xs[k].grad()), gr, 0, "concat grad " + std::to_string(k));
    EXPECT_EQ(xs[k].grad().shape(), xs[k].shape());
    off += cs[k];
  }
  // [N,C] inputs (inner = 1).
  Variable a(Tensor::fromVector({2, 1}, {1, 2})), b(Tensor::fromVector({2, 2}, {3, 4, 5, 6}));
  EXPECT_EQ(ops::concat({a, b}).value().toVector(), (std::vector<float>{1, 3, 4, 2, 5, 6}));
}

TEST(Elementwise, BadShapesThrow) {
  Variable a(Tensor::zeros({2, 3, 4, 4})), b(Tensor::zeros({2, 3, 4, 5})), s(Tensor::zeros({2, 3, 1, 1})),
      s2(Tensor::zeros({2, 4, 1, 1}));
  EXPECT_THROW(ops::add(a, b), ShapeError);
  EXPECT_THROW(ops::add(a, s), ShapeError);
  EXPECT_THROW(ops::mul(a, b), ShapeError);
  EXPECT_THROW(ops::mul(a, s2), ShapeError);
  EXPECT_NO_THROW(ops::mul(a, s));
  EXPECT_THROW(ops::concat({a, b}), ShapeError);
  EXPECT_THROW(ops::concat({}), ShapeError);
  EXPECT_THROW(ops::concat({a, Variable(Tensor::zeros({2, 3, 4}))}), ShapeError);
  try {
    ops::add(a, b);
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find(shapeToString({2, 3, 4, 5})), std::string::npos) << e.what();
  }
}

TEST(Dropout, MaskMatchesReferenceAndScales) {
  const int64_t N = 16, per = 3 * 8 * 8;
  const float p = 0.3f;
  Rng rng(33);
  Variable x(Tensor::full({N, 3, 8, 8}, 2.f), true);
  Rng copy = rng;
  Variable y = ops::dropout(x, p, true, rng);
  // The op drew one seed from rng; the reference mask from that seed matches exactly.
  const uint64_t seed = copy.next();
  std::vector<float> mask(N * per);
  kernels::dropoutMaskRef(N, per, (double)p, seed, mask.data());
  int64_t zeros = 0;
  for (int64_t i = 0; i < N * per; ++i) {
    EXPECT_EQ(y.value()[i], 2.f * mask[i]);
    zeros += y.value()[i] == 0.f;
    if (y.value()[i] != 0.f) EXPECT_FLOAT_EQ(y.value()[i], 2.f / 0.7f);
  }
  EXPECT_NEAR(double(zeros) / (N * per), p, 0.03);
  Tensor g = Tensor::full(y.shape(), 1.f);
  y.backward(g);
  for (int64_t i = 0; i < N * per; ++i) EXPECT_EQ(x.grad()[i], mask[i]);
  // A second call draws a different mask.
  Variable y2 = ops::dropout(x, p, true, rng);
  EXPECT_FALSE(bitIdentical(y.value(), y2.value()));
  // Eval and p = 0 are the identity.
  EXPECT_TRUE(bitIdentical(ops::dropout(x, p, false, rng).value(), x.value()));
  EXPECT_TRUE(bitIdentical(ops::dropout(x, 0.f, true, rng).value(), x.value()));
  EXPECT_THROW(ops::dropout(x, 1.5f, true, rng), InputError);
}

TEST(Dropout, SameAtOneAndTwoThreads) {
  auto run = [](int threads) {
    tbb::global_control gc(tbb::global_control::max_allowed_parallelism, threads);
    Rng rng(34);
    Variable x(Tensor::full({64, 4, 8, 8}, 1.f));
    return ops::dropout(x, 0.5f, true, rng).value();
  };
  EXPECT_TRUE(bitIdentical(run(1), run(2)));
}
