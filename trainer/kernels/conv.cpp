#include "trainer/kernels/conv.h"

#include <immintrin.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

namespace hwnas::kernels {
namespace {

// ---------------------------------------------------------------------------------------------
// Small helpers: 16-float vectors, per-thread scratch, deterministic parallel loops.

struct V16 {
#if defined(__AVX512F__)
  __m512 v;
  static V16 zero() { return {_mm512_setzero_ps()}; }
  static V16 set1(float x) { return {_mm512_set1_ps(x)}; }
  static V16 load(const float* p) { return {_mm512_loadu_ps(p)}; }
  void store(float* p) const { _mm512_storeu_ps(p, v); }
  static V16 fmadd(V16 a, V16 b, V16 c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
  static V16 add(V16 a, V16 b) { return {_mm512_add_ps(a.v, b.v)}; }
#elif defined(__AVX2__) && defined(__FMA__)
  __m256 lo, hi;
  static V16 zero() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
  static V16 set1(float x) { return {_mm256_set1_ps(x), _mm256_set1_ps(x)}; }
  static V16 load(const float* p) { return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
  void store(float* p) const {
    _mm256_storeu_ps(p, lo);
    _mm256_storeu_ps(p + 8, hi);
  }
  static V16 fmadd(V16 a, V16 b, V16 c) { return {_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)}; }
  static V16 add(V16 a, V16 b) { return {_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)}; }
#else
  float v[16];
  static V16 zero() { return set1(0.f); }
  static V16 set1(float x) {
    V16 r;
    for (float& e : r.v) e = x;
    return r;
  }
  static V16 load(const float* p) {
    V16 r;
    std::memcpy(r.v, p, sizeof(r.v));
    return r;
  }
  void store(float* p) const { std::memcpy(p, v, sizeof(v)); }
  static V16 fmadd(V16 a, V16 b, V16 c) {
    for (int j = 0; j < 16; ++j) c.v[j] = std::fma(a.v[j], b.v[j], c.v[j]);
    return c;
  }
  static V16 add(V16 a, V16 b) {
    for (int j = 0; j < 16; ++j) a.v[j] += b.v[j];
    return a;
  }
#endif
  // Sum of the 16 lanes in a fixed order (a fixed shuffle tree with AVX-512).
  float hsum() const {
#if defined(__AVX512F__)
    const __m256 lo8 = _mm512_castps512_ps256(v);
    const __m256 hi8 = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    const __m256 s8 = _mm256_add_ps(lo8, hi8);
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    s4 = _mm_add_ss(s4, _mm_shuffle_ps(s4, s4, 1));
    return _mm_cvtss_f32(s4);
#else
    alignas(64) float t[16];
    store(t);
    float s = 0.f;
    for (float e : t) s += e;
    return s;
#endif
  }
};

constexpr int64_t kLanes = 16;
inline int64_t roundUp(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// A grow-only, 64-byte aligned buffer. One set per thread (thread_local), so TBB tasks never
// share scratch; no task here nests a parallel loop, so a thread never re-enters its own.
class Scratch {
 public:
  float* get(int64_t n) {
    if (n > cap_) {
      const size_t bytes = (size_t)roundUp(std::max<int64_t>(n, 16) * (int64_t)sizeof(float), 64);
      buf_.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
      if (!buf_) throw std::bad_alloc();
      cap_ = (int64_t)(bytes / sizeof(float));
    }
    return buf_.get();
  }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float, Free> buf_;
  int64_t cap_ = 0;
};
enum ScratchSlot { kSlotCols = 0, kSlotOut, kSlotGrad, kSlotPhase, kNumSlots };
thread_local Scratch t_scratch[kNumSlots];
float* scratch(ScratchSlot slot, int64_t n) { return t_scratch[slot].get(n); }

// parallel_for over [0, n) in pieces of at most `grain`, split by shape only (simple_partitioner):
// which thread runs a piece never changes what it computes. Small ranges run inline.
template <class F>
void parallelFor(int64_t n, int64_t grain, const F& f) {
  grain = std::max<int64_t>(1, grain);
  if (n <= 0) return;
  if (n <= grain) {
    f(int64_t(0), n);
    return;
  }
  tbb::parallel_for(
      tbb::blocked_range<int64_t>(0, n, (size_t)grain), [&](const tbb::blocked_range<int64_t>& r) { f(r.begin(), r.end()); },
      tbb::simple_partitioner());
}

using MatC = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
using MapC = Eigen::Map<MatC, Eigen::Unaligned, Eigen::OuterStride<>>;
using CMapC = Eigen::Map<const MatC, Eigen::Unaligned, Eigen::OuterStride<>>;

// Sum of one plane with 16 lane accumulators, reduced in a fixed order.
float planeSum(const float* p, int64_t n) {
  V16 acc = V16::zero();
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) acc = V16::add(acc, V16::load(p + i));
  float s = acc.hsum();
  for (; i < n; ++i) s += p[i];
  return s;
}

// gb[co] = sum over images (in order) of the plane sums of gy[n, co].
void biasGrad(int64_t n, int64_t c, int64_t plane, const float* gy, float* gb) {
  parallelFor(c, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, n * plane)), [&](int64_t c0, int64_t c1) {
    for (int64_t co = c0; co < c1; ++co) {
      float s = 0.f;
      for (int64_t i = 0; i < n; ++i) s += planeSum(gy + (i * c + co) * plane, plane);
      gb[co] = s;
    }
  });
}

