// conv2d and linear: f64 finite-difference checks of the naive kernels, the fast f32 kernels
// against the naive ones, the ops against the kernels, determinism across thread counts, and
// shape errors.
#include <gtest/gtest.h>
#include <tbb/global_control.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "tests/trainer/gradcheck.h"
#include "trainer/kernels/conv.h"
#include "trainer/kernels/conv_ref.h"
#include "trainer/ops.h"

using namespace hwnas;
using hwnas::kernels::ConvGeometry;
namespace tst = hwnas::testing;
using tst::Vec;

namespace {

struct ConvCase {
  const char* name;
  int64_t n, cin, h, w, cout, kh, kw;
  int sh, sw, ph, pw, dh, dw, groups;
};

ConvGeometry geometry(const ConvCase& c) {
  ConvGeometry g;
  g.n = c.n;
  g.cin = c.cin;
  g.h = c.h;
  g.w = c.w;
  g.cout = c.cout;
  g.kh = c.kh;
  g.kw = c.kw;
  g.strideH = c.sh;
  g.strideW = c.sw;
  g.padH = c.ph;
  g.padW = c.pw;
  g.dilationH = c.dh;
  g.dilationW = c.dw;
  g.groups = c.groups;
  g.oh = kernels::convOutSize(c.h, c.kh, c.sh, c.ph, c.dh);
  g.ow = kernels::convOutSize(c.w, c.kw, c.sw, c.pw, c.dw);
  return g;
}

ops::Conv2dParams params(const ConvCase& c) {
  ops::Conv2dParams p;
  p.strideH = c.sh;
  p.strideW = c.sw;
  p.padH = c.ph;
  p.padW = c.pw;
  p.dilationH = c.dh;
  p.dilationW = c.dw;
  p.groups = c.groups;
  return p;
}

// Small shapes for the f64 gradient check: every awkward kind once.
const std::vector<ConvCase> kSmallCases = {
    {"odd_3x3", 2, 3, 7, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1},
    {"stride2", 2, 3, 9, 8, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1},
    {"dilation2", 1, 2, 9, 9, 3, 3, 3, 1, 1, 2, 2, 2, 2, 1},
    {"depthwise_3x3", 2, 4, 7, 7, 4, 3, 3, 1, 1, 1, 1, 1, 1, 4},
    {"depthwise_5x5_s2", 2, 3, 9, 9, 3, 5, 5, 2, 2, 2, 2, 1, 1, 3},
    {"groups2", 2, 4, 6, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2},
    {"pointwise_1x1", 2, 5, 4, 3, 6, 1, 1, 1, 1, 0, 0, 1, 1, 1},
    {"kernel_7x7", 1, 2, 9, 8, 3, 7, 7, 1, 1, 3, 3, 1, 1, 1},
    {"anisotropic", 2, 2, 7, 6, 3, 3, 2, 2, 1, 1, 0, 1, 2, 1},
};

// Larger shapes for fast vs naive: the refnet kinds (scaled batch), plus odd sizes that
// exercise multi-image GEMM chunks, several reduction blocks and every depthwise stride path.
const std::vector<ConvCase> kFastCases = {
    {"stem_3x3", 3, 1, 28, 28, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1},
    {"pw_16_64_28", 2, 16, 28, 28, 64, 1, 1, 1, 1, 0, 0, 1, 1, 1},
    {"pw_64_24_14", 5, 64, 14, 14, 24, 1, 1, 1, 1, 0, 0, 1, 1, 1},
    {"pw_96_40_7", 37, 96, 7, 7, 40, 1, 1, 1, 1, 0, 0, 1, 1, 1},
    {"pw_160_80_4", 41, 160, 4, 4, 80, 1, 1, 1, 1, 0, 0, 1, 1, 1},
    {"pw_odd_5x3", 7, 13, 5, 3, 11, 1, 1, 1, 1, 0, 0, 1, 1, 1},
    {"pw_stride2", 3, 8, 9, 7, 12, 1, 1, 2, 2, 0, 0, 1, 1, 1},
    {"dw_3x3_s2_28", 3, 64, 28, 28, 64, 3, 3, 2, 2, 1, 1, 1, 1, 64},
    {"dw_3x3_s1_14", 3, 96, 14, 14, 96, 3, 3, 1, 1, 1, 1, 1, 1, 96},
    {"dw_5x5_s2_14", 3, 96, 14, 14, 96, 5, 5, 2, 2, 2, 2, 1, 1, 96},
    {"dw_5x5_s1_7", 3, 160, 7, 7, 160, 5, 5, 1, 1, 2, 2, 1, 1, 160},
    {"dw_3x3_s2_7", 3, 160, 7, 7, 160, 3, 3, 2, 2, 1, 1, 1, 1, 160},
    {"dw_3x3_s1_4", 3, 320, 4, 4, 320, 3, 3, 1, 1, 1, 1, 1, 1, 320},
    {"dw_7x7_odd", 2, 5, 11, 9, 5, 7, 7, 1, 1, 3, 3, 1, 1, 5},
    {"dw_3x3_s3_dil2", 2, 6, 13, 10, 6, 3, 3, 3, 3, 2, 1, 2, 2, 6},
    {"dw_3x3_s2_odd_pad0", 2, 4, 9, 11, 4, 3, 3, 2, 2, 0, 0, 1, 1, 4},
    {"dw_4x2_aniso", 2, 3, 8, 7, 3, 4, 2, 1, 2, 1, 0, 1, 1, 3},
    {"k7_odd", 2, 3, 13, 11, 8, 7, 7, 1, 1, 3, 3, 1, 1, 1},
    {"k3_s2_odd", 4, 6, 13, 11, 10, 3, 3, 2, 2, 1, 1, 1, 1, 1},
    {"k3_dil2", 2, 4, 12, 10, 6, 3, 3, 1, 1, 2, 2, 2, 2, 1},
    {"groups2", 3, 8, 9, 9, 12, 3, 3, 1, 1, 1, 1, 1, 1, 2},
    {"groups4_pw", 20, 8, 4, 4, 16, 1, 1, 1, 1, 0, 0, 1, 1, 4},
    {"dw_multiplier2", 2, 4, 7, 7, 8, 3, 3, 1, 1, 1, 1, 1, 1, 4},
};

template <class T>
std::vector<T> randomData(size_t n, Rng& rng) {
  std::vector<T> v(n);
  for (auto& x : v) x = (T)rng.uniform(-1.0, 1.0);
  return v;
}

std::vector<double> toDouble(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

std::string caseName(const ConvCase& c) { return c.name; }

}  // namespace

// (a) Naive kernels: analytic gradients of sum(gy * conv(x, w, b)) against central
// differences in f64 (eps 1e-6), within 1e-4 relative (gradcheck.h's maxRelError).
TEST(ConvRef, GradientMatchesFiniteDifferencesF64) {
  Rng rng(11);
  for (const ConvCase& c : kSmallCases) {
    SCOPED_TRACE(caseName(c));
    const ConvGeometry g = geometry(c);
    ASSERT_GE(g.oh, 1);
    ASSERT_GE(g.ow, 1);
    std::vector<Vec> in = {tst::randomVec(g.inputNumel(), rng), tst::randomVec(g.weightNumel(), rng),
                           tst::randomVec(g.cout, rng)};
    const Vec gy = tst::randomVec(g.outputNumel(), rng);
    auto f = [&](const std::vector<Vec>& v) {
      Vec y(g.outputNumel());
      kernels::convForwardRef<double>(g, v[0].data(), v[1].data(), v[2].data(), y.data());
      return y;
    };
    Vec gx(g.inputNumel()), gw(g.weightNumel()), gb(g.cout);
    kernels::convBackwardDataRef<double>(g, gy.data(), in[1].data(), gx.data());
    kernels::convBackwardWeightRef<double>(g, in[0].data(), gy.data(), gw.data(), gb.data());
    EXPECT_LT(tst::maxRelError(gx, tst::numericGrad(f, in, 0, gy, 1e-6)), 1e-4);
    EXPECT_LT(tst::maxRelError(gw, tst::numericGrad(f, in, 1, gy, 1e-6)), 1e-4);
    EXPECT_LT(tst::maxRelError(gb, tst::numericGrad(f, in, 2, gy, 1e-6)), 1e-4);
  }
}

// A hand-computed value, so the reference itself can fail: a 3x3 all-ones kernel over a
// padded 3x3 ramp.
TEST(ConvRef, KnownValues) {
  ConvGeometry g;
  g.n = 1, g.cin = 1, g.h = 3, g.w = 3, g.cout = 1, g.kh = 3, g.kw = 3, g.padH = 1, g.padW = 1, g.oh = 3, g.ow = 3;
  const double x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1}, b = 0.5;
  double y[9];
  kernels::convForwardRef<double>(g, x, w, &b, y);
  const double want[9] = {12, 21, 16, 27, 45, 33, 24, 39, 28};
  for (int i = 0; i < 9; ++i) EXPECT_DOUBLE_EQ(y[i], want[i] + 0.5) << i;
}

