// Helpers for the runtime tests: one-op plans with seeded random weights, and comparisons
// of the fast executor against the naive reference (runtime/reference.h).
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/rng.h"
#include "runtime/executor.h"
#include "runtime/reference.h"

namespace hwnas::rttest {

inline std::vector<float> randomVector(size_t n, Rng& rng, double lo = -1, double hi = 1) {
  std::vector<float> v(n);
  for (auto& x : v) x = float(rng.uniform(lo, hi));
  return v;
}

// Fills the op's weights with the sizes its attributes imply for these input shapes.
inline void fillWeights(runtime::PlanOp& op, const std::vector<std::vector<int64_t>>& in, Rng& rng, bool bias = true) {
  using runtime::OpType;
  const auto& x = in[0];
  if (op.type == OpType::Conv2d || op.type == OpType::DepthwiseConv2d) {
    const int64_t g = op.type == OpType::DepthwiseConv2d ? x[1] : op.groups;
    op.weight = randomVector(size_t(op.outChannels * (x[1] / g) * op.kernelH * op.kernelW), rng, -0.5, 0.5);
    if (bias) op.bias = randomVector(size_t(op.outChannels), rng);
  } else if (op.type == OpType::Linear) {
    op.weight = randomVector(size_t(op.outChannels * (runtime::shapeElements(x) / x[0])), rng, -0.5, 0.5);
    if (bias) op.bias = randomVector(size_t(op.outChannels), rng);
  } else if (op.type == OpType::SqueezeExcite) {
    op.weight = randomVector(size_t(op.outChannels * x[1]), rng, -0.5, 0.5);
    op.bias = randomVector(size_t(op.outChannels), rng);
    op.weight2 = randomVector(size_t(op.outChannels * x[1]), rng, -0.5, 0.5);
    op.bias2 = randomVector(size_t(x[1]), rng);
  }
}

// A plan with one op reading fresh input tensors of the given shapes.
inline runtime::Plan singleOpPlan(runtime::PlanOp op, const std::vector<std::vector<int64_t>>& inShapes, Rng& rng,
                                  bool bias = true) {
  runtime::Plan p;
  op.inputs.clear();
  for (const auto& s : inShapes) {
    p.tensors.push_back({s});
    p.inputs.push_back(int32_t(p.tensors.size() - 1));
    op.inputs.push_back(int32_t(p.tensors.size() - 1));
  }
  if (op.weight.empty()) fillWeights(op, inShapes, rng, bias);
  p.tensors.push_back({runtime::Plan::inferShape(op, inShapes)});
  op.output = int32_t(p.tensors.size() - 1);
  if (op.name.empty()) op.name = runtime::opTypeName(op.type);
  p.ops.push_back(op);
  p.outputs = {op.output};
  return p;
}

// Inputs in [-8, 8]: wide enough that every activation's clamps (relu6 at 6, hswish at +-3) are hit.
inline std::vector<std::vector<float>> randomInputs(const runtime::Plan& p, Rng& rng, int64_t batch = 0) {
  std::vector<std::vector<float>> in;
  for (int32_t id : p.inputs)
    in.push_back(randomVector(size_t(runtime::shapeElements(runtime::withBatch(p.tensors[id].shape, batch ? batch : p.batch()))), rng, -8, 8));
  return in;
}

inline std::vector<std::vector<float>> runFast(const runtime::Plan& p, const std::vector<std::vector<float>>& in,
                                               const runtime::ExecutorOptions& o) {
  runtime::Executor ex(p, o);
  std::vector<std::vector<float>> out;
  std::vector<const float*> ins;
  std::vector<float*> outs;
  for (const auto& v : in) ins.push_back(v.data());
  for (size_t i = 0; i < p.outputs.size(); ++i) out.emplace_back(size_t(runtime::shapeElements(ex.outputShape(i))));
  for (auto& v : out) outs.push_back(v.data());
  ex.run(ins, outs);
  return out;
}

// max |a - b| / max(1, |b|)
inline double maxRelError(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    const double d = std::fabs(double(a[i]) - b[i]) / std::max(1.0, std::fabs(double(b[i])));
    if (!(d <= worst)) worst = std::isnan(d) ? INFINITY : d;
  }
  return worst;
}

inline std::vector<runtime::kernels::Isa> supportedIsas() {
  std::vector<runtime::kernels::Isa> out;
  for (auto isa : {runtime::kernels::Isa::Scalar, runtime::kernels::Isa::Avx2, runtime::kernels::Isa::Avx512})
    if (runtime::kernels::isaSupported(isa)) out.push_back(isa);
  return out;
}

}  // namespace hwnas::rttest
