#include "runtime/kernels_int8.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "runtime/runtime_error.h"

#if defined(__x86_64__) || defined(__i386__)
#define HWNAS_RT8_X86 1
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12 reports its own avx512fintrin.h `_mm512_undefined_*()` (a self-initialized
// variable) as maybe uninitialized wherever an AVX-512 intrinsic is inlined: a false positive,
// hundreds of lines per build here.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#endif

namespace hwnas::runtime::int8 {

namespace {
constexpr float kRoundMagic = 12582912.f;  // 1.5 * 2^23: (v + M) - M rounds half to even for |v| < 2^22
}  // namespace

// ------------------------------------------------------------------ CPU features

const char* int8IsaName(Int8Isa isa) {
  switch (isa) {
    case Int8Isa::Vnni: return "vnni";
    case Int8Isa::Avx2: return "avx2";
    case Int8Isa::Scalar: break;
  }
  return "scalar";
}

bool int8IsaSupported(Int8Isa isa) {
#ifdef HWNAS_RT8_X86
  switch (isa) {
    case Int8Isa::Vnni:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
    case Int8Isa::Avx2: return __builtin_cpu_supports("avx2");
    case Int8Isa::Scalar: return true;
  }
  return false;
#else
  return isa == Int8Isa::Scalar;
#endif
}

Int8Isa parseInt8Isa(const std::string& name) {
  for (Int8Isa i : {Int8Isa::Scalar, Int8Isa::Avx2, Int8Isa::Vnni})
    if (name == int8IsaName(i)) return i;
  throw RuntimeError("unknown int8 kernel path '" + name + "'; use scalar, avx2 or vnni");
}

Int8Isa bestInt8Isa() {
  if (const char* env = std::getenv("HWNAS_INT8_ISA"); env && *env) {
    const Int8Isa isa = parseInt8Isa(env);
    if (!int8IsaSupported(isa))
      throw RuntimeError(std::string("HWNAS_INT8_ISA=") + env + ": this CPU does not support that path");
    return isa;
  }
  static const Int8Isa best = int8IsaSupported(Int8Isa::Vnni)   ? Int8Isa::Vnni
                              : int8IsaSupported(Int8Isa::Avx2) ? Int8Isa::Avx2
                                                                : Int8Isa::Scalar;
  return best;
}

// ------------------------------------------------------------------ packing

std::vector<int8_t> packWeights(const int8_t* w, int64_t m, int64_t k) {
  const int64_t blocks = (m + kRows - 1) / kRows, kq = quads(k);
  std::vector<int8_t> out(size_t(blocks * kq * kRows * 4), 0);
  for (int64_t r = 0; r < m; ++r) {
    int8_t* blk = out.data() + (r / kRows) * kq * kRows * 4;
    for (int64_t i = 0; i < k; ++i) blk[((i / 4) * kRows + r % kRows) * 4 + i % 4] = w[r * k + i];
  }
  return out;
}

std::vector<int16_t> widenWeights(const std::vector<int8_t>& packed) {
  return std::vector<int16_t>(packed.begin(), packed.end());
}

std::vector<int32_t> rowSums(const int8_t* w, int64_t m, int64_t k) {
  std::vector<int32_t> s(size_t(m), 0);
  for (int64_t r = 0; r < m; ++r)
    for (int64_t i = 0; i < k; ++i) s[r] += w[r * k + i];
  return s;
}

namespace {
// 1x1 stride 1: four channel rows interleaved byte-wise into [pixel][4], 16 pixels at a time.
void packDirect(const int8_t* x, int64_t channelStride, int64_t k, int64_t p, uint8_t flip, int8_t* out) {
  const int64_t ppad = paddedCols(p), kq = quads(k);
#ifdef HWNAS_RT8_X86
  static const int8_t zeros[16] = {};
#endif
  for (int64_t q = 0; q < kq; ++q) {
    int8_t* o = out + q * ppad * 4;
    const int8_t* rows[4];
    for (int j = 0; j < 4; ++j) rows[j] = q * 4 + j < k ? x + (q * 4 + j) * channelStride : nullptr;
    int64_t pi = 0;
#ifdef HWNAS_RT8_X86
    const __m128i f = _mm_set1_epi8(char(flip));
    for (; pi + 16 <= p; pi += 16) {
      __m128i r[4];
      for (int j = 0; j < 4; ++j)
        r[j] = rows[j] ? _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[j] + pi)), f)
                       : _mm_loadu_si128(reinterpret_cast<const __m128i*>(zeros));
      const __m128i a = _mm_unpacklo_epi8(r[0], r[1]), b = _mm_unpacklo_epi8(r[2], r[3]);
      const __m128i c = _mm_unpackhi_epi8(r[0], r[1]), d = _mm_unpackhi_epi8(r[2], r[3]);
      __m128i* dst = reinterpret_cast<__m128i*>(o + pi * 4);
      _mm_storeu_si128(dst, _mm_unpacklo_epi16(a, b));
      _mm_storeu_si128(dst + 1, _mm_unpackhi_epi16(a, b));
      _mm_storeu_si128(dst + 2, _mm_unpacklo_epi16(c, d));
      _mm_storeu_si128(dst + 3, _mm_unpackhi_epi16(c, d));
    }
#endif
    for (; pi < p; ++pi)
      for (int j = 0; j < 4; ++j) o[pi * 4 + j] = rows[j] ? int8_t(uint8_t(rows[j][pi]) ^ flip) : 0;
    for (; pi < ppad; ++pi)
      for (int j = 0; j < 4; ++j) o[pi * 4 + j] = 0;
  }
}
}  // namespace

void packConv(const int8_t* x, int64_t channelStride, const PackGeom& g, int8_t padValue, bool toUnsigned,
              int8_t* out) {
  const int64_t k = g.channels * g.kh * g.kw, p = g.oh * g.ow, ppad = paddedCols(p), kq = quads(k);
  const uint8_t flip = toUnsigned ? 0x80 : 0;
  const int8_t pad = int8_t(uint8_t(padValue) ^ flip);
  const bool direct = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;
  if (direct) return packDirect(x, channelStride, k, p, flip, out);
  for (int64_t q = 0; q < kq; ++q) {
    int8_t* o = out + q * ppad * 4;
    for (int j = 0; j < 4; ++j) {
      const int64_t kk = q * 4 + j;
      if (kk >= k) {
        for (int64_t pi = 0; pi < ppad; ++pi) o[pi * 4 + j] = 0;
        continue;
      }
      const int64_t c = kk / (g.kh * g.kw), i = (kk / g.kw) % g.kh, jj = kk % g.kw;
      const int8_t* xc = x + c * channelStride;
      if (direct) {
        for (int64_t pi = 0; pi < p; ++pi) o[pi * 4 + j] = int8_t(uint8_t(xc[pi]) ^ flip);
      } else {
        for (int64_t oh = 0; oh < g.oh; ++oh) {
          const int64_t ih = oh * g.sh - g.ph + int64_t(i) * g.dh;
          int8_t* orow = o + oh * g.ow * 4 + j;
          if (ih < 0 || ih >= g.h) {
            for (int64_t ow = 0; ow < g.ow; ++ow) orow[ow * 4] = pad;
            continue;
          }
          const int8_t* xr = xc + ih * g.w;
          for (int64_t ow = 0; ow < g.ow; ++ow) {
            const int64_t iw = ow * g.sw - g.pw + int64_t(jj) * g.dw;
            orow[ow * 4] = iw < 0 || iw >= g.w ? pad : int8_t(uint8_t(xr[iw]) ^ flip);
          }
        }
      }
      for (int64_t pi = p; pi < ppad; ++pi) o[pi * 4 + j] = 0;
    }
  }
}

void packLinear(const int8_t* x, int64_t n, int64_t f, bool toUnsigned, int8_t* out) {
  const int64_t ppad = paddedCols(n), kq = quads(f);
  const uint8_t flip = toUnsigned ? 0x80 : 0;
  std::memset(out, 0, size_t(kq * ppad * 4));
  for (int64_t img = 0; img < n; ++img)
    for (int64_t kk = 0; kk < f; ++kk) out[((kk / 4) * ppad + img) * 4 + kk % 4] = int8_t(uint8_t(x[img * f + kk]) ^ flip);
}

// ------------------------------------------------------------------ GEMM

namespace {

void gemmScalar(const int8_t* w, const int32_t* bias8, int64_t kq, const int8_t* x, int64_t ppad, int32_t* acc) {
  for (int r = 0; r < kRows; ++r)
    for (int64_t p = 0; p < ppad; ++p) acc[r * ppad + p] = bias8[r];
  for (int64_t q = 0; q < kq; ++q) {
    const int8_t* wq = w + q * kRows * 4;
    const int8_t* xq = x + q * ppad * 4;
    for (int r = 0; r < kRows; ++r) {
      const int32_t w0 = wq[r * 4], w1 = wq[r * 4 + 1], w2 = wq[r * 4 + 2], w3 = wq[r * 4 + 3];
      int32_t* a = acc + r * ppad;
      for (int64_t p = 0; p < ppad; ++p)
        a[p] += w0 * xq[p * 4] + w1 * xq[p * 4 + 1] + w2 * xq[p * 4 + 2] + w3 * xq[p * 4 + 3];
    }
  }
}

#ifdef HWNAS_RT8_X86
// 8 rows x 32 (or 16) columns per tile: 16 zmm accumulators, x loaded once per quad.
template <int V>
__attribute__((target("avx512f,avx512bw,avx512vnni"), always_inline)) inline void vnniTile(
    const int8_t* w, const int32_t* bias8, int64_t kq, const int8_t* x, int64_t ppad, int32_t* acc) {
  __m512i a[kRows][V];
  for (int r = 0; r < kRows; ++r)
    for (int v = 0; v < V; ++v) a[r][v] = _mm512_set1_epi32(bias8[r]);
  for (int64_t q = 0; q < kq; ++q) {
    const int8_t* xq = x + q * ppad * 4;
    __m512i xv[V];
    for (int v = 0; v < V; ++v) xv[v] = _mm512_loadu_si512(reinterpret_cast<const void*>(xq + v * 64));
    const int32_t* wq = reinterpret_cast<const int32_t*>(w + q * kRows * 4);
    for (int r = 0; r < kRows; ++r) {
      const __m512i wv = _mm512_set1_epi32(wq[r]);
      for (int v = 0; v < V; ++v) a[r][v] = _mm512_dpbusd_epi32(a[r][v], xv[v], wv);
    }
  }
  for (int r = 0; r < kRows; ++r)
    for (int v = 0; v < V; ++v) _mm512_storeu_si512(reinterpret_cast<void*>(acc + r * ppad + v * 16), a[r][v]);
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) void gemmVnni(const int8_t* w, const int32_t* bias8,
                                                                    int64_t kq, const int8_t* x, int64_t ppad,
                                                                    int32_t* acc) {
  int64_t p = 0;
  for (; p + 32 <= ppad; p += 32) vnniTile<2>(w, bias8, kq, x + p * 4, ppad, acc + p);
  for (; p < ppad; p += 16) vnniTile<1>(w, bias8, kq, x + p * 4, ppad, acc + p);
}

// The VNNI tile with the requantize epilogue in registers (identity / relu / relu6, i8 out):
// the same float operations as epilogueRow, int8 stores masked at the last pixel.
template <int V>
__attribute__((target("avx512f,avx512bw,avx512vnni"), always_inline)) inline void vnniTileRequant(
    const int8_t* w, const int32_t* bias8, int64_t kq, const int8_t* x, int64_t ppad, int64_t p0, int64_t p,
    int rows, const float* mult8, float lo, float hi, int32_t zp, int8_t* y, int64_t ldy) {
  __m512i a[kRows][V];
  for (int r = 0; r < kRows; ++r)
    for (int v = 0; v < V; ++v) a[r][v] = _mm512_set1_epi32(bias8[r]);
  for (int64_t q = 0; q < kq; ++q) {
    const int8_t* xq = x + q * ppad * 4;
    __m512i xv[V];
    for (int v = 0; v < V; ++v) xv[v] = _mm512_loadu_si512(reinterpret_cast<const void*>(xq + v * 64));
    const int32_t* wq = reinterpret_cast<const int32_t*>(w + q * kRows * 4);
    for (int r = 0; r < kRows; ++r) {
      const __m512i wv = _mm512_set1_epi32(wq[r]);
      for (int v = 0; v < V; ++v) a[r][v] = _mm512_dpbusd_epi32(a[r][v], xv[v], wv);
    }
  }
  const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi), magic = _mm512_set1_ps(kRoundMagic);
  const __m512i vzp = _mm512_set1_epi32(zp);
  for (int r = 0; r < rows; ++r) {
    const __m512 vm = _mm512_set1_ps(mult8[r]);
    for (int v = 0; v < V; ++v) {
      const int64_t at = p0 + v * 16;
      if (at >= p) break;
      const __mmask16 m = at + 16 <= p ? __mmask16(0xFFFF) : __mmask16((1u << (p - at)) - 1);
      __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(a[r][v]), vm);
      f = _mm512_min_ps(_mm512_max_ps(f, vlo), vhi);
      f = _mm512_sub_ps(_mm512_add_ps(f, magic), magic);
      const __m512i q = _mm512_add_epi32(_mm512_cvttps_epi32(f), vzp);
      _mm512_mask_storeu_epi8(y + r * ldy + at, __mmask64(m), _mm512_castsi128_si512(_mm512_cvtepi32_epi8(q)));
    }
  }
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) void gemmRequantVnni(
    const int8_t* w, const int32_t* bias8, int64_t kq, const int8_t* x, int64_t ppad, int64_t p, int rows,
    const float* mult8, float lo, float hi, int32_t zp, int8_t* y, int64_t ldy) {
  int64_t p0 = 0;
  for (; p0 + 32 <= ppad; p0 += 32)
    vnniTileRequant<2>(w, bias8, kq, x + p0 * 4, ppad, p0, p, rows, mult8, lo, hi, zp, y, ldy);
  for (; p0 < ppad; p0 += 16)
    vnniTileRequant<1>(w, bias8, kq, x + p0 * 4, ppad, p0, p, rows, mult8, lo, hi, zp, y, ldy);
}

