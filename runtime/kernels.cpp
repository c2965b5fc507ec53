#include "runtime/kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#define HWNAS_RT_X86 1
#include <immintrin.h>
// GCC 12 reports a false "may be used uninitialized" inside _mm512_max_ps/_mm512_min_ps.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace hwnas::runtime::kernels {

// ------------------------------------------------------------------ CPU features

const char* isaName(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    case Isa::Scalar: break;
  }
  return "scalar";
}

bool isaSupported(Isa isa) {
#ifdef HWNAS_RT_X86
  switch (isa) {
    case Isa::Avx512: return __builtin_cpu_supports("avx512f");
    case Isa::Avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::Scalar: return true;
  }
  return false;
#else
  return isa == Isa::Scalar;
#endif
}

Isa bestIsa() {
  static const Isa best = isaSupported(Isa::Avx512) ? Isa::Avx512 : isaSupported(Isa::Avx2) ? Isa::Avx2 : Isa::Scalar;
  return best;
}

// ------------------------------------------------------------------ activations

namespace {

template <Act A>
inline float actValue(float x) {
  if constexpr (A == Act::Identity) {
    return x;
  } else if constexpr (A == Act::Relu) {
    return x > 0.f ? x : 0.f;
  } else if constexpr (A == Act::Relu6) {
    return std::min(std::max(x, 0.f), 6.f);
  } else if constexpr (A == Act::HSwish) {
    return x * std::min(std::max(x + 3.f, 0.f), 6.f) / 6.f;
  } else if constexpr (A == Act::HSigmoid) {
    return std::min(std::max(x + 3.f, 0.f), 6.f) / 6.f;
  } else if constexpr (A == Act::Silu) {
    return x / (1.f + std::exp(-x));
  } else {
    return 1.f / (1.f + std::exp(-x));
  }
}

template <Act A>
inline __attribute__((always_inline)) void actSpan(float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = actValue<A>(y[i]);
}

inline __attribute__((always_inline)) void actDispatch(float* y, int64_t n, Act act) {
  switch (act) {
    case Act::Identity: return;
    case Act::Relu: return actSpan<Act::Relu>(y, n);
    case Act::Relu6: return actSpan<Act::Relu6>(y, n);
    case Act::HSwish: return actSpan<Act::HSwish>(y, n);
    case Act::HSigmoid: return actSpan<Act::HSigmoid>(y, n);
    case Act::Silu: return actSpan<Act::Silu>(y, n);
    case Act::Sigmoid:
    case Act::Count: return actSpan<Act::Sigmoid>(y, n);
  }
}

bool vectorAct(Act a) { return a != Act::Silu && a != Act::Sigmoid; }

}  // namespace

void applyAct(float* y, int64_t n, Act act) { actDispatch(y, n, act); }

// ------------------------------------------------------------------ GEMM

std::vector<float> packGemmWeights(const float* w, int64_t m, int64_t k) {
  const int64_t blocks = (m + kGemmRows - 1) / kGemmRows;
  std::vector<float> out(size_t(blocks * k * kGemmRows), 0.f);
  for (int64_t r = 0; r < m; ++r)
    for (int64_t j = 0; j < k; ++j) out[size_t(((r / kGemmRows) * k + j) * kGemmRows + r % kGemmRows)] = w[r * k + j];
  return out;
}

std::vector<float> padGemmBias(const float* bias, int64_t m) {
  std::vector<float> out(size_t((m + kGemmRows - 1) / kGemmRows * kGemmRows), 0.f);
  if (bias) std::copy(bias, bias + m, out.begin());
  return out;
}