void addBias(int64_t n, int64_t c, int64_t plane, const float* bias, float* y, int64_t n0, int64_t n1) {
  for (int64_t i = n0; i < n1; ++i)
    for (int64_t co = 0; co < c; ++co) {
      float* p = y + (i * c + co) * plane;
      const float b = bias[co];
      for (int64_t k = 0; k < plane; ++k) p[k] += b;
    }
}

// ---------------------------------------------------------------------------------------------
// GEMM path: images are processed in chunks of `cnt`; a chunk's im2col matrix P has
// rows = cnt*oh*ow (image-major) and columns = (ci, ky, kx) of one group, column-major with
// leading dimension ld = cnt*oh*ow. Then Y[rows, coutPerGroup] = P * W_g^T.

bool isPointwise(const ConvGeometry& g) {
  return g.kh == 1 && g.kw == 1 && g.strideH == 1 && g.strideW == 1 && g.padH == 0 && g.padW == 0;
}

// Images per GEMM chunk: enough rows for the GEMM kernel to run at speed.
int64_t gemmChunk(const ConvGeometry& g) {
  const int64_t rows = g.oh * g.ow;
  const int64_t want = (256 + rows - 1) / rows;
  return std::max<int64_t>(1, std::min<int64_t>({want, g.n, 32}));
}

// im2col of one image and one group: x points at the group's first input channel.
void im2col(const ConvGeometry& g, const float* x, float* dst, int64_t ld) {
  const int64_t cig = g.cinPerGroup();
  for (int64_t ci = 0; ci < cig; ++ci) {
    const float* xc = x + ci * g.h * g.w;
    for (int64_t ky = 0; ky < g.kh; ++ky)
      for (int64_t kx = 0; kx < g.kw; ++kx) {
        float* col = dst + ((ci * g.kh + ky) * g.kw + kx) * ld;
        const int64_t offX = kx * g.dilationW - g.padW;
        // Valid ox: 0 <= ox*s + offX < w.
        int64_t ox0 = offX >= 0 ? 0 : (-offX + g.strideW - 1) / g.strideW;
        int64_t ox1 = g.w - offX <= 0 ? 0 : (g.w - offX + g.strideW - 1) / g.strideW;
        ox0 = std::min(ox0, g.ow);
        ox1 = std::min(std::max(ox1, ox0), g.ow);
        for (int64_t oy = 0; oy < g.oh; ++oy) {
          float* d = col + oy * g.ow;
          const int64_t iy = oy * g.strideH - g.padH + ky * g.dilationH;
          if (iy < 0 || iy >= g.h) {
            std::memset(d, 0, sizeof(float) * g.ow);
            continue;
          }
          const float* src = xc + iy * g.w + offX;
          for (int64_t ox = 0; ox < ox0; ++ox) d[ox] = 0.f;
          if (g.strideW == 1) {
            std::memcpy(d + ox0, src + ox0, sizeof(float) * (ox1 - ox0));
          } else {
            for (int64_t ox = ox0; ox < ox1; ++ox) d[ox] = src[ox * g.strideW];
          }
          for (int64_t ox = ox1; ox < g.ow; ++ox) d[ox] = 0.f;
        }
      }
  }
}

// col2im (accumulating) for one image and one group: gx points at the group's first channel.
void col2im(const ConvGeometry& g, const float* src, int64_t ld, float* gx) {
  const int64_t cig = g.cinPerGroup();
  for (int64_t ci = 0; ci < cig; ++ci) {
    float* gc = gx + ci * g.h * g.w;
    for (int64_t ky = 0; ky < g.kh; ++ky)
      for (int64_t kx = 0; kx < g.kw; ++kx) {
        const float* col = src + ((ci * g.kh + ky) * g.kw + kx) * ld;
        const int64_t offX = kx * g.dilationW - g.padW;
        int64_t ox0 = offX >= 0 ? 0 : (-offX + g.strideW - 1) / g.strideW;
        int64_t ox1 = g.w - offX <= 0 ? 0 : (g.w - offX + g.strideW - 1) / g.strideW;
        ox0 = std::min(ox0, g.ow);
        ox1 = std::min(std::max(ox1, ox0), g.ow);
        for (int64_t oy = 0; oy < g.oh; ++oy) {
          const int64_t iy = oy * g.strideH - g.padH + ky * g.dilationH;
          if (iy < 0 || iy >= g.h) continue;
          const float* s = col + oy * g.ow;
          float* d = gc + iy * g.w + offX;
          if (g.strideW == 1) {
            for (int64_t ox = ox0; ox < ox1; ++ox) d[ox] += s[ox];
          } else {
            for (int64_t ox = ox0; ox < ox1; ++ox) d[ox * g.strideW] += s[ox];
          }
        }
      }
  }
}