// 4 rows x 8 columns per tile; each ymm holds 4 pixels x 2 partial sums (pairs of k).
__attribute__((target("avx2"), always_inline)) inline void avx2Tile(const int16_t* w, int r0, int64_t kq,
                                                                    const int8_t* x, int64_t ppad, __m256i* out) {
  __m256i a[4][2];
  for (int r = 0; r < 4; ++r) a[r][0] = a[r][1] = _mm256_setzero_si256();
  for (int64_t q = 0; q < kq; ++q) {
    const int8_t* xq = x + q * ppad * 4;
    const __m256i x0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(xq)));
    const __m256i x1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(xq + 16)));
    const int16_t* wq = w + (q * kRows + r0) * 4;
    for (int r = 0; r < 4; ++r) {
      int64_t bits;
      std::memcpy(&bits, wq + r * 4, 8);
      const __m256i wv = _mm256_set1_epi64x(bits);
      a[r][0] = _mm256_add_epi32(a[r][0], _mm256_madd_epi16(x0, wv));
      a[r][1] = _mm256_add_epi32(a[r][1], _mm256_madd_epi16(x1, wv));
    }
  }
  for (int r = 0; r < 4; ++r) {
    const __m256i h = _mm256_hadd_epi32(a[r][0], a[r][1]);  // p0 p1 p4 p5 | p2 p3 p6 p7
    out[r] = _mm256_permute4x64_epi64(h, 0xD8);             // p0 .. p7
  }
}

__attribute__((target("avx2"))) void gemmAvx2(const int16_t* w, const int32_t* bias8, int64_t kq, const int8_t* x,
                                              int64_t ppad, int32_t* acc) {
  for (int64_t p = 0; p < ppad; p += 8)
    for (int r0 = 0; r0 < kRows; r0 += 4) {
      __m256i o[4];
      avx2Tile(w, r0, kq, x + p * 4, ppad, o);
      for (int r = 0; r < 4; ++r)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + (r0 + r) * ppad + p),
                            _mm256_add_epi32(o[r], _mm256_set1_epi32(bias8[r0 + r])));
    }
}
#endif

}  // namespace

void gemmBlock([[maybe_unused]] Int8Isa isa, const void* packedBlock, const int32_t* bias8, int64_t kq, const int8_t* x, int64_t ppad,
               int32_t* acc) {
#ifdef HWNAS_RT8_X86
  if (isa == Int8Isa::Vnni) return gemmVnni(static_cast<const int8_t*>(packedBlock), bias8, kq, x, ppad, acc);
  if (isa == Int8Isa::Avx2) return gemmAvx2(static_cast<const int16_t*>(packedBlock), bias8, kq, x, ppad, acc);
#endif
  gemmScalar(static_cast<const int8_t*>(packedBlock), bias8, kq, x, ppad, acc);
}

bool gemmBlockRequant([[maybe_unused]] Int8Isa isa, [[maybe_unused]] const void* packedBlock,
                      [[maybe_unused]] const int32_t* bias8, [[maybe_unused]] int64_t kq,
                      [[maybe_unused]] const int8_t* x, [[maybe_unused]] int64_t ppad, [[maybe_unused]] int64_t p,
                      [[maybe_unused]] const Epilogue& e, [[maybe_unused]] int64_t c0, [[maybe_unused]] int rows,
                      [[maybe_unused]] int8_t* y, [[maybe_unused]] int64_t ldy) {
#ifdef HWNAS_RT8_X86
  const bool clamp = e.act == Act::Identity || e.act == Act::Relu || e.act == Act::Relu6;
  if (isa != Int8Isa::Vnni || !e.outI8 || !clamp) return false;
  float mult8[kRows] = {};
  for (int r = 0; r < rows; ++r) mult8[r] = e.mult[c0 + r];
  gemmRequantVnni(static_cast<const int8_t*>(packedBlock), bias8, kq, x, ppad, p, rows, mult8, e.lo, e.hi,
                  e.zeroPoint, y, ldy);
  return true;
#else
  return false;
#endif
}

// ------------------------------------------------------------------ epilogue

namespace {

// Round half to even for |v| < 2^22 with two float additions (the same on every path and
// vectorizable without SSE4.1).
// (-ffast-math is never used for the runtime, so the compiler keeps both additions.)
inline float roundEven(float v) { return (v + kRoundMagic) - kRoundMagic; }

float actScalar(float x, Act act) {
  switch (act) {
    case Act::Identity: return x;
    case Act::Relu: return x > 0.f ? x : 0.f;
    case Act::Relu6: return std::min(std::max(x, 0.f), 6.f);
    case Act::HSwish: return x * std::min(std::max(x + 3.f, 0.f), 6.f) / 6.f;
    case Act::HSigmoid: return std::min(std::max(x + 3.f, 0.f), 6.f) / 6.f;
    case Act::Silu: return x / (1.f + std::exp(-x));
    case Act::Sigmoid:
    case Act::Count: break;
  }
  return 1.f / (1.f + std::exp(-x));
}

bool clampAct(Act a) { return a == Act::Identity || a == Act::Relu || a == Act::Relu6; }

inline int8_t quantizeValue(float v, float invScale, int32_t zp) {
  float r = v * invScale;
  r = std::min(std::max(r, float(-128 - zp)), float(127 - zp));
  return int8_t(int32_t(roundEven(r)) + zp);
}

}  // namespace

Epilogue makeEpilogue(float inScale, const std::vector<float>& weightScales, const TensorInfo& out, Act act) {
  Epilogue e;
  e.act = act;
  e.outI8 = out.dtype == DType::I8;
  e.deq.resize(weightScales.size());
  e.mult.resize(weightScales.size());
  for (size_t c = 0; c < weightScales.size(); ++c) {
    const double d = double(inScale) * double(weightScales[c]);
    e.deq[c] = float(d);
    e.mult[c] = e.outI8 ? float(d / double(out.scale)) : float(d);
  }
  if (e.outI8) {
    e.invOutScale = float(1.0 / double(out.scale));
    e.zeroPoint = out.zeroPoint;
    e.lo = float(-128 - out.zeroPoint);
    e.hi = float(127 - out.zeroPoint);
    if (act == Act::Relu || act == Act::Relu6) e.lo = std::max(e.lo, 0.f);
    if (act == Act::Relu6) e.hi = std::min(e.hi, float(6.0 / double(out.scale)));
  }
  return e;
}

float epilogueOne(const Epilogue& e, int64_t c, int32_t acc) {
  if (!e.outI8) return actScalar(float(acc) * e.deq[c], e.act);
  if (clampAct(e.act)) {
    float r = float(acc) * e.mult[c];
    r = std::min(std::max(r, e.lo), e.hi);
    return float(int32_t(roundEven(r)) + e.zeroPoint);
  }
  return float(quantizeValue(actScalar(float(acc) * e.deq[c], e.act), e.invOutScale, e.zeroPoint));
}

#ifdef HWNAS_RT8_X86
namespace {
// The same operations as the scalar loop below, 16 at a time (bit-identical by construction).
__attribute__((target("avx512f,avx512bw"))) void requantRow512(const int32_t* acc, int64_t n, float m, float lo,
                                                               float hi, int32_t zp, int8_t* q) {
  const __m512 vm = _mm512_set1_ps(m), vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
  const __m512 magic = _mm512_set1_ps(kRoundMagic);
  const __m512i vzp = _mm512_set1_epi32(zp);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 r = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_loadu_si512(reinterpret_cast<const void*>(acc + i))), vm);
    r = _mm512_min_ps(_mm512_max_ps(r, vlo), vhi);
    r = _mm512_sub_ps(_mm512_add_ps(r, magic), magic);
    const __m512i v = _mm512_add_epi32(_mm512_cvttps_epi32(r), vzp);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + i), _mm512_cvtepi32_epi8(v));
  }
  for (; i < n; ++i) {
    float r = float(acc[i]) * m;
    r = r < lo ? lo : r;
    r = r > hi ? hi : r;
    q[i] = int8_t(int32_t(roundEven(r)) + zp);
  }
}
}  // namespace
#endif

void epilogueRow(const Epilogue& e, int64_t c, const int32_t* acc, int64_t n, void* y, int64_t ys,
                 [[maybe_unused]] Int8Isa isa) {
#ifdef HWNAS_RT8_X86
  if (isa == Int8Isa::Vnni && ys == 1 && e.outI8 && clampAct(e.act))
    return requantRow512(acc, n, e.mult[c], e.lo, e.hi, e.zeroPoint, static_cast<int8_t*>(y));
#endif
  if (e.outI8 && clampAct(e.act)) {
    int8_t* q = static_cast<int8_t*>(y);
    const float m = e.mult[c], lo = e.lo, hi = e.hi;
    const int32_t zp = e.zeroPoint;
    if (ys == 1) {
      for (int64_t i = 0; i < n; ++i) {
        float r = float(acc[i]) * m;
        r = r < lo ? lo : r;
        r = r > hi ? hi : r;
        q[i] = int8_t(int32_t(roundEven(r)) + zp);
      }
    } else {
      for (int64_t i = 0; i < n; ++i) {
        float r = float(acc[i]) * m;
        r = r < lo ? lo : r;
        r = r > hi ? hi : r;
        q[i * ys] = int8_t(int32_t(roundEven(r)) + zp);
      }
    }
    return;
  }
  if (e.outI8 && (e.act == Act::HSwish || e.act == Act::HSigmoid) && ys == 1) {
    // epilogueOne's operations for these two, without the per-element switch (vectorizes).
    int8_t* q = static_cast<int8_t*>(y);
    const float d = e.deq[c], inv = e.invOutScale, lo = float(-128 - e.zeroPoint), hi = float(127 - e.zeroPoint);
    const int32_t zp = e.zeroPoint;
    const bool swish = e.act == Act::HSwish;
    for (int64_t i = 0; i < n; ++i) {
      const float v = float(acc[i]) * d;
      const float g = std::min(std::max(v + 3.f, 0.f), 6.f);
      const float a = swish ? v * g / 6.f : g / 6.f;
      float r = a * inv;
      r = std::min(std::max(r, lo), hi);
      q[i] = int8_t(int32_t(roundEven(r)) + zp);
    }
    return;
  }
  if (e.outI8) {
    int8_t* q = static_cast<int8_t*>(y);
    for (int64_t i = 0; i < n; ++i) q[i * ys] = int8_t(epilogueOne(e, c, acc[i]));
    return;
  }
  float* f = static_cast<float*>(y);
  const float d = e.deq[c];
  if (e.act == Act::Identity) {
    for (int64_t i = 0; i < n; ++i) f[i * ys] = float(acc[i]) * d;
    return;
  }
  for (int64_t i = 0; i < n; ++i) f[i * ys] = actScalar(float(acc[i]) * d, e.act);
}

