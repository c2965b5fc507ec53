#include "trainer/kernels/batch_norm.h"

#include <cmath>

#include "trainer/kernels/activation_ref.h"
#include "trainer/kernels/parallel.h"
#include "trainer/kernels/reduce.h"

namespace hwnas::kernels {

namespace {

// y = act(x*scale + shift) over one row.
template <Act A>
inline void applyRow(const float* x, int64_t n, float scale, float shift, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = actValue<A>(x[i] * scale + shift);
}

// Adds sum(dz) and sum(dz*(x-mean)) over one row, dz = gy*act'(x*scale+shift).
template <Act A>
inline void backwardSumsRow(const float* __restrict x, const float* __restrict gy, int64_t n, float scale, float shift,
                            float mean, double& sdz, double& sdzx) {
  float a[kLanes] = {}, b[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) {
      float xv = x[i + j];
      float dz = gy[i + j];
      if constexpr (A != Act::Identity) dz *= actDeriv<A>(xv * scale + shift);
      a[j] += dz;
      b[j] += dz * (xv - mean);
    }
  double t1 = 0, t2 = 0;
  for (; i < n; ++i) {
    float xv = x[i];
    float dz = gy[i];
    if constexpr (A != Act::Identity) dz *= actDeriv<A>(xv * scale + shift);
    t1 += dz;
    t2 += (double)dz * (xv - mean);
  }
  for (int j = 0; j < kLanes; ++j) {
    t1 += a[j];
    t2 += b[j];
  }
  sdz += t1;
  sdzx += t2;
}

// gx = A*dz + c1*(x-mean) + c0 over one row (training; eval has c1 = c0 = 0).
template <Act A>
inline void backwardApplyRow(const float* x, const float* gy, int64_t n, float scale, float shift, float mean,
                             float a, float c1, float c0, float* gx) {
  for (int64_t i = 0; i < n; ++i) {
    float xv = x[i];
    float dz = gy[i];
    if constexpr (A != Act::Identity) dz *= actDeriv<A>(xv * scale + shift);
    gx[i] = a * dz + c1 * (xv - mean) + c0;
  }
}

}  // namespace

void batchNormTrainForward(const float* x, const float* gamma, const float* beta, BnShape s, float eps, Act act,
                           float* y, float* mean, float* invstd, float* varBiased) {
  const int64_t N = s.n, C = s.c, HW = s.hw;
  const double M = double(N * HW);
  dispatchAct(act, [&](auto tag) {
    constexpr Act A = decltype(tag)::value;
    parallelChunks(C, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        // Shift by the channel's first value so the one-pass variance does not cancel.
        const float k = x[c * HW];
        double s1 = 0, s2 = 0;
        for (int64_t n = 0; n < N; ++n) accumulateShiftedSums(x + (n * C + c) * HW, HW, k, s1, s2);
        double dm = s1 / M;
        double var = s2 / M - dm * dm;
        if (var < 0) var = 0;
        double m = k + dm;
        double is = 1.0 / std::sqrt(var + eps);
        mean[c] = (float)m;
        invstd[c] = (float)is;
        varBiased[c] = (float)var;
        float g = gamma ? gamma[c] : 1.f, b = beta ? beta[c] : 0.f;
        float scale = g * (float)is;
        float shift = b - (float)m * scale;
        for (int64_t n = 0; n < N; ++n) {
          int64_t off = (n * C + c) * HW;
          applyRow<A>(x + off, HW, scale, shift, y + off);
        }
      }
    });
  });
}

void batchNormApply(const float* x, const float* gamma, const float* beta, const float* mean, const float* invstd,
                    BnShape s, Act act, float* y) {
  const int64_t N = s.n, C = s.c, HW = s.hw;
  dispatchAct(act, [&](auto tag) {
    constexpr Act A = decltype(tag)::value;
    // Parallel over (n, c) rows; grain sized to about kElementwiseGrain elements.
    const int64_t grain = HW >= kElementwiseGrain ? 1 : kElementwiseGrain / HW;
    parallelChunks(N * C, grain, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        int64_t c = r % C;
        float g = gamma ? gamma[c] : 1.f, b = beta ? beta[c] : 0.f;
        float scale = g * invstd[c];
        float shift = b - mean[c] * scale;
        applyRow<A>(x + r * HW, HW, scale, shift, y + r * HW);
      }
    });
  });
}

void batchNormBackward(const float* x, const float* gy, const float* gamma, const float* beta, const float* mean,
                       const float* invstd, BnShape s, Act act, bool training, float* gx, float* gGamma,
                       float* gBeta) {
  const int64_t N = s.n, C = s.c, HW = s.hw;
  const double M = double(N * HW);
  dispatchAct(act, [&](auto tag) {
    constexpr Act A = decltype(tag)::value;
    parallelChunks(C, 1, [&](int64_t cb, int64_t ce) {
      for (int64_t c = cb; c < ce; ++c) {
        float g = gamma ? gamma[c] : 1.f, b = beta ? beta[c] : 0.f;
        float is = invstd[c], m = mean[c];
        float scale = g * is;
        float shift = b - m * scale;
        const bool needSums = gGamma || gBeta || (gx && training);
        double sdz = 0, sdzx = 0;
        if (needSums)
          for (int64_t n = 0; n < N; ++n) {
            int64_t off = (n * C + c) * HW;
            backwardSumsRow<A>(x + off, gy + off, HW, scale, shift, m, sdz, sdzx);
          }
        if (gGamma) gGamma[c] = (float)(sdzx * is);
        if (gBeta) gBeta[c] = (float)sdz;
        if (!gx) continue;
        float c1 = 0.f, c0 = 0.f;
        if (training) {
          c1 = (float)(-(double)scale * is * is * sdzx / M);
          c0 = (float)(-(double)scale * sdz / M);
        }
        for (int64_t n = 0; n < N; ++n) {
          int64_t off = (n * C + c) * HW;
          backwardApplyRow<A>(x + off, gy + off, HW, scale, shift, m, scale, c1, c0, gx + off);
        }
      }
    });
  });
}

}  // namespace hwnas::kernels
