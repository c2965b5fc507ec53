#include "runtime/reference.h"

#include <algorithm>
#include <cmath>

#include "runtime/kernels_int8.h"

namespace hwnas::runtime {

double referenceAct(double x, Act act) {
  switch (act) {
    case Act::Identity: return x;
    case Act::Relu: return x > 0 ? x : 0;
    case Act::Relu6: return std::min(std::max(x, 0.0), 6.0);
    case Act::HSwish: return x * std::min(std::max(x + 3, 0.0), 6.0) / 6;
    case Act::HSigmoid: return std::min(std::max(x + 3, 0.0), 6.0) / 6;
    case Act::Silu: return x / (1 + std::exp(-x));
    case Act::Sigmoid:
    case Act::Count: break;
  }
  return 1 / (1 + std::exp(-x));
}

namespace {

// The plainest direct convolution (grouped, strided, dilated, zero padding), shared by the fp32
// and int8 references: each output element is start(o) plus term(input index, weight index) over
// its in-bounds taps, accumulated in Acc and handed to finish(output index, o, sum).
template <class Acc, class Start, class Term, class Finish>
void directConv(const PlanOp& op, const std::vector<int64_t>& is, const std::vector<int64_t>& os, Start start,
                Term term, Finish finish) {
  const int64_t g = op.type == OpType::DepthwiseConv2d ? is[1] : op.groups;
  const int64_t cg = is[1] / g, mg = os[1] / g;
  for (int64_t n = 0; n < os[0]; ++n)
    for (int64_t o = 0; o < os[1]; ++o) {
      const int64_t gi = o / mg;
      for (int64_t oh = 0; oh < os[2]; ++oh)
        for (int64_t ow = 0; ow < os[3]; ++ow) {
          Acc s = start(o);
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int i = 0; i < op.kernelH; ++i)
              for (int j = 0; j < op.kernelW; ++j) {
                const int64_t ih = oh * op.strideH - op.padH + int64_t(i) * op.dilationH;
                const int64_t iw = ow * op.strideW - op.padW + int64_t(j) * op.dilationW;
                if (ih < 0 || ih >= is[2] || iw < 0 || iw >= is[3]) continue;
                s += term(((n * is[1] + gi * cg + ci) * is[2] + ih) * is[3] + iw,
                          ((o * cg + ci) * op.kernelH + i) * op.kernelW + j);
              }
          finish(((n * os[1] + o) * os[2] + oh) * os[3] + ow, o, s);
        }
    }
}

void refConv(const PlanOp& op, const std::vector<int64_t>& is, const std::vector<int64_t>& os, const float* x,
             float* y) {
  directConv<double>(
      op, is, os, [&](int64_t o) { return op.bias.empty() ? 0.0 : double(op.bias[o]); },
      [&](int64_t xi, int64_t wi) { return double(x[xi]) * op.weight[wi]; },
      [&](int64_t yi, int64_t, double s) { y[yi] = float(referenceAct(s, op.act)); });
}

// int8 ops on integer-valued float buffers: accumulators in int64 from the plainest loops,
// then the quantized maths as plan.h defines it (int8::epilogueOne and friends).
void refInt8(const Plan& plan, const PlanOp& op, const std::vector<int64_t>& is, const std::vector<int64_t>& os,
             const std::vector<std::vector<float>>& t, float* y) {
  const TensorInfo& xt = plan.tensors[op.inputs[0]];
  const TensorInfo& yt = plan.tensors[op.output];
  const float* x = t[op.inputs[0]].data();
  const int64_t total = shapeElements(os);
  auto acc32 = [&](int64_t acc) {
    if (acc < INT32_MIN || acc > INT32_MAX) throw RuntimeError("reference: int32 accumulator overflow in '" + op.name + "'");
    return int32_t(acc);
  };
  switch (op.type) {
    case OpType::Conv2d:
    case OpType::DepthwiseConv2d: {
      const int8::Epilogue e = int8::makeEpilogue(xt.scale, op.weightScales, yt, op.act);
      directConv<int64_t>(
          op, is, os, [&](int64_t o) { return op.qbias.empty() ? int64_t(0) : int64_t(op.qbias[o]); },
          [&](int64_t xi, int64_t wi) { return (int64_t(x[xi]) - xt.zeroPoint) * op.qweight[wi]; },
          [&](int64_t yi, int64_t o, int64_t s) { y[yi] = int8::epilogueOne(e, o, acc32(s)); });
      return;
    }
    case OpType::Linear: {
      const int8::Epilogue e = int8::makeEpilogue(xt.scale, op.weightScales, yt, op.act);
      const int64_t f = shapeElements(is) / is[0];
      for (int64_t n = 0; n < os[0]; ++n)
        for (int64_t o = 0; o < os[1]; ++o) {
          int64_t s = op.qbias.empty() ? 0 : op.qbias[o];
          for (int64_t k = 0; k < f; ++k) s += (int64_t(x[n * f + k]) - xt.zeroPoint) * op.qweight[o * f + k];
          y[n * os[1] + o] = int8::epilogueOne(e, o, acc32(s));
        }
      return;
    }
    case OpType::Quantize:
      for (int64_t i = 0; i < total; ++i) {
        int8_t q;
        int8::quantize(x + i, 1, yt.scale, yt.zeroPoint, &q);
        y[i] = q;
      }
      return;
    case OpType::Dequantize:
      for (int64_t i = 0; i < total; ++i) y[i] = xt.scale * float(int32_t(x[i]) - xt.zeroPoint);
      return;
    case OpType::Add: {
      const float* b = t[op.inputs[1]].data();
      const TensorInfo& bt = plan.tensors[op.inputs[1]];
      for (int64_t i = 0; i < total; ++i) y[i] = int8::addOne(int8_t(x[i]), xt, int8_t(b[i]), bt, op.act, yt);
      return;
    }
    case OpType::GlobalAvgPool: {
      const int64_t hw = is[2] * is[3];
      std::vector<int8_t> plane(static_cast<size_t>(hw));
      for (int64_t q = 0; q < is[0] * is[1]; ++q) {
        for (int64_t i = 0; i < hw; ++i) plane[i] = int8_t(x[q * hw + i]);
        y[q] = int8::meanPlane(plane.data(), hw, xt, yt);
      }
      return;
    }
    default: break;
  }
  throw RuntimeError("reference: op '" + op.name + "' (" + opTypeName(op.type) + ") has no int8 reference");
}

}  // namespace