// ------------------------------------------------------------------ depthwise

namespace {
// Phase planes for stride S (1 or 2, equal in both directions): P_ab[r][q] = padded[S r + a][S q + b],
// rows2 x pw2 each, so every tap is one long contiguous multiply-add over the output plane.
struct PhaseGeom {
  int64_t pw2, rows2;
};
PhaseGeom phaseGeom(const DwGeom8& g) {
  const int64_t s = g.sh, hp = g.h + 2 * g.ph, wp = g.w + 2 * g.pw;
  return {(wp + s - 1) / s, (hp + s - 1) / s + 1};
}
bool phased(const DwGeom8& g) { return g.sh == g.sw && (g.sh == 1 || g.sh == 2); }

// Row-pair planes for the AVX2 / AVX-512 kernels: unit [b][r][q] (int32) holds the int16 pair
// (padded[r][SW q + b], padded[r + 1][SW q + b]) of x - zx (0 in the padding), so one vpmaddwd
// with the broadcast weight pair (w[i][j], w[i + 1][j]) adds two taps for 8 / 16 consecutive
// output pixels. rows R = (OH - 1) SH + KH, q16 covers every 16-wide output chunk.
struct PairGeom {
  int64_t rows, q, ow16;
};
PairGeom pairGeom(const DwGeom8& g) {
  const int64_t ow16 = (g.ow + 15) / 16 * 16;
  return {(g.oh - 1) * g.sh + g.kh, (ow16 + (g.kw - 1) / g.sw + 15) / 16 * 16, ow16};
}
int64_t a64(int64_t bytes) { return (bytes + 63) / 64 * 64; }
// padded int16 plane, pair planes, weight pairs, tap offsets, acc plane (+16 slack for full-width stores).
int64_t pairScratchBytes(const DwGeom8& g) {
  const PairGeom p = pairGeom(g);
  return a64((p.rows + 1) * (int64_t(g.sw) * p.q + 32) * 2) + a64(int64_t(g.sw) * p.rows * p.q * 4) +
         a64(int64_t(g.kh) * g.kw * 4) + a64(int64_t(g.kw) * 8) + a64((g.oh * g.ow + 16) * 4) + 64;
}
}  // namespace

int64_t depthwiseScratchBytes(const DwGeom8& g) {
  const int64_t ph = g.h + 2 * g.ph + g.sh, pw = g.w + 2 * g.pw + g.sw + 16;
  int64_t bytes = ph * pw * 2 + g.ow * 4 + 64;
  if (phased(g)) {
    const PhaseGeom p = phaseGeom(g);
    bytes = std::max(bytes, int64_t(g.sh) * g.sh * p.rows2 * p.pw2 * 2 + 64 + g.oh * p.pw2 * 4 + 64);
  }
  auto r16 = [](int64_t v) { return (v + 15) / 16 * 16; };
  const kernels::DwGeom fg{g.h, g.w, g.oh, g.ow, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw};
  const int64_t floats = r16(g.h * g.w) + r16(g.oh * g.ow) + r16(int64_t(g.kh) * g.kw) +
                         r16(kernels::depthwiseScratchFloats(fg)) + r16(g.oh * g.ow);
  return std::max({bytes, floats * 4 + 64, pairScratchBytes(g)});
}

namespace {

// Strides 1 and 2: phase planes (see PhaseGeom), acc[oh * pw2 + ow] over the whole plane per tap.
__attribute__((always_inline)) inline void dwPhased(const int8_t* __restrict x, int32_t zx, const int8_t* w,
                                                    int32_t bias, const DwGeom8& g, const Epilogue& e, int64_t c,
                                                    void* y, void* scratch) {
  const int64_t H = g.h, W = g.w, OH = g.oh, OW = g.ow, PH = g.ph, PW = g.pw;
  const int KH = g.kh, KW = g.kw, S = g.sh;
  const PhaseGeom pg = phaseGeom(g);
  const int64_t pw2 = pg.pw2, rows2 = pg.rows2, planeSize = rows2 * pw2;
  int16_t* __restrict planes = static_cast<int16_t*>(scratch);
  int32_t* __restrict acc =
      reinterpret_cast<int32_t*>(static_cast<char*>(scratch) + (int64_t(S) * S * planeSize * 2 + 63) / 64 * 64);
  for (int64_t i = 0; i < S * S * planeSize; ++i) planes[i] = 0;
  if (S == 1) {
    for (int64_t r = 0; r < H; ++r) {
      int16_t* __restrict dst = planes + (r + PH) * pw2 + PW;
      const int8_t* src = x + r * W;
      for (int64_t q = 0; q < W; ++q) dst[q] = int16_t(src[q] - zx);
    }
  } else {
    for (int64_t r = 0; r < H; ++r) {
      const int64_t R = r + PH;
      int16_t* rowBase = planes + (R % 2) * 2 * planeSize + (R / 2) * pw2;
      const int8_t* src = x + r * W;
      for (int64_t q = 0; q < W; ++q) {
        const int64_t Q = q + PW;
        rowBase[(Q % 2) * planeSize + Q / 2] = int16_t(src[q] - zx);
      }
    }
  }
  const int64_t n = OH * pw2;
  for (int64_t t = 0; t < n; ++t) acc[t] = bias;
  for (int i = 0; i < KH; ++i)
    for (int j = 0; j < KW; ++j) {
      const int32_t wv = w[i * KW + j];
      const int16_t* __restrict src = planes + ((i % S) * S + (j % S)) * planeSize + (i / S) * pw2 + j / S;
      for (int64_t t = 0; t < n; ++t) acc[t] += wv * int32_t(src[t]);
    }
  const bool outI8 = e.outI8;
  for (int64_t oh = 0; oh < OH; ++oh) {
    if (outI8)
      epilogueRow(e, c, acc + oh * pw2, OW, static_cast<int8_t*>(y) + oh * OW, 1);
    else
      epilogueRow(e, c, acc + oh * pw2, OW, static_cast<float*>(y) + oh * OW, 1);
  }
}

// acc row = sum over taps of w * padded[(oh*sh + i)][ow*sw + j]; int16 padded plane holds x - zx.
// Geometry is copied to locals: acc (int32) could alias the struct's int fields otherwise,
// which keeps the compiler from vectorizing the tap loops.
__attribute__((always_inline)) inline void dwBody(const int8_t* __restrict x, int32_t zx, const int8_t* w,
                                                  int32_t bias, const DwGeom8& g, const Epilogue& e, int64_t c,
                                                  void* y, void* scratch) {
  if (phased(g)) return dwPhased(x, zx, w, bias, g, e, c, y, scratch);
  const int64_t H = g.h, W = g.w, OH = g.oh, OW = g.ow, PH = g.ph, PW = g.pw;
  const int KH = g.kh, KW = g.kw, SH = g.sh, SW = g.sw;
  const int64_t pw = W + 2 * PW + SW + 16, phh = H + 2 * PH + SH;
  int16_t* __restrict pad = static_cast<int16_t*>(scratch);
  int32_t* __restrict acc = reinterpret_cast<int32_t*>(pad + phh * pw);
  for (int64_t r = 0; r < PH; ++r)
    for (int64_t q = 0; q < pw; ++q) pad[r * pw + q] = 0;
  for (int64_t r = 0; r < H; ++r) {
    int16_t* __restrict dst = pad + (r + PH) * pw;
    const int8_t* src = x + r * W;
    for (int64_t q = 0; q < PW; ++q) dst[q] = 0;
    for (int64_t q = 0; q < W; ++q) dst[PW + q] = int16_t(src[q] - zx);
    for (int64_t q = PW + W; q < pw; ++q) dst[q] = 0;
  }
  for (int64_t r = PH + H; r < phh; ++r)
    for (int64_t q = 0; q < pw; ++q) pad[r * pw + q] = 0;
  int32_t wk[64];
  const bool small = KH * KW <= 64;
  if (small)
    for (int i = 0; i < KH * KW; ++i) wk[i] = w[i];
  const bool outI8 = e.outI8;
  for (int64_t oh = 0; oh < OH; ++oh) {
    for (int64_t ow = 0; ow < OW; ++ow) acc[ow] = bias;
    for (int i = 0; i < KH; ++i) {
      const int16_t* row = pad + (oh * SH + i) * pw;
      for (int j = 0; j < KW; ++j) {
        const int32_t wv = small ? wk[i * KW + j] : int32_t(w[i * KW + j]);
        const int16_t* __restrict src = row + j;
        if (SW == 1) {
          for (int64_t ow = 0; ow < OW; ++ow) acc[ow] += wv * int32_t(src[ow]);
        } else if (SW == 2) {
          for (int64_t ow = 0; ow < OW; ++ow) acc[ow] += wv * int32_t(src[2 * ow]);
        } else {
          for (int64_t ow = 0; ow < OW; ++ow) acc[ow] += wv * int32_t(src[ow * SW]);
        }
      }
    }
    if (outI8)
      epilogueRow(e, c, acc, OW, static_cast<int8_t*>(y) + oh * OW, 1);
    else
      epilogueRow(e, c, acc, OW, static_cast<float*>(y) + oh * OW, 1);
  }
}

void dwScalar(const int8_t* x, int32_t zx, const int8_t* w, int32_t bias, const DwGeom8& g, const Epilogue& e,
              int64_t c, void* y, void* scratch) {
  dwBody(x, zx, w, bias, g, e, c, y, scratch);
}


}  // namespace

namespace {

// The fp32 depthwise kernel on the integers x - zx and w: every product and partial sum is
// an integer below 255 * 127 * taps < 2^24, so float arithmetic (FMA or not, any order) is
// exact and gives the int32 accumulator bit for bit on every path. The conversions are
// compiled per path (target clones below) so they vectorize.
__attribute__((always_inline)) inline void dwViaFloatBody(Int8Isa isa, const int8_t* __restrict x, int32_t zx,
                                                          const int8_t* w, int32_t bias, const DwGeom8& g,
                                                          const Epilogue& e, int64_t c, void* y, void* scratch) {
  auto r16 = [](int64_t v) { return (v + 15) / 16 * 16; };
  const kernels::Isa fi = isa == Int8Isa::Vnni && kernels::isaSupported(kernels::Isa::Avx512) ? kernels::Isa::Avx512
                          : isa != Int8Isa::Scalar && kernels::isaSupported(kernels::Isa::Avx2) ? kernels::Isa::Avx2
                                                                                                 : kernels::Isa::Scalar;
  const kernels::DwGeom fg{g.h, g.w, g.oh, g.ow, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw};
  const int64_t n = g.h * g.w, kk = int64_t(g.kh) * g.kw, no = g.oh * g.ow;
  float* __restrict xf = static_cast<float*>(scratch);
  float* __restrict yf = xf + r16(n);
  float* __restrict wf = yf + r16(no);
  float* fs = wf + r16(kk);
  int32_t* __restrict acc = reinterpret_cast<int32_t*>(fs + r16(kernels::depthwiseScratchFloats(fg)));
  for (int64_t i = 0; i < n; ++i) xf[i] = float(int32_t(x[i]) - zx);
  for (int64_t i = 0; i < kk; ++i) wf[i] = float(w[i]);
  kernels::depthwisePlane(fi, xf, wf, 0.f, fg, Act::Identity, yf, fs);
  for (int64_t i = 0; i < no; ++i) acc[i] = int32_t(yf[i]) + bias;
  epilogueRow(e, c, acc, no, y, 1, isa);  // the output plane is contiguous
}


}  // namespace

