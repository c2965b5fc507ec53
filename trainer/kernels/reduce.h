// Fixed-order, vectorisable reductions for the fast f32 kernels: 16 float lanes accumulate a
// row, and the lanes are combined into a double in a fixed order. The result depends only on
// the data, never on threads, and keeps near-double accuracy for rows of a few thousand values.
#pragma once
#include <cstdint>

namespace hwnas::kernels {

constexpr int kLanes = 16;

// Adds sum(x[i] - k) and sum((x[i] - k)^2) over one row to s1, s2.
inline void accumulateShiftedSums(const float* __restrict x, int64_t n, float k, double& s1, double& s2) {
  float a[kLanes] = {}, b[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) {
      float d = x[i + j] - k;
      a[j] += d;
      b[j] += d * d;
    }
  double t1 = 0, t2 = 0;
  for (; i < n; ++i) {
    double d = (double)x[i] - k;
    t1 += d;
    t2 += d * d;
  }
  for (int j = 0; j < kLanes; ++j) {
    t1 += a[j];
    t2 += b[j];
  }
  s1 += t1;
  s2 += t2;
}

// sum(x[i]) over one row, as a double.
inline double sumRow(const float* __restrict x, int64_t n) {
  float a[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) a[j] += x[i + j];
  double t = 0;
  for (; i < n; ++i) t += x[i];
  for (int j = 0; j < kLanes; ++j) t += a[j];
  return t;
}

// sum(x[i] * y[i]) over one row, as a double.
inline double dotRow(const float* __restrict x, const float* __restrict y, int64_t n) {
  float a[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) a[j] += x[i + j] * y[i + j];
  double t = 0;
  for (; i < n; ++i) t += (double)x[i] * y[i];
  for (int j = 0; j < kLanes; ++j) t += a[j];
  return t;
}

}  // namespace hwnas::kernels
