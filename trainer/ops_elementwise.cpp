// Elementwise and shape ops: add, mul (with squeeze-excite broadcast), concat, flatten, dropout.
#include <string>
#include <vector>

#include "core/error.h"
#include "trainer/kernels/elementwise.h"
#include "trainer/ops.h"

namespace hwnas::ops {

Variable add(const Variable& a, const Variable& b) {
  if (!a.defined() || !b.defined()) throw ShapeError("add: undefined input");
  if (a.shape() != b.shape())
    throw ShapeError("add: shapes " + shapeToString(a.shape()) + " and " + shapeToString(b.shape()) + " differ");
  Tensor y = Tensor::empty(a.shape());
  kernels::addForward(a.value().data(), b.value().data(), y.numel(), y.data());
  return recordOp("add", std::move(y), {a, b}, [a, b](const Tensor& g) {
    accumulateGrad(a, g);
    accumulateGrad(b, g);
  });
}

namespace {
// True when s is [N,C,1,1] for big = [N,C,H,W].
bool isRowScale(const Shape& big, const Shape& s) {
  return big.size() == 4 && s.size() == 4 && s[0] == big[0] && s[1] == big[1] && s[2] == 1 && s[3] == 1;
}

Variable mulRows(const Variable& a, const Variable& s) {
  const Shape& as = a.shape();
  const int64_t P = as[0] * as[1], HW = as[2] * as[3];
  Tensor av = a.value(), sv = s.value();
  Tensor y = Tensor::empty(as);
  kernels::mulRowsForward(av.data(), sv.data(), P, HW, y.data());
  return recordOp("mul", std::move(y), {a, s}, [a, s, av, sv, P, HW](const Tensor& g) {
    Tensor ga = a.requiresGrad() ? Tensor::empty(av.shape()) : Tensor();
    Tensor gs = s.requiresGrad() ? Tensor::empty(sv.shape()) : Tensor();
    kernels::mulRowsBackward(av.data(), sv.data(), g.data(), P, HW, ga.defined() ? ga.data() : nullptr,
                             gs.defined() ? gs.data() : nullptr);
    if (ga.defined()) accumulateGrad(a, std::move(ga));
    if (gs.defined()) accumulateGrad(s, std::move(gs));
  });
}
}  // namespace

Variable mul(const Variable& a, const Variable& b) {
  if (!a.defined() || !b.defined()) throw ShapeError("mul: undefined input");
  if (a.shape() != b.shape()) {
    if (isRowScale(a.shape(), b.shape())) return mulRows(a, b);
    if (isRowScale(b.shape(), a.shape())) return mulRows(b, a);
    throw ShapeError("mul: shapes " + shapeToString(a.shape()) + " and " + shapeToString(b.shape()) +
                     " must be equal, or one [N,C,1,1] for the other [N,C,H,W]");
  }
  Tensor av = a.value(), bv = b.value();
  Tensor y = Tensor::empty(a.shape());
  kernels::mulForward(av.data(), bv.data(), y.numel(), y.data());
  return recordOp("mul", std::move(y), {a, b}, [a, b, av, bv](const Tensor& g) {
    Tensor ga = a.requiresGrad() ? Tensor::empty(av.shape()) : Tensor();
    Tensor gb = b.requiresGrad() ? Tensor::empty(bv.shape()) : Tensor();
    kernels::mulBackward(av.data(), bv.data(), g.data(), av.numel(), ga.defined() ? ga.data() : nullptr,
                         gb.defined() ? gb.data() : nullptr);
    if (ga.defined()) accumulateGrad(a, std::move(ga));
    if (gb.defined()) accumulateGrad(b, std::move(gb));
  });
}

Variable concat(const std::vector<Variable>& xs) {
  if (xs.empty()) throw ShapeError("concat: no inputs");
  for (const auto& x : xs)
    if (!x.defined()) throw ShapeError("concat: undefined input");
  const Shape& s0 = xs[0].shape();
  if (s0.size() < 2) throw ShapeError("concat: inputs need at least 2 dimensions, got " + shapeToString(s0));
  std::vector<int64_t> cs;
  std::vector<const float*> ptrs;
  int64_t total = 0;
  for (const auto& x : xs) {
    const Shape& s = x.shape();
    bool ok = s.size() == s0.size();
    for (size_t d = 0; ok && d < s.size(); ++d) ok = d == 1 || s[d] == s0[d];
    if (!ok)
      throw ShapeError("concat: shape " + shapeToString(s) + " does not match " + shapeToString(s0) +
                       " outside dim 1");
    cs.push_back(s[1]);
    ptrs.push_back(x.value().data());
    total += s[1];
  }
  const int64_t N = s0[0];
  int64_t inner = 1;
  for (size_t d = 2; d < s0.size(); ++d) inner *= s0[d];
  Shape ys = s0;
  ys[1] = total;
  Tensor y = Tensor::empty(ys);
  kernels::concatForward(ptrs, cs, N, inner, y.data());
  return recordOp("concat", std::move(y), xs, [xs, cs, N, inner, total](const Tensor& g) {
    int64_t off = 0;
    for (size_t k = 0; k < xs.size(); ++k) {
      if (xs[k].requiresGrad()) {
        Tensor gx = Tensor::empty(xs[k].shape());
        kernels::concatBackward(g.data(), N, total, off, cs[k], inner, gx.data());
        accumulateGrad(xs[k], std::move(gx));
      }
      off += cs[k];
    }
  });
}

Variable flatten(const Variable& x) {
  if (!x.defined()) throw ShapeError("flatten: undefined input");
  const Shape& s = x.shape();
  if (s.empty()) throw ShapeError("flatten: needs at least one dimension (the batch), got " + shapeToString(s));
  const int64_t N = s[0];
  const int64_t rest = N > 0 ? x.value().numel() / N : shapeNumel(Shape(s.begin() + 1, s.end()));
  Shape xs = s;
  return recordOp("flatten", x.value().view({N, rest}), {x},
                  [x, xs](const Tensor& g) { accumulateGrad(x, g.view(xs)); });
}

Variable dropout(const Variable& x, float p, bool training, Rng& rng) {
  if (!x.defined()) throw ShapeError("dropout: undefined input");
  if (!(p >= 0.f && p <= 1.f)) throw InputError("dropout: probability " + std::to_string(p) + " is not in [0, 1]");
  if (!training || p == 0.f) return x;
  const Shape& s = x.shape();
  if (s.empty()) throw ShapeError("dropout: needs a batch dimension, got " + shapeToString(s));
  const int64_t N = s[0];
  const int64_t per = N > 0 ? x.value().numel() / N : 0;
  const uint64_t seed = rng.next();  // one draw per call: repeated calls get new masks
  Tensor mask = Tensor::empty(s);
  kernels::dropoutMask(N, per, p, seed, mask.data());
  Tensor y = Tensor::empty(s);
  kernels::mulForward(x.value().data(), mask.data(), y.numel(), y.data());
  return recordOp("dropout", std::move(y), {x}, [x, mask](const Tensor& g) {
    Tensor gx = Tensor::empty(mask.shape());
    kernels::mulForward(g.data(), mask.data(), gx.numel(), gx.data());
    accumulateGrad(x, std::move(gx));
  });
}

}  // namespace hwnas::ops