#ifdef HWNAS_RT8_X86
namespace {

// Fills the int16 padded plane (x - zx, zeros around), the weight pairs and tap offsets; the
// row-pair planes are interleaved from the padded plane by each path. Compiled per path.
struct PairBufs {
  const int16_t* pad;  // [rows + 1][padStride]
  int64_t padStride;
  uint32_t* planes;    // [SW][rows][q]
  const uint32_t* wp;  // [(KH + 1) / 2][KW]
  const int64_t* off;  // per tap column j: (j % SW) * rows * q + j / SW
  int32_t* acc;        // [OH * OW + 16]
};
int64_t padStrideOf(const DwGeom8& g, const PairGeom& p) { return int64_t(g.sw) * p.q + 32; }
__attribute__((always_inline)) inline PairBufs buildPairs(const int8_t* __restrict x, int32_t zx, const int8_t* w,
                                                          const DwGeom8& g, const PairGeom& p, void* scratch,
                                                          bool fillPad) {
  const int64_t H = g.h, W = g.w, PH = g.ph, PW = g.pw, R = p.rows, Q = p.q;
  const int KH = g.kh, KW = g.kw, SW = g.sw, KH2 = (KH + 1) / 2;
  const int64_t ps = padStrideOf(g, p);
  char* base = static_cast<char*>(scratch);
  base += (64 - reinterpret_cast<uintptr_t>(base) % 64) % 64;
  int16_t* __restrict pad = reinterpret_cast<int16_t*>(base);
  base += a64((R + 1) * ps * 2);
  uint32_t* planes = reinterpret_cast<uint32_t*>(base);
  base += a64(int64_t(SW) * R * Q * 4);
  uint32_t* __restrict wp = reinterpret_cast<uint32_t*>(base);
  base += a64(int64_t(KH) * KW * 4);  // room for the horizontal pairs too
  int64_t* __restrict off = reinterpret_cast<int64_t*>(base);
  base += a64(int64_t(KW) * 8);
  int32_t* acc = reinterpret_cast<int32_t*>(base);
  const int64_t q0 = std::min(PW, ps), q1 = std::min(PW + W, ps);
  for (int64_t r = 0; fillPad && r <= R; ++r) {
    int16_t* __restrict dst = pad + r * ps;
    const int64_t xr = r - PH;
    if (xr < 0 || xr >= H) {
      for (int64_t q = 0; q < ps; ++q) dst[q] = 0;
      continue;
    }
    const int8_t* __restrict src = x + xr * W - PW;
    for (int64_t q = 0; q < q0; ++q) dst[q] = 0;
    for (int64_t q = q0; q < q1; ++q) dst[q] = int16_t(int32_t(src[q]) - zx);
    for (int64_t q = std::max(q1, q0); q < ps; ++q) dst[q] = 0;
  }
  for (int a = 0; a < KH2; ++a)
    for (int j = 0; j < KW; ++j) {
      const uint32_t lo = uint16_t(int16_t(w[(2 * a) * KW + j]));
      const uint32_t hi = 2 * a + 1 < KH ? uint16_t(int16_t(w[(2 * a + 1) * KW + j])) : 0u;
      wp[a * KW + j] = lo | (hi << 16);
    }
  for (int j = 0; j < KW; ++j) off[j] = (j % SW) * R * Q + j / SW;
  return {pad, ps, planes, wp, off, acc};
}
// Portable interleave (any stride).
__attribute__((always_inline)) inline void interleavePairs(const PairBufs& b, const DwGeom8& g, const PairGeom& p) {
  const int64_t R = p.rows, Q = p.q, ps = b.padStride;
  const int SW = g.sw;
  for (int64_t r = 0; r < R; ++r) {
    const int16_t* __restrict ra = b.pad + r * ps;
    const int16_t* __restrict rb = ra + ps;
    for (int s = 0; s < SW; ++s) {
      uint32_t* __restrict dst = b.planes + s * R * Q + r * Q;
      for (int64_t q = 0; q < Q; ++q)
        dst[q] = uint32_t(uint16_t(ra[q * SW + s])) | (uint32_t(uint16_t(rb[q * SW + s])) << 16);
    }
  }
}

// The horizontal-pair loop of dwPairs512 (see there); CKH, CKW2 > 0 fix the kernel size.
struct HArgs {
  const int16_t* pad;
  int64_t ps;
  int SW, SH;
  int64_t OH, OW;
  int KH, KW2;
  const uint32_t* wh;
  int32_t* acc;
};
template <int CKH, int CKW2>
__attribute__((target("avx512f,avx512bw"))) void dwH512(const HArgs& h, __m512i vi, __m512i vbias) {
  const int kh = CKH > 0 ? CKH : h.KH, kw2 = CKW2 > 0 ? CKW2 : h.KW2;
  const int64_t OH = h.OH, OW = h.OW, ps = h.ps;
  const int SW = h.SW, SH = h.SH;
  for (int64_t oh = 0; oh < OH; ++oh) {
    for (int64_t ow0 = 0; ow0 < OW; ow0 += 16) {
      __m512i s = vbias;
      for (int i = 0; i < kh; ++i) {
        const int16_t* row = h.pad + (oh * SH + i) * ps + SW * ow0;
        for (int jp = 0; jp < kw2; ++jp) {
          __m512i v = _mm512_loadu_si512(reinterpret_cast<const void*>(row + 2 * jp));
          if (SW == 1) v = _mm512_permutexvar_epi16(vi, v);
          s = _mm512_add_epi32(s, _mm512_madd_epi16(v, _mm512_set1_epi32(int32_t(h.wh[i * kw2 + jp]))));
        }
      }
      _mm512_storeu_si512(reinterpret_cast<void*>(h.acc + oh * OW + ow0), s);  // overrun: next row / slack
    }
  }
}

__attribute__((target("avx512f,avx512bw"))) void dwPairs512(const int8_t* x, int32_t zx, const int8_t* w,
                                                            int32_t bias, const DwGeom8& g, const Epilogue& e,
                                                            int64_t c, void* y, void* scratch) {
  const PairGeom p = pairGeom(g);
  const PairBufs b = buildPairs(x, zx, w, g, p, scratch, false);
  const int64_t OH = g.oh, OW = g.ow, Q = p.q, R = p.rows, ps = b.padStride;
  const int KW = g.kw, SH = g.sh, SW = g.sw, KH2 = (g.kh + 1) / 2;
  {
    // The padded plane: zero rows (ps is a multiple of 32), then x - zx 32 at a time (masked
    // loads and stores at the row's end: nothing past the plane is read).
    int16_t* pad = const_cast<int16_t*>(b.pad);
    const __m512i z = _mm512_setzero_si512(), vzx = _mm512_set1_epi16(int16_t(zx));
    const int64_t H = g.h, W = g.w, PH = g.ph, PW = g.pw;
    const int64_t wEnd = std::min(W, ps - PW);
    for (int64_t r = 0; r <= R; ++r) {
      int16_t* dst = pad + r * ps;
      for (int64_t q = 0; q < ps; q += 32) _mm512_storeu_si512(reinterpret_cast<void*>(dst + q), z);
      const int64_t xr = r - PH;
      if (xr < 0 || xr >= H) continue;
      const int8_t* src = x + xr * W;
      for (int64_t q = 0; q < wEnd; q += 32) {
        const int64_t m = std::min<int64_t>(32, wEnd - q);
        const __mmask32 k = m == 32 ? __mmask32(0xffffffffu) : __mmask32((1u << m) - 1u);
        const __m256i bytes = _mm512_castsi512_si256(_mm512_maskz_loadu_epi8(__mmask64(k), src + q));
        const __m512i v = _mm512_sub_epi16(_mm512_cvtepi8_epi16(bytes), vzx);
        _mm512_mask_storeu_epi16(dst + PW + q, k, v);
      }
    }
  }
  if (SW == 1 || SW == 2) {
    // Horizontal pairs: unit k = (pad[r][SW (ow0 + k) + j], pad[r][SW (ow0 + k) + j + 1]) times
    // (w[i][j], w[i][j + 1]) (0 past the last column): for stride 2 a plain load of 32 int16, for
    // stride 1 one vpermw of a load. Columns read with a zero weight or for pixels past OW only
    // fill unused lanes.
    const int KH = g.kh, KW2 = (KW + 1) / 2;
    uint32_t* wh = const_cast<uint32_t*>(b.wp);
    for (int i = 0; i < KH; ++i)
      for (int jp = 0; jp < KW2; ++jp) {
        const uint32_t lo = uint16_t(int16_t(w[i * KW + 2 * jp]));
        const uint32_t hi = 2 * jp + 1 < KW ? uint16_t(int16_t(w[i * KW + 2 * jp + 1])) : 0u;
        wh[i * KW2 + jp] = lo | (hi << 16);
      }
    alignas(64) int16_t idx[32];
    for (int k = 0; k < 16; ++k) {
      idx[2 * k] = int16_t(k);
      idx[2 * k + 1] = int16_t(k + 1);
    }
    const __m512i vi = _mm512_load_si512(reinterpret_cast<const void*>(idx));
    const __m512i vbias = _mm512_set1_epi32(bias);
    // kh x kw2 fixed at compile time for 3x3 and 5x5 (weights stay in registers), else generic.
    const HArgs h{b.pad, ps, SW, SH, OH, OW, KH, KW2, wh, b.acc};
    if (KH == 3 && KW2 == 2)
      dwH512<3, 2>(h, vi, vbias);
    else if (KH == 5 && KW2 == 3)
      dwH512<5, 3>(h, vi, vbias);
    else
      dwH512<0, 0>(h, vi, vbias);
    return epilogueRow(e, c, b.acc, OH * OW, y, 1, Int8Isa::Vnni);
  } else {
    interleavePairs(b, g, p);
  }
  const __m512i vbias = _mm512_set1_epi32(bias);
  for (int64_t oh = 0; oh < OH; ++oh) {
    for (int64_t ow0 = 0; ow0 < OW; ow0 += 16) {
      __m512i s = vbias;
      for (int a = 0; a < KH2; ++a) {
        const uint32_t* row = b.planes + (oh * SH + 2 * a) * Q + ow0;
        for (int j = 0; j < KW; ++j) {
          const uint32_t* src = row + b.off[j];
          s = _mm512_add_epi32(s, _mm512_madd_epi16(_mm512_loadu_si512(reinterpret_cast<const void*>(src)),
                                                    _mm512_set1_epi32(int32_t(b.wp[a * KW + j]))));
        }
      }
      _mm512_storeu_si512(reinterpret_cast<void*>(b.acc + oh * OW + ow0), s);  // overrun: next row / slack
    }
  }
  epilogueRow(e, c, b.acc, OH * OW, y, 1, Int8Isa::Vnni);
}

__attribute__((target("avx2"))) void dwPairs256(const int8_t* x, int32_t zx, const int8_t* w, int32_t bias,
                                                const DwGeom8& g, const Epilogue& e, int64_t c, void* y,
                                                void* scratch) {
  const PairGeom p = pairGeom(g);
  const bool horizontal = g.sw == 1 || g.sw == 2;
  const PairBufs b = buildPairs(x, zx, w, g, p, scratch, !horizontal);
  const int64_t OH = g.oh, OW = g.ow, Q = p.q;
  const int KW = g.kw, SH = g.sh, KH2 = (g.kh + 1) / 2;
  if (horizontal) {
    const int64_t SW = g.sw, ps = b.padStride;
    {
      // The padded plane (ps is a multiple of 32): zero rows, then x - zx 16 at a time, the
      // row's last (< 16) columns one by one (nothing past the plane is read).
      int16_t* pad = const_cast<int16_t*>(b.pad);
      const __m256i z = _mm256_setzero_si256(), vzx = _mm256_set1_epi16(int16_t(zx));
      const int64_t H = g.h, W = g.w, PH = g.ph, PW = g.pw, R = p.rows;
      const int64_t wEnd = std::min(W, ps - PW);
      for (int64_t r = 0; r <= R; ++r) {
        int16_t* dst = pad + r * ps;
        for (int64_t q = 0; q < ps; q += 16) _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + q), z);
        const int64_t xr = r - PH;
        if (xr < 0 || xr >= H) continue;
        const int8_t* src = x + xr * W;
        int64_t q = 0;
        for (; q + 16 <= wEnd; q += 16) {
          const __m256i v = _mm256_sub_epi16(
              _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + q))), vzx);
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + PW + q), v);
        }
        for (; q < wEnd; ++q) dst[PW + q] = int16_t(int32_t(src[q]) - zx);
      }
    }
    // Horizontal pairs as in dwPairs512, 16 outputs per step: stride 2 loads the pairs directly;
    // stride 1 interleaves columns c and c + 1 with vpunpck{l,h}wd (outputs 0-3, 8-11 and 4-7,
    // 12-15) and puts the two halves back in order at the end.
    const int KH = g.kh, KW2 = (KW + 1) / 2;
    uint32_t* wh = const_cast<uint32_t*>(b.wp);
    for (int i = 0; i < KH; ++i)
      for (int jp = 0; jp < KW2; ++jp) {
        const uint32_t lo = uint16_t(int16_t(w[i * KW + 2 * jp]));
        const uint32_t hi = 2 * jp + 1 < KW ? uint16_t(int16_t(w[i * KW + 2 * jp + 1])) : 0u;
        wh[i * KW2 + jp] = lo | (hi << 16);
      }
    const __m256i vbias = _mm256_set1_epi32(bias);
    for (int64_t oh = 0; oh < OH; ++oh) {
      for (int64_t ow0 = 0; ow0 < OW; ow0 += 16) {
        __m256i s0 = vbias, s1 = vbias;
        for (int i = 0; i < KH; ++i) {
          const int16_t* row = b.pad + (oh * SH + i) * ps + SW * ow0;
          for (int jp = 0; jp < KW2; ++jp) {
            const __m256i wv = _mm256_set1_epi32(int32_t(wh[i * KW2 + jp]));
            const __m256i va = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2 * jp));
            if (SW == 1) {
              const __m256i vb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2 * jp + 1));
              s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(_mm256_unpacklo_epi16(va, vb), wv));
              s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(_mm256_unpackhi_epi16(va, vb), wv));
            } else {
              const __m256i vb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2 * jp + 16));
              s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(va, wv));
              s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(vb, wv));
            }
          }
        }
        if (SW == 1) {
          const __m256i lo = _mm256_permute2x128_si256(s0, s1, 0x20), hi = _mm256_permute2x128_si256(s0, s1, 0x31);
          s0 = lo;
          s1 = hi;
        }
        int32_t* dst = b.acc + oh * OW + ow0;  // overrun (<= 15): next row / slack
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), s0);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 8), s1);
      }
    }
    return epilogueRow(e, c, b.acc, OH * OW, y, 1, Int8Isa::Avx2);
  }
  interleavePairs(b, g, p);
  const __m256i vbias = _mm256_set1_epi32(bias);
  for (int64_t oh = 0; oh < OH; ++oh) {
    for (int64_t ow0 = 0; ow0 < OW; ow0 += 8) {
      __m256i s = vbias;
      for (int a = 0; a < KH2; ++a) {
        const uint32_t* row = b.planes + (oh * SH + 2 * a) * Q + ow0;
        for (int j = 0; j < KW; ++j) {
          const uint32_t* src = row + b.off[j];
          s = _mm256_add_epi32(s, _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src)),
                                                    _mm256_set1_epi32(int32_t(b.wp[a * KW + j]))));
        }
      }
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(b.acc + oh * OW + ow0), s);  // overrun: next row / slack
    }
  }
  epilogueRow(e, c, b.acc, OH * OW, y, 1, Int8Isa::Avx2);
}

}  // namespace
#endif