// Builds the P matrix of images [n0, n0+cnt) for group grp. Returns its pointer (which for a
// single pointwise image is x itself, no copy) and sets ld.
const float* buildCols(const ConvGeometry& g, const float* x, int64_t n0, int64_t cnt, int64_t grp, int64_t& ld) {
  const int64_t rows = g.oh * g.ow, cig = g.cinPerGroup();
  const float* xg = x + (n0 * g.cin + grp * cig) * g.h * g.w;
  if (cnt == 1 && isPointwise(g)) {
    ld = rows;
    return xg;
  }
  ld = cnt * rows;
  float* cols = scratch(kSlotCols, ld * cig * g.kh * g.kw);
  for (int64_t i = 0; i < cnt; ++i) {
    const float* xi = x + ((n0 + i) * g.cin + grp * cig) * g.h * g.w;
    if (isPointwise(g)) {
      for (int64_t ci = 0; ci < cig; ++ci) std::memcpy(cols + ci * ld + i * rows, xi + ci * rows, sizeof(float) * rows);
    } else {
      im2col(g, xi, cols + i * rows, ld);
    }
  }
  return cols;
}

// Forward of a contiguous range of output channels [co0, co1) of group grp for one chunk.
void gemmForwardChunk(const ConvGeometry& g, const float* cols, int64_t ld, const float* w, float* y, int64_t n0,
                      int64_t cnt, int64_t grp, int64_t co0, int64_t co1) {
  const int64_t rows = g.oh * g.ow, kdim = g.cinPerGroup() * g.kh * g.kw, cog = g.coutPerGroup();
  const int64_t nco = co1 - co0;
  CMapC P(cols, cnt * rows, kdim, Eigen::OuterStride<>(ld));
  CMapC Wt(w + (grp * cog + co0) * kdim, kdim, nco, Eigen::OuterStride<>(kdim));
  if (cnt == 1) {
    MapC Y(y + (n0 * g.cout + grp * cog + co0) * rows, rows, nco, Eigen::OuterStride<>(rows));
    Y.noalias() = P * Wt;
    return;
  }
  float* out = scratch(kSlotOut, cnt * rows * nco);
  MapC Y(out, cnt * rows, nco, Eigen::OuterStride<>(cnt * rows));
  Y.noalias() = P * Wt;
  for (int64_t c = 0; c < nco; ++c)
    for (int64_t i = 0; i < cnt; ++i)
      std::memcpy(y + ((n0 + i) * g.cout + grp * cog + co0 + c) * rows, out + c * cnt * rows + i * rows,
                  sizeof(float) * rows);
}

void gemmForward(const ConvGeometry& g, const float* x, const float* w, float* y) {
  const int64_t cnt = gemmChunk(g), nChunks = (g.n + cnt - 1) / cnt;
  const int64_t cog = g.coutPerGroup();
  const int64_t macsPerChunkGroup = cnt * g.oh * g.ow * g.cinPerGroup() * g.kh * g.kw * cog;
  // Few chunks (batch 1 inference): split output channels into fixed blocks instead.
  if (nChunks * g.groups < 2 && macsPerChunkGroup >= (int64_t(1) << 20) && cog >= 32) {
    int64_t ld = 0;
    const float* cols = buildCols(g, x, 0, cnt, 0, ld);
    const int64_t coBlock = 16, nBlocks = (cog + coBlock - 1) / coBlock;
    parallelFor(nBlocks, 1, [&](int64_t b0, int64_t b1) {
      gemmForwardChunk(g, cols, ld, w, y, 0, cnt, 0, b0 * coBlock, std::min(cog, b1 * coBlock));
    });
    return;
  }
  const int64_t tasks = nChunks * g.groups;
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 18) / std::max<int64_t>(1, macsPerChunkGroup));
  parallelFor(tasks, grain, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t chunk = t / g.groups, grp = t % g.groups;
      const int64_t n0 = chunk * cnt, c = std::min(cnt, g.n - n0);
      int64_t ld = 0;
      const float* cols = buildCols(g, x, n0, c, grp, ld);
      gemmForwardChunk(g, cols, ld, w, y, n0, c, grp, 0, cog);
    }
  });
}