// (b) Fast f32 against the naive kernel run in f64 on the same (f32) inputs. Tolerance:
// |fast - ref| <= 1e-4 * max(1, sqrt(R) / 4, |ref|), where R is the reduction length of that
// output (sqrt(R) is the typical size of a sum of R products of U(-1,1) values, so this is a
// relative error of ~1e-4 against the sum's natural scale).
TEST(ConvFast, MatchesNaiveForwardAndBackward) {
  Rng rng(22);
  for (const ConvCase& c : kFastCases) {
    SCOPED_TRACE(caseName(c));
    const ConvGeometry g = geometry(c);
    auto x = randomData<float>(g.inputNumel(), rng), w = randomData<float>(g.weightNumel(), rng),
         b = randomData<float>(g.cout, rng), gy = randomData<float>(g.outputNumel(), rng);
    const Vec xd = toDouble(x), wd = toDouble(w), bd = toDouble(b), gyd = toDouble(gy);

    std::vector<float> y(g.outputNumel()), gx(g.inputNumel()), gw(g.weightNumel()), gb(g.cout);
    kernels::convForward(g, x.data(), w.data(), b.data(), y.data());
    kernels::convBackward(g, x.data(), w.data(), gy.data(), gx.data(), gw.data(), gb.data());
    Vec yr(g.outputNumel()), gxr(g.inputNumel()), gwr(g.weightNumel()), gbr(g.cout);
    kernels::convForwardRef<double>(g, xd.data(), wd.data(), bd.data(), yr.data());
    kernels::convBackwardDataRef<double>(g, gyd.data(), wd.data(), gxr.data());
    kernels::convBackwardWeightRef<double>(g, xd.data(), gyd.data(), gwr.data(), gbr.data());

    auto check = [](const char* what, const std::vector<float>& got, const Vec& ref, double reduction) {
      double worst = 0;
      for (size_t i = 0; i < ref.size(); ++i) {
        const double scale = std::max({1.0, std::sqrt(reduction) / 4, std::abs(ref[i])});
        worst = std::max(worst, std::abs(got[i] - ref[i]) / scale);
      }
      EXPECT_LT(worst, 1e-4) << what << " (reduction length " << reduction << ")";
    };
    const double rFwd = (double)g.cinPerGroup() * g.kh * g.kw;
    const double rData = (double)g.coutPerGroup() * g.kh * g.kw;
    const double rWeight = (double)g.n * g.oh * g.ow;
    check("forward", y, yr, rFwd);
    check("grad input", gx, gxr, rData);
    check("grad weight", gw, gwr, rWeight);
    check("grad bias", gb, gbr, rWeight);

    // Partial requests: each gradient alone equals the same gradient computed with the others.
    std::vector<float> gx2(g.inputNumel(), 7.f), gw2(g.weightNumel(), 7.f);
    kernels::convBackward(g, x.data(), w.data(), gy.data(), gx2.data(), nullptr, nullptr);
    kernels::convBackward(g, x.data(), w.data(), gy.data(), nullptr, gw2.data(), nullptr);
    EXPECT_EQ(0, std::memcmp(gx.data(), gx2.data(), gx.size() * sizeof(float)));
    EXPECT_EQ(0, std::memcmp(gw.data(), gw2.data(), gw.size() * sizeof(float)));
  }
}

