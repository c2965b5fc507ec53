// Fast f32 batch norm fused with an optional activation (Act::Identity for plain BN). Work is
// split per channel with a fixed grain: each channel's sums are computed inside one task in a
// fixed order, so results are bit-identical at any thread count. Reference: batch_norm_ref.h.
#pragma once
#include <cstdint>

#include "trainer/ops.h"

namespace hwnas::kernels {

struct BnShape {
  int64_t n = 0, c = 0, hw = 1;  // x is [n, c, hw]
};

// Training forward: per channel, one pass for (shifted) sums, one pass to normalise while the
// channel is still in cache. Writes y = act(bn(x)) and the batch mean, 1/sqrt(var+eps) and the
// biased variance per channel. gamma/beta may be null (1 and 0). y must not alias x.
void batchNormTrainForward(const float* x, const float* gamma, const float* beta, BnShape s, float eps, ops::Act act,
                           float* y, float* mean, float* invstd, float* varBiased);

// Forward with given statistics (eval: the running ones): y = act((x-mean)*invstd*gamma+beta). y may alias x.
void batchNormApply(const float* x, const float* gamma, const float* beta, const float* mean, const float* invstd,
                    BnShape s, ops::Act act, float* y);

// Backward of either forward. training: the statistics depend on x (batch stats); otherwise they
// are constants. gx, gGamma, gBeta may each be null. gx may alias gy.
void batchNormBackward(const float* x, const float* gy, const float* gamma, const float* beta, const float* mean,
                       const float* invstd, BnShape s, ops::Act act, bool training, float* gx, float* gGamma,
                       float* gBeta);

}  // namespace hwnas::kernels