// Backward of the GEMM path. Images are split into fixed blocks (by shape only); each block
// sums its weight gradient into its own partial buffer, and the partials are added in block
// order afterwards, so gw does not depend on the thread count.
void gemmBackward(const ConvGeometry& g, const float* x, const float* w, const float* gy, float* gx, float* gw) {
  const int64_t cnt = gemmChunk(g), rows = g.oh * g.ow;
  const int64_t cig = g.cinPerGroup(), cog = g.coutPerGroup(), kdim = cig * g.kh * g.kw;
  const int64_t nChunks = (g.n + cnt - 1) / cnt;
  const int64_t chunksPerBlock = std::max<int64_t>(1, (nChunks + 15) / 16);
  const int64_t nBlocks = (nChunks + chunksPerBlock - 1) / chunksPerBlock;
  const int64_t wNumel = g.weightNumel();
  std::vector<float> partials;
  if (gw && nBlocks > 1) partials.assign((size_t)(nBlocks * wNumel), 0.f);
  if (gw && nBlocks == 1) std::fill(gw, gw + wNumel, 0.f);

  parallelFor(nBlocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      float* gwBlock = gw ? (nBlocks > 1 ? partials.data() + b * wNumel : gw) : nullptr;
      const int64_t c0 = b * chunksPerBlock, c1 = std::min(nChunks, c0 + chunksPerBlock);
      for (int64_t chunk = c0; chunk < c1; ++chunk) {
        const int64_t n0 = chunk * cnt, c = std::min(cnt, g.n - n0), m = c * rows;
        if (gx && !isPointwise(g)) std::fill(gx + n0 * g.cin * g.h * g.w, gx + (n0 + c) * g.cin * g.h * g.w, 0.f);
        for (int64_t grp = 0; grp < g.groups; ++grp) {
          // gy of this chunk and group as a [m, cog] column-major matrix.
          const float* gyg;
          int64_t ldy;
          if (c == 1) {
            gyg = gy + (n0 * g.cout + grp * cog) * rows;
            ldy = rows;
          } else {
            float* buf = scratch(kSlotOut, m * cog);
            for (int64_t co = 0; co < cog; ++co)
              for (int64_t i = 0; i < c; ++i)
                std::memcpy(buf + co * m + i * rows, gy + ((n0 + i) * g.cout + grp * cog + co) * rows,
                            sizeof(float) * rows);
            gyg = buf;
            ldy = m;
          }
          CMapC GY(gyg, m, cog, Eigen::OuterStride<>(ldy));
          if (gwBlock) {
            int64_t ld = 0;
            const float* cols = buildCols(g, x, n0, c, grp, ld);
            CMapC P(cols, m, kdim, Eigen::OuterStride<>(ld));
            MapC GW(gwBlock + grp * cog * kdim, kdim, cog, Eigen::OuterStride<>(kdim));
            GW.noalias() += P.transpose() * GY;
          }
          if (gx) {
            CMapC Wt(w + grp * cog * kdim, kdim, cog, Eigen::OuterStride<>(kdim));
            float* gxg = gx + (n0 * g.cin + grp * cig) * g.h * g.w;
            if (isPointwise(g) && c == 1) {
              MapC GX(gxg, rows, cig, Eigen::OuterStride<>(rows));
              GX.noalias() = GY * Wt.transpose();
            } else {
              float* gcols = scratch(kSlotGrad, m * kdim);
              MapC GP(gcols, m, kdim, Eigen::OuterStride<>(m));
              GP.noalias() = GY * Wt.transpose();
              for (int64_t i = 0; i < c; ++i) {
                float* gxi = gx + ((n0 + i) * g.cin + grp * cig) * g.h * g.w;
                if (isPointwise(g)) {
                  for (int64_t ci = 0; ci < cig; ++ci)
                    std::memcpy(gxi + ci * rows, gcols + ci * m + i * rows, sizeof(float) * rows);
                } else {
                  col2im(g, gcols + i * rows, m, gxi);
                }
              }
            }
          }
        }
      }
    }
  });
  if (gw && nBlocks > 1) {
    // Sum partials in block order, parallel over weight elements (each element's order is fixed).
    parallelFor(wNumel, 4096, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        float s = partials[(size_t)i];
        for (int64_t b = 1; b < nBlocks; ++b) s += partials[(size_t)(b * wNumel + i)];
        gw[i] = s;
      }
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Depthwise path. The zero-padded input plane is split into strideH*strideW phase planes
// (phase (a,b) holds padded[s*i+a][s*j+b]), each qh x qw. Every kernel tap then reads one phase
// at a fixed offset, and a whole output plane is computed as flat rows of width qw (columns
// >= ow are scratch), so the inner loops are contiguous 16-float vectors for any stride.
// Padding cells of the phase buffers are zeroed once per task and never written afterwards.

struct DwLayout {
  int64_t qh = 0, qw = 0;
  int64_t phaseStride = 0;  // floats per phase plane, including slack for vector over-reads
  int64_t nPhases = 0;
  int64_t flat = 0;  // oh * qw
  int64_t flatPad = 0;  // flat rounded up to 16
  int64_t phasePad = 0;  // qh * qw rounded up to 16
  int64_t margin = 0;  // zeros in front of the extended output gradient (>= every in-phase offset)
  std::vector<int64_t> tapOff;  // per tap (ky, kx): offset into the phase buffer
  std::vector<int64_t> tapOffIn;  // the same offset within its phase plane
  std::vector<int> tapPhase;
  // For the input-gradient gather: per phase, its taps and their negated in-phase offsets.
  std::vector<std::vector<int>> phaseTaps;
  std::vector<std::vector<int64_t>> phaseNegOff;
};

DwLayout makeDwLayout(const ConvGeometry& g) {
  DwLayout L;
  const int64_t hp = g.h + 2 * g.padH, wp = g.w + 2 * g.padW;
  L.qh = (hp + g.strideH - 1) / g.strideH;
  L.qw = (wp + g.strideW - 1) / g.strideW;
  L.nPhases = (int64_t)g.strideH * g.strideW;
  L.flat = g.oh * L.qw;
  L.flatPad = roundUp(L.flat, kLanes);
  L.phasePad = roundUp(L.qh * L.qw, kLanes);
  L.phaseStride = roundUp(L.qh * L.qw + L.qw + kLanes, kLanes);
  for (int64_t ky = 0; ky < g.kh; ++ky)
    for (int64_t kx = 0; kx < g.kw; ++kx) {
      const int64_t dy = ky * g.dilationH, dx = kx * g.dilationW;
      const int phase = (int)((dy % g.strideH) * g.strideW + (dx % g.strideW));
      const int64_t in = (dy / g.strideH) * L.qw + dx / g.strideW;
      L.tapPhase.push_back(phase);
      L.tapOffIn.push_back(in);
      L.tapOff.push_back(phase * L.phaseStride + in);
      L.margin = std::max(L.margin, in);
    }
  L.margin = roundUp(L.margin, kLanes);
  L.phaseTaps.resize(L.nPhases);
  L.phaseNegOff.resize(L.nPhases);
  for (size_t t = 0; t < L.tapPhase.size(); ++t) {
    L.phaseTaps[L.tapPhase[t]].push_back((int)t);
    L.phaseNegOff[L.tapPhase[t]].push_back(-L.tapOffIn[t]);
  }
  return L;
}

#if defined(__AVX512F__)
inline __mmask16 maskFirst(int64_t n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u); }
#endif

