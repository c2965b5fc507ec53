// Batch norm ops: batchNorm (ops.h) and the fused batchNormAct (ops_fused.h).
#include <cmath>
#include <memory>
#include <vector>

#include "core/error.h"
#include "trainer/kernels/batch_norm.h"
#include "trainer/ops.h"
#include "trainer/ops_fused.h"

namespace hwnas::ops {

namespace {

void checkChannelVector(const char* op, const char* what, const Tensor& t, int64_t C, const Shape& xShape) {
  if (t.numel() != C)
    throw ShapeError(std::string(op) + ": " + what + " has shape " + shapeToString(t.shape()) + ", expected [" +
                     std::to_string(C) + "] for input " + shapeToString(xShape));
}

Variable batchNormImpl(const char* op, const Variable& x, const Variable& gamma, const Variable& beta,
                       Tensor& runningMean, Tensor& runningVar, bool training, Act act, float momentum, float eps) {
  if (!x.defined()) throw ShapeError(std::string(op) + ": undefined input");
  const Shape& xs = x.shape();
  if (xs.size() != 2 && xs.size() != 4)
    throw ShapeError(std::string(op) + ": expected input [N,C] or [N,C,H,W], got " + shapeToString(xs));
  kernels::BnShape s;
  s.n = xs[0];
  s.c = xs[1];
  s.hw = xs.size() == 4 ? xs[2] * xs[3] : 1;
  const int64_t C = s.c, M = s.n * s.hw;
  if (gamma.defined()) checkChannelVector(op, "gamma", gamma.value(), C, xs);
  if (beta.defined()) checkChannelVector(op, "beta", beta.value(), C, xs);
  const bool haveRunning = runningMean.defined() && runningVar.defined();
  if (haveRunning) {
    checkChannelVector(op, "runningMean", runningMean, C, xs);
    checkChannelVector(op, "runningVar", runningVar, C, xs);
  } else if (!training) {
    throw ShapeError(std::string(op) + ": eval mode needs runningMean and runningVar of shape [" + std::to_string(C) +
                     "] for input " + shapeToString(xs));
  }
  if (training && M <= 1)
    throw ShapeError(std::string(op) + ": training needs more than one value per channel, got input " +
                     shapeToString(xs));

  Tensor gammaV = gamma.defined() ? gamma.value() : Tensor();
  Tensor betaV = beta.defined() ? beta.value() : Tensor();
  const float* gp = gammaV.defined() ? gammaV.data() : nullptr;
  const float* bp = betaV.defined() ? betaV.data() : nullptr;
  Tensor xv = x.value();
  Tensor y = Tensor::empty(xs);
  Tensor mean = Tensor::empty({C}), invstd = Tensor::empty({C});
  if (training) {
    Tensor var = Tensor::empty({C});
    kernels::batchNormTrainForward(xv.data(), gp, bp, s, eps, act, y.data(), mean.data(), invstd.data(), var.data());
    if (haveRunning) {
      float* rm = runningMean.data();
      float* rv = runningVar.data();
      const float unbias = (float)((double)M / (double)(M - 1));
      for (int64_t c = 0; c < C; ++c) {
        rm[c] = (1.f - momentum) * rm[c] + momentum * mean[c];
        rv[c] = (1.f - momentum) * rv[c] + momentum * var[c] * unbias;
      }
    }
  } else {
    const float* rm = runningMean.data();
    const float* rv = runningVar.data();
    for (int64_t c = 0; c < C; ++c) {
      mean[c] = rm[c];
      invstd[c] = (float)(1.0 / std::sqrt((double)rv[c] + eps));
    }
    kernels::batchNormApply(xv.data(), gp, bp, mean.data(), invstd.data(), s, act, y.data());
  }
  return recordOp(op, std::move(y), {x, gamma, beta},
                  [x, gamma, beta, xv, gammaV, betaV, mean, invstd, s, act, training](const Tensor& g) {
                    const bool needX = x.requiresGrad(), needG = gamma.requiresGrad(), needB = beta.requiresGrad();
                    Tensor gx = needX ? Tensor::empty(x.shape()) : Tensor();
                    Tensor gg = needG ? Tensor::empty(gamma.shape()) : Tensor();
                    Tensor gb = needB ? Tensor::empty(beta.shape()) : Tensor();
                    kernels::batchNormBackward(xv.data(), g.data(), gammaV.defined() ? gammaV.data() : nullptr,
                                               betaV.defined() ? betaV.data() : nullptr, mean.data(), invstd.data(),
                                               s, act, training, needX ? gx.data() : nullptr,
                                               needG ? gg.data() : nullptr, needB ? gb.data() : nullptr);
                    if (needX) accumulateGrad(x, std::move(gx));
                    if (needG) accumulateGrad(gamma, std::move(gg));
                    if (needB) accumulateGrad(beta, std::move(gb));
                  });
}

}  // namespace

Variable batchNorm(const Variable& x, const Variable& gamma, const Variable& beta, Tensor& runningMean,
                   Tensor& runningVar, bool training, float momentum, float eps) {
  return batchNormImpl("batchNorm", x, gamma, beta, runningMean, runningVar, training, Act::Identity, momentum, eps);
}

Variable batchNormAct(const Variable& x, const Variable& gamma, const Variable& beta, Tensor& runningMean,
                      Tensor& runningVar, bool training, Act act, float momentum, float eps) {
  return batchNormImpl("batchNormAct", x, gamma, beta, runningMean, runningVar, training, act, momentum, eps);
}

}  // namespace hwnas::ops