void depthwisePlane([[maybe_unused]] Int8Isa isa, const int8_t* x, int32_t zx, const int8_t* w, int32_t bias, const DwGeom8& g,
                    const Epilogue& e, int64_t c, void* y, void* scratch) {
#ifdef HWNAS_RT8_X86
  // Row-pair vpmaddwd kernels: int16 x int16 products summed in int32, exact for any kernel size.
  if (isa == Int8Isa::Vnni) return dwPairs512(x, zx, w, bias, g, e, c, y, scratch);
  if (isa == Int8Isa::Avx2) return dwPairs256(x, zx, w, bias, g, e, c, y, scratch);
#endif
  if (int64_t(g.kh) * g.kw <= 256) {
    return dwViaFloatBody(Int8Isa::Scalar, x, zx, w, bias, g, e, c, y, scratch);
  }
  dwScalar(x, zx, w, bias, g, e, c, y, scratch);
}

// ------------------------------------------------------------------ elementwise and pooling

namespace {
// One multiply, clamps (a NaN fails both comparisons and is replaced by 0: the zero point),
// round, add: no operation a compiler could fuse, so every clone computes the same bits.
__attribute__((always_inline)) inline void quantizeBody(const float* __restrict x, int64_t n, float scale,
                                                        int32_t zeroPoint, int8_t* __restrict y) {
  const float inv = float(1.0 / double(scale));
  const float lo = float(-128 - zeroPoint), hi = float(127 - zeroPoint);
  for (int64_t i = 0; i < n; ++i) {
    float r = x[i] * inv;
    r = r == r ? r : 0.f;
    r = r < lo ? lo : r;
    r = r > hi ? hi : r;
    y[i] = int8_t(int32_t(roundEven(r)) + zeroPoint);
  }
}
#ifdef HWNAS_RT8_X86
__attribute__((target("avx512f,avx512bw"))) void quantize512(const float* x, int64_t n, float s, int32_t zp, int8_t* y) {
  quantizeBody(x, n, s, zp, y);
}
#endif
}  // namespace

void quantize(const float* x, int64_t n, float scale, int32_t zeroPoint, int8_t* y) {
#ifdef HWNAS_RT8_X86
  static const bool wide = int8IsaSupported(Int8Isa::Vnni);
  if (wide) return quantize512(x, n, scale, zeroPoint, y);
#endif
  quantizeBody(x, n, scale, zeroPoint, y);
}

void dequantize(const int8_t* x, int64_t n, float scale, int32_t zeroPoint, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = scale * float(int32_t(x[i]) - zeroPoint);
}

namespace {
// i8 out with identity / relu / relu6: the activation as clamp bounds on v / outScale.
struct AddClamp {
  float inv, lo, hi;
  int32_t zp;
};
AddClamp addClamp(Act act, const TensorInfo& yt) {
  AddClamp c;
  c.inv = float(1.0 / double(yt.scale));
  c.zp = yt.zeroPoint;
  c.lo = float(-128 - yt.zeroPoint);
  c.hi = float(127 - yt.zeroPoint);
  if (act == Act::Relu || act == Act::Relu6) c.lo = std::max(c.lo, 0.f);
  if (act == Act::Relu6) c.hi = std::min(c.hi, 6.f * c.inv);
  return c;
}
inline float addSum(int8_t a, float sa, int32_t za, int8_t b, float sb, int32_t zb) {
  const float u = sa * float(int32_t(a) - za);  // two statements, no fused multiply-add on any
  const float w = sb * float(int32_t(b) - zb);  // path (the runtime has no FMA in plain code)
  return u + w;
}
}  // namespace

float addOne(int8_t a, const TensorInfo& at, int8_t b, const TensorInfo& bt, Act act, const TensorInfo& yt) {
  const float v = addSum(a, at.scale, at.zeroPoint, b, bt.scale, bt.zeroPoint);
  if (yt.dtype == DType::I8 && clampAct(act)) {
    const AddClamp c = addClamp(act, yt);
    float r = v * c.inv;
    r = r < c.lo ? c.lo : r;
    r = r > c.hi ? c.hi : r;
    return float(int32_t(roundEven(r)) + c.zp);
  }
  const float r = actScalar(v, act);
  if (yt.dtype != DType::I8) return r;
  return float(quantizeValue(r, float(1.0 / double(yt.scale)), yt.zeroPoint));
}

void addInt8(const int8_t* a, const TensorInfo& at, const int8_t* b, const TensorInfo& bt, int64_t n, Act act,
             const TensorInfo& yt, void* y) {
  if (yt.dtype == DType::I8 && clampAct(act)) {  // addOne's operations, vectorizable
    int8_t* __restrict q = static_cast<int8_t*>(y);
    const AddClamp c = addClamp(act, yt);
    const float sa = at.scale, sb = bt.scale;
    const int32_t za = at.zeroPoint, zb = bt.zeroPoint;
    for (int64_t i = 0; i < n; ++i) {
      float r = addSum(a[i], sa, za, b[i], sb, zb) * c.inv;
      r = r < c.lo ? c.lo : r;
      r = r > c.hi ? c.hi : r;
      q[i] = int8_t(int32_t(roundEven(r)) + c.zp);
    }
    return;
  }
  if (yt.dtype == DType::I8) {
    int8_t* q = static_cast<int8_t*>(y);
    for (int64_t i = 0; i < n; ++i) q[i] = int8_t(addOne(a[i], at, b[i], bt, act, yt));
  } else {
    float* f = static_cast<float*>(y);
    for (int64_t i = 0; i < n; ++i) f[i] = addOne(a[i], at, b[i], bt, act, yt);
  }
}

void maxPoolPlane(const int8_t* x, int64_t h, int64_t w, const PlanOp& op, int64_t oh, int64_t ow, int8_t* y) {
  for (int64_t r = 0; r < oh; ++r)
    for (int64_t q = 0; q < ow; ++q) {
      int32_t best = -128;
      for (int i = 0; i < op.kernelH; ++i) {
        const int64_t ih = r * op.strideH - op.padH + i;
        if (ih < 0 || ih >= h) continue;
        for (int j = 0; j < op.kernelW; ++j) {
          const int64_t iw = q * op.strideW - op.padW + j;
          if (iw >= 0 && iw < w) best = std::max<int32_t>(best, x[ih * w + iw]);
        }
      }
      y[r * ow + q] = int8_t(best);
    }
}

int8_t meanPlane(const int8_t* x, int64_t n, const TensorInfo& xt, const TensorInfo& yt) {
  int64_t s = 0;
  for (int64_t i = 0; i < n; ++i) s += x[i];
  const float m = float(double(xt.scale) / (double(yt.scale) * double(n)));
  float r = float(s - n * int64_t(xt.zeroPoint)) * m;
  r = std::min(std::max(r, float(-128 - yt.zeroPoint)), float(127 - yt.zeroPoint));
  return int8_t(int32_t(roundEven(r)) + yt.zeroPoint);
}

// ------------------------------------------------------------------ channels-last (VNNI path)

std::vector<int8_t> packWeightsCl(const int8_t* w, int64_t m, int64_t k) {
  const int64_t blocks = (m + kClBlock - 1) / kClBlock, kq = quads(k);
  std::vector<int8_t> out(size_t(blocks * kq * kClBlock * 4), 0);
  for (int64_t r = 0; r < m; ++r)
    for (int64_t i = 0; i < k; ++i)
      out[size_t((((r / kClBlock) * kq + i / 4) * kClBlock + r % kClBlock) * 4 + i % 4)] = w[r * k + i];
  return out;
}

void epilogueCl(const Epilogue& e, int64_t c0, const int32_t* acc, int64_t ldacc, int64_t np, int64_t m, void* y,
                int64_t ps, int64_t cs) {
  if (e.outI8 && (e.act == Act::HSwish || e.act == Act::HSigmoid) && cs == 1) {
    // epilogueRow's operations for these two, vectorized over channels.
    const float inv = e.invOutScale, lo = float(-128 - e.zeroPoint), hi = float(127 - e.zeroPoint);
    const int32_t zp = e.zeroPoint + 128;
    const bool swish = e.act == Act::HSwish;
    const float* __restrict d = e.deq.data() + c0;
    for (int64_t p = 0; p < np; ++p) {
      const int32_t* __restrict a = acc + p * ldacc;
      uint8_t* __restrict q = static_cast<uint8_t*>(y) + p * ps;
      for (int64_t c = 0; c < m; ++c) {
        const float v = float(a[c]) * d[c];
        const float g = std::min(std::max(v + 3.f, 0.f), 6.f);
        const float t = swish ? v * g / 6.f : g / 6.f;
        float r = t * inv;
        r = std::min(std::max(r, lo), hi);
        q[c] = uint8_t(int32_t(roundEven(r)) + zp);
      }
    }
    return;
  }
  for (int64_t p = 0; p < np; ++p)
    for (int64_t c = 0; c < m; ++c) {
      const float v = epilogueOne(e, c0 + c, acc[p * ldacc + c]);
      if (e.outI8)
        static_cast<uint8_t*>(y)[p * ps + c * cs] = uint8_t(int32_t(v) + 128);
      else
        static_cast<float*>(y)[p * ps + c * cs] = v;
    }
}