std::vector<std::vector<float>> referenceRun(const Plan& plan, const std::vector<std::vector<float>>& inputs,
                                             int64_t batch) {
  plan.validate("reference");
  if (batch <= 0) batch = plan.batch();
  if (inputs.size() != plan.inputs.size()) throw RuntimeError("reference: wrong number of inputs");
  std::vector<std::vector<float>> t(plan.tensors.size());
  auto shape = [&](int32_t id) { return withBatch(plan.tensors[id].shape, batch); };
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (int64_t(inputs[i].size()) != shapeElements(shape(plan.inputs[i])))
      throw RuntimeError("reference: input " + std::to_string(i) + " has the wrong size");
    t[plan.inputs[i]] = inputs[i];
  }
  for (const PlanOp& op : plan.ops) {
    const auto is = shape(op.inputs[0]), os = shape(op.output);
    const float* x = t[op.inputs[0]].data();
    std::vector<float>& out = t[op.output];
    out.assign(size_t(shapeElements(os)), 0.f);
    float* y = out.data();
    const int64_t total = shapeElements(os);
    if (isInt8Op(plan, op) && op.type != OpType::MaxPool && op.type != OpType::Flatten) {  // those two are exact as is
      refInt8(plan, op, is, os, t, y);
      continue;
    }
    switch (op.type) {
      case OpType::Conv2d:
      case OpType::DepthwiseConv2d: refConv(op, is, os, x, y); break;
      case OpType::Linear: {
        const int64_t f = shapeElements(is) / is[0];
        for (int64_t n = 0; n < os[0]; ++n)
          for (int64_t o = 0; o < os[1]; ++o) {
            double s = op.bias.empty() ? 0.0 : op.bias[o];
            for (int64_t k = 0; k < f; ++k) s += double(op.weight[o * f + k]) * x[n * f + k];
            y[n * os[1] + o] = float(referenceAct(s, op.act));
          }
        break;
      }
      case OpType::Add: {
        const float* b = t[op.inputs[1]].data();
        for (int64_t i = 0; i < total; ++i) y[i] = float(referenceAct(double(x[i]) + b[i], op.act));
        break;
      }
      case OpType::Mul: {
        const float* b = t[op.inputs[1]].data();
        const int64_t hw = op.broadcastChannels ? os[2] * os[3] : 1;
        for (int64_t i = 0; i < total; ++i) y[i] = x[i] * b[i / hw];
        break;
      }
      case OpType::AvgPool:
      case OpType::MaxPool:
        for (int64_t q = 0; q < os[0] * os[1]; ++q)
          for (int64_t oh = 0; oh < os[2]; ++oh)
            for (int64_t ow = 0; ow < os[3]; ++ow) {
              double s = 0, best = -INFINITY;
              for (int i = 0; i < op.kernelH; ++i)
                for (int j = 0; j < op.kernelW; ++j) {
                  const int64_t ih = oh * op.strideH - op.padH + i, iw = ow * op.strideW - op.padW + j;
                  if (ih < 0 || ih >= is[2] || iw < 0 || iw >= is[3]) continue;
                  const double v = x[(q * is[2] + ih) * is[3] + iw];
                  s += v;
                  best = std::max(best, v);
                }
              y[(q * os[2] + oh) * os[3] + ow] =
                  float(op.type == OpType::MaxPool ? best : s / (op.kernelH * op.kernelW));
            }
        break;
      case OpType::GlobalAvgPool:
      case OpType::SqueezeExcite: {
        const int64_t c = is[1], hw = is[2] * is[3];
        std::vector<double> mean(size_t(is[0] * c));
        for (int64_t q = 0; q < is[0] * c; ++q) {
          double s = 0;
          for (int64_t i = 0; i < hw; ++i) s += x[q * hw + i];
          mean[q] = s / hw;
        }
        if (op.type == OpType::GlobalAvgPool) {
          for (int64_t q = 0; q < is[0] * c; ++q) y[q] = float(mean[q]);
          break;
        }
        const int64_t r = op.outChannels;
        for (int64_t n = 0; n < is[0]; ++n) {
          std::vector<double> h(static_cast<size_t>(r));
          for (int64_t j = 0; j < r; ++j) {
            double s = op.bias.empty() ? 0.0 : op.bias[j];
            for (int64_t ch = 0; ch < c; ++ch) s += op.weight[j * c + ch] * mean[n * c + ch];
            h[j] = referenceAct(s, op.act);
          }
          for (int64_t ch = 0; ch < c; ++ch) {
            double s = op.bias2.empty() ? 0.0 : op.bias2[ch];
            for (int64_t j = 0; j < r; ++j) s += op.weight2[ch * r + j] * h[j];
            const double gate = referenceAct(s, op.gate);
            for (int64_t i = 0; i < hw; ++i) y[(n * c + ch) * hw + i] = float(x[(n * c + ch) * hw + i] * gate);
          }
        }
        break;
      }
      case OpType::Concat: {
        const int64_t inner = total / (os[0] * os[1]);
        for (int64_t n = 0; n < os[0]; ++n) {
          int64_t c0 = 0;
          for (int32_t id : op.inputs) {
            const int64_t cj = plan.tensors[id].shape[1];
            std::copy(t[id].begin() + n * cj * inner, t[id].begin() + (n + 1) * cj * inner,
                      out.begin() + (n * os[1] + c0) * inner);
            c0 += cj;
          }
        }
        break;
      }
      case OpType::Flatten: std::copy(x, x + total, y); break;
      case OpType::Activation:
        for (int64_t i = 0; i < total; ++i) y[i] = float(referenceAct(x[i], op.act));
        break;
      case OpType::Quantize:
      case OpType::Dequantize:
      case OpType::Count: throw RuntimeError("reference: unknown op type");
    }
  }
  std::vector<std::vector<float>> outs;
  for (int32_t id : plan.outputs) outs.push_back(t[id]);
  return outs;
}

}  // namespace hwnas::runtime