namespace {

void gemmScalar(const float* wp, const float* bias8, int rows, int64_t k, const float* x, int64_t ldx, int64_t p,
                Act act, float* y, int64_t ldy) {
  constexpr int kCols = 8;
  for (int64_t p0 = 0; p0 < p; p0 += kCols) {
    const int n = int(std::min<int64_t>(kCols, p - p0));
    float acc[kGemmRows][kCols];
    for (int m = 0; m < kGemmRows; ++m)
      for (int j = 0; j < kCols; ++j) acc[m][j] = bias8[m];
    for (int64_t kk = 0; kk < k; ++kk) {
      float xv[kCols] = {0, 0, 0, 0, 0, 0, 0, 0};
      const float* xk = x + kk * ldx + p0;
      for (int j = 0; j < n; ++j) xv[j] = xk[j];
      const float* wk = wp + kk * kGemmRows;
      for (int m = 0; m < kGemmRows; ++m)
        for (int j = 0; j < kCols; ++j) acc[m][j] += wk[m] * xv[j];
    }
    for (int m = 0; m < rows; ++m) {
      float* ym = y + m * ldy + p0;
      for (int j = 0; j < n; ++j) ym[j] = acc[m][j];
      actDispatch(ym, n, act);
    }
  }
}

#ifdef HWNAS_RT_X86

// Vector forms of the piecewise-linear activations (the others are applied after the store).
__attribute__((target("avx512f"), always_inline)) inline __m512 actAvx512(__m512 r, Act act) {
  const __m512 zero = _mm512_setzero_ps(), three = _mm512_set1_ps(3.f), six = _mm512_set1_ps(6.f);
  switch (act) {
    case Act::Relu: return _mm512_max_ps(r, zero);
    case Act::Relu6: return _mm512_min_ps(_mm512_max_ps(r, zero), six);
    case Act::HSwish:
      return _mm512_div_ps(_mm512_mul_ps(r, _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(r, three), zero), six)), six);
    case Act::HSigmoid: return _mm512_div_ps(_mm512_min_ps(_mm512_max_ps(_mm512_add_ps(r, three), zero), six), six);
    default: return r;
  }
}

__attribute__((target("avx2,fma"), always_inline)) inline __m256 actAvx2(__m256 r, Act act) {
  const __m256 zero = _mm256_setzero_ps(), three = _mm256_set1_ps(3.f), six = _mm256_set1_ps(6.f);
  switch (act) {
    case Act::Relu: return _mm256_max_ps(r, zero);
    case Act::Relu6: return _mm256_min_ps(_mm256_max_ps(r, zero), six);
    case Act::HSwish:
      return _mm256_div_ps(_mm256_mul_ps(r, _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(r, three), zero), six)), six);
    case Act::HSigmoid: return _mm256_div_ps(_mm256_min_ps(_mm256_max_ps(_mm256_add_ps(r, three), zero), six), six);
    default: return r;
  }
}

// ---- AVX-512: 8 rows x (16 * NV) columns of accumulators in registers.
template <int NV>
__attribute__((target("avx512f"), always_inline)) inline void tileAvx512(const float* wp, const float* bias8, int rows,
                                                                          int64_t k, const float* x, int64_t ldx,
                                                                          int64_t cols, Act act, float* y,
                                                                          int64_t ldy) {
  const int64_t lastCols = cols - 16 * (NV - 1);
  const __mmask16 last = lastCols >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << lastCols) - 1);
  __m512 acc[kGemmRows][NV];
#pragma GCC unroll 8
  for (int m = 0; m < kGemmRows; ++m) {
    const __m512 b = _mm512_set1_ps(bias8[m]);
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[m][v] = b;
  }
  for (int64_t kk = 0; kk < k; ++kk) {
    const float* xk = x + kk * ldx;
    __m512 xv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV - 1; ++v) xv[v] = _mm512_loadu_ps(xk + 16 * v);
    xv[NV - 1] = _mm512_maskz_loadu_ps(last, xk + 16 * (NV - 1));
    const float* wk = wp + kk * kGemmRows;
#pragma GCC unroll 8
    for (int m = 0; m < kGemmRows; ++m) {
      const __m512 w = _mm512_set1_ps(wk[m]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[m][v] = _mm512_fmadd_ps(w, xv[v], acc[m][v]);
    }
  }
#pragma GCC unroll 8
  for (int m = 0; m < kGemmRows; ++m) {
    if (m >= rows) continue;
    float* ym = y + m * ldy;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      const __m512 r = actAvx512(acc[m][v], act);
      if (v < NV - 1)
        _mm512_storeu_ps(ym + 16 * v, r);
      else
        _mm512_mask_storeu_ps(ym + 16 * v, last, r);
    }
  }
  if (!vectorAct(act))
    for (int m = 0; m < rows; ++m) actDispatch(y + m * ldy, cols, act);
}

