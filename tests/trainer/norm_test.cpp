#include <gtest/gtest.h>
#include <tbb/global_control.h>

#include "core/error.h"
#include "tests/trainer/op_test_util.h"
#include "trainer/kernels/batch_norm.h"
#include "trainer/kernels/batch_norm_ref.h"
#include "trainer/ops.h"
#include "trainer/ops_fused.h"

using namespace hwnas;
using namespace hwnas::testing;
using ops::Act;

namespace {

struct BnCase {
  int64_t n, c, h, w;
};

// f64 reference forward as a function of (x, gamma, beta) for numericGrad. Eval mode uses fixed
// running statistics runMean/runVar.
Vec bnRefForward(const std::vector<Vec>& in, const BnCase& s, bool training, Act act, const Vec& runMean,
                 const Vec& runVar) {
  const int64_t HW = s.h * s.w;
  Vec y(in[0].size()), mean = runMean, var = runVar;
  kernels::batchNormForwardRef(in[0].data(), s.n, s.c, HW, in[1].data(), in[2].data(), training, 1e-5, act,
                               mean.data(), var.data(), y.data());
  return y;
}

// True when some pre-activation value lies within 1e-3 of a kink of act.
bool nearKink(const std::vector<Vec>& in, const BnCase& s, bool training, Act act, const Vec& runMean,
              const Vec& runVar) {
  if (act == Act::Identity) return false;
  Vec z = bnRefForward(in, s, training, Act::Identity, runMean, runVar);
  for (double v : z)
    for (double k : {-3.0, 0.0, 3.0, 6.0})
      if (std::abs(v - k) < 1e-3) return true;
  return false;
}

// Moves inputs whose pre-activation (in train or eval mode) lies within 1e-3 of a kink, so f32
// and f64 take the same branch of the activation's derivative.
void avoidKinks(Vec& x, int64_t N, int64_t C, int64_t HW, const Vec& gamma, const Vec& beta, const Vec& evalMean,
                const Vec& evalVar) {
  for (int iter = 0; iter < 20; ++iter) {
    bool moved = false;
    for (bool training : {true, false}) {
      Vec mean = evalMean, var = evalVar, z(x.size());
      kernels::batchNormForwardRef(x.data(), N, C, HW, gamma.data(), beta.data(), training, 1e-5, Act::Identity,
                                   mean.data(), var.data(), z.data());
      for (size_t i = 0; i < z.size(); ++i)
        for (double k : {-3.0, 0.0, 3.0, 6.0})
          if (std::abs(z[i] - k) < 1e-3) {
            x[i] = (float)(x[i] + 0.01);
            moved = true;
          }
    }
    if (!moved) return;
  }
}

}  // namespace

// gradcheck(batchNorm[+act], f64, eps 1e-6) within 1e-4 relative for x, gamma and beta, train and eval.
TEST(BatchNorm, NaiveBackwardMatchesFiniteDifferences) {
  const BnCase s{3, 2, 2, 3};
  const int64_t HW = s.h * s.w, numel = s.n * s.c * HW;
  uint64_t seed = 10;
  for (bool training : {true, false})
    for (Act act : {Act::Identity, Act::ReLU6, Act::HardSwish, Act::SiLU}) {
      std::vector<Vec> in;
      Vec runMean, runVar;
      do {
        Rng rng(seed++);
        in = {randomVec(numel, rng, -2, 2), randomVec(s.c, rng, 0.5, 2.5), randomVec(s.c, rng, -1, 3)};
        runMean = randomVec(s.c, rng, -0.5, 0.5);
        runVar = randomVec(s.c, rng, 0.5, 2.0);
      } while (nearKink(in, s, training, act, runMean, runVar));
      Rng rng(seed++);
      Vec gy = randomVec(numel, rng);
      auto f = [&](const std::vector<Vec>& v) { return bnRefForward(v, s, training, act, runMean, runVar); };
      // The statistics the forward used.
      Vec mean = runMean, var = runVar, y(numel);
      kernels::batchNormForwardRef(in[0].data(), s.n, s.c, HW, in[1].data(), in[2].data(), training, 1e-5, act,
                                   mean.data(), var.data(), y.data());
      Vec gx(numel), gg(s.c), gb(s.c);
      kernels::batchNormBackwardRef(in[0].data(), gy.data(), s.n, s.c, HW, in[1].data(), in[2].data(), training, 1e-5,
                                    act, mean.data(), var.data(), gx.data(), gg.data(), gb.data());
      const std::string what = std::string(training ? "train " : "eval ") + ops::actName(act);
      EXPECT_LE(maxRelError(numericGrad(f, in, 0, gy), gx), 1e-4) << what << " dx";
      EXPECT_LE(maxRelError(numericGrad(f, in, 1, gy), gg), 1e-4) << what << " dgamma";
      EXPECT_LE(maxRelError(numericGrad(f, in, 2, gy), gb), 1e-4) << what << " dbeta";
    }
}

