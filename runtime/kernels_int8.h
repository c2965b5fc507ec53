// The runtime's int8 kernels: a GEMM over packed int8 weights and activations (for 1x1, kxk
// and grouped convolutions and linear layers), depthwise convolution, and the epilogues that
// turn int32 accumulators into int8 (requantized) or f32 (dequantized) outputs. Three paths,
// chosen by CPU features at run time: VNNI (AVX-512 vpdpbusd, u8 x s8, activations shifted by
// +128 and 128 * sum(w) taken out of the bias), AVX2 (sign-extended vpmaddwd) and portable
// scalar. Invariant: every path computes exactly the same int32 accumulators (integer maths,
// no saturation), and all paths share one epilogue, so outputs are bit-identical across paths.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/kernels.h"
#include "runtime/plan.h"

namespace hwnas::runtime::int8 {

enum class Int8Isa : int { Scalar, Avx2, Vnni };
const char* int8IsaName(Int8Isa isa);  // "scalar", "avx2", "vnni"
bool int8IsaSupported(Int8Isa isa);    // by this CPU (Scalar always)
// The widest supported path, unless the environment variable HWNAS_INT8_ISA names one
// (scalar | avx2 | vnni); RuntimeError when it names an unknown or unsupported path.
Int8Isa bestInt8Isa();
Int8Isa parseInt8Isa(const std::string& name);  // RuntimeError listing the names

// ---- GEMM: acc[r][p] = bias[r] + sum_k W[r][k] * X[k][p] over one block of kRows rows.
constexpr int kRows = 8;
inline int64_t quads(int64_t k) { return (k + 3) / 4; }
inline int64_t paddedCols(int64_t p) { return (p + 15) / 16 * 16; }
// Weights [M, K] as ceil(M/8) blocks of [K/4][8][4] int8 (zero past M and past K).
std::vector<int8_t> packWeights(const int8_t* w, int64_t m, int64_t k);
// The same layout widened to int16 (the AVX2 path's operand).
std::vector<int16_t> widenWeights(const std::vector<int8_t>& packed);
// sum_k W[r][k] per row.
std::vector<int32_t> rowSums(const int8_t* w, int64_t m, int64_t k);

// Activations as the GEMM's X: [K/4][paddedCols(P)][4] bytes. `toUnsigned` (the VNNI path)
// stores q + 128 as u8. Pad pixels hold padValue (the input's zero point), so they add nothing.
struct PackGeom {
  int64_t channels = 0, h = 0, w = 0;  // of one group of one image
  int kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
  int64_t oh = 0, ow = 0;
};
// im2col into the packed layout (1x1 stride 1 too): x is one group's first channel, channels
// channelStride apart.
void packConv(const int8_t* x, int64_t channelStride, const PackGeom& g, int8_t padValue, bool toUnsigned,
              int8_t* out);
// Rows of a linear layer's input [n][f] as X[k = f][p = n].
void packLinear(const int8_t* x, int64_t n, int64_t f, bool toUnsigned, int8_t* out);

// One block: packedBlock = packWeights(...) + block * quads(K) * 32 (or its widened copy for
// Avx2); x = packed X with ppad = paddedCols(P) columns; acc = [kRows][ppad] int32.
void gemmBlock(Int8Isa isa, const void* packedBlock, const int32_t* bias8, int64_t kq, const int8_t* x, int64_t ppad,
               int32_t* acc);

struct Epilogue;
// The same block with the epilogue fused (requantized in registers) where the path has it
// (VNNI, i8 out, identity / relu / relu6): writes rows (<= 8) rows of p int8 outputs, channel
// c0 + r at y + r * ldy; returns false (nothing done) elsewhere. Same bits as
// gemmBlock + epilogueRow.
bool gemmBlockRequant(Int8Isa isa, const void* packedBlock, const int32_t* bias8, int64_t kq, const int8_t* x,
                      int64_t ppad, int64_t p, const Epilogue& e, int64_t c0, int rows, int8_t* y, int64_t ldy);

// ---- epilogue: int32 accumulator (bias included) of output channel c -> output value.
// Output i8: q = clamp(round(act(acc * deq[c]) / outScale)) + outZeroPoint; for identity,
// relu and relu6 this is the integer-only-friendly form round(clamp(acc * mult[c])) + zp.
// Output f32: act(acc * deq[c]). round() is round-half-to-even. Same code on every path.
struct Epilogue {
  Act act = Act::Identity;
  bool outI8 = true;
  std::vector<float> deq;   // inScale * weightScale[c]
  std::vector<float> mult;  // deq[c] / outScale (i8 out)
  float invOutScale = 1.f;
  int32_t zeroPoint = 0;
  float lo = -128.f, hi = 127.f;  // clamp bounds relative to the zero point (i8 out)
};
// For an op with input scale inScale, per-channel weight scales, and its output tensor.
Epilogue makeEpilogue(float inScale, const std::vector<float>& weightScales, const TensorInfo& out, Act act);
// n outputs of channel c from acc (stride 1) to y (element stride ys): int8_t* or float*.
// isa Vnni uses AVX-512 for the requantizing (identity / relu / relu6) rows: the same
// operations, so the same bits.
void epilogueRow(const Epilogue& e, int64_t c, const int32_t* acc, int64_t n, void* y, int64_t ys,
                 Int8Isa isa = Int8Isa::Scalar);
// One output value (the reference and the fast paths agree by construction).
float epilogueOne(const Epilogue& e, int64_t c, int32_t acc);  // i8 out: the integer value as float

// ---- depthwise convolution of one plane: acc = bias + sum (x - zx) * w, then the epilogue.
struct DwGeom8 {
  int64_t h = 0, w = 0, oh = 0, ow = 0;
  int kh = 3, kw = 3, sh = 1, sw = 1, ph = 0, pw = 0;
};
int64_t depthwiseScratchBytes(const DwGeom8& g);
void depthwisePlane(Int8Isa isa, const int8_t* x, int32_t zx, const int8_t* w, int32_t bias, const DwGeom8& g,
                    const Epilogue& e, int64_t c, void* y, void* scratch);

// ---- elementwise and pooling on int8
// Quantize: q = clamp(round(x / scale)) + zp; dequantize: scale * (q - zp).
void quantize(const float* x, int64_t n, float scale, int32_t zeroPoint, int8_t* y);
void dequantize(const int8_t* x, int64_t n, float scale, int32_t zeroPoint, float* y);
// y = out(act(sa (a - za) + sb (b - zb))) with `out` the i8 tensor `yt` or f32 (yt.dtype).
void addInt8(const int8_t* a, const TensorInfo& at, const int8_t* b, const TensorInfo& bt, int64_t n, Act act,
             const TensorInfo& yt, void* y);
float addOne(int8_t a, const TensorInfo& at, int8_t b, const TensorInfo& bt, Act act, const TensorInfo& yt);
void maxPoolPlane(const int8_t* x, int64_t h, int64_t w, const PlanOp& op, int64_t oh, int64_t ow, int8_t* y);
// Mean of a plane, requantized from xt to yt.
int8_t meanPlane(const int8_t* x, int64_t n, const TensorInfo& xt, const TensorInfo& yt);

// ---- channels-last (the VNNI path's activation layout inside int8 chains, chosen by the
// executor): an i8 tensor [N, C, H, W] is stored per image as [H][W][C] bytes u = q + 128
// (unsigned, zero point z + 128), a rank-2 one as [N][F] bytes u. Exact integer maths as above,
// the same epilogue operations, so the same bits as every other path. x86 only (the VNNI path).
constexpr int kClBlock = 16;  // output channels per weight block
inline int64_t round16(int64_t v) { return (v + 15) / 16 * 16; }
// Weights [M, K] as ceil(M/16) blocks of [K/4][16][4] int8 (zero past M and past K).
std::vector<int8_t> packWeightsCl(const int8_t* w, int64_t m, int64_t k);

// acc[p][c] = bias[c] + sum_k X[p][k] W[c][k] for p < np, c < m: X rows of k bytes (u) ldx apart.
// gemmClRequant (i8 out; identity / relu / relu6 / hswish / hsigmoid, see clFusable): y[p * ldy
// + c] = u8 of epilogueOne(e, c0 + c, acc), computed in registers; scale16 = clScales(e) from c0,
// padded to 16. gemmClAcc: the int32 accumulators to acc[p * ldacc + c].
struct GemmCl {
  const uint8_t* x = nullptr;
  int64_t ldx = 0, np = 0, k = 0, m = 0;
  const int8_t* w = nullptr;     // packWeightsCl
  const int32_t* bias = nullptr;  // round16(m), corrections folded in
  // Quad q of a row at byte qoff[q] from the row's start (k a multiple of 4): a kxk conv over
  // zero-point-padded input rows without im2col. nullptr: the quads are consecutive.
  const int64_t* qoff = nullptr;
};
bool clFusable(const Epilogue& e);
const std::vector<float>& clScales(const Epilogue& e);  // e.mult (clamp acts) or e.deq (hswish, hsigmoid)
void gemmClRequant(const GemmCl& g, const float* scale16, const Epilogue& e, uint8_t* y, int64_t ldy);
void gemmClAcc(const GemmCl& g, int32_t* acc, int64_t ldacc);
// Any epilogue over acc[p][c] (p < np, c < m) of channels c0 + c: i8 out to u8 y[p * ps + c * cs],
// f32 out to float y[p * ps + c * cs].
void epilogueCl(const Epilogue& e, int64_t c0, const int32_t* acc, int64_t ldacc, int64_t np, int64_t m, void* y,
                int64_t ps, int64_t cs);

// im2col of output pixels [p0, p1) of one image: row p - p0 holds, for tap (i, j) and channel c
// of the group, u at ((i * kw + j) * cg + c) (padding: zu), zeros up to ldx (a multiple of 4).
void im2colCl(const uint8_t* x, int64_t channels, int64_t c0, const PackGeom& g, uint8_t zu, int64_t p0, int64_t p1,
              uint8_t* out, int64_t ldx);

// Depthwise over one image, output rows [oh0, oh1): the exact-float kernel (integers x - zx and
// w, products and partial sums below 2^24 for up to 518 taps), 16 channels x 4 pixels per step;
// integer loops beyond 518 taps. y: u8 [OH][OW][C] (i8 out) or float [C][OH * OW] (f32 out).
struct DwCl {
  int64_t c = 0, h = 0, w = 0, oh = 0, ow = 0;
  int kh = 3, kw = 3, sh = 1, sw = 1, ph = 0, pw = 0;
};
int64_t depthwiseClBand(const DwCl& g);         // output rows per task (by shape only)
int64_t depthwiseClScratchBytes(const DwCl& g);  // for one band
std::vector<float> depthwiseClWeights(const int8_t* w, int64_t c, int kh, int kw);  // [kh * kw][round16(c)]
void depthwiseCl(const uint8_t* x, int32_t zu, const int8_t* qw, const float* wf, const int32_t* bias16,
                 const float* scale16, const DwCl& g, const Epilogue& e, int64_t oh0, int64_t oh1, void* y,
                 void* scratch);

// Layout boundaries and the small ops on channels-last u8 data (one image, c channels, hw pixels;
// tmp: c * hw bytes).
void quantizeCl(const float* x, int64_t c, int64_t hw, float scale, int32_t zeroPoint, uint8_t* y, int8_t* tmp);
void dequantizeCl(const uint8_t* x, int64_t c, int64_t hw, float scale, int32_t zeroPoint, float* y, uint8_t* tmp);
// Elementwise add of two u8 tensors of the same layout; y u8 (i8 out) or, f32 out, float [c][hw].
void addCl(const uint8_t* a, const TensorInfo& at, const uint8_t* b, const TensorInfo& bt, int64_t c, int64_t hw,
           Act act, const TensorInfo& yt, void* y);
void maxPoolCl(const uint8_t* x, int64_t c, int64_t h, int64_t w, const PlanOp& op, int64_t oh, int64_t ow,
               uint8_t* y);
void meanCl(const uint8_t* x, int64_t c, int64_t hw, const TensorInfo& xt, const TensorInfo& yt, uint8_t* y);
// [hw][c] -> [c][hw] bytes (flatten of a channels-last image).
void toChannelsFirst(const uint8_t* x, int64_t c, int64_t hw, uint8_t* y);

}  // namespace hwnas::runtime::int8
