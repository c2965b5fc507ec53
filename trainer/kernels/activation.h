// Fast f32 kernels for the pointwise activations: single pass, vectorisable loops with the
// activation fixed at compile time, parallel over fixed chunks. Reference: activation_ref.h.
#pragma once
#include <cstdint>

#include "trainer/ops.h"

namespace hwnas::kernels {

// y = f(x); y may alias x.
void activationForward(const float* x, int64_t n, ops::Act a, float* y);
// gx = gy * f'(x); gx may alias gy.
void activationBackward(const float* x, const float* gy, int64_t n, ops::Act a, float* gx);

}  // namespace hwnas::kernels
