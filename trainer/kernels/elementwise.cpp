#include "trainer/kernels/elementwise.h"

#include <cstring>

#include "core/rng.h"
#include "trainer/kernels/parallel.h"
#include "trainer/kernels/reduce.h"

namespace hwnas::kernels {

void addForward(const float* a, const float* b, int64_t n, float* y) {
  parallelChunks(n, kElementwiseGrain, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) y[i] = a[i] + b[i];
  });
}

void mulForward(const float* a, const float* b, int64_t n, float* y) {
  parallelChunks(n, kElementwiseGrain, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) y[i] = a[i] * b[i];
  });
}

void mulBackward(const float* a, const float* b, const float* g, int64_t n, float* ga, float* gb) {
  parallelChunks(n, kElementwiseGrain, [&](int64_t s, int64_t e) {
    if (ga)
      for (int64_t i = s; i < e; ++i) ga[i] = g[i] * b[i];
    if (gb)
      for (int64_t i = s; i < e; ++i) gb[i] = g[i] * a[i];
  });
}

static int64_t rowGrain(int64_t HW) { return HW >= kElementwiseGrain ? 1 : kElementwiseGrain / (HW > 0 ? HW : 1); }

void mulRowsForward(const float* a, const float* s, int64_t P, int64_t HW, float* y) {
  parallelChunks(P, rowGrain(HW), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const float sv = s[p];
      const float* ap = a + p * HW;
      float* yp = y + p * HW;
      for (int64_t i = 0; i < HW; ++i) yp[i] = ap[i] * sv;
    }
  });
}

void mulRowsBackward(const float* a, const float* s, const float* g, int64_t P, int64_t HW, float* ga, float* gs) {
  parallelChunks(P, rowGrain(HW), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const float* gp = g + p * HW;
      if (gs) gs[p] = (float)dotRow(gp, a + p * HW, HW);
      if (ga) {
        const float sv = s[p];
        float* gap = ga + p * HW;
        for (int64_t i = 0; i < HW; ++i) gap[i] = gp[i] * sv;
      }
    }
  });
}

void concatForward(const std::vector<const float*>& xs, const std::vector<int64_t>& cs, int64_t N, int64_t inner,
                   float* y) {
  int64_t total = 0;
  for (int64_t c : cs) total += c;
  parallelChunks(N, 1, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      int64_t off = 0;
      for (size_t k = 0; k < xs.size(); ++k) {
        std::memcpy(y + (n * total + off) * inner, xs[k] + n * cs[k] * inner, sizeof(float) * cs[k] * inner);
        off += cs[k];
      }
    }
  });
}

void concatBackward(const float* g, int64_t N, int64_t total, int64_t off, int64_t cs, int64_t inner, float* gx) {
  parallelChunks(N, 1, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n)
      std::memcpy(gx + n * cs * inner, g + (n * total + off) * inner, sizeof(float) * cs * inner);
  });
}

void dropoutMask(int64_t N, int64_t per, double p, uint64_t seed, float* mask) {
  const Rng base(seed);
  const float keep = 1.f / (1.f - (float)p);
  parallelChunks(N, 1, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      Rng r = base.split((uint64_t)n);
      float* m = mask + n * per;
      for (int64_t i = 0; i < per; ++i) m[i] = r.uniform() < p ? 0.f : keep;
    }
  });
}

}  // namespace hwnas::kernels
