// Fast f32 pooling kernels: average (count_include_pad), max, global average over P = N*C
// planes, parallel over planes with a fixed grain; each plane is handled by one task, so the
// scatter of gradients needs no atomics. Reference: pool_ref.h.
#pragma once
#include <cstdint>

#include "trainer/ops.h"

namespace hwnas::kernels {

void avgPool2dForward(const float* x, int64_t P, int64_t H, int64_t W, const ops::Pool2dParams& p, float* y);
void avgPool2dBackward(const float* gy, int64_t P, int64_t H, int64_t W, const ops::Pool2dParams& p, float* gx);
void maxPool2dForward(const float* x, int64_t P, int64_t H, int64_t W, const ops::Pool2dParams& p, float* y);
// Recomputes each window's first maximum from x (no index tensor is stored).
void maxPool2dBackward(const float* x, const float* gy, int64_t P, int64_t H, int64_t W, const ops::Pool2dParams& p,
                       float* gx);
void globalAvgPoolForward(const float* x, int64_t P, int64_t HW, float* y);
void globalAvgPoolBackward(const float* gy, int64_t P, int64_t HW, float* gx);

}  // namespace hwnas::kernels