// Batch-1 inference shapes (the forward path that splits output channels instead of images).
TEST(ConvFast, BatchOneForwardMatchesNaive) {
  Rng rng(23);
  const std::vector<ConvCase> cases = {
      {"pw_16_64_28_b1", 1, 16, 28, 28, 64, 1, 1, 1, 1, 0, 0, 1, 1, 1},
      {"pw_80_320_4_b1", 1, 80, 4, 4, 320, 1, 1, 1, 1, 0, 0, 1, 1, 1},
      {"k3_32_48_20_b1", 1, 32, 20, 20, 48, 3, 3, 1, 1, 1, 1, 1, 1, 1},
      {"dw_5x5_s1_7_b1", 1, 160, 7, 7, 160, 5, 5, 1, 1, 2, 2, 1, 1, 160},
  };
  for (const ConvCase& c : cases) {
    SCOPED_TRACE(caseName(c));
    const ConvGeometry g = geometry(c);
    auto x = randomData<float>(g.inputNumel(), rng), w = randomData<float>(g.weightNumel(), rng);
    std::vector<float> y(g.outputNumel());
    kernels::convForward(g, x.data(), w.data(), nullptr, y.data());
    Vec yr(g.outputNumel());
    const Vec xd = toDouble(x), wd = toDouble(w);
    kernels::convForwardRef<double>(g, xd.data(), wd.data(), nullptr, yr.data());
    const double scale = std::max(1.0, std::sqrt((double)g.cinPerGroup() * g.kh * g.kw) / 4);
    EXPECT_LT(tst::maxAbsDiff(y, yr, y.size()) / scale, 1e-4);
  }
}

