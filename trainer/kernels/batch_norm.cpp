#include "trainer/kernels/batch_norm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "trainer/kernels/activation_ref.h"
#include "trainer/kernels/parallel.h"
#include "trainer/kernels/reduce.h"

// Layout: rows r = n*C + c of HW contiguous floats. Every pass streams the tensor row-parallel in
// fixed chunks; per-row partial sums (double) are a pure function of the row, and the per-channel
// totals add them in row order, so results are bit-identical at any thread count.

namespace hwnas::kernels {

namespace {

int64_t rowGrain(int64_t HW) { return HW >= kElementwiseGrain ? 1 : kElementwiseGrain / std::max<int64_t>(HW, 1); }

// y = act(x*scale + shift) over one row.
template <Act A>
inline void applyRow(const float* x, int64_t n, float scale, float shift, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = actValue<A>(x[i] * scale + shift);
}

// y = act(x*scale[c] + shift[c]) over all rows.
template <Act A>
void applyAll(const float* x, BnShape s, const float* scale, const float* shift, float* y) {
  const int64_t C = s.c, HW = s.hw;
  parallelChunks(s.n * C, rowGrain(HW), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t c = r % C;
      applyRow<A>(x + r * HW, HW, scale[c], shift[c], y + r * HW);
    }
  });
}

// One row's sum(dz) and sum(dz*(x-mean)), dz = gy*act'(x*scale+shift). With an activation, dz is
// formed in a small stack buffer (vectorised) and then reduced, chunk by chunk in a fixed order.
template <Act A>
inline void backwardRowSums(const float* x, const float* gy, int64_t n, float scale, float shift, float mean,
                            double& sdz, double& sdzx) {
  if constexpr (A == Act::Identity) {
    rowSumAndShiftedDot(gy, x, n, mean, sdz, sdzx);
  } else {
    constexpr int64_t kChunk = 512;
    alignas(64) float dz[kChunk];
    sdz = 0;
    sdzx = 0;
    for (int64_t i0 = 0; i0 < n; i0 += kChunk) {
      const int64_t len = std::min(kChunk, n - i0);
      const float* xp = x + i0;
      const float* gp = gy + i0;
      for (int64_t i = 0; i < len; ++i) dz[i] = gp[i] * actDeriv<A>(xp[i] * scale + shift);
      double a, b;
      rowSumAndShiftedDot(dz, xp, len, mean, a, b);
      sdz += a;
      sdzx += b;
    }
  }
}

// gx = a*dz + c1*(x-mean) + c0 over one row (eval: c1 = c0 = 0).
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
  // Shift each channel by its first value so the one-pass variance does not cancel.
  std::vector<float> shiftK(C);
  for (int64_t c = 0; c < C; ++c) shiftK[c] = x[c * HW];
  std::vector<double> part(2 * N * C);
  parallelChunks(N * C, rowGrain(HW), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) rowShiftedSums(x + r * HW, HW, shiftK[r % C], part[2 * r], part[2 * r + 1]);
  });
  std::vector<double> s1(C, 0.0), s2(C, 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      s1[c] += part[2 * (n * C + c)];
      s2[c] += part[2 * (n * C + c) + 1];
    }
  std::vector<float> scale(C), shift(C);
  for (int64_t c = 0; c < C; ++c) {
    double dm = s1[c] / M;
    double var = std::max(0.0, s2[c] / M - dm * dm);
    double m = shiftK[c] + dm;
    double is = 1.0 / std::sqrt(var + eps);
    mean[c] = (float)m;
    invstd[c] = (float)is;
    varBiased[c] = (float)var;
    float g = gamma ? gamma[c] : 1.f, b = beta ? beta[c] : 0.f;
    scale[c] = g * invstd[c];
    shift[c] = b - mean[c] * scale[c];
  }
  dispatchAct(act, [&](auto tag) { applyAll<decltype(tag)::value>(x, s, scale.data(), shift.data(), y); });
}

void batchNormApply(const float* x, const float* gamma, const float* beta, const float* mean, const float* invstd,
                    BnShape s, Act act, float* y) {
  const int64_t C = s.c;
  std::vector<float> scale(C), shift(C);
  for (int64_t c = 0; c < C; ++c) {
    float g = gamma ? gamma[c] : 1.f, b = beta ? beta[c] : 0.f;
    scale[c] = g * invstd[c];
    shift[c] = b - mean[c] * scale[c];
  }
  dispatchAct(act, [&](auto tag) { applyAll<decltype(tag)::value>(x, s, scale.data(), shift.data(), y); });
}

void batchNormBackward(const float* x, const float* gy, const float* gamma, const float* beta, const float* mean,
                       const float* invstd, BnShape s, Act act, bool training, float* gx, float* gGamma,
                       float* gBeta) {
  const int64_t N = s.n, C = s.c, HW = s.hw;
  const double M = double(N * HW);
  std::vector<float> scale(C), shift(C);
  for (int64_t c = 0; c < C; ++c) {
    float g = gamma ? gamma[c] : 1.f, b = beta ? beta[c] : 0.f;
    scale[c] = g * invstd[c];
    shift[c] = b - mean[c] * scale[c];
  }
  const bool needSums = gGamma || gBeta || (gx && training);
  dispatchAct(act, [&](auto tag) {
    constexpr Act A = decltype(tag)::value;
    std::vector<double> sdz(C, 0.0), sdzx(C, 0.0);
    if (needSums) {
      std::vector<double> part(2 * N * C);
      parallelChunks(N * C, rowGrain(HW), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const int64_t c = r % C;
          backwardRowSums<A>(x + r * HW, gy + r * HW, HW, scale[c], shift[c], mean[c], part[2 * r],
                             part[2 * r + 1]);
        }
      });
      for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c) {
          sdz[c] += part[2 * (n * C + c)];
          sdzx[c] += part[2 * (n * C + c) + 1];
        }
    }
    for (int64_t c = 0; c < C; ++c) {
      if (gGamma) gGamma[c] = (float)(sdzx[c] * invstd[c]);
      if (gBeta) gBeta[c] = (float)sdz[c];
    }
    if (!gx) return;
    std::vector<float> c1(C, 0.f), c0(C, 0.f);
    if (training)
      for (int64_t c = 0; c < C; ++c) {
        const double is = invstd[c];
        c1[c] = (float)(-(double)scale[c] * is * is * sdzx[c] / M);
        c0[c] = (float)(-(double)scale[c] * sdz[c] / M);
      }
    parallelChunks(N * C, rowGrain(HW), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t c = r % C;
        backwardApplyRow<A>(x + r * HW, gy + r * HW, HW, scale[c], shift[c], mean[c], scale[c], c1[c], c0[c],
                            gx + r * HW);
      }
    });
  });
}

}  // namespace hwnas::kernels
