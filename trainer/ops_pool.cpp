// Pooling ops: avgPool2d (count_include_pad), maxPool2d, globalAvgPool.
#include <string>

#include "core/error.h"
#include "trainer/kernels/pool.h"
#include "trainer/kernels/pool_ref.h"
#include "trainer/ops.h"

namespace hwnas::ops {

namespace {
std::string paramsToString(const Pool2dParams& p) {
  return "kernel " + std::to_string(p.kernelH) + "x" + std::to_string(p.kernelW) + ", stride " +
         std::to_string(p.strideH) + "x" + std::to_string(p.strideW) + ", pad " + std::to_string(p.padH) + "x" +
         std::to_string(p.padW);
}

// Checks x and p; returns the output shape.
Shape poolOutShape(const char* op, const Variable& x, const Pool2dParams& p) {
  if (!x.defined()) throw ShapeError(std::string(op) + ": undefined input");
  const Shape& s = x.shape();
  if (s.size() != 4) throw ShapeError(std::string(op) + ": expected input [N,C,H,W], got " + shapeToString(s));
  if (p.kernelH < 1 || p.kernelW < 1 || p.strideH < 1 || p.strideW < 1 || p.padH < 0 || p.padW < 0 ||
      2 * p.padH > p.kernelH || 2 * p.padW > p.kernelW)
    throw ShapeError(std::string(op) + ": invalid " + paramsToString(p) +
                     " (kernel and stride >= 1, 0 <= pad <= kernel/2)");
  const int64_t OH = kernels::poolOutSize(s[2], p.kernelH, p.strideH, p.padH);
  const int64_t OW = kernels::poolOutSize(s[3], p.kernelW, p.strideW, p.padW);
  if (s[2] + 2 * p.padH < p.kernelH || s[3] + 2 * p.padW < p.kernelW || OH < 1 || OW < 1)
    throw ShapeError(std::string(op) + ": input " + shapeToString(s) + " is smaller than the window (" +
                     paramsToString(p) + ")");
  return {s[0], s[1], OH, OW};
}
}  // namespace

Variable avgPool2d(const Variable& x, const Pool2dParams& p) {
  Shape ys = poolOutShape("avgPool2d", x, p);
  const Shape xs = x.shape();
  const int64_t P = xs[0] * xs[1], H = xs[2], W = xs[3];
  Tensor y = Tensor::empty(ys);
  kernels::avgPool2dForward(x.value().data(), P, H, W, p, y.data());
  return recordOp("avgPool2d", std::move(y), {x}, [x, xs, p, P, H, W](const Tensor& g) {
    Tensor gx = Tensor::empty(xs);
    kernels::avgPool2dBackward(g.data(), P, H, W, p, gx.data());
    accumulateGrad(x, std::move(gx));
  });
}

Variable maxPool2d(const Variable& x, const Pool2dParams& p) {
  Shape ys = poolOutShape("maxPool2d", x, p);
  const Shape xs = x.shape();
  const int64_t P = xs[0] * xs[1], H = xs[2], W = xs[3];
  Tensor xv = x.value();
  Tensor y = Tensor::empty(ys);
  kernels::maxPool2dForward(xv.data(), P, H, W, p, y.data());
  return recordOp("maxPool2d", std::move(y), {x}, [x, xv, p, P, H, W](const Tensor& g) {
    Tensor gx = Tensor::empty(xv.shape());
    kernels::maxPool2dBackward(xv.data(), g.data(), P, H, W, p, gx.data());
    accumulateGrad(x, std::move(gx));
  });
}

Variable globalAvgPool(const Variable& x) {
  if (!x.defined()) throw ShapeError("globalAvgPool: undefined input");
  const Shape xs = x.shape();
  if (xs.size() != 4 || xs[2] * xs[3] < 1)
    throw ShapeError("globalAvgPool: expected input [N,C,H,W] with H,W >= 1, got " + shapeToString(xs));
  const int64_t P = xs[0] * xs[1], HW = xs[2] * xs[3];
  Tensor y = Tensor::empty({xs[0], xs[1], 1, 1});
  kernels::globalAvgPoolForward(x.value().data(), P, HW, y.data());
  return recordOp("globalAvgPool", std::move(y), {x}, [x, xs, P, HW](const Tensor& g) {
    Tensor gx = Tensor::empty(xs);
    kernels::globalAvgPoolBackward(g.data(), P, HW, gx.data());
    accumulateGrad(x, std::move(gx));
  });
}

}  // namespace hwnas::ops