__attribute__((target("avx512f"))) void gemmAvx512(const float* wp, const float* bias8, int rows, int64_t k,
                                                   const float* x, int64_t ldx, int64_t p, Act act, float* y,
                                                   int64_t ldy) {
  int64_t p0 = 0;
  for (; p0 + 32 <= p; p0 += 32) tileAvx512<2>(wp, bias8, rows, k, x + p0, ldx, 32, act, y + p0, ldy);
  const int64_t rest = p - p0;
  if (rest > 16)
    tileAvx512<2>(wp, bias8, rows, k, x + p0, ldx, rest, act, y + p0, ldy);
  else if (rest > 0)
    tileAvx512<1>(wp, bias8, rows, k, x + p0, ldx, rest, act, y + p0, ldy);
}

// ---- AVX2 + FMA: 8 rows x 8 columns.
__attribute__((target("avx2,fma"))) void gemmAvx2(const float* wp, const float* bias8, int rows, int64_t k,
                                                  const float* x, int64_t ldx, int64_t p, Act act, float* y,
                                                  int64_t ldy) {
  for (int64_t p0 = 0; p0 < p; p0 += 8) {
    const int n = int(std::min<int64_t>(8, p - p0));
    alignas(32) int32_t maskBits[8];
    for (int j = 0; j < 8; ++j) maskBits[j] = j < n ? -1 : 0;
    const __m256i mask = _mm256_load_si256(reinterpret_cast<const __m256i*>(maskBits));
    __m256 acc[kGemmRows];
#pragma GCC unroll 8
    for (int m = 0; m < kGemmRows; ++m) acc[m] = _mm256_set1_ps(bias8[m]);
    for (int64_t kk = 0; kk < k; ++kk) {
      const __m256 xv = _mm256_maskload_ps(x + kk * ldx + p0, mask);
      const float* wk = wp + kk * kGemmRows;
#pragma GCC unroll 8
      for (int m = 0; m < kGemmRows; ++m) acc[m] = _mm256_fmadd_ps(_mm256_set1_ps(wk[m]), xv, acc[m]);
    }
#pragma GCC unroll 8
    for (int m = 0; m < kGemmRows; ++m) {
      if (m >= rows) continue;
      float* ym = y + m * ldy + p0;
      _mm256_maskstore_ps(ym, mask, actAvx2(acc[m], act));
    }
    if (!vectorAct(act))
      for (int m = 0; m < rows; ++m) actDispatch(y + m * ldy + p0, n, act);
  }
}

#endif  // HWNAS_RT_X86

}  // namespace

void gemmBlock(Isa isa, const float* packedBlock, const float* bias8, int rows, int64_t k, const float* x, int64_t ldx,
               int64_t p, Act act, float* y, int64_t ldy) {
#ifdef HWNAS_RT_X86
  if (isa == Isa::Avx512) return gemmAvx512(packedBlock, bias8, rows, k, x, ldx, p, act, y, ldy);
  if (isa == Isa::Avx2) return gemmAvx2(packedBlock, bias8, rows, k, x, ldx, p, act, y, ldy);
#endif
  gemmScalar(packedBlock, bias8, rows, k, x, ldx, p, act, y, ldy);
}

void im2col(const float* x, int64_t channelStride, const ConvGeom& g, float* col) {
  const int64_t P = g.oh * g.ow;
  for (int64_t c = 0; c < g.channels; ++c) {
    const float* xc = x + c * channelStride;
    for (int i = 0; i < g.kh; ++i)
      for (int j = 0; j < g.kw; ++j) {
        float* dst = col + ((c * g.kh + i) * g.kw + j) * P;
        for (int64_t oh = 0; oh < g.oh; ++oh) {
          const int64_t ih = oh * g.sh - g.ph + int64_t(i) * g.dh;
          float* d = dst + oh * g.ow;
          if (ih < 0 || ih >= g.h) {
            std::fill(d, d + g.ow, 0.f);
            continue;
          }
          const float* row = xc + ih * g.w;
          const int64_t off = int64_t(j) * g.dw - g.pw;
          if (g.sw == 1) {
            // Valid range of ow: 0 <= ow + off < w.
            const int64_t lo = std::clamp<int64_t>(-off, 0, g.ow), hi = std::clamp<int64_t>(g.w - off, lo, g.ow);
            std::fill(d, d + lo, 0.f);
            std::copy(row + lo + off, row + hi + off, d + lo);
            std::fill(d + hi, d + g.ow, 0.f);
          } else {
            for (int64_t ow = 0; ow < g.ow; ++ow) {
              const int64_t iw = ow * g.sw + off;
              d[ow] = iw >= 0 && iw < g.w ? row[iw] : 0.f;
            }
          }
        }
      }
  }
}