// fast f32 == naive f64 within 1e-4 on awkward shapes: odd sizes, 1x1 spatial, [N,C], long rows.
TEST(BatchNorm, FastMatchesNaive) {
  const std::vector<BnCase> shapes = {{3, 5, 7, 9}, {4, 3, 1, 1}, {2, 2, 1, 1}, {1, 3, 5, 5},
                                      {5, 7, 0, 0}, {16, 8, 28, 28}, {6, 4, 4, 4}};
  Rng rng(3);
  for (const auto& sc : shapes) {
    const bool is2d = sc.h == 0;
    const int64_t HW = is2d ? 1 : sc.h * sc.w, numel = sc.n * sc.c * HW;
    kernels::BnShape s{sc.n, sc.c, HW};
    // An offset mean exercises the shifted one-pass variance.
    Vec x = roundToFloat(randomVec(numel, rng, 2.0, 5.0));
    Vec gy = roundToFloat(randomVec(numel, rng));
    Vec gamma = roundToFloat(randomVec(sc.c, rng, 0.5, 1.5)), beta = roundToFloat(randomVec(sc.c, rng, -1, 1));
    avoidKinks(x, sc.n, sc.c, HW, gamma, beta, Vec(sc.c, 0.1), Vec(sc.c, 0.8));
    Tensor xt = toTensor({numel}, x), gt = toTensor({numel}, gy), gmt = toTensor({sc.c}, gamma),
           bt = toTensor({sc.c}, beta);
    for (Act act : {Act::Identity, Act::ReLU, Act::ReLU6, Act::HardSwish}) {
      for (bool training : {true, false}) {
        Vec mean(sc.c, 0.1), var(sc.c, 0.8), yr(numel);
        kernels::batchNormForwardRef(x.data(), sc.n, sc.c, HW, gamma.data(), beta.data(), training, 1e-5, act,
                                     mean.data(), var.data(), yr.data());
        Vec gxr(numel), ggr(sc.c), gbr(sc.c);
        kernels::batchNormBackwardRef(x.data(), gy.data(), sc.n, sc.c, HW, gamma.data(), beta.data(), training, 1e-5,
                                      act, mean.data(), var.data(), gxr.data(), ggr.data(), gbr.data());
        Tensor y = Tensor::empty({numel}), m = Tensor::empty({sc.c}), is = Tensor::empty({sc.c}),
               v = Tensor::empty({sc.c});
        if (training) {
          kernels::batchNormTrainForward(xt.data(), gmt.data(), bt.data(), s, 1e-5f, act, y.data(), m.data(),
                                         is.data(), v.data());
          expectClose(toVec(m), mean, 1e-5, "mean");
          expectClose(toVec(v), var, 1e-5, "var");
        } else {
          for (int64_t c = 0; c < sc.c; ++c) {
            m[c] = (float)mean[c];
            is[c] = (float)(1 / std::sqrt(var[c] + 1e-5));
          }
          kernels::batchNormApply(xt.data(), gmt.data(), bt.data(), m.data(), is.data(), s, act, y.data());
        }
        Tensor gx = Tensor::empty({numel}), gg = Tensor::empty({sc.c}), gb = Tensor::empty({sc.c});
        kernels::batchNormBackward(xt.data(), gt.data(), gmt.data(), bt.data(), m.data(), is.data(), s, act, training,
                                   gx.data(), gg.data(), gb.data());
        std::string what = "shape [" + std::to_string(sc.n) + "," + std::to_string(sc.c) + "," +
                           std::to_string(sc.h) + "," + std::to_string(sc.w) + "] " + ops::actName(act) +
                           (training ? " train" : " eval");
        expectClose(toVec(y), yr, 1e-4, what + " y");
        expectClose(toVec(gx), gxr, 1e-4, what + " dx");
        // Per-channel sums over up to 12544 values: scale the tolerance by the sum's magnitude.
        Vec ggv = toVec(gg), gbv = toVec(gb);
        for (int64_t c = 0; c < sc.c; ++c) {
          double scale = std::max(1.0, std::sqrt(double(sc.n * HW)));
          EXPECT_NEAR(ggv[c], ggr[c], 1e-4 * scale) << what << " dgamma";
          EXPECT_NEAR(gbv[c], gbr[c], 1e-4 * scale) << what << " dbeta";
        }
      }
    }
  }
}

