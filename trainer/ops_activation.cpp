// Pointwise activation ops and the Act name table.
#include <string>

#include "core/error.h"
#include "trainer/kernels/activation.h"
#include "trainer/ops.h"

namespace hwnas::ops {

namespace {
struct ActNameEntry {
  const char* name;
  Act act;
};
// Canonical names first (actName returns them), then accepted aliases.
constexpr ActNameEntry kActNames[] = {
    {"identity", Act::Identity},   {"relu", Act::ReLU},       {"relu6", Act::ReLU6},     {"hardswish", Act::HardSwish},
    {"hardsigmoid", Act::HardSigmoid}, {"silu", Act::SiLU},   {"sigmoid", Act::Sigmoid}, {"none", Act::Identity},
    {"hswish", Act::HardSwish},    {"h_swish", Act::HardSwish}, {"hsigmoid", Act::HardSigmoid},
    {"h_sigmoid", Act::HardSigmoid}, {"swish", Act::SiLU},
};
}  // namespace

const char* actName(Act a) {
  for (const auto& e : kActNames)
    if (e.act == a) return e.name;
  return "unknown";
}

Act actFromName(const std::string& name) {
  for (const auto& e : kActNames)
    if (name == e.name) return e.act;
  throw InputError("unknown activation '" + name +
                   "'; expected one of: identity, relu, relu6, hardswish, hardsigmoid, silu, sigmoid");
}

Variable activation(const Variable& x, Act a) {
  if (!x.defined()) throw ShapeError(std::string("activation(") + actName(a) + "): undefined input");
  if (a == Act::Identity) return recordOp("identity", x.value(), {x}, [x](const Tensor& g) { accumulateGrad(x, g); });
  Tensor xv = x.value();
  Tensor y = Tensor::empty(xv.shape());
  kernels::activationForward(xv.data(), xv.numel(), a, y.data());
  return recordOp(actName(a), std::move(y), {x}, [x, xv, a](const Tensor& g) {
    Tensor gx = Tensor::empty(xv.shape());
    kernels::activationBackward(xv.data(), g.data(), xv.numel(), a, gx.data());
    accumulateGrad(x, std::move(gx));
  });
}

}  // namespace hwnas::ops
