// Fast f32 kernels for conv2d and linear: 1x1 and k x k convs as (batched) im2col + Eigen GEMM,
// depthwise (groups == cin == cout) as a direct vectorised path. Results are bit-identical at
// any thread count: TBB work is split by shape only and batch reductions are summed in a fixed order.
#pragma once
#include <cstdint>

#include "trainer/kernels/conv_ref.h"

namespace hwnas::kernels {

enum class ConvAlgo { Gemm, Depthwise };
// Which fast path a geometry takes (a pure function of the geometry).
ConvAlgo chooseConvAlgo(const ConvGeometry& g);

// y [n,cout,oh,ow] (overwritten) from x [n,cin,h,w], w [cout,cin/groups,kh,kw], bias [cout] or null.
void convForward(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y);

// Gradients of sum(gy * y). Each of gx [n,cin,h,w], gw (weight layout), gb [cout] may be null
// and is then skipped; the others are overwritten. x is needed only for gw, w only for gx.
void convBackward(const ConvGeometry& g, const float* x, const float* w, const float* gy, float* gx, float* gw,
                  float* gb);

// Linear: x [n,in], w [out,in] (PyTorch layout), bias [out] or null; y [n,out] overwritten.
void linearForward(int64_t n, int64_t in, int64_t out, const float* x, const float* w, const float* bias, float* y);
// gx [n,in], gw [out,in], gb [out]; each may be null; the others are overwritten.
void linearBackward(int64_t n, int64_t in, int64_t out, const float* x, const float* w, const float* gy, float* gx,
                    float* gw, float* gb);

}  // namespace hwnas::kernels