namespace {
// n bytes without a library call for n <= 16 (overlapping word moves), memcpy beyond.
inline void copyBytes(uint8_t* __restrict d, const uint8_t* __restrict s, int64_t n) {
  if (n >= 8 && n <= 16) {
    uint64_t a, b;
    std::memcpy(&a, s, 8);
    std::memcpy(&b, s + n - 8, 8);
    std::memcpy(d, &a, 8);
    std::memcpy(d + n - 8, &b, 8);
  } else if (n >= 4 && n < 8) {
    uint32_t a, b;
    std::memcpy(&a, s, 4);
    std::memcpy(&b, s + n - 4, 4);
    std::memcpy(d, &a, 4);
    std::memcpy(d + n - 4, &b, 4);
  } else if (n < 4) {
    for (int64_t i = 0; i < n; ++i) d[i] = s[i];
  } else {
    std::memcpy(d, s, size_t(n));
  }
}
inline void fillBytes(uint8_t* d, uint8_t v, int64_t n) {
  if (n <= 16) {
    for (int64_t i = 0; i < n; ++i) d[i] = v;
  } else {
    std::memset(d, v, size_t(n));
  }
}
int64_t floorDiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
}  // namespace

void im2colCl(const uint8_t* x, int64_t channels, int64_t c0, const PackGeom& g, uint8_t zu, int64_t p0, int64_t p1,
              uint8_t* out, int64_t ldx) {
  const int64_t cg = g.channels, k = cg * g.kh * g.kw, span = int64_t(g.kw) * cg;
  // Without groups and dilation a tap row's kw x cg bytes are contiguous in the input row.
  const bool contiguous = cg == channels && g.dw == 1;
  for (int64_t p = p0; p < p1;) {
    // One output row segment [owa, owb) of row oh; per tap row, the columns whose window lies
    // inside the input [flo, fhi) are copied in one piece (contiguous), the others tap by tap.
    const int64_t oh = p / g.ow, owa = p % g.ow, owb = std::min(g.ow, owa + (p1 - p)), count = owb - owa;
    uint8_t* rows = out + (p - p0) * ldx;
    for (int i = 0; i < g.kh; ++i) {
      const int64_t ih = oh * g.sh - g.ph + int64_t(i) * g.dh;
      const int64_t rowOff = int64_t(i) * span;
      if (ih < 0 || ih >= g.h) {
        for (int64_t r = 0; r < count; ++r) fillBytes(rows + r * ldx + rowOff, zu, span);
        continue;
      }
      const uint8_t* src = x + ih * g.w * channels + c0;
      int64_t flo = owb, fhi = owb;
      if (contiguous) {
        flo = std::clamp<int64_t>(floorDiv(g.pw + g.sw - 1, g.sw), owa, owb);
        fhi = std::clamp<int64_t>(floorDiv(g.w - g.kw + g.pw, g.sw) + 1, flo, owb);
      }
      if (span < 4 && rowOff + 4 <= ldx) {
        // A stem's 1-3 bytes as one 4-byte move: the extra byte lands on the next tap row's
        // first byte or on the zero tail, both written after this; the source byte past the
        // window is read only while it is inside the input row.
        const int64_t f4 = std::max(flo, std::min(fhi, floorDiv(g.w - 4 + g.pw, g.sw) + 1));
        for (int64_t ow = flo; ow < f4; ++ow) {
          uint32_t v;
          std::memcpy(&v, src + (ow * g.sw - g.pw) * channels, 4);
          std::memcpy(rows + (ow - owa) * ldx + rowOff, &v, 4);
        }
        for (int64_t ow = f4; ow < fhi; ++ow)
          copyBytes(rows + (ow - owa) * ldx + rowOff, src + (ow * g.sw - g.pw) * channels, span);
      } else {
        for (int64_t ow = flo; ow < fhi; ++ow)
          copyBytes(rows + (ow - owa) * ldx + rowOff, src + (ow * g.sw - g.pw) * channels, span);
      }
      for (int j = 0; j < g.kw; ++j) {
        const int64_t off = rowOff + int64_t(j) * cg, shift = int64_t(j) * g.dw - g.pw;
        const int64_t lo = std::clamp<int64_t>(floorDiv(-shift + g.sw - 1, g.sw), owa, owb);
        const int64_t hi = std::clamp<int64_t>(floorDiv(g.w - 1 - shift, g.sw) + 1, lo, owb);
        for (int64_t ow = owa; ow < owb; ++ow) {
          if (ow >= flo && ow < fhi) {
            ow = fhi - 1;  // done above
            continue;
          }
          uint8_t* d = rows + (ow - owa) * ldx + off;
          if (ow >= lo && ow < hi)
            copyBytes(d, src + (ow * g.sw + shift) * channels, cg);
          else
            fillBytes(d, zu, cg);
        }
      }
    }
    for (int64_t r = 0; r < count; ++r)
      for (int64_t i = k; i < ldx; ++i) rows[r * ldx + i] = 0;
    p += count;
  }
}

#ifdef HWNAS_RT8_X86
namespace {

struct ClRequant {
  __m512 lo, hi, inv, three, six, zero;
  __m512i zp;
};
// epilogueOne's clamp-act operations on 16 accumulators (the zero point includes the +128).
__attribute__((target("avx512f,avx512bw,avx512vl"), always_inline)) inline __m128i requant16(__m512i acc, __m512 mult,
                                                                                    const ClRequant& r) {
  __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), mult);
  f = _mm512_min_ps(_mm512_max_ps(f, r.lo), r.hi);
  // Round half to even by the conversion's embedded rounding: the same integer as roundEven()
  // for the clamped |f| <= 256.
  const __m512i q = _mm512_cvt_roundps_epi32(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  return _mm512_cvtusepi32_epi8(_mm512_add_epi32(q, r.zp));
}
// epilogueRow's hswish / hsigmoid operations (v = acc * deq; g = min(max(v + 3, 0), 6);
// v * g / 6 or g / 6; times 1 / outScale, clamped, rounded; a zero's sign may differ, the
// integer does not).
template <bool Swish>
__attribute__((target("avx512f,avx512bw,avx512vl"), always_inline)) inline __m128i hswish16(__m512i acc, __m512 deq,
                                                                                   const ClRequant& r) {
  const __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), deq);
  const __m512 g = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(v, r.three), r.zero), r.six);
  const __m512 t = Swish ? _mm512_div_ps(_mm512_mul_ps(v, g), r.six) : _mm512_div_ps(g, r.six);
  __m512 f = _mm512_mul_ps(t, r.inv);
  f = _mm512_min_ps(_mm512_max_ps(f, r.lo), r.hi);
  const __m512i q = _mm512_cvt_roundps_epi32(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  return _mm512_cvtusepi32_epi8(_mm512_add_epi32(q, r.zp));
}
// Mode of a fused epilogue: 1 clamp acts (scale = mult), 2 hswish, 3 hsigmoid (scale = deq).
template <int Mode>
__attribute__((target("avx512f,avx512bw,avx512vl"), always_inline)) inline __m128i fused16(__m512i acc, __m512 scale,
                                                                                  const ClRequant& r) {
  if (Mode == 1) return requant16(acc, scale, r);
  return hswish16<Mode == 2>(acc, scale, r);
}
__attribute__((target("avx512f,avx512bw,avx512vl"), always_inline)) inline ClRequant clRequant(const Epilogue& e) {
  return {_mm512_set1_ps(e.lo),  _mm512_set1_ps(e.hi),  _mm512_set1_ps(e.invOutScale),
          _mm512_set1_ps(3.f),   _mm512_set1_ps(6.f),   _mm512_setzero_ps(),
          _mm512_set1_epi32(e.zeroPoint + 128)};
}
int fusedMode(const Epilogue& e) {
  if (!e.outI8) return 0;
  if (clampAct(e.act)) return 1;
  return e.act == Act::HSwish ? 2 : e.act == Act::HSigmoid ? 3 : 0;
}
inline __mmask16 lanes16(int64_t n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1u); }

// T pixels x V blocks of 16 output channels: T * V zmm accumulators, the pixel's 4 input bytes
// broadcast (u8 operand), the weight quads loaded (s8 operand). Pixels past np repeat the last.
template <int V, int T, int Mode, bool Off>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"), noinline)) void clTile(const GemmCl& g, int64_t p0, int64_t b0,
                                                                   const float* mult16, const ClRequant& rq,
                                                                   void* out, int64_t ld) {
  // Every loop over t and v is unrolled (constant indices keep acc in registers).
  const int64_t kq = quads(g.k), kFull = g.k / 4, np = std::min<int64_t>(T, g.np - p0);
  const uint8_t* xr[T];
#pragma GCC unroll 24
  for (int t = 0; t < T; ++t) xr[t] = g.x + (p0 + std::min<int64_t>(t, np - 1)) * g.ldx;
  __m512i acc[T][V];
#pragma GCC unroll 4
  for (int v = 0; v < V; ++v) {
    const __m512i b = _mm512_loadu_si512(reinterpret_cast<const void*>(g.bias + (b0 + v) * 16));
#pragma GCC unroll 24
    for (int t = 0; t < T; ++t) acc[t][v] = b;
  }
  const int8_t* wb = g.w + b0 * kq * 64;
  for (int64_t q = 0; q < kFull; ++q) {
    __m512i wv[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) wv[v] = _mm512_loadu_si512(reinterpret_cast<const void*>(wb + (v * kq + q) * 64));
#pragma GCC unroll 24
    for (int t = 0; t < T; ++t) {
      int32_t bits;
      std::memcpy(&bits, xr[t] + (Off ? g.qoff[q] : 4 * q), 4);
      const __m512i xb = _mm512_set1_epi32(bits);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[t][v] = _mm512_dpbusd_epi32(acc[t][v], xb, wv[v]);
    }
  }
  if (!Off && kFull < kq) {  // the last 1-3 bytes of each row, read masked (nothing past the row)
    const __mmask16 km = __mmask16((1u << (g.k - 4 * kFull)) - 1u);
    __m512i wv[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) wv[v] = _mm512_loadu_si512(reinterpret_cast<const void*>(wb + (v * kq + kFull) * 64));
#pragma GCC unroll 24
    for (int t = 0; t < T; ++t) {
      const __m512i xb = _mm512_broadcastd_epi32(_mm_maskz_loadu_epi8(km, xr[t] + 4 * kFull));
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[t][v] = _mm512_dpbusd_epi32(acc[t][v], xb, wv[v]);
    }
  }
#pragma GCC unroll 4
  for (int v = 0; v < V; ++v) {
    const int64_t c = (b0 + v) * 16;
    if (Mode > 0) {
      const __m512 mv = _mm512_loadu_ps(mult16 + c);
      const __mmask16 cm = lanes16(g.m - c);
      uint8_t* yo = static_cast<uint8_t*>(out) + p0 * ld + c;
#pragma GCC unroll 24
      for (int t = 0; t < T; ++t)
        if (t < np) _mm_mask_storeu_epi8(yo + t * ld, cm, fused16<Mode>(acc[t][v], mv, rq));
    } else {
      int32_t* ao = static_cast<int32_t*>(out) + p0 * ld + c;
#pragma GCC unroll 24
      for (int t = 0; t < T; ++t)
        if (t < np) _mm512_storeu_si512(ao + t * ld, acc[t][v]);
    }
  }
}

template <int Requant, bool Off>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) void gemmClVnniOff(const GemmCl& g, const float* mult16,
                                                                          const ClRequant& rq, void* out, int64_t ld) {
  const int64_t blocks = (g.m + 15) / 16;
  for (int64_t b0 = 0; b0 < blocks; b0 += 4) {
    const int64_t v = std::min<int64_t>(4, blocks - b0);
    if (v == 4)
      for (int64_t p0 = 0; p0 < g.np; p0 += 6) clTile<4, 6, Requant, Off>(g, p0, b0, mult16, rq, out, ld);
    else if (v == 3)
      for (int64_t p0 = 0; p0 < g.np; p0 += 8) clTile<3, 8, Requant, Off>(g, p0, b0, mult16, rq, out, ld);
    else if (v == 2)
      for (int64_t p0 = 0; p0 < g.np; p0 += 12) clTile<2, 12, Requant, Off>(g, p0, b0, mult16, rq, out, ld);
    else
      for (int64_t p0 = 0; p0 < g.np; p0 += 24) clTile<1, 24, Requant, Off>(g, p0, b0, mult16, rq, out, ld);
  }
}
template <int Requant>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) void gemmClVnni(const GemmCl& g, const float* mult16,
                                                                       const ClRequant& rq, void* out, int64_t ld) {
  if (g.qoff) return gemmClVnniOff<Requant, true>(g, mult16, rq, out, ld);
  gemmClVnniOff<Requant, false>(g, mult16, rq, out, ld);
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) void gemmClRequantVnni(const GemmCl& g, const float* mult16,
                                                                              const Epilogue& e, uint8_t* y,
                                                                              int64_t ldy) {
  const ClRequant rq = clRequant(e);
  switch (fusedMode(e)) {
    case 1: return gemmClVnni<1>(g, mult16, rq, y, ldy);
    case 2: return gemmClVnni<2>(g, mult16, rq, y, ldy);
    case 3: return gemmClVnni<3>(g, mult16, rq, y, ldy);
    default: throw RuntimeError("int8: gemmClRequant on an epilogue it cannot fuse");
  }
}
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) void gemmClAccVnni(const GemmCl& g, int32_t* acc,
                                                                          int64_t ldacc) {
  const ClRequant none{};
  gemmClVnni<0>(g, nullptr, none, acc, ldacc);
}

}  // namespace
#endif

