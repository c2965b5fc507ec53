// ops::conv2d and ops::linear: shape checks, the fast f32 forward kernel, and a recorded
// backward that computes gradients only for the inputs that require one.
#include <string>

#include "core/error.h"
#include "trainer/kernels/conv.h"
#include "trainer/ops.h"

namespace hwnas::ops {
namespace {

std::string convDesc(const Shape& x, const Shape& w, const Conv2dParams& p) {
  return "conv2d(x " + shapeToString(x) + ", w " + shapeToString(w) + ", stride " + std::to_string(p.strideH) + "x" +
         std::to_string(p.strideW) + ", pad " + std::to_string(p.padH) + "x" + std::to_string(p.padW) + ", dilation " +
         std::to_string(p.dilationH) + "x" + std::to_string(p.dilationW) + ", groups " + std::to_string(p.groups) +
         ")";
}

kernels::ConvGeometry convGeometry(const Variable& x, const Variable& w, const Variable& bias,
                                   const Conv2dParams& p) {
  if (!x.defined() || !w.defined()) throw ShapeError("conv2d: input and weight must be defined");
  const Shape& xs = x.shape();
  const Shape& ws = w.shape();
  auto fail = [&](const std::string& why) {
    throw ShapeError(convDesc(xs, ws, p) + ": " + why);
  };
  if (xs.size() != 4) fail("input must be 4-D [N,Cin,H,W]");
  if (ws.size() != 4) fail("weight must be 4-D [Cout,Cin/groups,KH,KW]");
  if (p.strideH < 1 || p.strideW < 1 || p.dilationH < 1 || p.dilationW < 1 || p.padH < 0 || p.padW < 0)
    fail("stride and dilation must be >= 1 and padding >= 0");
  if (p.groups < 1) fail("groups must be >= 1");
  kernels::ConvGeometry g;
  g.n = xs[0];
  g.cin = xs[1];
  g.h = xs[2];
  g.w = xs[3];
  g.cout = ws[0];
  g.kh = ws[2];
  g.kw = ws[3];
  g.strideH = p.strideH;
  g.strideW = p.strideW;
  g.padH = p.padH;
  g.padW = p.padW;
  g.dilationH = p.dilationH;
  g.dilationW = p.dilationW;
  g.groups = p.groups;
  if (g.n < 1 || g.cin < 1 || g.h < 1 || g.w < 1) fail("input has an empty dimension");
  if (g.cout < 1 || g.kh < 1 || g.kw < 1) fail("weight has an empty dimension");
  if (g.cin % g.groups != 0) fail("input channels " + std::to_string(g.cin) + " not divisible by groups");
  if (g.cout % g.groups != 0) fail("output channels " + std::to_string(g.cout) + " not divisible by groups");
  if (ws[1] != g.cin / g.groups)
    fail("weight dim 1 is " + std::to_string(ws[1]) + " but input channels / groups is " +
         std::to_string(g.cin / g.groups));
  g.oh = kernels::convOutSize(g.h, g.kh, g.strideH, g.padH, g.dilationH);
  g.ow = kernels::convOutSize(g.w, g.kw, g.strideW, g.padW, g.dilationW);
  if (g.oh < 1 || g.ow < 1) fail("kernel (with dilation) is larger than the padded input");
  if (bias.defined() && (bias.shape().size() != 1 || bias.shape()[0] != g.cout))
    fail("bias " + shapeToString(bias.shape()) + " must be [" + std::to_string(g.cout) + "]");
  return g;
}

}  // namespace

Variable conv2d(const Variable& x, const Variable& w, const Variable& bias, const Conv2dParams& p) {
  const kernels::ConvGeometry g = convGeometry(x, w, bias, p);
  Tensor y = Tensor::empty({g.n, g.cout, g.oh, g.ow});
  kernels::convForward(g, x.value().data(), w.value().data(), bias.defined() ? bias.value().data() : nullptr,
                       y.data());
  std::vector<Variable> inputs{x, w};
  if (bias.defined()) inputs.push_back(bias);
  return recordOp("conv2d", std::move(y), std::move(inputs), [x, w, bias, g](const Tensor& gy) {
    Tensor gx, gw, gb;
    if (x.requiresGrad()) gx = Tensor::empty(x.shape());
    if (w.requiresGrad()) gw = Tensor::empty(w.shape());
    if (bias.defined() && bias.requiresGrad()) gb = Tensor::empty(bias.shape());
    if (!gx.defined() && !gw.defined() && !gb.defined()) return;
    kernels::convBackward(g, x.value().data(), w.value().data(), gy.data(), gx.defined() ? gx.data() : nullptr,
                          gw.defined() ? gw.data() : nullptr, gb.defined() ? gb.data() : nullptr);
    if (gx.defined()) accumulateGrad(x, std::move(gx));
    if (gw.defined()) accumulateGrad(w, std::move(gw));
    if (gb.defined()) accumulateGrad(bias, std::move(gb));
  });
}

Variable linear(const Variable& x, const Variable& w, const Variable& bias) {
  if (!x.defined() || !w.defined()) throw ShapeError("linear: input and weight must be defined");
  const Shape& xs = x.shape();
  const Shape& ws = w.shape();
  const std::string desc = "linear(x " + shapeToString(xs) + ", w " + shapeToString(ws) +
                           (bias.defined() ? ", bias " + shapeToString(bias.shape()) : std::string()) + ")";
  if (xs.size() != 2) throw ShapeError(desc + ": input must be 2-D [N,In]");
  if (ws.size() != 2) throw ShapeError(desc + ": weight must be 2-D [Out,In]");
  if (xs[1] != ws[1])
    throw ShapeError(desc + ": input features " + std::to_string(xs[1]) + " != weight in-features " +
                     std::to_string(ws[1]));
  const int64_t n = xs[0], in = xs[1], out = ws[0];
  if (bias.defined() && (bias.shape().size() != 1 || bias.shape()[0] != out))
    throw ShapeError(desc + ": bias must be [" + std::to_string(out) + "]");
  Tensor y = Tensor::empty({n, out});
  kernels::linearForward(n, in, out, x.value().data(), w.value().data(),
                         bias.defined() ? bias.value().data() : nullptr, y.data());
  std::vector<Variable> inputs{x, w};
  if (bias.defined()) inputs.push_back(bias);
  return recordOp("linear", std::move(y), std::move(inputs), [x, w, bias, n, in, out](const Tensor& gy) {
    Tensor gx, gw, gb;
    if (x.requiresGrad()) gx = Tensor::empty(x.shape());
    if (w.requiresGrad()) gw = Tensor::empty(w.shape());
    if (bias.defined() && bias.requiresGrad()) gb = Tensor::empty(bias.shape());
    if (!gx.defined() && !gw.defined() && !gb.defined()) return;
    kernels::linearBackward(n, in, out, x.value().data(), w.value().data(), gy.data(),
                            gx.defined() ? gx.data() : nullptr, gw.defined() ? gw.data() : nullptr,
                            gb.defined() ? gb.data() : nullptr);
    if (gx.defined()) accumulateGrad(x, std::move(gx));
    if (gw.defined()) accumulateGrad(w, std::move(gw));
    if (gb.defined()) accumulateGrad(bias, std::move(gb));
  });
}

}  // namespace hwnas::ops
