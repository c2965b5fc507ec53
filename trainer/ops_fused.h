// Fused differentiable ops that are not in ops.h: each equals a composition of ops.h ops (and
// is tested against it) but runs in fewer passes over memory. batchNormAct(x, ...) is
// activation(batchNorm(x, ...), act) with one forward kernel and one backward.
#pragma once
#include "trainer/ops.h"

namespace hwnas::ops {

// act(batchNorm(x, gamma, beta, runningMean, runningVar, training, momentum, eps)), same
// semantics (running-stat update included) as the unfused pair; the BN output is never stored.
Variable batchNormAct(const Variable& x, const Variable& gamma, const Variable& beta, Tensor& runningMean,
                      Tensor& runningVar, bool training, Act act, float momentum = 0.1f, float eps = 1e-5f);

}  // namespace hwnas::ops