bool clFusable(const Epilogue& e) {
#ifdef HWNAS_RT8_X86
  return fusedMode(e) > 0;
#else
  return false;
#endif
}
const std::vector<float>& clScales(const Epilogue& e) { return clampAct(e.act) ? e.mult : e.deq; }

void gemmClRequant([[maybe_unused]] const GemmCl& g, [[maybe_unused]] const float* mult16,
                   [[maybe_unused]] const Epilogue& e, [[maybe_unused]] uint8_t* y, [[maybe_unused]] int64_t ldy) {
#ifdef HWNAS_RT8_X86
  return gemmClRequantVnni(g, mult16, e, y, ldy);
#else
  throw RuntimeError("int8: the channels-last kernels need the x86 VNNI path");
#endif
}

void gemmClAcc([[maybe_unused]] const GemmCl& g, [[maybe_unused]] int32_t* acc, [[maybe_unused]] int64_t ldacc) {
#ifdef HWNAS_RT8_X86
  return gemmClAccVnni(g, acc, ldacc);
#else
  throw RuntimeError("int8: the channels-last kernels need the x86 VNNI path");
#endif
}

// ---- depthwise, channels-last
namespace {
constexpr int64_t kDwClPlaneBytes = 384 << 10;  // float input rows of one band (L2 is 1-2 MB)
constexpr int64_t kDwClMinBand = 4;              // output rows (fewer re-convert too many overlap rows)
int64_t dwClWidth(const DwCl& g) { return (g.ow - 1) * g.sw + g.kw; }
int64_t dwClRows(const DwCl& g, int64_t band) { return (band - 1) * g.sh + g.kh; }
}  // namespace

int64_t depthwiseClBand(const DwCl& g) {
  const int64_t rowBytes = dwClWidth(g) * round16(g.c) * 4;
  const int64_t rows = std::max<int64_t>(g.kh, kDwClPlaneBytes / std::max<int64_t>(1, rowBytes));
  return std::min<int64_t>(g.oh, std::max<int64_t>(kDwClMinBand, (rows - g.kh) / g.sh + 1));
}

int64_t depthwiseClScratchBytes(const DwCl& g) {
  const int64_t band = depthwiseClBand(g), cp = round16(g.c);
  return a64(dwClRows(g, band) * dwClWidth(g) * cp * 4) + a64(g.ow * cp * 4) + cp * 4 + 128;
}

std::vector<float> depthwiseClWeights(const int8_t* w, int64_t c, int kh, int kw) {
  const int64_t kk = int64_t(kh) * kw, cp = round16(c);
  std::vector<float> out(size_t(kk * cp), 0.f);
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t t = 0; t < kk; ++t) out[size_t(t * cp + ch)] = float(w[ch * kk + t]);
  return out;
}

#ifdef HWNAS_RT8_X86
namespace {
template <int CKH, int CKW, int CSW>
__attribute__((target("avx512f,avx512bw,avx512vl"))) void dwClRows512(const float* plane, int64_t wp, int64_t cp,
                                                             const float* wf, const int32_t* bias16,
                                                             const float* mult16, const DwCl& g, const Epilogue& e,
                                                             int mode, int64_t oh0, int64_t oh1, void* y,
                                                             int32_t* accRow) {
  const int kh = CKH > 0 ? CKH : g.kh, kw = CKW > 0 ? CKW : g.kw;
  const int64_t OW = g.ow, C = g.c, SW = CSW > 0 ? CSW : g.sw, SH = g.sh;
  const ClRequant rq = clRequant(e);
  for (int64_t oh = oh0; oh < oh1; ++oh) {
    const float* rows = plane + (oh - oh0) * SH * wp * cp;
    for (int64_t cc = 0; cc < cp; cc += 16) {
      const __m512i vb = _mm512_loadu_si512(reinterpret_cast<const void*>(bias16 + cc));
      const __m512 vm = mode ? _mm512_loadu_ps(mult16 + cc) : _mm512_setzero_ps();
      const __mmask16 cm = lanes16(C - cc);
      uint8_t* yrow = static_cast<uint8_t*>(y) + oh * OW * C + cc;
      int32_t* arow = accRow + cc;
#define HWNAS_DWCL_FINISH(OW_, A_)                                                          \
  do {                                                                                      \
    const __m512i acc_ = _mm512_add_epi32(_mm512_cvtps_epi32(A_), vb); /* exact integer */ \
    if (mode == 1)                                                                          \
      _mm_mask_storeu_epi8(yrow + (OW_) * C, cm, requant16(acc_, vm, rq));                  \
    else if (mode == 2)                                                                     \
      _mm_mask_storeu_epi8(yrow + (OW_) * C, cm, hswish16<true>(acc_, vm, rq));             \
    else if (mode == 3)                                                                     \
      _mm_mask_storeu_epi8(yrow + (OW_) * C, cm, hswish16<false>(acc_, vm, rq));            \
    else                                                                                    \
      _mm512_storeu_si512(arow + (OW_) * cp, acc_);                                         \
  } while (0)
      int64_t ow = 0;
      if constexpr (CKW > 0 && CSW > 0) {
        // 8 output pixels: per kernel row each input column is loaded once and multiplied
        // into every accumulator whose window holds it (the kernel row's weights in registers).
        for (; ow + 8 <= OW; ow += 8) {
          __m512 a[8];
#pragma GCC unroll 8
          for (int t = 0; t < 8; ++t) a[t] = _mm512_setzero_ps();
          for (int i = 0; i < kh; ++i) {
            const float* r = rows + i * wp * cp + ow * CSW * cp + cc;
            const float* wr = wf + int64_t(i) * CKW * cp + cc;
            __m512 w[CKW];
#pragma GCC unroll 8
            for (int j = 0; j < CKW; ++j) w[j] = _mm512_loadu_ps(wr + j * cp);
            constexpr int kCols = 7 * CSW + CKW;
#pragma GCC unroll 32
            for (int m = 0; m < kCols; ++m) {
              const __m512 xv = _mm512_loadu_ps(r + m * cp);
#pragma GCC unroll 8
              for (int t = 0; t < 8; ++t) {
                const int j = m - t * CSW;
                if (j >= 0 && j < CKW) a[t] = _mm512_fmadd_ps(xv, w[j], a[t]);
              }
            }
          }
#pragma GCC unroll 8
          for (int t = 0; t < 8; ++t) HWNAS_DWCL_FINISH(ow + t, a[t]);
        }
      }
      for (; ow + 4 <= OW; ow += 4) {
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int i = 0; i < kh; ++i) {
          const float* r = rows + i * wp * cp + ow * SW * cp + cc;
          const float* wr = wf + int64_t(i) * kw * cp + cc;
          for (int j = 0; j < kw; ++j) {
            const __m512 wv = _mm512_loadu_ps(wr + j * cp);
            const float* src = r + j * cp;
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(src), wv, a0);
            a1 = _mm512_fmadd_ps(_mm512_loadu_ps(src + SW * cp), wv, a1);
            a2 = _mm512_fmadd_ps(_mm512_loadu_ps(src + 2 * SW * cp), wv, a2);
            a3 = _mm512_fmadd_ps(_mm512_loadu_ps(src + 3 * SW * cp), wv, a3);
          }
        }
        HWNAS_DWCL_FINISH(ow, a0);
        HWNAS_DWCL_FINISH(ow + 1, a1);
        HWNAS_DWCL_FINISH(ow + 2, a2);
        HWNAS_DWCL_FINISH(ow + 3, a3);
      }
      for (; ow < OW; ++ow) {
        __m512 a0 = _mm512_setzero_ps();
        for (int i = 0; i < kh; ++i) {
          const float* r = rows + i * wp * cp + ow * SW * cp + cc;
          const float* wr = wf + int64_t(i) * kw * cp + cc;
          for (int j = 0; j < kw; ++j) a0 = _mm512_fmadd_ps(_mm512_loadu_ps(r + j * cp), _mm512_loadu_ps(wr + j * cp), a0);
        }
        HWNAS_DWCL_FINISH(ow, a0);
      }
#undef HWNAS_DWCL_FINISH
    }
    if (!mode) {
      if (e.outI8)
        epilogueCl(e, 0, accRow, cp, OW, C, static_cast<uint8_t*>(y) + oh * OW * C, C, 1);
      else
        epilogueCl(e, 0, accRow, cp, OW, C, static_cast<float*>(y) + oh * OW, 1, g.oh * OW);
    }
  }
}

// Input rows of the band as floats u - zu ([rows][wp][cp], zeros in the padding).
// Input rows of the band as floats u ([rows][wp][cp]; the padding holds zu, so it adds
// zu * w, which the bias takes out with the rest of the zero point).
__attribute__((target("avx512f,avx512bw,avx512vl"))) void dwClPlane512(const uint8_t* x, int32_t zu, const DwCl& g,
                                                              int64_t oh0, int64_t rows, int64_t wp, int64_t cp,
                                                              float* plane) {
  const __m512 pad = _mm512_set1_ps(float(zu));
  const int64_t q0 = std::min<int64_t>(wp, g.pw), q1 = std::min<int64_t>(wp, g.pw + g.w);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t ih = oh0 * g.sh - g.ph + r;
    float* dst = plane + r * wp * cp;
    const bool in = ih >= 0 && ih < g.h;
    for (int64_t q = 0; q < wp; ++q) {
      if (in && q >= q0 && q < q1) {
        q = q1 - 1;
        continue;
      }
      for (int64_t cc = 0; cc < cp; cc += 16) _mm512_storeu_ps(dst + q * cp + cc, pad);
    }
    if (!in || q0 >= q1) continue;
    const uint8_t* s = x + (ih * g.w + (q0 - g.pw)) * g.c;
    float* d = dst + q0 * cp;
    if (g.c == cp) {  // whole 16-channel groups: the row's pixels are one run of bytes
      for (int64_t i = 0; i < (q1 - q0) * cp; i += 16)
        _mm512_storeu_ps(d + i, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i)))));
      continue;
    }
    for (int64_t q = q0; q < q1; ++q, s += g.c, d += cp)
      for (int64_t cc = 0; cc < cp; cc += 16)
        _mm512_storeu_ps(d + cc, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(lanes16(g.c - cc), s + cc))));
  }
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) void depthwiseCl512(const uint8_t* x, int32_t zu, const float* wf,
                                                                const int32_t* bias16, const float* mult16,
                                                                const DwCl& g, const Epilogue& e, int64_t oh0,
                                                                int64_t oh1, void* y, void* scratch) {
  const int64_t cp = round16(g.c), wp = dwClWidth(g), rows = dwClRows(g, oh1 - oh0);
  char* base = static_cast<char*>(scratch);
  base += (64 - reinterpret_cast<uintptr_t>(base) % 64) % 64;
  float* plane = reinterpret_cast<float*>(base);
  int32_t* accRow = reinterpret_cast<int32_t*>(base + a64(rows * wp * cp * 4));
  int32_t* bias = accRow + g.ow * cp;  // bias16 - zu * sum of the channel's weights
  dwClPlane512(x, zu, g, oh0, rows, wp, cp, plane);
  const int64_t kk = int64_t(g.kh) * g.kw;
  for (int64_t cc = 0; cc < cp; cc += 16) {
    __m512 sw = _mm512_setzero_ps();
    for (int64_t t = 0; t < kk; ++t) sw = _mm512_add_ps(sw, _mm512_loadu_ps(wf + t * cp + cc));  // exact integers
    const __m512i corr = _mm512_mullo_epi32(_mm512_cvtps_epi32(sw), _mm512_set1_epi32(zu));
    _mm512_storeu_si512(bias + cc, _mm512_sub_epi32(_mm512_loadu_si512(bias16 + cc), corr));
  }
  bias16 = bias;
  const int requant = fusedMode(e);
#define HWNAS_DWCL_CASE(K)                                                                        \
  if (g.kh == K && g.kw == K) {                                                                   \
    if (g.sw == 1) return dwClRows512<K, K, 1>(plane, wp, cp, wf, bias16, mult16, g, e, requant, oh0, oh1, y, accRow); \
    if (g.sw == 2) return dwClRows512<K, K, 2>(plane, wp, cp, wf, bias16, mult16, g, e, requant, oh0, oh1, y, accRow); \
    return dwClRows512<K, K, 0>(plane, wp, cp, wf, bias16, mult16, g, e, requant, oh0, oh1, y, accRow);                \
  }
  HWNAS_DWCL_CASE(3)
  HWNAS_DWCL_CASE(5)
  HWNAS_DWCL_CASE(7)
#undef HWNAS_DWCL_CASE
  dwClRows512<0, 0, 0>(plane, wp, cp, wf, bias16, mult16, g, e, requant, oh0, oh1, y, accRow);
}
}  // namespace
#endif