// ------------------------------------------------------------------ depthwise

namespace {

constexpr int kDwLanes = 16;

// The padded plane is stored with each row split into sw phases (columns q, q+sw, ...), so
// a strided window reads contiguous memory. Each phase row has kDwLanes floats of slack.
int64_t dwPhaseLen(const DwGeom& g) { return (g.w + 2 * g.pw + g.sw - 1) / g.sw + kDwLanes; }
int64_t dwRowStride(const DwGeom& g) { return g.sw * dwPhaseLen(g); }

inline __attribute__((always_inline)) void dwFill(const float* x, const DwGeom& g, float* s) {
  const int64_t L = dwPhaseLen(g), rs = dwRowStride(g), hp = g.h + 2 * g.ph, wp = g.w + 2 * g.pw;
  for (int64_t r = 0; r < hp; ++r) {
    float* dst = s + r * rs;
    const int64_t ih = r - g.ph;
    if (ih < 0 || ih >= g.h) {
      std::fill(dst, dst + rs, 0.f);
      continue;
    }
    const float* row = x + ih * g.w;
    if (g.sw == 1) {
      std::fill(dst, dst + g.pw, 0.f);
      std::memcpy(dst + g.pw, row, size_t(g.w) * sizeof(float));
      std::fill(dst + g.pw + g.w, dst + rs, 0.f);
    } else {
      for (int q = 0; q < g.sw; ++q) {
        float* ph = dst + q * L;
        int64_t idx = 0;
        for (int64_t c = q; c < wp; c += g.sw, ++idx) {
          const int64_t iw = c - g.pw;
          ph[idx] = iw >= 0 && iw < g.w ? row[iw] : 0.f;
        }
        std::fill(ph + idx, ph + L, 0.f);
      }
    }
  }
}

// KH/KW/S == 0: taken from g at run time.
template <int KH, int KW, int S, Act A>
inline __attribute__((always_inline)) void dwCompute(const float* w, float bias, const DwGeom& g, float* y,
                                                     const float* s) {
  const int kh = KH ? KH : g.kh, kw = KW ? KW : g.kw, sh = S ? S : g.sh, sw = S ? S : g.sw;
  const int64_t L = dwPhaseLen(g), rs = dwRowStride(g);
  for (int64_t oh = 0; oh < g.oh; ++oh) {
    for (int64_t ow0 = 0; ow0 < g.ow; ow0 += kDwLanes) {
      float acc[kDwLanes];
      for (int j = 0; j < kDwLanes; ++j) acc[j] = bias;
      for (int i = 0; i < kh; ++i) {
        const float* row = s + (oh * sh + i) * rs + ow0;
        for (int jw = 0; jw < kw; ++jw) {
          const float wv = w[i * kw + jw];
          const float* src = row + (jw % sw) * L + jw / sw;
          for (int j = 0; j < kDwLanes; ++j) acc[j] += wv * src[j];
        }
      }
      for (int j = 0; j < kDwLanes; ++j) acc[j] = actValue<A>(acc[j]);
      const int n = int(std::min<int64_t>(kDwLanes, g.ow - ow0));
      float* dst = y + oh * g.ow + ow0;
      for (int j = 0; j < n; ++j) dst[j] = acc[j];
    }
  }
}

template <int KH, int KW, int S>
inline __attribute__((always_inline)) void dwActs(const float* w, float bias, const DwGeom& g, Act act, float* y,
                                                  const float* s) {
  switch (act) {
    case Act::Identity: return dwCompute<KH, KW, S, Act::Identity>(w, bias, g, y, s);
    case Act::Relu: return dwCompute<KH, KW, S, Act::Relu>(w, bias, g, y, s);
    case Act::Relu6: return dwCompute<KH, KW, S, Act::Relu6>(w, bias, g, y, s);
    case Act::HSwish: return dwCompute<KH, KW, S, Act::HSwish>(w, bias, g, y, s);
    case Act::HSigmoid: return dwCompute<KH, KW, S, Act::HSigmoid>(w, bias, g, y, s);
    default:
      dwCompute<KH, KW, S, Act::Identity>(w, bias, g, y, s);
      actDispatch(y, g.oh * g.ow, act);
  }
}

void dwPlaneBody(const float* x, const float* w, float bias, const DwGeom& g, Act act, float* y, float* s) {
  dwFill(x, g, s);
  if (g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1) return dwActs<3, 3, 1>(w, bias, g, act, y, s);
  return dwActs<0, 0, 0>(w, bias, g, act, y, s);
}

void dwScalar(const float* x, const float* w, float bias, const DwGeom& g, Act act, float* y, float* s) {
  dwPlaneBody(x, w, bias, g, act, y, s);
}

#ifdef HWNAS_RT_X86
// One vector of output columns at a time: acc = bias, then every tap in (row, column) order.
template <int KH, int KW, int S>
__attribute__((target("avx512f"), always_inline)) inline void dwCompute512(const float* w, float bias,
                                                                            const DwGeom& g, Act act, float* y,
                                                                            const float* s) {
  const int kh = KH ? KH : g.kh, kw = KW ? KW : g.kw, sh = S ? S : g.sh, sw = S ? S : g.sw;
  const int64_t L = dwPhaseLen(g), rs = dwRowStride(g);
  const __m512 b = _mm512_set1_ps(bias);
  for (int64_t oh = 0; oh < g.oh; ++oh)
    for (int64_t ow0 = 0; ow0 < g.ow; ow0 += 16) {
      __m512 acc = b;
      for (int i = 0; i < kh; ++i) {
        const float* row = s + (oh * sh + i) * rs + ow0;
        for (int jw = 0; jw < kw; ++jw)
          acc = _mm512_fmadd_ps(_mm512_set1_ps(w[i * kw + jw]), _mm512_loadu_ps(row + (jw % sw) * L + jw / sw), acc);
      }
      const int64_t n = std::min<int64_t>(16, g.ow - ow0);
      _mm512_mask_storeu_ps(y + oh * g.ow + ow0, __mmask16((1u << n) - 1), actAvx512(acc, act));
    }
  if (!vectorAct(act)) actDispatch(y, g.oh * g.ow, act);
}

template <int KH, int KW, int S>
__attribute__((target("avx2,fma"), always_inline)) inline void dwCompute256(const float* w, float bias, const DwGeom& g,
                                                                            Act act, float* y, const float* s) {
  const int kh = KH ? KH : g.kh, kw = KW ? KW : g.kw, sh = S ? S : g.sh, sw = S ? S : g.sw;
  const int64_t L = dwPhaseLen(g), rs = dwRowStride(g);
  const __m256 b = _mm256_set1_ps(bias);
  alignas(32) static const int32_t kMaskBits[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t oh = 0; oh < g.oh; ++oh)
    for (int64_t ow0 = 0; ow0 < g.ow; ow0 += 8) {
      __m256 acc = b;
      for (int i = 0; i < kh; ++i) {
        const float* row = s + (oh * sh + i) * rs + ow0;
        for (int jw = 0; jw < kw; ++jw)
          acc = _mm256_fmadd_ps(_mm256_set1_ps(w[i * kw + jw]), _mm256_loadu_ps(row + (jw % sw) * L + jw / sw), acc);
      }
      const int64_t n = std::min<int64_t>(8, g.ow - ow0);
      const __m256i mask = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMaskBits + 8 - n));
      _mm256_maskstore_ps(y + oh * g.ow + ow0, mask, actAvx2(acc, act));
    }
  if (!vectorAct(act)) actDispatch(y, g.oh * g.ow, act);
}