// even[j] = src[2j], odd[j] = src[2j+1] for 2j(+1) < w.
inline void deinterleave2(const float* src, int64_t w, float* even, float* odd) {
  int64_t j = 0;
#if defined(__AVX512F__)
  const __m512i idxEven = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i idxOdd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  for (; 2 * j < w; j += 16) {
    const int64_t rem = w - 2 * j;  // floats left in the row
    const __m512 lo = _mm512_maskz_loadu_ps(maskFirst(rem), src + 2 * j);
    const __m512 hi = _mm512_maskz_loadu_ps(maskFirst(std::max<int64_t>(0, rem - 16)), src + 2 * j + 16);
    _mm512_mask_storeu_ps(even + j, maskFirst((rem + 1) / 2), _mm512_permutex2var_ps(lo, idxEven, hi));
    _mm512_mask_storeu_ps(odd + j, maskFirst(rem / 2), _mm512_permutex2var_ps(lo, idxOdd, hi));
  }
#else
  for (; 2 * j + 1 < w; ++j) {
    even[j] = src[2 * j];
    odd[j] = src[2 * j + 1];
  }
  if (2 * j < w) even[j] = src[2 * j];
#endif
}

// dst[2j] = even[j], dst[2j+1] = odd[j] for indices < w.
inline void interleave2(const float* even, const float* odd, int64_t w, float* dst) {
  int64_t j = 0;
#if defined(__AVX512F__)
  const __m512i idxLo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i idxHi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  for (; 2 * j < w; j += 16) {
    const int64_t rem = w - 2 * j;
    const __m512 e = _mm512_maskz_loadu_ps(maskFirst((rem + 1) / 2), even + j);
    const __m512 o = _mm512_maskz_loadu_ps(maskFirst(rem / 2), odd + j);
    _mm512_mask_storeu_ps(dst + 2 * j, maskFirst(rem), _mm512_permutex2var_ps(e, idxLo, o));
    if (rem > 16)
      _mm512_mask_storeu_ps(dst + 2 * j + 16, maskFirst(rem - 16), _mm512_permutex2var_ps(e, idxHi, o));
  }
#else
  for (; 2 * j + 1 < w; ++j) {
    dst[2 * j] = even[j];
    dst[2 * j + 1] = odd[j];
  }
  if (2 * j < w) dst[2 * j] = even[j];
#endif
}

