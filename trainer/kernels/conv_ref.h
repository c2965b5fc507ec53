// Naive reference kernels for conv2d and linear, templated on the element type so gradient
// checks run in f64 and the fast f32 kernels (trainer/kernels/conv.h) are tested against them.
// Plain loops, obviously correct, never fast. All outputs are overwritten (not accumulated).
#pragma once
#include <cstdint>

namespace hwnas::kernels {

// The full geometry of one conv2d call: NCHW input, OIHW weight [cout, cin/groups, kh, kw].
// Invariant (checked by makeConvGeometry's callers): cin and cout divisible by groups, oh/ow >= 1.
struct ConvGeometry {
  int64_t n = 1, cin = 1, h = 1, w = 1;
  int64_t cout = 1, kh = 1, kw = 1;
  int64_t oh = 1, ow = 1;
  int strideH = 1, strideW = 1, padH = 0, padW = 0, dilationH = 1, dilationW = 1, groups = 1;

  int64_t cinPerGroup() const { return cin / groups; }
  int64_t coutPerGroup() const { return cout / groups; }
  int64_t inputNumel() const { return n * cin * h * w; }
  int64_t outputNumel() const { return n * cout * oh * ow; }
  int64_t weightNumel() const { return cout * cinPerGroup() * kh * kw; }
  // Multiply-accumulates of the forward pass.
  int64_t macs() const { return n * cout * oh * ow * cinPerGroup() * kh * kw; }
};

// Output size of one spatial dimension (PyTorch's formula); may be <= 0 for bad inputs.
inline int64_t convOutSize(int64_t in, int64_t k, int stride, int pad, int dilation) {
  return (in + 2 * pad - dilation * (k - 1) - 1) / stride + 1;
}

// y[n,co,oy,ox] = bias[co] + sum_{ci,ky,kx} x[n, g*cinPerGroup+ci, oy*s-p+ky*d, ox*s-p+kx*d] * w[co,ci,ky,kx]
template <class T>
void convForwardRef(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y) {
  const int64_t cig = g.cinPerGroup(), cog = g.coutPerGroup();
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t co = 0; co < g.cout; ++co) {
      const int64_t grp = co / cog;
      for (int64_t oy = 0; oy < g.oh; ++oy)
        for (int64_t ox = 0; ox < g.ow; ++ox) {
          T acc = bias ? bias[co] : T(0);
          for (int64_t ci = 0; ci < cig; ++ci)
            for (int64_t ky = 0; ky < g.kh; ++ky) {
              const int64_t iy = oy * g.strideH - g.padH + ky * g.dilationH;
              if (iy < 0 || iy >= g.h) continue;
              for (int64_t kx = 0; kx < g.kw; ++kx) {
                const int64_t ix = ox * g.strideW - g.padW + kx * g.dilationW;
                if (ix < 0 || ix >= g.w) continue;
                acc += x[((n * g.cin + grp * cig + ci) * g.h + iy) * g.w + ix] *
                       w[((co * cig + ci) * g.kh + ky) * g.kw + kx];
              }
            }
          y[((n * g.cout + co) * g.oh + oy) * g.ow + ox] = acc;
        }
    }
}

// gx = d(sum gy*y)/dx.
template <class T>
void convBackwardDataRef(const ConvGeometry& g, const T* gy, const T* w, T* gx) {
  const int64_t cig = g.cinPerGroup(), cog = g.coutPerGroup();
  for (int64_t i = 0; i < g.inputNumel(); ++i) gx[i] = T(0);
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t co = 0; co < g.cout; ++co) {
      const int64_t grp = co / cog;
      for (int64_t oy = 0; oy < g.oh; ++oy)
        for (int64_t ox = 0; ox < g.ow; ++ox) {
          const T go = gy[((n * g.cout + co) * g.oh + oy) * g.ow + ox];
          for (int64_t ci = 0; ci < cig; ++ci)
            for (int64_t ky = 0; ky < g.kh; ++ky) {
              const int64_t iy = oy * g.strideH - g.padH + ky * g.dilationH;
              if (iy < 0 || iy >= g.h) continue;
              for (int64_t kx = 0; kx < g.kw; ++kx) {
                const int64_t ix = ox * g.strideW - g.padW + kx * g.dilationW;
                if (ix < 0 || ix >= g.w) continue;
                gx[((n * g.cin + grp * cig + ci) * g.h + iy) * g.w + ix] +=
                    go * w[((co * cig + ci) * g.kh + ky) * g.kw + kx];
              }
            }
        }
    }
}

// gw = d(sum gy*y)/dw; gb (when not null) = d(sum gy*y)/dbias.
template <class T>
void convBackwardWeightRef(const ConvGeometry& g, const T* x, const T* gy, T* gw, T* gb) {
  const int64_t cig = g.cinPerGroup(), cog = g.coutPerGroup();
  for (int64_t i = 0; i < g.weightNumel(); ++i) gw[i] = T(0);
  if (gb)
    for (int64_t co = 0; co < g.cout; ++co) gb[co] = T(0);
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t co = 0; co < g.cout; ++co) {
      const int64_t grp = co / cog;
      for (int64_t oy = 0; oy < g.oh; ++oy)
        for (int64_t ox = 0; ox < g.ow; ++ox) {
          const T go = gy[((n * g.cout + co) * g.oh + oy) * g.ow + ox];
          if (gb) gb[co] += go;
          for (int64_t ci = 0; ci < cig; ++ci)
            for (int64_t ky = 0; ky < g.kh; ++ky) {
              const int64_t iy = oy * g.strideH - g.padH + ky * g.dilationH;
              if (iy < 0 || iy >= g.h) continue;
              for (int64_t kx = 0; kx < g.kw; ++kx) {
                const int64_t ix = ox * g.strideW - g.padW + kx * g.dilationW;
                if (ix < 0 || ix >= g.w) continue;
                gw[((co * cig + ci) * g.kh + ky) * g.kw + kx] +=
                    go * x[((n * g.cin + grp * cig + ci) * g.h + iy) * g.w + ix];
              }
            }
        }
    }
}

// Linear: x [n, in], w [out, in] (PyTorch layout), bias [out] or null, y [n, out].
template <class T>
void linearForwardRef(int64_t n, int64_t in, int64_t out, const T* x, const T* w, const T* bias, T* y) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t o = 0; o < out; ++o) {
      T acc = bias ? bias[o] : T(0);
      for (int64_t k = 0; k < in; ++k) acc += x[i * in + k] * w[o * in + k];
      y[i * out + o] = acc;
    }
}

// gx [n, in] = gy [n, out] * w [out, in].
template <class T>
void linearBackwardDataRef(int64_t n, int64_t in, int64_t out, const T* gy, const T* w, T* gx) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < in; ++k) {
      T acc = T(0);
      for (int64_t o = 0; o < out; ++o) acc += gy[i * out + o] * w[o * in + k];
      gx[i * in + k] = acc;
    }
}

// gw [out, in] = gy^T x; gb [out] = column sums of gy (when not null).
template <class T>
void linearBackwardWeightRef(int64_t n, int64_t in, int64_t out, const T* x, const T* gy, T* gw, T* gb) {
  for (int64_t o = 0; o < out; ++o) {
    for (int64_t k = 0; k < in; ++k) {
      T acc = T(0);
      for (int64_t i = 0; i < n; ++i) acc += gy[i * out + o] * x[i * in + k];
      gw[o * in + k] = acc;
    }
    if (gb) {
      T acc = T(0);
      for (int64_t i = 0; i < n; ++i) acc += gy[i * out + o];
      gb[o] = acc;
    }
  }
}

}  // namespace hwnas::kernels