// Known answer: x = [1,2,3,4] in one channel. mean 2.5, biased var 1.25, unbiased 5/3; PyTorch's
// update from running (0, 1) with momentum 0.1 gives (0.25, 0.9 + 0.1*5/3).
TEST(BatchNorm, RunningStatsAfterOneTrainingStep) {
  Variable x(Tensor::fromVector({2, 1, 1, 2}, {1, 2, 3, 4}), true);
  Variable gamma(Tensor::full({1}, 1.f), true), beta(Tensor::full({1}, 0.f), true);
  Tensor rm = Tensor::zeros({1}), rv = Tensor::full({1}, 1.f);
  Variable y = ops::batchNorm(x, gamma, beta, rm, rv, true);
  EXPECT_NEAR(rm[0], 0.25f, 1e-7);
  EXPECT_NEAR(rv[0], 0.9f + 0.1f * 5.f / 3.f, 1e-6);
  const double is = 1 / std::sqrt(1.25 + 1e-5);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(y.value()[i], (i + 1 - 2.5) * is, 1e-6);
  // A second step with momentum 0.5 on data of mean 0.
  Variable x2(Tensor::fromVector({2, 1}, {-1, 1}));
  ops::batchNorm(x2, gamma, beta, rm, rv, true, 0.5f);
  EXPECT_NEAR(rm[0], 0.125f, 1e-7);
  EXPECT_NEAR(rv[0], 0.5f * (0.9f + 0.1f * 5.f / 3.f) + 0.5f * 2.f, 1e-6);
  // Eval uses the running statistics and leaves them alone.
  Tensor rm0 = rm.clone(), rv0 = rv.clone();
  Variable ye = ops::batchNorm(x, gamma, beta, rm, rv, false);
  EXPECT_NEAR(ye.value()[0], (1 - rm0[0]) / std::sqrt(rv0[0] + 1e-5), 1e-6);
  EXPECT_TRUE(bitIdentical(rm, rm0));
  EXPECT_TRUE(bitIdentical(rv, rv0));
}

// The autograd op's gradients equal the reference kernel's.
TEST(BatchNorm, OpGradientsMatchReference) {
  Rng rng(4);
  const int64_t N = 4, C = 3, H = 5, W = 3, numel = N * C * H * W;
  Vec x = roundToFloat(randomVec(numel, rng, -2, 2)), gy = roundToFloat(randomVec(numel, rng));
  Vec gamma = roundToFloat(randomVec(C, rng, 0.5, 1.5)), beta = roundToFloat(randomVec(C, rng));
  Variable xv(toTensor({N, C, H, W}, x), true), gv(toTensor({C}, gamma), true), bv(toTensor({C}, beta), true);
  Tensor rm = Tensor::zeros({C}), rv = Tensor::full({C}, 1.f);
  Variable y = ops::batchNorm(xv, gv, bv, rm, rv, true);
  y.backward(toTensor(y.shape(), gy));
  Vec mean(C), var(C), yr(numel), gxr(numel), ggr(C), gbr(C);
  kernels::batchNormForwardRef(x.data(), N, C, H * W, gamma.data(), beta.data(), true, 1e-5, Act::Identity,
                               mean.data(), var.data(), yr.data());
  kernels::batchNormBackwardRef(x.data(), gy.data(), N, C, H * W, gamma.data(), beta.data(), true, 1e-5,
                                Act::Identity, mean.data(), var.data(), gxr.data(), ggr.data(), gbr.data());
  expectClose(toVec(y.value()), yr, 1e-5, "y");
  expectClose(toVec(xv.grad()), gxr, 1e-4, "dx");
  expectClose(toVec(gv.grad()), ggr, 1e-4, "dgamma");
  expectClose(toVec(bv.grad()), gbr, 1e-4, "dbeta");
}

// batchNormAct == activation(batchNorm(...)): values, gradients and running stats.
TEST(BatchNorm, FusedActMatchesUnfused) {
  Rng rng(5);
  const int64_t N = 3, C = 4, H = 7, W = 5, numel = N * C * H * W;
  for (Act act : {Act::ReLU, Act::ReLU6, Act::HardSwish, Act::HardSigmoid, Act::SiLU, Act::Sigmoid})
    for (bool training : {true, false}) {
      Vec x = randomVec(numel, rng, -3, 3), gy = randomVec(numel, rng);
      Vec gamma = randomVec(C, rng, 0.5, 3), beta = randomVec(C, rng, -1, 4);
      Variable x1(toTensor({N, C, H, W}, x), true), g1(toTensor({C}, gamma), true), b1(toTensor({C}, beta), true);
      Variable x2(toTensor({N, C, H, W}, x), true), g2(toTensor({C}, gamma), true), b2(toTensor({C}, beta), true);
      Tensor rm1 = Tensor::full({C}, 0.2f), rv1 = Tensor::full({C}, 1.5f), rm2 = rm1.clone(), rv2 = rv1.clone();
      Variable yf = ops::batchNormAct(x1, g1, b1, rm1, rv1, training, act);
      Variable yu = ops::activation(ops::batchNorm(x2, g2, b2, rm2, rv2, training), act);
      yf.backward(toTensor(yf.shape(), gy));
      yu.backward(toTensor(yu.shape(), gy));
      std::string what = std::string(ops::actName(act)) + (training ? " train" : " eval");
      expectClose(toVec(yf.value()), toVec(yu.value()), 1e-5, what + " y");
      expectClose(toVec(x1.grad()), toVec(x2.grad()), 1e-4, what + " dx");
      expectClose(toVec(g1.grad()), toVec(g2.grad()), 1e-4, what + " dgamma");
      expectClose(toVec(b1.grad()), toVec(b2.grad()), 1e-4, what + " dbeta");
      EXPECT_TRUE(bitIdentical(rm1, rm2)) << what;
      EXPECT_TRUE(bitIdentical(rv1, rv2)) << what;
    }
}

