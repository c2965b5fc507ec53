#include "trainer/kernels/activation.h"

#include "trainer/kernels/activation_ref.h"
#include "trainer/kernels/parallel.h"

namespace hwnas::kernels {

void activationForward(const float* x, int64_t n, Act a, float* y) {
  dispatchAct(a, [&](auto tag) {
    constexpr Act A = decltype(tag)::value;
    parallelChunks(n, kElementwiseGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) y[i] = actValue<A>(x[i]);
    });
  });
}

void activationBackward(const float* x, const float* gy, int64_t n, Act a, float* gx) {
  dispatchAct(a, [&](auto tag) {
    constexpr Act A = decltype(tag)::value;
    parallelChunks(n, kElementwiseGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) gx[i] = gy[i] * actDeriv<A>(x[i]);
    });
  });
}

}  // namespace hwnas::kernels