// (c) The op runs exactly the fast kernels: bit-identical value and gradients, and no gradient
// for inputs that do not require one.
TEST(ConvOp, AutogradEqualsFastKernel) {
  Rng rng(33);
  for (const ConvCase& c : {kFastCases[3], kFastCases[9], kFastCases[18], kFastCases[20]}) {
    SCOPED_TRACE(caseName(c));
    const ConvGeometry g = geometry(c);
    auto xv = randomData<float>(g.inputNumel(), rng), wv = randomData<float>(g.weightNumel(), rng),
         bv = randomData<float>(g.cout, rng), gyv = randomData<float>(g.outputNumel(), rng);
    Variable x(Tensor::fromVector({g.n, g.cin, g.h, g.w}, xv), true);
    Variable w(Tensor::fromVector({g.cout, g.cinPerGroup(), g.kh, g.kw}, wv), true);
    Variable b(Tensor::fromVector({g.cout}, bv), true);
    Variable y = ops::conv2d(x, w, b, params(c));
    ASSERT_EQ(y.shape(), (Shape{g.n, g.cout, g.oh, g.ow}));
    y.backward(Tensor::fromVector(y.shape(), gyv));

    std::vector<float> yk(g.outputNumel()), gx(g.inputNumel()), gw(g.weightNumel()), gb(g.cout);
    kernels::convForward(g, xv.data(), wv.data(), bv.data(), yk.data());
    kernels::convBackward(g, xv.data(), wv.data(), gyv.data(), gx.data(), gw.data(), gb.data());
    EXPECT_EQ(y.value().toVector(), yk);
    EXPECT_EQ(x.grad().toVector(), gx);
    EXPECT_EQ(w.grad().toVector(), gw);
    EXPECT_EQ(b.grad().toVector(), gb);

    // Only the weight requires a gradient: the input gets none.
    Variable x2(Tensor::fromVector({g.n, g.cin, g.h, g.w}, xv), false);
    Variable w2(Tensor::fromVector({g.cout, g.cinPerGroup(), g.kh, g.kw}, wv), true);
    Variable y2 = ops::conv2d(x2, w2, Variable(), params(c));
    y2.backward(Tensor::fromVector(y2.shape(), gyv));
    EXPECT_FALSE(x2.grad().defined());
    EXPECT_EQ(w2.grad().toVector(), gw);
  }
}

// (d) Same inputs at 1 and 2 threads: bit-identical outputs and gradients (batch 128 refnet
// shapes, so the batch splits into many chunks and reduction blocks).
TEST(ConvFast, DeterministicAcrossThreadCounts) {
  Rng rng(44);
  const std::vector<ConvCase> cases = {
      {"pw_24_96_14", 128, 24, 14, 14, 96, 1, 1, 1, 1, 0, 0, 1, 1, 1},
      {"pw_80_256_4", 128, 80, 4, 4, 256, 1, 1, 1, 1, 0, 0, 1, 1, 1},
      {"stem_3x3", 64, 1, 28, 28, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1},
      {"dw_5x5_s2_14", 128, 96, 14, 14, 96, 5, 5, 2, 2, 2, 2, 1, 1, 96},
      {"groups2_3x3", 33, 8, 9, 9, 12, 3, 3, 1, 1, 1, 1, 1, 1, 2},
  };
  for (const ConvCase& c : cases) {
    SCOPED_TRACE(caseName(c));
    const ConvGeometry g = geometry(c);
    auto x = randomData<float>(g.inputNumel(), rng), w = randomData<float>(g.weightNumel(), rng),
         b = randomData<float>(g.cout, rng), gy = randomData<float>(g.outputNumel(), rng);
    std::vector<float> y[2], gx[2], gw[2], gb[2];
    for (int t = 0; t < 2; ++t) {
      tbb::global_control limit(tbb::global_control::max_allowed_parallelism, (size_t)(t + 1));
      y[t].resize(g.outputNumel());
      gx[t].resize(g.inputNumel());
      gw[t].resize(g.weightNumel());
      gb[t].resize(g.cout);
      kernels::convForward(g, x.data(), w.data(), b.data(), y[t].data());
      kernels::convBackward(g, x.data(), w.data(), gy.data(), gx[t].data(), gw[t].data(), gb[t].data());
    }
    EXPECT_EQ(y[0], y[1]);
    EXPECT_EQ(gx[0], gx[1]);
    EXPECT_EQ(gw[0], gw[1]);
    EXPECT_EQ(gb[0], gb[1]);
  }
}

