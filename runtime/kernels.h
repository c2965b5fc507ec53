// The runtime's fp32 kernels, each for one image (or one plane) so the executor can split work
// into fixed tasks. The instruction set is an argument (chosen by CPU features at run time);
// every path computes each output element with the same code whatever the task split, so
// outputs are bit-identical at any thread count. Naive references live in reference.h.
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/plan.h"

namespace hwnas::runtime::kernels {

enum class Isa : int { Scalar, Avx2, Avx512 };
const char* isaName(Isa isa);     // "scalar", "avx2", "avx512"
bool isaSupported(Isa isa);       // by this CPU (Scalar always)
Isa bestIsa();                    // the widest supported

// y = act(y) in place, the exact formulas of the trainer (activation_ref.h).
void applyAct(float* y, int64_t n, Act act);

// ---- GEMM for 1x1 and im2col convolutions: Y[m, p] = act(bias[m] + sum_k W[m, k] X[k, p]).
constexpr int kGemmRows = 8;  // output channels per register block
// Weights [M, K] packed as ceil(M/8) blocks of [K][8] (rows past M are zero).
std::vector<float> packGemmWeights(const float* w, int64_t m, int64_t k);
// Bias padded to a multiple of 8 (zeros where bias is null or past M).
std::vector<float> padGemmBias(const float* bias, int64_t m);
// One block of 8 rows: packedBlock = packed + block * K * 8, bias8 = padded bias + block * 8,
// rows (<= 8) valid rows written to y (row stride ldy); X is [K, P] with row stride ldx.
void gemmBlock(Isa isa, const float* packedBlock, const float* bias8, int rows, int64_t k, const float* x,
               int64_t ldx, int64_t p, Act act, float* y, int64_t ldy);

// Columns for a convolution of one image and one group: col[(c*kh + i)*kw + j][oh*OW + ow].
struct ConvGeom {
  int64_t channels = 0, h = 0, w = 0;  // input channels of the group, input size
  int kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
  int64_t oh = 0, ow = 0;
};
void im2col(const float* x, int64_t channelStride, const ConvGeom& g, float* col);

// ---- depthwise convolution of one plane (channel), any kernel and stride, dilation 1.
struct DwGeom {
  int64_t h = 0, w = 0, oh = 0, ow = 0;
  int kh = 3, kw = 3, sh = 1, sw = 1, ph = 0, pw = 0;
};
int64_t depthwiseScratchFloats(const DwGeom& g);
void depthwisePlane(Isa isa, const float* x, const float* w, float bias, const DwGeom& g, Act act, float* y,
                    float* scratch);

// ---- small pieces
float dot(const float* a, const float* b, int64_t n);  // fixed summation order
float planeMean(const float* x, int64_t n);
void avgPoolPlane(const float* x, int64_t h, int64_t w, const PlanOp& op, int64_t oh, int64_t ow, float* y);
void maxPoolPlane(const float* x, int64_t h, int64_t w, const PlanOp& op, int64_t oh, int64_t ow, float* y);
void addAct(const float* a, const float* b, int64_t n, Act act, float* y);
void mulScalar(const float* a, float s, int64_t n, float* y);
void mul(const float* a, const float* b, int64_t n, float* y);

}  // namespace hwnas::runtime::kernels