inline void copySmall(float* __restrict dst, const float* __restrict src, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
}

// init + sum_t wv[t] * base[off[t] + i0 .. +16], with four independent accumulator chains (taps
// t mod 4) so the FMA latency is hidden; they are added in a fixed order.
inline V16 tapSum(V16 init, const float* base, const int64_t* off, const V16* wv, int ntaps, int64_t i0) {
  V16 a0 = init, a1 = V16::zero(), a2 = V16::zero(), a3 = V16::zero();
  int t = 0;
  for (; t + 4 <= ntaps; t += 4) {
    a0 = V16::fmadd(wv[t], V16::load(base + off[t] + i0), a0);
    a1 = V16::fmadd(wv[t + 1], V16::load(base + off[t + 1] + i0), a1);
    a2 = V16::fmadd(wv[t + 2], V16::load(base + off[t + 2] + i0), a2);
    a3 = V16::fmadd(wv[t + 3], V16::load(base + off[t + 3] + i0), a3);
  }
  for (; t < ntaps; ++t) a0 = V16::fmadd(wv[t], V16::load(base + off[t] + i0), a0);
  return V16::add(V16::add(a0, a1), V16::add(a2, a3));
}

// Scatter one input plane into its phase planes (whose padding cells are already zero).
void dwToPhases(const ConvGeometry& g, const DwLayout& L, const float* x, float* ph) {
  for (int64_t iy = 0; iy < g.h; ++iy) {
    const int64_t py = iy + g.padH, a = py % g.strideH, qy = py / g.strideH;
    const float* src = x + iy * g.w;
    if (g.strideW == 1) {
      copySmall(ph + a * L.phaseStride + qy * L.qw + g.padW, src, g.w);
    } else if (g.strideW == 2) {
      const int64_t b0 = g.padW % 2;  // phase of ix = 0
      float* even = ph + (a * 2 + b0) * L.phaseStride + qy * L.qw + g.padW / 2;
      float* odd = ph + (a * 2 + (1 - b0)) * L.phaseStride + qy * L.qw + (g.padW + 1) / 2;
      deinterleave2(src, g.w, even, odd);
    } else {
      for (int64_t ix = 0; ix < g.w; ++ix) {
        const int64_t px = ix + g.padW;
        ph[(a * g.strideW + px % g.strideW) * L.phaseStride + qy * L.qw + px / g.strideW] = src[ix];
      }
    }
  }
}

// Gather one input-gradient plane back from the phase planes (inverse of dwToPhases).
void dwFromPhases(const ConvGeometry& g, const DwLayout& L, const float* ph, float* gx) {
  for (int64_t iy = 0; iy < g.h; ++iy) {
    const int64_t py = iy + g.padH, a = py % g.strideH, qy = py / g.strideH;
    float* dst = gx + iy * g.w;
    if (g.strideW == 1) {
      copySmall(dst, ph + a * L.phaseStride + qy * L.qw + g.padW, g.w);
    } else if (g.strideW == 2) {
      const int64_t b0 = g.padW % 2;
      const float* even = ph + (a * 2 + b0) * L.phaseStride + qy * L.qw + g.padW / 2;
      const float* odd = ph + (a * 2 + (1 - b0)) * L.phaseStride + qy * L.qw + (g.padW + 1) / 2;
      interleave2(even, odd, g.w, dst);
    } else {
      for (int64_t ix = 0; ix < g.w; ++ix) {
        const int64_t px = ix + g.padW;
        dst[ix] = ph[(a * g.strideW + px % g.strideW) * L.phaseStride + qy * L.qw + px / g.strideW];
      }
    }
  }
}

// One output plane: flat[i] = bias + sum_t w[t] * ph[tapOff[t] + i], then the valid columns.
template <int kTaps>
void dwPlaneForward(const ConvGeometry& g, const DwLayout& L, const float* ph, const float* wc, float bias, float* out,
                    float* y) {
  const int ntaps = kTaps > 0 ? kTaps : (int)L.tapOff.size();
  const int64_t* off = L.tapOff.data();
  constexpr int kMax = kTaps > 0 ? kTaps : 1;
  V16 wFixed[kMax];
  std::vector<V16> wDyn(kTaps > 0 ? 0 : ntaps);
  V16* wv = kTaps > 0 ? wFixed : wDyn.data();
  for (int t = 0; t < ntaps; ++t) wv[t] = V16::set1(wc[t]);
  const V16 b = V16::set1(bias);
  for (int64_t i0 = 0; i0 < L.flatPad; i0 += kLanes) tapSum(b, ph, off, wv, ntaps, i0).store(out + i0);
  for (int64_t oy = 0; oy < g.oh; ++oy) copySmall(y + oy * g.ow, out + oy * L.qw, g.ow);
}