// (e) Linear: f64 gradient check of the naive kernel, fast vs naive, op vs kernel, determinism.
TEST(LinearRef, GradientMatchesFiniteDifferencesF64) {
  Rng rng(55);
  const int64_t n = 3, in = 7, out = 5;
  std::vector<Vec> v = {tst::randomVec(n * in, rng), tst::randomVec(out * in, rng),
                        tst::randomVec(out, rng)};
  const Vec gy = tst::randomVec(n * out, rng);
  auto f = [&](const std::vector<Vec>& a) {
    Vec y(n * out);
    kernels::linearForwardRef<double>(n, in, out, a[0].data(), a[1].data(), a[2].data(), y.data());
    return y;
  };
  Vec gx(n * in), gw(out * in), gb(out);
  kernels::linearBackwardDataRef<double>(n, in, out, gy.data(), v[1].data(), gx.data());
  kernels::linearBackwardWeightRef<double>(n, in, out, v[0].data(), gy.data(), gw.data(), gb.data());
  EXPECT_LT(tst::maxRelError(gx, tst::numericGrad(f, v, 0, gy, 1e-6)), 1e-4);
  EXPECT_LT(tst::maxRelError(gw, tst::numericGrad(f, v, 1, gy, 1e-6)), 1e-4);
  EXPECT_LT(tst::maxRelError(gb, tst::numericGrad(f, v, 2, gy, 1e-6)), 1e-4);
  // And a known value: [1,2] . [3,4] + 0.5 = 11.5.
  const double x1[2] = {1, 2}, w1[2] = {3, 4}, b1 = 0.5;
  double y1 = 0;
  kernels::linearForwardRef<double>(1, 2, 1, x1, w1, &b1, &y1);
  EXPECT_DOUBLE_EQ(y1, 11.5);
}

// Tolerance as for conv: 1e-4 * max(1, sqrt(R)/4, |ref|) with R the reduction length.
TEST(LinearFast, MatchesNaiveOpAndDeterminism) {
  Rng rng(66);
  struct LCase {
    int64_t n, in, out;
  };
  for (LCase lc : {LCase{1, 256, 10}, LCase{128, 256, 10}, LCase{37, 19, 23}}) {
    SCOPED_TRACE(std::to_string(lc.n) + "x" + std::to_string(lc.in) + "->" + std::to_string(lc.out));
    const int64_t n = lc.n, in = lc.in, out = lc.out;
    auto x = randomData<float>(n * in, rng), w = randomData<float>(out * in, rng), b = randomData<float>(out, rng),
         gy = randomData<float>(n * out, rng);
    std::vector<float> y(n * out), gx(n * in), gw(out * in), gb(out);
    kernels::linearForward(n, in, out, x.data(), w.data(), b.data(), y.data());
    kernels::linearBackward(n, in, out, x.data(), w.data(), gy.data(), gx.data(), gw.data(), gb.data());
    const Vec xd = toDouble(x), wd = toDouble(w), bd = toDouble(b), gyd = toDouble(gy);
    Vec yr(n * out), gxr(n * in), gwr(out * in), gbr(out);
    kernels::linearForwardRef<double>(n, in, out, xd.data(), wd.data(), bd.data(), yr.data());
    kernels::linearBackwardDataRef<double>(n, in, out, gyd.data(), wd.data(), gxr.data());
    kernels::linearBackwardWeightRef<double>(n, in, out, xd.data(), gyd.data(), gwr.data(), gbr.data());
    auto scaled = [](const std::vector<float>& a, const Vec& r, double red) {
      double e = 0;
      for (size_t i = 0; i < r.size(); ++i)
        e = std::max(e, std::abs(a[i] - r[i]) / std::max({1.0, std::sqrt(red) / 4, std::abs(r[i])}));
      return e;
    };
    EXPECT_LT(scaled(y, yr, in), 1e-4);
    EXPECT_LT(scaled(gx, gxr, out), 1e-4);
    EXPECT_LT(scaled(gw, gwr, n), 1e-4);
    EXPECT_LT(scaled(gb, gbr, n), 1e-4);

    Variable xv(Tensor::fromVector({n, in}, x), true), wv(Tensor::fromVector({out, in}, w), true),
        bv(Tensor::fromVector({out}, b), true);
    Variable yv = ops::linear(xv, wv, bv);
    yv.backward(Tensor::fromVector({n, out}, gy));
    EXPECT_EQ(yv.value().toVector(), y);
    EXPECT_EQ(xv.grad().toVector(), gx);
    EXPECT_EQ(wv.grad().toVector(), gw);
    EXPECT_EQ(bv.grad().toVector(), gb);

    std::vector<float> gw1(out * in), gw2(out * in);
    {
      tbb::global_control limit(tbb::global_control::max_allowed_parallelism, 1);
      kernels::linearBackward(n, in, out, x.data(), w.data(), gy.data(), nullptr, gw1.data(), nullptr);
    }
    {
      tbb::global_control limit(tbb::global_control::max_allowed_parallelism, 2);
      kernels::linearBackward(n, in, out, x.data(), w.data(), gy.data(), nullptr, gw2.data(), nullptr);
    }
    EXPECT_EQ(gw1, gw2);
  }
}

