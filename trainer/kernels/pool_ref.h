// Naive reference kernels for average (count_include_pad), max and global-average pooling over
// P = N*C planes of H x W, templated on the element type. Output size is the floor formula.
#pragma once
#include <cstdint>

#include "trainer/ops.h"

namespace hwnas::kernels {

inline int64_t poolOutSize(int64_t in, int k, int s, int pad) { return (in + 2 * pad - k) / s + 1; }

template <class T>
void avgPool2dRef(const T* x, int64_t P, int64_t H, int64_t W, const ops::Pool2dParams& p, T* y) {
  const int64_t OH = poolOutSize(H, p.kernelH, p.strideH, p.padH), OW = poolOutSize(W, p.kernelW, p.strideW, p.padW);
  const T div = T(p.kernelH * p.kernelW);
  for (int64_t q = 0; q < P; ++q)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        T s = 0;
        for (int kh = 0; kh < p.kernelH; ++kh)
          for (int kw = 0; kw < p.kernelW; ++kw) {
            int64_t h = oh * p.strideH - p.padH + kh, w = ow * p.strideW - p.padW + kw;
            if (h >= 0 && h < H && w >= 0 && w < W) s += x[(q * H + h) * W + w];
          }
        y[(q * OH + oh) * OW + ow] = s / div;
      }
}

template <class T>
void avgPool2dBackwardRef(const T* gy, int64_t P, int64_t H, int64_t W, const ops::Pool2dParams& p, T* gx) {
  const int64_t OH = poolOutSize(H, p.kernelH, p.strideH, p.padH), OW = poolOutSize(W, p.kernelW, p.strideW, p.padW);
  const T div = T(p.kernelH * p.kernelW);
  for (int64_t i = 0; i < P * H * W; ++i) gx[i] = 0;
  for (int64_t q = 0; q < P; ++q)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow)
        for (int kh = 0; kh < p.kernelH; ++kh)
          for (int kw = 0; kw < p.kernelW; ++kw) {
            int64_t h = oh * p.strideH - p.padH + kh, w = ow * p.strideW - p.padW + kw;
            if (h >= 0 && h < H && w >= 0 && w < W) gx[(q * H + h) * W + w] += gy[(q * OH + oh) * OW + ow] / div;
          }
}

// Index (within the plane) of the first maximal value of the window, or -1 when it holds none.
template <class T>
int64_t maxPoolArgRef(const T* plane, int64_t H, int64_t W, const ops::Pool2dParams& p, int64_t oh, int64_t ow) {
  int64_t best = -1;
  for (int kh = 0; kh < p.kernelH; ++kh)
    for (int kw = 0; kw < p.kernelW; ++kw) {
      int64_t h = oh * p.strideH - p.padH + kh, w = ow * p.strideW - p.padW + kw;
      if (h >= 0 && h < H && w >= 0 && w < W && (best < 0 || plane[h * W + w] > plane[best])) best = h * W + w;
    }
  return best;
}

template <class T>
void maxPool2dRef(const T* x, int64_t P, int64_t H, int64_t W, const ops::Pool2dParams& p, T* y) {
  const int64_t OH = poolOutSize(H, p.kernelH, p.strideH, p.padH), OW = poolOutSize(W, p.kernelW, p.strideW, p.padW);
  for (int64_t q = 0; q < P; ++q)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        int64_t a = maxPoolArgRef(x + q * H * W, H, W, p, oh, ow);
        y[(q * OH + oh) * OW + ow] = x[q * H * W + a];
      }
}

template <class T>
void maxPool2dBackwardRef(const T* x, const T* gy, int64_t P, int64_t H, int64_t W, const ops::Pool2dParams& p,
                          T* gx) {
  const int64_t OH = poolOutSize(H, p.kernelH, p.strideH, p.padH), OW = poolOutSize(W, p.kernelW, p.strideW, p.padW);
  for (int64_t i = 0; i < P * H * W; ++i) gx[i] = 0;
  for (int64_t q = 0; q < P; ++q)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        int64_t a = maxPoolArgRef(x + q * H * W, H, W, p, oh, ow);
        gx[q * H * W + a] += gy[(q * OH + oh) * OW + ow];
      }
}

template <class T>
void globalAvgPoolRef(const T* x, int64_t P, int64_t HW, T* y) {
  for (int64_t q = 0; q < P; ++q) {
    T s = 0;
    for (int64_t i = 0; i < HW; ++i) s += x[q * HW + i];
    y[q] = s / T(HW);
  }
}

template <class T>
void globalAvgPoolBackwardRef(const T* gy, int64_t P, int64_t HW, T* gx) {
  for (int64_t q = 0; q < P; ++q)
    for (int64_t i = 0; i < HW; ++i) gx[q * HW + i] = gy[q] / T(HW);
}

}  // namespace hwnas::kernels