// Same inputs at 1 and 2 threads: bit-identical outputs, gradients and running stats.
TEST(BatchNorm, DeterministicAcrossThreadCounts) {
  Rng rng(6);
  const int64_t N = 8, C = 16, H = 14, W = 14, numel = N * C * H * W;
  Vec x = randomVec(numel, rng, -2, 3), gy = randomVec(numel, rng);
  Vec gamma = randomVec(C, rng, 0.5, 1.5), beta = randomVec(C, rng);
  struct Result {
    Tensor y, gx, gg, gb, rm, rv;
  };
  auto run = [&](int threads, bool fused) {
    tbb::global_control gc(tbb::global_control::max_allowed_parallelism, threads);
    Variable xv(toTensor({N, C, H, W}, x), true), gv(toTensor({C}, gamma), true), bv(toTensor({C}, beta), true);
    Result r{Tensor(), Tensor(), Tensor(), Tensor(), Tensor::zeros({C}), Tensor::full({C}, 1.f)};
    Variable y = fused ? ops::batchNormAct(xv, gv, bv, r.rm, r.rv, true, Act::ReLU6)
                       : ops::batchNorm(xv, gv, bv, r.rm, r.rv, true);
    y.backward(toTensor(y.shape(), gy));
    r.y = y.value();
    r.gx = xv.grad();
    r.gg = gv.grad();
    r.gb = bv.grad();
    return r;
  };
  for (bool fused : {false, true}) {
    Result a = run(1, fused), b = run(2, fused);
    EXPECT_TRUE(bitIdentical(a.y, b.y)) << "fused=" << fused;
    EXPECT_TRUE(bitIdentical(a.gx, b.gx)) << "fused=" << fused;
    EXPECT_TRUE(bitIdentical(a.gg, b.gg)) << "fused=" << fused;
    EXPECT_TRUE(bitIdentical(a.gb, b.gb)) << "fused=" << fused;
    EXPECT_TRUE(bitIdentical(a.rm, b.rm)) << "fused=" << fused;
    EXPECT_TRUE(bitIdentical(a.rv, b.rv)) << "fused=" << fused;
  }
}

TEST(BatchNorm, BadShapesThrow) {
  Variable x(Tensor::zeros({2, 3, 4, 4}), true);
  Variable g3(Tensor::full({3}, 1.f)), b3(Tensor::zeros({3})), g4(Tensor::full({4}, 1.f));
  Tensor rm = Tensor::zeros({3}), rv = Tensor::full({3}, 1.f), rm4 = Tensor::zeros({4}), none;
  EXPECT_THROW(ops::batchNorm(x, g4, b3, rm, rv, true), ShapeError);
  EXPECT_THROW(ops::batchNorm(x, g3, b3, rm4, rv, true), ShapeError);
  EXPECT_THROW(ops::batchNorm(Variable(Tensor::zeros({2, 3, 4})), g3, b3, rm, rv, true), ShapeError);
  EXPECT_THROW(ops::batchNorm(x, g3, b3, none, none, false), ShapeError);
  EXPECT_THROW(ops::batchNorm(Variable(Tensor::zeros({1, 3, 1, 1})), g3, b3, rm, rv, true), ShapeError);
  EXPECT_THROW(ops::batchNormAct(x, g4, b3, rm, rv, true, Act::ReLU), ShapeError);
  try {
    ops::batchNorm(x, g4, b3, rm, rv, true);
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find(shapeToString({2, 3, 4, 4})), std::string::npos) << e.what();
  }
  // Training without running statistics is allowed (track_running_stats=False).
  EXPECT_NO_THROW(ops::batchNorm(x, g3, b3, none, none, true));
}