void depthwiseForward(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y) {
  const DwLayout L = makeDwLayout(g);
  const int64_t ntaps = g.kh * g.kw, planes = g.n * g.cin;
  // Tasks of ~100k multiply-adds: batch-1 inference of a small layer stays on one thread.
  const int64_t workPerPlane = L.flatPad * ntaps + 4 * g.h * g.w;
  const int64_t grain = std::max<int64_t>(1, 131072 / workPerPlane);
  parallelFor(planes, grain, [&](int64_t p0, int64_t p1) {
    float* ph = scratch(kSlotPhase, L.nPhases * L.phaseStride);
    float* out = scratch(kSlotOut, L.flatPad);
    std::memset(ph, 0, sizeof(float) * L.nPhases * L.phaseStride);
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t c = p % g.cin;
      dwToPhases(g, L, x + p * g.h * g.w, ph);
      const float* wc = w + c * ntaps;
      const float b = bias ? bias[c] : 0.f;
      float* yp = y + p * g.oh * g.ow;
      switch (ntaps) {
        case 9: dwPlaneForward<9>(g, L, ph, wc, b, out, yp); break;
        case 25: dwPlaneForward<25>(g, L, ph, wc, b, out, yp); break;
        case 49: dwPlaneForward<49>(g, L, ph, wc, b, out, yp); break;
        default: dwPlaneForward<0>(g, L, ph, wc, b, out, yp); break;
      }
    }
  });
}

// Backward of one plane (image n, channel c).
// gw: per tap, 16 lane partial sums of gyp[i] * ph[tapOff + i], reduced in a fixed order and
//     added to gwAcc[t] (the caller sums images in a fixed order).
// gx: the transposed conv written as a gather, per phase plane:
//     gph[j] = sum_{taps t of that phase} w[t] * gyp[j - tapOffIn[t]]  (gyp zero outside),
//     so every output vector is accumulated in registers and stored once.
template <int kTaps>
void dwPlaneBackward(const ConvGeometry& g, const DwLayout& L, int64_t n, int64_t c, const float* x, const float* w,
                     const float* gy, float* gx, float* gwAcc, float* gypExt, float* ph, float* gph) {
  const int ntaps = kTaps > 0 ? kTaps : (int)L.tapOff.size();
  const int64_t* off = L.tapOff.data();
  float* gyp = gypExt + L.margin;
  constexpr int kMax = kTaps > 0 ? kTaps : 1;
  const int64_t plane = n * g.cin + c;
  const float* gyc = gy + plane * g.oh * g.ow;
  for (int64_t oy = 0; oy < g.oh; ++oy) copySmall(gyp + oy * L.qw, gyc + oy * g.ow, g.ow);
  if (gwAcc) {
    V16 lanesFixed[kMax];
    std::vector<V16> lanesDyn(kTaps > 0 ? 0 : ntaps);
    V16* lanes = kTaps > 0 ? lanesFixed : lanesDyn.data();
    for (int t = 0; t < ntaps; ++t) lanes[t] = V16::zero();
    dwToPhases(g, L, x + plane * g.h * g.w, ph);
    for (int64_t i0 = 0; i0 < L.flatPad; i0 += kLanes) {
      const V16 gv = V16::load(gyp + i0);
#pragma GCC unroll 32
      for (int t = 0; t < ntaps; ++t) lanes[t] = V16::fmadd(gv, V16::load(ph + off[t] + i0), lanes[t]);
    }
    for (int t = 0; t < ntaps; ++t) gwAcc[t] += lanes[t].hsum();
  }
  if (gx) {
    const float* wc = w + c * ntaps;
    V16 wFixed[kMax];
    std::vector<V16> wDyn(kTaps > 0 ? 0 : ntaps);
    V16* wAll = kTaps > 0 ? wFixed : wDyn.data();
    for (int64_t phase = 0, k = 0; phase < L.nPhases; ++phase)  // weights in L.phaseTaps order
      for (int t : L.phaseTaps[phase]) wAll[k++] = V16::set1(wc[t]);
    const V16* wp = wAll;
    for (int64_t phase = 0; phase < L.nPhases; ++phase) {
      float* dst = gph + phase * L.phaseStride;
      const int nt = (int)L.phaseTaps[phase].size();
      const int64_t* negOff = L.phaseNegOff[phase].data();
      for (int64_t j0 = 0; j0 < L.phasePad; j0 += kLanes) tapSum(V16::zero(), gyp, negOff, wp, nt, j0).store(dst + j0);
      wp += nt;
    }
    dwFromPhases(g, L, gph, gx + plane * g.h * g.w);
  }
}