// AVX-512, stride 1 or 2, kernel width <= 16: straight from the input plane, no padded copy.
// Out-of-plane taps are masked-out loads (zeros); rows outside the plane are skipped. For
// stride 2 two loads cover 32 input columns and a permute picks the even ones.
inline uint32_t laneRange(int64_t lo, int64_t hi, int lanes) {
  lo = std::clamp<int64_t>(lo, 0, lanes);
  hi = std::clamp<int64_t>(hi, 0, lanes);
  if (hi <= lo) return 0;
  const uint64_t upto = hi >= 32 ? 0xFFFFFFFFull : ((1ull << hi) - 1);
  return uint32_t(upto & ~((1ull << lo) - 1));
}

template <int K, int S>
__attribute__((target("avx512f"), always_inline)) inline void dwDirect512(const float* x, const float* w, float bias,
                                                                           const DwGeom& g, Act act, float* y) {
  const int kh = K ? K : g.kh, kw = K ? K : g.kw;
  const __m512 b = _mm512_set1_ps(bias);
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  __mmask16 mlo[16], mhi[16];
  for (int64_t ow0 = 0; ow0 < g.ow; ow0 += 16) {
    for (int jw = 0; jw < kw; ++jw) {
      const int64_t base = S * ow0 + jw - g.pw;
      const uint32_t m = laneRange(-base, g.w - base, S == 2 ? 32 : 16);
      mlo[jw] = __mmask16(m & 0xFFFF);
      mhi[jw] = __mmask16(m >> 16);
    }
    const int64_t n = std::min<int64_t>(16, g.ow - ow0);
    const __mmask16 store = __mmask16((1u << n) - 1);
    for (int64_t oh = 0; oh < g.oh; ++oh) {
      __m512 acc = b;
      for (int i = 0; i < kh; ++i) {
        const int64_t ih = oh * S - g.ph + i;
        if (ih < 0 || ih >= g.h) continue;
        const float* row = x + ih * g.w + S * ow0 - g.pw;
        for (int jw = 0; jw < kw; ++jw) {
          __m512 v;
          if (S == 1) {
            v = _mm512_maskz_loadu_ps(mlo[jw], row + jw);
          } else {
            const __m512 v0 = _mm512_maskz_loadu_ps(mlo[jw], row + jw);
            const __m512 v1 = _mm512_maskz_loadu_ps(mhi[jw], row + jw + 16);
            v = _mm512_permutex2var_ps(v0, even, v1);
          }
          acc = _mm512_fmadd_ps(_mm512_set1_ps(w[i * kw + jw]), v, acc);
        }
      }
      _mm512_mask_storeu_ps(y + oh * g.ow + ow0, store, actAvx512(acc, act));
    }
  }
  if (!vectorAct(act)) actDispatch(y, g.oh * g.ow, act);
}