// (f) Shapes that do not fit throw ShapeError naming the shapes.
TEST(ConvOp, BadShapesThrowShapeError) {
  auto var = [](Shape s) { return Variable(Tensor(std::move(s)), true); };
  ops::Conv2dParams p;
  p.padH = p.padW = 1;
  EXPECT_THROW(ops::conv2d(var({2, 3, 8}), var({4, 3, 3, 3}), Variable(), p), ShapeError);  // 3-D input
  EXPECT_THROW(ops::conv2d(var({2, 3, 8, 8}), var({4, 2, 3, 3}), Variable(), p), ShapeError);  // channels
  EXPECT_THROW(ops::conv2d(var({2, 3, 8, 8}), var({4, 3, 3}), Variable(), p), ShapeError);  // 3-D weight
  EXPECT_THROW(ops::conv2d(var({2, 3, 8, 8}), var({4, 3, 3, 3}), var({5}), p), ShapeError);  // bias
  EXPECT_THROW(ops::conv2d(var({2, 3, 4, 4}), var({4, 3, 9, 9}), Variable(), p), ShapeError);  // kernel too big
  ops::Conv2dParams pg = p;
  pg.groups = 2;
  EXPECT_THROW(ops::conv2d(var({2, 3, 8, 8}), var({4, 1, 3, 3}), Variable(), pg), ShapeError);  // cin % groups
  EXPECT_THROW(ops::conv2d(var({2, 4, 8, 8}), var({3, 2, 3, 3}), Variable(), pg), ShapeError);  // cout % groups
  ops::Conv2dParams ps = p;
  ps.strideH = 0;
  EXPECT_THROW(ops::conv2d(var({2, 3, 8, 8}), var({4, 3, 3, 3}), Variable(), ps), ShapeError);  // stride 0
  try {
    ops::conv2d(var({2, 3, 8, 8}), var({4, 2, 3, 3}), Variable(), p);
    FAIL() << "no throw";
  } catch (const ShapeError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(shapeToString({2, 3, 8, 8})), std::string::npos) << msg;
    EXPECT_NE(msg.find(shapeToString({4, 2, 3, 3})), std::string::npos) << msg;
  }
  EXPECT_NO_THROW(ops::conv2d(var({2, 4, 8, 8}), var({6, 2, 3, 3}), var({6}), pg));

  EXPECT_THROW(ops::linear(var({2, 5}), var({3, 4}), Variable()), ShapeError);
  EXPECT_THROW(ops::linear(var({2, 5, 1}), var({3, 5}), Variable()), ShapeError);
  EXPECT_THROW(ops::linear(var({2, 5}), var({3, 5}), var({4})), ShapeError);
  EXPECT_NO_THROW(ops::linear(var({2, 5}), var({3, 5}), var({3})));
}
