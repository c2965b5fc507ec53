#include "trainer/kernels/pool.h"

#include <algorithm>
#include <cstring>

#include "trainer/kernels/parallel.h"
#include "trainer/kernels/pool_ref.h"
#include "trainer/kernels/reduce.h"

namespace hwnas::kernels {

namespace {

int64_t planeGrain(int64_t planeSize) {
  return planeSize >= kElementwiseGrain ? 1 : kElementwiseGrain / std::max<int64_t>(planeSize, 1);
}

// Valid kernel-row range [k0, k1) for output row o (window start o*s - pad) in an input of size n.
inline void validRange(int64_t o, int s, int pad, int k, int64_t n, int& k0, int& k1) {
  int64_t start = o * s - pad;
  k0 = (int)std::max<int64_t>(0, -start);
  k1 = (int)std::min<int64_t>(k, n - start);
}

}  // namespace

void avgPool2dForward(const float* x, int64_t P, int64_t H, int64_t W, const ops::Pool2dParams& p, float* y) {
  const int64_t OH = poolOutSize(H, p.kernelH, p.strideH, p.padH), OW = poolOutSize(W, p.kernelW, p.strideW, p.padW);
  const float inv = 1.f / float(p.kernelH * p.kernelW);
  parallelChunks(P, planeGrain(H * W), [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      const float* xp = x + q * H * W;
      float* yp = y + q * OH * OW;
      for (int64_t oh = 0; oh < OH; ++oh) {
        int kh0, kh1;
        validRange(oh, p.strideH, p.padH, p.kernelH, H, kh0, kh1);
        const int64_t h0 = oh * p.strideH - p.padH;
        for (int64_t ow = 0; ow < OW; ++ow) {
          int kw0, kw1;
          validRange(ow, p.strideW, p.padW, p.kernelW, W, kw0, kw1);
          const int64_t w0 = ow * p.strideW - p.padW;
          float s = 0.f;
          for (int kh = kh0; kh < kh1; ++kh) {
            const float* row = xp + (h0 + kh) * W + w0;
            for (int kw = kw0; kw < kw1; ++kw) s += row[kw];
          }
          yp[oh * OW + ow] = s * inv;
        }
      }
    }
  });
}

void avgPool2dBackward(const float* gy, int64_t P, int64_t H, int64_t W, const ops::Pool2dParams& p, float* gx) {
  const int64_t OH = poolOutSize(H, p.kernelH, p.strideH, p.padH), OW = poolOutSize(W, p.kernelW, p.strideW, p.padW);
  const float inv = 1.f / float(p.kernelH * p.kernelW);
  parallelChunks(P, planeGrain(H * W), [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      float* gp = gx + q * H * W;
      const float* gyp = gy + q * OH * OW;
      std::memset(gp, 0, sizeof(float) * H * W);
      for (int64_t oh = 0; oh < OH; ++oh) {
        int kh0, kh1;
        validRange(oh, p.strideH, p.padH, p.kernelH, H, kh0, kh1);
        const int64_t h0 = oh * p.strideH - p.padH;
        for (int64_t ow = 0; ow < OW; ++ow) {
          int kw0, kw1;
          validRange(ow, p.strideW, p.padW, p.kernelW, W, kw0, kw1);
          const int64_t w0 = ow * p.strideW - p.padW;
          const float g = gyp[oh * OW + ow] * inv;
          for (int kh = kh0; kh < kh1; ++kh) {
            float* row = gp + (h0 + kh) * W + w0;
            for (int kw = kw0; kw < kw1; ++kw) row[kw] += g;
          }
        }
      }
    }
  });
}

namespace {
// First maximum of the window at (oh, ow); returns its index in the plane.
inline int64_t windowArgMax(const float* xp, int64_t H, int64_t W, const ops::Pool2dParams& p, int64_t oh,
                            int64_t ow) {
  int kh0, kh1, kw0, kw1;
  validRange(oh, p.strideH, p.padH, p.kernelH, H, kh0, kh1);
  validRange(ow, p.strideW, p.padW, p.kernelW, W, kw0, kw1);
  const int64_t h0 = oh * p.strideH - p.padH, w0 = ow * p.strideW - p.padW;
  int64_t best = (h0 + kh0) * W + w0 + kw0;
  float bv = xp[best];
  for (int kh = kh0; kh < kh1; ++kh)
    for (int kw = kw0; kw < kw1; ++kw) {
      int64_t i = (h0 + kh) * W + w0 + kw;
      if (xp[i] > bv) {
        bv = xp[i];
        best = i;
      }
    }
  return best;
}
}  // namespace

void maxPool2dForward(const float* x, int64_t P, int64_t H, int64_t W, const ops::Pool2dParams& p, float* y) {
  const int64_t OH = poolOutSize(H, p.kernelH, p.strideH, p.padH), OW = poolOutSize(W, p.kernelW, p.strideW, p.padW);
  parallelChunks(P, planeGrain(H * W), [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      const float* xp = x + q * H * W;
      float* yp = y + q * OH * OW;
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) yp[oh * OW + ow] = xp[windowArgMax(xp, H, W, p, oh, ow)];
    }
  });
}

void maxPool2dBackward(const float* x, const float* gy, int64_t P, int64_t H, int64_t W, const ops::Pool2dParams& p,
                       float* gx) {
  const int64_t OH = poolOutSize(H, p.kernelH, p.strideH, p.padH), OW = poolOutSize(W, p.kernelW, p.strideW, p.padW);
  parallelChunks(P, planeGrain(H * W), [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      const float* xp = x + q * H * W;
      const float* gyp = gy + q * OH * OW;
      float* gp = gx + q * H * W;
      std::memset(gp, 0, sizeof(float) * H * W);
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) gp[windowArgMax(xp, H, W, p, oh, ow)] += gyp[oh * OW + ow];
    }
  });
}

void globalAvgPoolForward(const float* x, int64_t P, int64_t HW, float* y) {
  const double inv = 1.0 / double(HW);
  parallelChunks(P, planeGrain(HW), [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) y[q] = (float)(sumRow(x + q * HW, HW) * inv);
  });
}

void globalAvgPoolBackward(const float* gy, int64_t P, int64_t HW, float* gx) {
  const float inv = 1.f / float(HW);
  parallelChunks(P, planeGrain(HW), [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      const float g = gy[q] * inv;
      float* gp = gx + q * HW;
      for (int64_t i = 0; i < HW; ++i) gp[i] = g;
    }
  });
}

}  // namespace hwnas::kernels
