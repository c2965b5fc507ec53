// Naive reference kernels for add, mul (same shape, and [P] broadcast over [P,HW] rows as in
// squeeze-excite), concat along dim 1 and dropout, templated on the element type.
#pragma once
#include <cstdint>
#include <vector>

#include "core/rng.h"

namespace hwnas::kernels {

template <class T>
void addRef(const T* a, const T* b, int64_t n, T* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

template <class T>
void mulRef(const T* a, const T* b, int64_t n, T* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] * b[i];
}

// ga = g*b, gb = g*a (either may be null).
template <class T>
void mulBackwardRef(const T* a, const T* b, const T* g, int64_t n, T* ga, T* gb) {
  for (int64_t i = 0; i < n; ++i) {
    if (ga) ga[i] = g[i] * b[i];
    if (gb) gb[i] = g[i] * a[i];
  }
}

// a [P, HW], s [P]: y[p, i] = a[p, i] * s[p].
template <class T>
void mulRowsRef(const T* a, const T* s, int64_t P, int64_t HW, T* y) {
  for (int64_t p = 0; p < P; ++p)
    for (int64_t i = 0; i < HW; ++i) y[p * HW + i] = a[p * HW + i] * s[p];
}

// ga[p,i] = g[p,i]*s[p]; gs[p] = sum_i g[p,i]*a[p,i] (either may be null).
template <class T>
void mulRowsBackwardRef(const T* a, const T* s, const T* g, int64_t P, int64_t HW, T* ga, T* gs) {
  for (int64_t p = 0; p < P; ++p) {
    T acc = 0;
    for (int64_t i = 0; i < HW; ++i) {
      if (ga) ga[p * HW + i] = g[p * HW + i] * s[p];
      acc += g[p * HW + i] * a[p * HW + i];
    }
    if (gs) gs[p] = acc;
  }
}

// Concatenate xs[k] of shape [N, cs[k]*inner] into y [N, sum(cs)*inner].
template <class T>
void concatRef(const std::vector<const T*>& xs, const std::vector<int64_t>& cs, int64_t N, int64_t inner, T* y) {
  int64_t total = 0;
  for (int64_t c : cs) total += c;
  for (int64_t n = 0; n < N; ++n) {
    int64_t off = 0;
    for (size_t k = 0; k < xs.size(); ++k) {
      for (int64_t i = 0; i < cs[k] * inner; ++i) y[(n * total + off) * inner + i] = xs[k][n * cs[k] * inner + i];
      off += cs[k];
    }
  }
}

// The slice of g [N, total*inner] that belongs to input k (channel offset off, cs channels) into gx.
template <class T>
void concatBackwardRef(const T* g, int64_t N, int64_t total, int64_t off, int64_t cs, int64_t inner, T* gx) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < cs * inner; ++i) gx[n * cs * inner + i] = g[(n * total + off) * inner + i];
}

// Inverted-dropout mask for N samples of `per` elements: sample n draws from Rng(seed).split(n);
// an element is dropped (0) when uniform() < p, else kept with scale 1/(1-p).
template <class T>
void dropoutMaskRef(int64_t N, int64_t per, double p, uint64_t seed, T* mask) {
  const Rng base(seed);
  const T keep = T(1) / (T(1) - T(p));
  for (int64_t n = 0; n < N; ++n) {
    Rng r = base.split((uint64_t)n);
    for (int64_t i = 0; i < per; ++i) mask[n * per + i] = r.uniform() < p ? T(0) : keep;
  }
}

}  // namespace hwnas::kernels
