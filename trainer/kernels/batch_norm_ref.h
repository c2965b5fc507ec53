// Naive reference batch norm (optionally followed by an activation, the fused batchNormAct),
// templated on the element type for f64 gradient checks. Layout [N,C,HW]; statistics per
// channel over N*HW values; variance for normalisation is biased, as in PyTorch.
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "trainer/kernels/activation_ref.h"

namespace hwnas::kernels {

// Training: mean/var are outputs (batch statistics, var biased). Eval: mean/var are inputs (the
// running statistics). gamma/beta may be null (1 and 0). y = act((x-mean)/sqrt(var+eps)*gamma+beta).
template <class T>
void batchNormForwardRef(const T* x, int64_t N, int64_t C, int64_t HW, const T* gamma, const T* beta, bool training,
                         T eps, Act act, T* mean, T* var, T* y) {
  const int64_t M = N * HW;
  for (int64_t c = 0; c < C; ++c) {
    if (training) {
      T s = 0;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < HW; ++i) s += x[(n * C + c) * HW + i];
      T m = s / T(M);
      T v = 0;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < HW; ++i) {
          T d = x[(n * C + c) * HW + i] - m;
          v += d * d;
        }
      mean[c] = m;
      var[c] = v / T(M);
    }
    T invstd = T(1) / std::sqrt(var[c] + eps);
    T g = gamma ? gamma[c] : T(1), b = beta ? beta[c] : T(0);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) {
        int64_t k = (n * C + c) * HW + i;
        y[k] = actValueRef(act, (x[k] - mean[c]) * invstd * g + b);
      }
  }
}

// PyTorch's running-statistics update: running = (1-m)*running + m*batch, unbiased batch variance.
template <class T>
void batchNormUpdateRunningRef(const T* mean, const T* varBiased, int64_t C, int64_t M, T momentum, T* runMean,
                               T* runVar) {
  for (int64_t c = 0; c < C; ++c) {
    runMean[c] = (T(1) - momentum) * runMean[c] + momentum * mean[c];
    runVar[c] = (T(1) - momentum) * runVar[c] + momentum * varBiased[c] * T(M) / T(M - 1);
  }
}

// Gradients of the forward above. mean/var are those the forward used. Any of gx, gGamma, gBeta may be null.
template <class T>
void batchNormBackwardRef(const T* x, const T* gy, int64_t N, int64_t C, int64_t HW, const T* gamma, const T* beta,
                          bool training, T eps, Act act, const T* mean, const T* var, T* gx, T* gGamma, T* gBeta) {
  const int64_t M = N * HW;
  std::vector<T> xhat(M), dz(M);
  for (int64_t c = 0; c < C; ++c) {
    T invstd = T(1) / std::sqrt(var[c] + eps);
    T g = gamma ? gamma[c] : T(1), b = beta ? beta[c] : T(0);
    T sdz = 0, sdzx = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) {
        int64_t k = (n * C + c) * HW + i, j = n * HW + i;
        xhat[j] = (x[k] - mean[c]) * invstd;
        dz[j] = gy[k] * actDerivRef(act, xhat[j] * g + b);
        sdz += dz[j];
        sdzx += dz[j] * xhat[j];
      }
    if (gGamma) gGamma[c] = sdzx;
    if (gBeta) gBeta[c] = sdz;
    if (!gx) continue;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) {
        int64_t k = (n * C + c) * HW + i, j = n * HW + i;
        if (training)
          gx[k] = g * invstd / T(M) * (T(M) * dz[j] - sdz - xhat[j] * sdzx);
        else
          gx[k] = g * invstd * dz[j];
      }
  }
}

}  // namespace hwnas::kernels