void depthwiseCl(const uint8_t* x, int32_t zu, const int8_t* qw, [[maybe_unused]] const float* wf,
                 const int32_t* bias16, [[maybe_unused]] const float* mult16, const DwCl& g, const Epilogue& e,
                 int64_t oh0, int64_t oh1, void* y, void* scratch) {
#ifdef HWNAS_RT8_X86
  if (int64_t(g.kh) * g.kw <= 518) return depthwiseCl512(x, zu, wf, bias16, mult16, g, e, oh0, oh1, y, scratch);
#endif
  // Integer loops (any kernel size): acc[ow][c] per output row, then the epilogue.
  const int64_t cp = round16(g.c), kk = int64_t(g.kh) * g.kw;
  int32_t* acc = static_cast<int32_t*>(scratch);
  for (int64_t oh = oh0; oh < oh1; ++oh) {
    for (int64_t ow = 0; ow < g.ow; ++ow)
      for (int64_t c = 0; c < g.c; ++c) {
        int32_t s = bias16[c];
        for (int i = 0; i < g.kh; ++i) {
          const int64_t ih = oh * g.sh - g.ph + i;
          if (ih < 0 || ih >= g.h) continue;
          for (int j = 0; j < g.kw; ++j) {
            const int64_t iw = ow * g.sw - g.pw + j;
            if (iw >= 0 && iw < g.w) s += (int32_t(x[(ih * g.w + iw) * g.c + c]) - zu) * qw[c * kk + i * g.kw + j];
          }
        }
        acc[ow * cp + c] = s;
      }
    if (e.outI8)
      epilogueCl(e, 0, acc, cp, g.ow, g.c, static_cast<uint8_t*>(y) + oh * g.ow * g.c, g.c, 1);
    else
      epilogueCl(e, 0, acc, cp, g.ow, g.c, static_cast<float*>(y) + oh * g.ow, 1, g.oh * g.ow);
  }
}

// ---- boundaries and small ops, channels-last u8

namespace {
// y[j * rows + i] = x[i * cols + j] ^ flip: 16 x 16 blocks through four rounds of SSE2
// unpacks (bytes, words, dwords, qwords), the edges one by one.
void transposeBytes(const uint8_t* x, int64_t rows, int64_t cols, uint8_t flip, uint8_t* y) {
  int64_t r0 = 0;
#ifdef HWNAS_RT8_X86
  const __m128i f = _mm_set1_epi8(char(flip));
  for (; r0 + 16 <= rows; r0 += 16) {
    int64_t c0 = 0;
    for (; c0 + 16 <= cols; c0 += 16) {
      __m128i a[16], b[16], c[16], d[16];
      for (int i = 0; i < 16; ++i)
        a[i] = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + (r0 + i) * cols + c0)), f);
      for (int i = 0; i < 8; ++i) {
        b[2 * i] = _mm_unpacklo_epi8(a[2 * i], a[2 * i + 1]);
        b[2 * i + 1] = _mm_unpackhi_epi8(a[2 * i], a[2 * i + 1]);
      }
      for (int i = 0; i < 4; ++i) {
        c[4 * i] = _mm_unpacklo_epi16(b[4 * i], b[4 * i + 2]);
        c[4 * i + 1] = _mm_unpackhi_epi16(b[4 * i], b[4 * i + 2]);
        c[4 * i + 2] = _mm_unpacklo_epi16(b[4 * i + 1], b[4 * i + 3]);
        c[4 * i + 3] = _mm_unpackhi_epi16(b[4 * i + 1], b[4 * i + 3]);
      }
      for (int i = 0; i < 2; ++i)
        for (int k = 0; k < 4; ++k) {
          d[8 * i + 2 * k] = _mm_unpacklo_epi32(c[8 * i + k], c[8 * i + 4 + k]);
          d[8 * i + 2 * k + 1] = _mm_unpackhi_epi32(c[8 * i + k], c[8 * i + 4 + k]);
        }
      for (int m = 0; m < 8; ++m) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(y + (c0 + 2 * m) * rows + r0), _mm_unpacklo_epi64(d[m], d[8 + m]));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(y + (c0 + 2 * m + 1) * rows + r0),
                         _mm_unpackhi_epi64(d[m], d[8 + m]));
      }
    }
    for (; c0 < cols; ++c0)
      for (int64_t r = r0; r < r0 + 16; ++r) y[c0 * rows + r] = x[r * cols + c0] ^ flip;
  }
#endif
  for (int64_t j = 0; j < cols; ++j)
    for (int64_t r = r0; r < rows; ++r) y[j * rows + r] = x[r * cols + j] ^ flip;
}
}  // namespace

void quantizeCl(const float* x, int64_t c, int64_t hw, float scale, int32_t zeroPoint, uint8_t* y, int8_t* tmp) {
  int8_t* q = c == 1 || hw == 1 ? reinterpret_cast<int8_t*>(y) : tmp;
  quantize(x, c * hw, scale, zeroPoint, q);
  if (q == reinterpret_cast<int8_t*>(y)) {
    for (int64_t i = 0; i < c * hw; ++i) y[i] = uint8_t(q[i]) ^ 0x80;
    return;
  }
  transposeBytes(reinterpret_cast<const uint8_t*>(q), c, hw, 0x80, y);
}

void dequantizeCl(const uint8_t* x, int64_t c, int64_t hw, float scale, int32_t zeroPoint, float* y, uint8_t* tmp) {
  // q = u ^ 0x80, channels first, then dequantize's operations.
  if (c == 1 || hw == 1) {
    for (int64_t i = 0; i < c * hw; ++i) tmp[i] = x[i] ^ 0x80;
  } else {
    transposeBytes(x, hw, c, 0x80, tmp);
  }
  dequantize(reinterpret_cast<const int8_t*>(tmp), c * hw, scale, zeroPoint, y);
}

#ifdef HWNAS_RT8_X86
namespace {
// addInt8's operations (two products, their sum, times 1 / outScale, clamp, round half to
// even, zero point), 16 at a time; the last < 16 by the scalar loop of addCl.
__attribute__((target("avx512f,avx512bw,avx512vl"))) int64_t addCl512(const uint8_t* a, const uint8_t* b, int64_t n,
                                                                     float sa, int32_t za, float sb, int32_t zb,
                                                                     const AddClamp& k, int32_t zy, uint8_t* q) {
  const __m512 vsa = _mm512_set1_ps(sa), vsb = _mm512_set1_ps(sb), inv = _mm512_set1_ps(k.inv);
  const __m512 lo = _mm512_set1_ps(k.lo), hi = _mm512_set1_ps(k.hi);
  const __m512i vza = _mm512_set1_epi32(za), vzb = _mm512_set1_epi32(zb), vzy = _mm512_set1_epi32(zy);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i xa = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i)));
    const __m512i xb = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i)));
    const __m512 u = _mm512_mul_ps(vsa, _mm512_cvtepi32_ps(_mm512_sub_epi32(xa, vza)));
    const __m512 w = _mm512_mul_ps(vsb, _mm512_cvtepi32_ps(_mm512_sub_epi32(xb, vzb)));
    __m512 r = _mm512_mul_ps(_mm512_add_ps(u, w), inv);
    r = _mm512_min_ps(_mm512_max_ps(r, lo), hi);
    const __m512i v = _mm512_cvt_roundps_epi32(r, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + i), _mm512_cvtusepi32_epi8(_mm512_add_epi32(v, vzy)));
  }
  return i;
}
}  // namespace
#endif

void addCl(const uint8_t* a, const TensorInfo& at, const uint8_t* b, const TensorInfo& bt, int64_t c, int64_t hw,
           Act act, const TensorInfo& yt, void* y) {
  const int64_t n = c * hw;
  if (yt.dtype == DType::I8 && clampAct(act)) {  // addInt8's operations on q = u - 128
    uint8_t* __restrict q = static_cast<uint8_t*>(y);
    const AddClamp k = addClamp(act, yt);
    const float sa = at.scale, sb = bt.scale;
    const int32_t za = at.zeroPoint + 128, zb = bt.zeroPoint + 128, zy = k.zp + 128;
    int64_t i0 = 0;
#ifdef HWNAS_RT8_X86
    static const bool wide = int8IsaSupported(Int8Isa::Vnni);
    if (wide) i0 = addCl512(a, b, n, sa, za, sb, zb, k, zy, q);
#endif
    for (int64_t i = i0; i < n; ++i) {
      const float u = sa * float(int32_t(a[i]) - za);
      const float w = sb * float(int32_t(b[i]) - zb);
      float r = (u + w) * k.inv;
      r = r < k.lo ? k.lo : r;
      r = r > k.hi ? k.hi : r;
      q[i] = uint8_t(int32_t(roundEven(r)) + zy);
    }
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    const float v = addOne(int8_t(a[i] ^ 0x80), at, int8_t(b[i] ^ 0x80), bt, act, yt);
    if (yt.dtype == DType::I8)
      static_cast<uint8_t*>(y)[i] = uint8_t(int32_t(v) + 128);
    else
      static_cast<float*>(y)[(i % c) * hw + i / c] = v;
  }
}

void maxPoolCl(const uint8_t* x, int64_t c, int64_t h, int64_t w, const PlanOp& op, int64_t oh, int64_t ow,
               uint8_t* y) {
  for (int64_t r = 0; r < oh; ++r)
    for (int64_t q = 0; q < ow; ++q) {
      uint8_t* __restrict o = y + (r * ow + q) * c;
      for (int64_t ch = 0; ch < c; ++ch) o[ch] = 0;  // q = -128
      for (int i = 0; i < op.kernelH; ++i) {
        const int64_t ih = r * op.strideH - op.padH + i;
        if (ih < 0 || ih >= h) continue;
        for (int j = 0; j < op.kernelW; ++j) {
          const int64_t iw = q * op.strideW - op.padW + j;
          if (iw < 0 || iw >= w) continue;
          const uint8_t* __restrict s = x + (ih * w + iw) * c;
          for (int64_t ch = 0; ch < c; ++ch) o[ch] = std::max(o[ch], s[ch]);
        }
      }
    }
}

void meanCl(const uint8_t* x, int64_t c, int64_t hw, const TensorInfo& xt, const TensorInfo& yt, uint8_t* y) {
  // meanPlane's operations: sum(q) - n zx = sum(u) - n (zx + 128), the same integer.
  const float m = float(double(xt.scale) / (double(yt.scale) * double(hw)));
  std::vector<int64_t> s(size_t(c), 0);
  for (int64_t p = 0; p < hw; ++p)
    for (int64_t ch = 0; ch < c; ++ch) s[size_t(ch)] += x[p * c + ch];
  for (int64_t ch = 0; ch < c; ++ch) {
    float r = float(s[size_t(ch)] - hw * int64_t(xt.zeroPoint + 128)) * m;
    r = std::min(std::max(r, float(-128 - yt.zeroPoint)), float(127 - yt.zeroPoint));
    y[ch] = uint8_t(int32_t(roundEven(r)) + yt.zeroPoint + 128);
  }
}

void toChannelsFirst(const uint8_t* x, int64_t c, int64_t hw, uint8_t* y) { transposeBytes(x, hw, c, 0, y); }

}  // namespace hwnas::runtime::int8