__attribute__((target("avx512f"))) bool dwDirectAvx512(const float* x, const float* w, float bias, const DwGeom& g,
                                                       Act act, float* y) {
  if (g.sh != g.sw || (g.sh != 1 && g.sh != 2) || g.kw > 16) return false;
  const bool sq = g.kh == g.kw;
  if (g.sh == 1) {
    if (sq && g.kh == 3) dwDirect512<3, 1>(x, w, bias, g, act, y);
    else if (sq && g.kh == 5) dwDirect512<5, 1>(x, w, bias, g, act, y);
    else if (sq && g.kh == 7) dwDirect512<7, 1>(x, w, bias, g, act, y);
    else dwDirect512<0, 1>(x, w, bias, g, act, y);
  } else {
    if (sq && g.kh == 3) dwDirect512<3, 2>(x, w, bias, g, act, y);
    else if (sq && g.kh == 5) dwDirect512<5, 2>(x, w, bias, g, act, y);
    else if (sq && g.kh == 7) dwDirect512<7, 2>(x, w, bias, g, act, y);
    else dwDirect512<0, 2>(x, w, bias, g, act, y);
  }
  return true;
}

#define HWNAS_DW_DISPATCH(COMPUTE)                                                     \
  dwFill(x, g, s);                                                                     \
  const bool sq = g.kh == g.kw && g.sh == g.sw;                                        \
  if (sq && g.kh == 3 && g.sh == 1) return COMPUTE<3, 3, 1>(w, bias, g, act, y, s);    \
  if (sq && g.kh == 3 && g.sh == 2) return COMPUTE<3, 3, 2>(w, bias, g, act, y, s);    \
  if (sq && g.kh == 5 && g.sh == 1) return COMPUTE<5, 5, 1>(w, bias, g, act, y, s);    \
  if (sq && g.kh == 5 && g.sh == 2) return COMPUTE<5, 5, 2>(w, bias, g, act, y, s);    \
  if (sq && g.kh == 7 && g.sh == 1) return COMPUTE<7, 7, 1>(w, bias, g, act, y, s);    \
  if (sq && g.kh == 7 && g.sh == 2) return COMPUTE<7, 7, 2>(w, bias, g, act, y, s);    \
  return COMPUTE<0, 0, 0>(w, bias, g, act, y, s);