// Images are split into fixed blocks (by shape only) and walked in memory order (image, then
// channel). Each block sums its weight gradient into its own partial buffer; the partials are
// added in block order afterwards, so gw does not depend on the thread count.
void depthwiseBackward(const ConvGeometry& g, const float* x, const float* w, const float* gy, float* gx, float* gw) {
  const DwLayout L = makeDwLayout(g);
  const int64_t ntaps = g.kh * g.kw, wNumel = g.cin * ntaps;
  const int64_t perBlock = std::max<int64_t>(1, (g.n + 15) / 16), nBlocks = (g.n + perBlock - 1) / perBlock;
  const int64_t phaseNumel = L.nPhases * L.phaseStride;
  const int64_t extNumel = L.margin + std::max(L.flatPad, L.phasePad) + kLanes;
  std::vector<float> partials(gw ? (size_t)(nBlocks * wNumel) : 0, 0.f);
  parallelFor(nBlocks, 1, [&](int64_t b0, int64_t b1) {
    // Zero once: cells that are padding (ph) or outside the output (gypExt) are never written.
    float* gypExt = scratch(kSlotOut, extNumel);
    float* ph = scratch(kSlotPhase, phaseNumel);
    float* gph = scratch(kSlotGrad, phaseNumel);
    std::memset(gypExt, 0, sizeof(float) * extNumel);
    std::memset(ph, 0, sizeof(float) * phaseNumel);
    for (int64_t b = b0; b < b1; ++b) {
      float* part = gw ? partials.data() + b * wNumel : nullptr;
      for (int64_t n = b * perBlock; n < std::min(g.n, (b + 1) * perBlock); ++n)
        for (int64_t c = 0; c < g.cin; ++c) {
          float* acc = part ? part + c * ntaps : nullptr;
          switch (ntaps) {
            case 9: dwPlaneBackward<9>(g, L, n, c, x, w, gy, gx, acc, gypExt, ph, gph); break;
            case 25: dwPlaneBackward<25>(g, L, n, c, x, w, gy, gx, acc, gypExt, ph, gph); break;
            case 49: dwPlaneBackward<49>(g, L, n, c, x, w, gy, gx, acc, gypExt, ph, gph); break;
            default: dwPlaneBackward<0>(g, L, n, c, x, w, gy, gx, acc, gypExt, ph, gph); break;
          }
        }
    }
  });
  if (gw)
    for (int64_t i = 0; i < wNumel; ++i) {
      float s = partials[(size_t)i];
      for (int64_t b = 1; b < nBlocks; ++b) s += partials[(size_t)(b * wNumel + i)];
      gw[i] = s;
    }
}

}  // namespace

// ---------------------------------------------------------------------------------------------

ConvAlgo chooseConvAlgo(const ConvGeometry& g) {
  if (g.groups > 1 && g.groups == g.cin && g.groups == g.cout) return ConvAlgo::Depthwise;
  return ConvAlgo::Gemm;
}

void convForward(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y) {
  if (chooseConvAlgo(g) == ConvAlgo::Depthwise) {
    depthwiseForward(g, x, w, bias, y);
    return;
  }
  gemmForward(g, x, w, y);
  if (bias) {
    const int64_t plane = g.oh * g.ow;
    parallelFor(g.n, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, g.cout * plane)),
                [&](int64_t n0, int64_t n1) { addBias(g.n, g.cout, plane, bias, y, n0, n1); });
  }
}

void convBackward(const ConvGeometry& g, const float* x, const float* w, const float* gy, float* gx, float* gw,
                  float* gb) {
  if (gx || gw) {
    if (chooseConvAlgo(g) == ConvAlgo::Depthwise)
      depthwiseBackward(g, x, w, gy, gx, gw);
    else
      gemmBackward(g, x, w, gy, gx, gw);
  }
  if (gb) biasGrad(g.n, g.cout, g.oh * g.ow, gy, gb);
}

// Linear runs as single Eigen GEMMs (serial: the refnet head is tiny, and one call is
// trivially deterministic). Row-major maps match the PyTorch layouts.
using MatR = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using CMapR = Eigen::Map<const MatR>;
using MapR = Eigen::Map<MatR>;

void linearForward(int64_t n, int64_t in, int64_t out, const float* x, const float* w, const float* bias, float* y) {
  CMapR X(x, n, in), W(w, out, in);
  MapR Y(y, n, out);
  Y.noalias() = X * W.transpose();
  if (bias)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t o = 0; o < out; ++o) y[i * out + o] += bias[o];
}

void linearBackward(int64_t n, int64_t in, int64_t out, const float* x, const float* w, const float* gy, float* gx,
                    float* gw, float* gb) {
  CMapR GY(gy, n, out);
  if (gx) {
    CMapR W(w, out, in);
    MapR GX(gx, n, in);
    GX.noalias() = GY * W;
  }
  if (gw) {
    CMapR X(x, n, in);
    MapR GW(gw, out, in);
    GW.noalias() = GY.transpose() * X;
  }
  if (gb) {
    for (int64_t o = 0; o < out; ++o) gb[o] = 0.f;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t o = 0; o < out; ++o) gb[o] += gy[i * out + o];
  }
}

}  // namespace hwnas::kernels