__attribute__((target("avx2,fma"))) void dwAvx2(const float* x, const float* w, float bias, const DwGeom& g, Act act,
                                                float* y, float* s) {
  HWNAS_DW_DISPATCH(dwCompute256)
}
__attribute__((target("avx512f"))) void dwAvx512(const float* x, const float* w, float bias, const DwGeom& g, Act act,
                                                 float* y, float* s) {
  HWNAS_DW_DISPATCH(dwCompute512)
}
#undef HWNAS_DW_DISPATCH
#endif

}  // namespace

int64_t depthwiseScratchFloats(const DwGeom& g) { return (g.h + 2 * g.ph) * dwRowStride(g) + kDwLanes; }

void depthwisePlane(Isa isa, const float* x, const float* w, float bias, const DwGeom& g, Act act, float* y,
                    float* scratch) {
#ifdef HWNAS_RT_X86
  if (isa == Isa::Avx512) {
    if (dwDirectAvx512(x, w, bias, g, act, y)) return;
    return dwAvx512(x, w, bias, g, act, y, scratch);
  }
  if (isa == Isa::Avx2) return dwAvx2(x, w, bias, g, act, y, scratch);
#endif
  dwScalar(x, w, bias, g, act, y, scratch);
}

// ------------------------------------------------------------------ small pieces

float dot(const float* a, const float* b, int64_t n) {
  float acc[16] = {0};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] += a[i + j] * b[i + j];
  for (int j = 0; i < n; ++i, ++j) acc[j] += a[i] * b[i];
  for (int w = 8; w >= 1; w /= 2)
    for (int j = 0; j < w; ++j) acc[j] += acc[j + w];
  return acc[0];
}

float planeMean(const float* x, int64_t n) {
  float acc[16] = {0};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] += x[i + j];
  for (int j = 0; i < n; ++i, ++j) acc[j] += x[i];
  for (int w = 8; w >= 1; w /= 2)
    for (int j = 0; j < w; ++j) acc[j] += acc[j + w];
  return acc[0] / float(n);
}

void avgPoolPlane(const float* x, int64_t h, int64_t w, const PlanOp& op, int64_t oh, int64_t ow, float* y) {
  const float div = float(op.kernelH * op.kernelW);
  for (int64_t r = 0; r < oh; ++r)
    for (int64_t c = 0; c < ow; ++c) {
      float s = 0.f;
      for (int i = 0; i < op.kernelH; ++i) {
        const int64_t ih = r * op.strideH - op.padH + i;
        if (ih < 0 || ih >= h) continue;
        for (int j = 0; j < op.kernelW; ++j) {
          const int64_t iw = c * op.strideW - op.padW + j;
          if (iw >= 0 && iw < w) s += x[ih * w + iw];
        }
      }
      y[r * ow + c] = s / div;
    }
}

void maxPoolPlane(const float* x, int64_t h, int64_t w, const PlanOp& op, int64_t oh, int64_t ow, float* y) {
  for (int64_t r = 0; r < oh; ++r)
    for (int64_t c = 0; c < ow; ++c) {
      float best = -INFINITY;
      bool any = false;
      for (int i = 0; i < op.kernelH; ++i) {
        const int64_t ih = r * op.strideH - op.padH + i;
        if (ih < 0 || ih >= h) continue;
        for (int j = 0; j < op.kernelW; ++j) {
          const int64_t iw = c * op.strideW - op.padW + j;
          if (iw >= 0 && iw < w && (!any || x[ih * w + iw] > best)) {
            best = x[ih * w + iw];
            any = true;
          }
        }
      }
      y[r * ow + c] = best;
    }
}

void addAct(const float* a, const float* b, int64_t n, Act act, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
  actDispatch(y, n, act);
}

void mulScalar(const float* a, float s, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] * s;
}

void mul(const float* a, const float* b, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] * b[i];
}

}  // namespace hwnas::runtime::kernels
