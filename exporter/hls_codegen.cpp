#include "exporter/hls_codegen.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "core/error.h"
#include "core/json_util.h"
#include "exporter/backend_util.h"
#include "exporter/hls_fixed.h"
#include "latency_luts/latency_model.h"
#include "runtime/executor.h"

namespace hwnas {

namespace bd = backend_detail;
namespace rt = runtime;

namespace {

constexpr int kAccBits = 56;  // accumulators of conv / linear / SE layers
constexpr int kSumBits = 48;  // sums of pools and channel means (activation fraction)

struct Format {
  int aw = 16, af = 8;  // activations: fixed<aw, aw - af>
  int wb = 16;          // weight bits
};

// An op's weights quantized: weight / weight2 as fixed<wb, wI>, biases at the accumulator fraction.
struct QuantOp {
  int wI = 0, wF = 0, w2I = 0, w2F = 0;
  int accF = 0, acc2F = 0;
  std::vector<int64_t> w, b, w2, b2;
};

int intBitsFor(const std::vector<float>& v, int bits) {
  double m = 0;
  for (float x : v) m = std::max(m, double(std::fabs(x)));
  const int i = m > 0 ? int(std::floor(std::log2(m))) + 2 : 1;
  return std::min(std::max(i, -8), bits);
}

Format formatOf(const BackendOptions& o) {
  if (o.activationBits < 4 || o.activationBits > 31 || o.activationIntBits < 1 || o.activationIntBits >= o.activationBits)
    throw InputError("fpga backend: activations fixed<" + std::to_string(o.activationBits) + ", " +
                     std::to_string(o.activationIntBits) + ">: need 4 <= bits <= 31 and 1 <= integer bits < bits");
  if (o.weightBits < 4 || o.weightBits > 31)
    throw InputError("fpga backend: weight bits " + std::to_string(o.weightBits) + " outside 4..31");
  return {o.activationBits, o.activationBits - o.activationIntBits, o.weightBits};
}

std::vector<QuantOp> quantizeOps(const rt::Plan& plan, const Format& f) {
  std::vector<QuantOp> out;
  for (const rt::PlanOp& op : plan.ops) {
    QuantOp q;
    auto quant = [](const std::vector<float>& v, int w, int frac) {
      std::vector<int64_t> r(v.size());
      for (size_t i = 0; i < v.size(); ++i) r[i] = hlsfx::quantize(double(v[i]), w, frac);
      return r;
    };
    if (!op.weight.empty()) {
      q.wI = intBitsFor(op.weight, f.wb);
      q.wF = f.wb - q.wI;
      q.accF = f.af + q.wF;
      q.w = quant(op.weight, f.wb, q.wF);
      q.b = quant(op.bias, kAccBits, q.accF);
    }
    if (!op.weight2.empty()) {
      q.w2I = intBitsFor(op.weight2, f.wb);
      q.w2F = f.wb - q.w2I;
      q.acc2F = f.af + q.w2F;
      q.w2 = quant(op.weight2, f.wb, q.w2F);
      q.b2 = quant(op.bias2, kAccBits, q.acc2F);
    }
    out.push_back(std::move(q));
  }
  return out;
}

int64_t perImage(const rt::Plan& p, int32_t t) {
  const auto& s = p.tensors[t].shape;
  return rt::shapeElements(s) / s[0];
}

// ---- the reference: the generated code's arithmetic on raw integers, one image at a time
std::vector<int64_t> referenceImage(const rt::Plan& plan, const std::vector<QuantOp>& q, const Format& f,
                                    const std::vector<int64_t>& input) {
  std::vector<std::vector<int64_t>> t(plan.tensors.size());
  t[plan.inputs[0]] = input;
  const int aw = f.aw, af = f.af;
  auto toData = [&](int64_t acc, int accF) { return hlsfx::requantize(acc, accF, aw, af); };
  for (size_t oi = 0; oi < plan.ops.size(); ++oi) {
    const rt::PlanOp& op = plan.ops[oi];
    const QuantOp& qo = q[oi];
    const auto& is = plan.tensors[op.inputs[0]].shape;
    const auto& os = plan.tensors[op.output].shape;
    const std::vector<int64_t>& x = t[op.inputs[0]];
    std::vector<int64_t> y(size_t(perImage(plan, op.output)), 0);
    const int a = int(op.act);
    switch (op.type) {
      case rt::OpType::Conv2d:
      case rt::OpType::DepthwiseConv2d: {
        const int64_t C = is[1], H = is[2], W = is[3], M = os[1], OH = os[2], OW = os[3];
        const int64_t G = op.type == rt::OpType::DepthwiseConv2d ? C : op.groups, CG = C / G, MG = M / G;
        for (int64_t o = 0; o < M; ++o)
          for (int64_t oh = 0; oh < OH; ++oh)
            for (int64_t ow = 0; ow < OW; ++ow) {
              int64_t s = qo.b.empty() ? 0 : qo.b[o];
              const int64_t g = o / MG;
              for (int64_t ci = 0; ci < CG; ++ci)
                for (int i = 0; i < op.kernelH; ++i)
                  for (int j = 0; j < op.kernelW; ++j) {
                    const int64_t ih = oh * op.strideH - op.padH + i * op.dilationH;
                    const int64_t iw = ow * op.strideW - op.padW + j * op.dilationW;
                    if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                    const int64_t p = qo.w[((o * CG + ci) * op.kernelH + i) * op.kernelW + j] *
                                      x[((g * CG + ci) * H + ih) * W + iw];
                    s = hlsfx::saturate(s + p, kAccBits);
                  }
              y[(o * OH + oh) * OW + ow] = hlsfx::act(toData(s, qo.accF), a, aw, af);
            }
        break;
      }
      case rt::OpType::Linear: {
        const int64_t F = int64_t(x.size()), M = op.outChannels;
        for (int64_t o = 0; o < M; ++o) {
          int64_t s = qo.b.empty() ? 0 : qo.b[o];
          for (int64_t k = 0; k < F; ++k) s = hlsfx::saturate(s + qo.w[o * F + k] * x[k], kAccBits);
          y[o] = hlsfx::act(toData(s, qo.accF), a, aw, af);
        }
        break;
      }
      case rt::OpType::Add: {
        const auto& x1 = t[op.inputs[1]];
        for (size_t i = 0; i < y.size(); ++i) y[i] = hlsfx::act(hlsfx::saturate(x[i] + x1[i], aw), a, aw, af);
        break;
      }
      case rt::OpType::Mul: {
        const auto& x1 = t[op.inputs[1]];
        const int64_t hw = op.broadcastChannels ? os[2] * os[3] : 1;
        for (size_t i = 0; i < y.size(); ++i) y[i] = hlsfx::requantize(x[i] * x1[i / hw], 2 * af, aw, af);
        break;
      }
      case rt::OpType::AvgPool:
      case rt::OpType::MaxPool: {
        const bool mx = op.type == rt::OpType::MaxPool;
        const int64_t H = is[2], W = is[3], OH = os[2], OW = os[3];
        for (int64_t c = 0; c < os[1]; ++c)
          for (int64_t oh = 0; oh < OH; ++oh)
            for (int64_t ow = 0; ow < OW; ++ow) {
              int64_t s = mx ? hlsfx::minRaw(aw) : 0;
              for (int i = 0; i < op.kernelH; ++i)
                for (int j = 0; j < op.kernelW; ++j) {
                  const int64_t ih = oh * op.strideH - op.padH + i, iw = ow * op.strideW - op.padW + j;
                  if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                  const int64_t v = x[(c * H + ih) * W + iw];
                  s = mx ? std::max(s, v) : hlsfx::saturate(s + v, kSumBits);
                }
              y[(c * OH + oh) * OW + ow] =
                  mx ? s : hlsfx::saturate(hlsfx::roundDiv(s, int64_t(op.kernelH) * op.kernelW), aw);
            }
        break;
      }
      case rt::OpType::GlobalAvgPool:
      case rt::OpType::SqueezeExcite: {
        const int64_t C = is[1], HW = is[2] * is[3];
        std::vector<int64_t> mean(static_cast<size_t>(C));
        for (int64_t c = 0; c < C; ++c) {
          int64_t s = 0;
          for (int64_t i = 0; i < HW; ++i) s = hlsfx::saturate(s + x[c * HW + i], kSumBits);
          mean[c] = hlsfx::saturate(hlsfx::roundDiv(s, HW), aw);
        }
        if (op.type == rt::OpType::GlobalAvgPool) {
          y = mean;
          break;
        }
        const int64_t R = op.outChannels;
        std::vector<int64_t> h(static_cast<size_t>(R));
        for (int64_t j = 0; j < R; ++j) {
          int64_t s = qo.b.empty() ? 0 : qo.b[j];
          for (int64_t c = 0; c < C; ++c) s = hlsfx::saturate(s + qo.w[j * C + c] * mean[c], kAccBits);
          h[j] = hlsfx::act(toData(s, qo.accF), a, aw, af);
        }
        for (int64_t c = 0; c < C; ++c) {
          int64_t s = qo.b2.empty() ? 0 : qo.b2[c];
          for (int64_t j = 0; j < R; ++j) s = hlsfx::saturate(s + qo.w2[c * R + j] * h[j], kAccBits);
          const int64_t gate = hlsfx::act(toData(s, qo.acc2F), int(op.gate), aw, af);
          for (int64_t i = 0; i < HW; ++i) y[c * HW + i] = hlsfx::requantize(x[c * HW + i] * gate, 2 * af, aw, af);
        }
        break;
      }
      case rt::OpType::Concat: {
        size_t at = 0;
        for (int32_t id : op.inputs) {
          std::copy(t[id].begin(), t[id].end(), y.begin() + at);
          at += t[id].size();
        }
        break;
      }
      case rt::OpType::Flatten: y = x; break;
      case rt::OpType::Activation:
        for (size_t i = 0; i < y.size(); ++i) y[i] = hlsfx::act(x[i], a, aw, af);
        break;
      case rt::OpType::Quantize:
      case rt::OpType::Dequantize:  // requireFloatPlan refuses int8 plans first
      case rt::OpType::Count: throw Error("fpga backend: op '" + op.name + "' has no fixed-point kernel");
    }
    t[op.output] = std::move(y);
  }
  return t[plan.outputs[0]];
}

HlsReference referenceRun(const rt::Plan& plan, const std::vector<QuantOp>& q, const Format& f,
                          const std::vector<float>& input, int64_t batch) {
  const int64_t in = perImage(plan, plan.inputs[0]);
  if (batch < 1 || int64_t(input.size()) != batch * in)
    throw InputError("fpga reference: input has " + std::to_string(input.size()) + " floats, expected batch " +
                     std::to_string(batch) + " x " + std::to_string(in));
  HlsReference r;
  r.frac = f.af;
  for (int64_t n = 0; n < batch; ++n) {
    std::vector<int64_t> x(static_cast<size_t>(in));
    for (int64_t i = 0; i < in; ++i) x[i] = hlsfx::quantize(double(input[n * in + i]), f.aw, f.af);
    for (int64_t v : referenceImage(plan, q, f, x)) {
      r.raw.push_back(v);
      r.values.push_back(float(hlsfx::toDouble(v, f.af)));
    }
  }
  return r;
}

// ---- code generation
std::string rawList(const std::vector<int64_t>& v, const std::string& macro) {
  std::ostringstream o;
  for (size_t i = 0; i < v.size(); ++i) {
    o << (i % 12 == 0 ? "\n    " : " ") << macro << "(" << v[i] << ")" << (i + 1 < v.size() ? "," : "");
  }
  return o.str();
}

std::string emitLayer(const rt::Plan& plan, size_t i, const QuantOp& q, const Format& f) {
  const rt::PlanOp& op = plan.ops[i];
  const std::string L = "op" + std::to_string(i);
  const auto& is = plan.tensors[op.inputs[0]].shape;
  const auto& os = plan.tensors[op.output].shape;
  std::ostringstream o;
  o << "// op " << i << " '" << op.name << "': " << op.key << "\n";
  auto types = [&](const std::string& suffix, int wI, int accF) {
    o << "typedef fixed<" << f.wb << ", " << wI << "> " << L << suffix << "w_t;\n"
      << "typedef fixed<" << kAccBits << ", " << kAccBits - accF << "> " << L << suffix << "acc_t;  // = fraction of "
      << L << suffix << "w_t x data_t\n";
  };
  auto weights = [&](const std::string& suffix, const std::vector<int64_t>& w, const std::vector<int64_t>& b, int factor) {
    o << "static const " << L << suffix << "w_t " << L << suffix << "w[" << w.size() << "] = {"
      << rawList(w, L + suffix + "w_t::fromRaw") << "};\n";
    if (!b.empty())
      o << "static const " << L << suffix << "acc_t " << L << suffix << "b[" << b.size() << "] = {"
        << rawList(b, L + suffix + "acc_t::fromRaw") << "};\n";
    (void)factor;
  };
  std::string sig = "static void " + L + "(";
  for (size_t j = 0; j < op.inputs.size(); ++j)
    sig += "const data_t x" + std::to_string(j) + "[" + std::to_string(perImage(plan, op.inputs[j])) + "], ";
  sig += "data_t y[" + std::to_string(perImage(plan, op.output)) + "])";
  const int a = int(op.act);
  switch (op.type) {
    case rt::OpType::Conv2d:
    case rt::OpType::DepthwiseConv2d: {
      const int64_t C = is[1], H = is[2], W = is[3], M = os[1], OH = os[2], OW = os[3];
      const int64_t G = op.type == rt::OpType::DepthwiseConv2d ? C : op.groups, CG = C / G, MG = M / G;
      const int taps = op.kernelH * op.kernelW;
      types("_", q.wI, q.accF);
      weights("_", q.w, q.b, taps);
      o << sig << " {\n#pragma HLS INLINE off\n"
        << "#pragma HLS ARRAY_PARTITION variable=" << L << "_w cyclic factor=" << taps * std::min<int64_t>(CG, 4)
        << " dim=1\n"
        << "#pragma HLS ARRAY_PARTITION variable=x0 cyclic factor=" << op.kernelW << " dim=1\n"
        << "out_c: for (int o = 0; o < " << M << "; ++o)\n"
        << "  out_h: for (int oh = 0; oh < " << OH << "; ++oh)\n"
        << "    out_w: for (int ow = 0; ow < " << OW << "; ++ow) {\n"
        << "#pragma HLS PIPELINE II=1\n"
        << "      const int g = o / " << MG << ";\n"
        << "      " << L << "_acc_t s = " << (q.b.empty() ? L + "_acc_t()" : L + "_b[o]") << ";\n"
        << "      in_c: for (int ci = 0; ci < " << CG << "; ++ci)\n"
        << "        tap_h: for (int i = 0; i < " << op.kernelH << "; ++i)\n"
        << "          tap_w: for (int j = 0; j < " << op.kernelW << "; ++j) {\n"
        << "            const int ih = oh * " << op.strideH << " - " << op.padH << " + i * " << op.dilationH << ";\n"
        << "            const int iw = ow * " << op.strideW << " - " << op.padW << " + j * " << op.dilationW << ";\n"
        << "            if (ih < 0 || ih >= " << H << " || iw < 0 || iw >= " << W << ") continue;\n"
        << "            s += " << L << "_acc_t(" << L << "_w[((o * " << CG << " + ci) * " << op.kernelH << " + i) * "
        << op.kernelW << " + j] * x0[((g * " << CG << " + ci) * " << H << " + ih) * " << W << " + iw]);\n"
        << "          }\n"
        << "      y[(o * " << OH << " + oh) * " << OW << " + ow] = fixed_act<" << a << ">(data_t(s));\n"
        << "    }\n}\n\n";
      break;
    }
    case rt::OpType::Linear: {
      const int64_t F = perImage(plan, op.inputs[0]), M = op.outChannels;
      types("_", q.wI, q.accF);
      weights("_", q.w, q.b, 8);
      o << sig << " {\n#pragma HLS INLINE off\n"
        << "#pragma HLS ARRAY_PARTITION variable=" << L << "_w cyclic factor=8 dim=1\n"
        << "out_f: for (int o = 0; o < " << M << "; ++o) {\n"
        << "    " << L << "_acc_t s = " << (q.b.empty() ? L + "_acc_t()" : L + "_b[o]") << ";\n"
        << "  in_f: for (int k = 0; k < " << F << "; ++k) {\n#pragma HLS PIPELINE II=1\n"
        << "      s += " << L << "_acc_t(" << L << "_w[o * " << F << " + k] * x0[k]);\n"
        << "    }\n"
        << "    y[o] = fixed_act<" << a << ">(data_t(s));\n  }\n}\n\n";
      break;
    }
    case rt::OpType::Add:
    case rt::OpType::Mul:
    case rt::OpType::Flatten:
    case rt::OpType::Activation: {
      const int64_t N = perImage(plan, op.output);
      std::string expr;
      if (op.type == rt::OpType::Add) expr = "fixed_act<" + std::to_string(a) + ">(x0[i] + x1[i])";
      if (op.type == rt::OpType::Mul)
        expr = op.broadcastChannels ? "data_t(x0[i] * x1[i / " + std::to_string(os[2] * os[3]) + "])"
                                    : "data_t(x0[i] * x1[i])";
      if (op.type == rt::OpType::Flatten) expr = "x0[i]";
      if (op.type == rt::OpType::Activation) expr = "fixed_act<" + std::to_string(a) + ">(x0[i])";
      o << sig << " {\n#pragma HLS INLINE off\n"
        << "elem: for (int i = 0; i < " << N << "; ++i) {\n#pragma HLS PIPELINE II=1\n"
        << "    y[i] = " << expr << ";\n  }\n}\n\n";
      break;
    }
    case rt::OpType::AvgPool:
    case rt::OpType::MaxPool: {
      const bool mx = op.type == rt::OpType::MaxPool;
      const int64_t H = is[2], W = is[3], OH = os[2], OW = os[3];
      o << sig << " {\n#pragma HLS INLINE off\n"
        << "chan: for (int c = 0; c < " << os[1] << "; ++c)\n"
        << "  out_h: for (int oh = 0; oh < " << OH << "; ++oh)\n"
        << "    out_w: for (int ow = 0; ow < " << OW << "; ++ow) {\n#pragma HLS PIPELINE II=1\n"
        << (mx ? "      data_t s = data_t::fromRaw(hlsfx::minRaw(data_t::kWidth));\n" : "      sum_t s = sum_t();\n")
        << "      win_h: for (int i = 0; i < " << op.kernelH << "; ++i)\n"
        << "        win_w: for (int j = 0; j < " << op.kernelW << "; ++j) {\n"
        << "          const int ih = oh * " << op.strideH << " - " << op.padH << " + i, iw = ow * " << op.strideW
        << " - " << op.padW << " + j;\n"
        << "          if (ih < 0 || ih >= " << H << " || iw < 0 || iw >= " << W << ") continue;\n"
        << "          const data_t v = x0[(c * " << H << " + ih) * " << W << " + iw];\n"
        << (mx ? "          if (v > s) s = v;\n" : "          s += sum_t(v);\n") << "        }\n"
        << "      y[(c * " << OH << " + oh) * " << OW << " + ow] = "
        << (mx ? "s" : "data_t(fixed_div(s, " + std::to_string(op.kernelH * op.kernelW) + "))") << ";\n"
        << "    }\n}\n\n";
      break;
    }
    case rt::OpType::GlobalAvgPool: {
      const int64_t C = is[1], HW = is[2] * is[3];
      o << sig << " {\n#pragma HLS INLINE off\n"
        << "chan: for (int c = 0; c < " << C << "; ++c) {\n    sum_t s = sum_t();\n"
        << "  pix: for (int i = 0; i < " << HW << "; ++i) {\n#pragma HLS PIPELINE II=1\n"
        << "      s += sum_t(x0[c * " << HW << " + i]);\n    }\n"
        << "    y[c] = data_t(fixed_div(s, " << HW << "));\n  }\n}\n\n";
      break;
    }
    case rt::OpType::SqueezeExcite: {
      const int64_t C = is[1], HW = is[2] * is[3], R = op.outChannels;
      types("_r", q.wI, q.accF);
      weights("_r", q.w, q.b, 4);
      types("_e", q.w2I, q.acc2F);
      weights("_e", q.w2, q.b2, 4);
      o << sig << " {\n#pragma HLS INLINE off\n"
        << "  data_t mean[" << C << "], hidden[" << R << "], gate[" << C << "];\n"
        << "#pragma HLS ARRAY_PARTITION variable=mean cyclic factor=4 dim=1\n"
        << "#pragma HLS ARRAY_PARTITION variable=" << L << "_rw cyclic factor=4 dim=1\n"
        << "#pragma HLS ARRAY_PARTITION variable=" << L << "_ew cyclic factor=4 dim=1\n"
        << "squeeze: for (int c = 0; c < " << C << "; ++c) {\n    sum_t s = sum_t();\n"
        << "  pix: for (int i = 0; i < " << HW << "; ++i) {\n#pragma HLS PIPELINE II=1\n"
        << "      s += sum_t(x0[c * " << HW << " + i]);\n    }\n"
        << "    mean[c] = data_t(fixed_div(s, " << HW << "));\n  }\n"
        << "reduce: for (int j = 0; j < " << R << "; ++j) {\n"
        << "    " << L << "_racc_t s = " << (q.b.empty() ? L + "_racc_t()" : L + "_rb[j]") << ";\n"
        << "  reduce_c: for (int c = 0; c < " << C << "; ++c) {\n#pragma HLS PIPELINE II=1\n"
        << "      s += " << L << "_racc_t(" << L << "_rw[j * " << C << " + c] * mean[c]);\n    }\n"
        << "    hidden[j] = fixed_act<" << a << ">(data_t(s));\n  }\n"
        << "expand: for (int c = 0; c < " << C << "; ++c) {\n"
        << "    " << L << "_eacc_t s = " << (q.b2.empty() ? L + "_eacc_t()" : L + "_eb[c]") << ";\n"
        << "  expand_r: for (int j = 0; j < " << R << "; ++j) {\n#pragma HLS PIPELINE II=1\n"
        << "      s += " << L << "_eacc_t(" << L << "_ew[c * " << R << " + j] * hidden[j]);\n    }\n"
        << "    gate[c] = fixed_act<" << int(op.gate) << ">(data_t(s));\n  }\n"
        << "scale: for (int i = 0; i < " << C * HW << "; ++i) {\n#pragma HLS PIPELINE II=1\n"
        << "    y[i] = data_t(x0[i] * gate[i / " << HW << "]);\n  }\n}\n\n";
      break;
    }
    case rt::OpType::Concat: {
      o << sig << " {\n#pragma HLS INLINE off\n";
      int64_t at = 0;
      for (size_t j = 0; j < op.inputs.size(); ++j) {
        const int64_t n = perImage(plan, op.inputs[j]);
        o << "part" << j << ": for (int i = 0; i < " << n << "; ++i) {\n#pragma HLS PIPELINE II=1\n"
          << "    y[" << at << " + i] = x" << j << "[i];\n  }\n";
        at += n;
      }
      o << "}\n\n";
      break;
    }
    case rt::OpType::Quantize:
    case rt::OpType::Dequantize:
    case rt::OpType::Count: throw Error("fpga backend: op '" + op.name + "' has no fixed-point kernel");
  }
  return o.str();
}

std::string hlsHeader(const ExportModel& m, const rt::Plan& plan, const Format& f) {
  std::ostringstream o;
  o << "// Generated by hwnas (target fpga) for model '" << m.name << "': HLS C++ top function.\n"
    << "#pragma once\n#include \"hls_fixed.h\"\n\n"
    << "typedef fixed<" << f.aw << ", " << f.aw - f.af << "> data_t;  // activations\n"
    << "typedef fixed<" << kSumBits << ", " << kSumBits - f.af << "> sum_t;   // pool / mean sums\n\n"
    << "constexpr int kInputSize = " << perImage(plan, plan.inputs[0]) << ";   // " 
    << rt::shapeText(plan.tensors[plan.inputs[0]].shape) << " per image\n"
    << "constexpr int kOutputSize = " << perImage(plan, plan.outputs[0]) << ";  // "
    << rt::shapeText(plan.tensors[plan.outputs[0]].shape) << "\n\n"
    << "// One image: in (NCHW) -> out.\n"
    << "void model_top(const data_t in[kInputSize], data_t out[kOutputSize]);\n";
  return o.str();
}

std::string hlsSource(const ExportModel& m, const rt::Plan& plan, const std::vector<QuantOp>& q, const Format& f) {
  std::ostringstream o;
  o << "// Generated by hwnas (target fpga) for model '" << m.name << "': one function per fused plan op (BN\n"
    << "// folded, activations fused), fixed-point weights as constant arrays. C simulation: g++ -std=c++17\n"
    << "// model_hls.cpp tb.cpp (HLS pragmas are ignored by g++).\n"
    << "#include \"model_hls.h\"\n\n";
  for (size_t i = 0; i < plan.ops.size(); ++i) o << emitLayer(plan, i, q[i], f);
  o << "void model_top(const data_t in[kInputSize], data_t out[kOutputSize]) {\n#pragma HLS DATAFLOW\n";
  auto name = [&](int32_t t) {
    if (t == plan.inputs[0]) return std::string("in");
    if (t == plan.outputs[0]) return std::string("out");
    return "t" + std::to_string(t);
  };
  for (size_t t = 0; t < plan.tensors.size(); ++t)
    if (int32_t(t) != plan.inputs[0] && int32_t(t) != plan.outputs[0])
      o << "  static data_t t" << t << "[" << perImage(plan, int32_t(t)) << "];\n";
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    o << "  op" << i << "(";
    for (int32_t id : plan.ops[i].inputs) o << name(id) << ", ";
    o << name(plan.ops[i].output) << ");\n";
  }
  o << "}\n";
  return o.str();
}

std::string testbench(const ExportModel& m) {
  std::ostringstream o;
  o << "// C-simulation testbench for model '" << m.name << "' (generated by hwnas, target fpga).\n"
    << "// usage: tb [--input in.f32 --batch N] [--expected tb_expected.txt]\n"
    << "// Without flags: runs tb_input.f32 and checks the outputs against tb_expected.txt (the exporter's\n"
    << "// fixed-point reference, raw values, bit-exact) and prints the largest difference from the fp32\n"
    << "// runtime; exit 0 when every raw value matches, 1 otherwise. With --input it prints\n"
    << "// '<raw> <value>' per output.\n"
    << "#include <cmath>\n#include <cstdio>\n#include <cstdlib>\n#include <cstring>\n#include <fstream>\n"
    << "#include <string>\n#include <vector>\n\n#include \"model_hls.h\"\n\n"
    << "int main(int argc, char** argv) {\n"
    << "  std::string inputPath = \"tb_input.f32\", expectedPath = \"tb_expected.txt\";\n"
    << "  long batch = -1;\n  bool check = true;\n"
    << "  for (int i = 1; i + 1 < argc; i += 2) {\n"
    << "    if (!std::strcmp(argv[i], \"--input\")) { inputPath = argv[i + 1]; check = false; }\n"
    << "    else if (!std::strcmp(argv[i], \"--batch\")) batch = std::atol(argv[i + 1]);\n"
    << "    else if (!std::strcmp(argv[i], \"--expected\")) { expectedPath = argv[i + 1]; check = true; }\n"
    << "    else { std::fprintf(stderr, \"tb: unknown flag %s\\n\", argv[i]); return 2; }\n"
    << "  }\n"
    << "  std::vector<long long> expRaw;\n  std::vector<double> expFp32;\n"
    << "  if (check) {\n"
    << "    std::ifstream e(expectedPath);\n    long long r;\n    double v;\n"
    << "    if (!(e >> batch)) { std::fprintf(stderr, \"tb: cannot read %s\\n\", expectedPath.c_str()); return 2; }\n"
    << "    while (e >> r >> v) { expRaw.push_back(r); expFp32.push_back(v); }\n"
    << "  }\n"
    << "  if (batch < 1) batch = 1;\n"
    << "  std::vector<float> x(size_t(batch) * kInputSize);\n"
    << "  std::ifstream f(inputPath, std::ios::binary);\n"
    << "  if (!f.read(reinterpret_cast<char*>(x.data()), std::streamsize(x.size() * sizeof(float)))) {\n"
    << "    std::fprintf(stderr, \"tb: %s: cannot read %zu floats\\n\", inputPath.c_str(), x.size());\n    return 2;\n  }\n"
    << "  static data_t in[kInputSize], out[kOutputSize];\n"
    << "  long mismatches = 0;\n  double worst = 0;\n"
    << "  if (check && expRaw.size() != size_t(batch) * kOutputSize) {\n"
    << "    std::fprintf(stderr, \"tb: %s has %zu values, expected %ld\\n\", expectedPath.c_str(), expRaw.size(), batch * long(kOutputSize));\n"
    << "    return 2;\n  }\n"
    << "  for (long n = 0; n < batch; ++n) {\n"
    << "    for (int i = 0; i < kInputSize; ++i) in[i] = data_t(double(x[size_t(n) * kInputSize + i]));\n"
    << "    model_top(in, out);\n"
    << "    for (int i = 0; i < kOutputSize; ++i) {\n"
    << "      const size_t k = size_t(n) * kOutputSize + i;\n"
    << "      if (!check) { std::printf(\"%lld %.9g\\n\", (long long)out[i].raw(), out[i].toDouble()); continue; }\n"
    << "      if (out[i].raw() != expRaw[k]) ++mismatches;\n"
    << "      worst = std::fmax(worst, std::fabs(out[i].toDouble() - expFp32[k]));\n"
    << "    }\n  }\n"
    << "  if (check) {\n"
    << "    std::printf(\"tb: %ld of %zu outputs differ from the fixed-point reference; max |fixed - fp32| = %.6g\\n\",\n"
    << "                mismatches, expRaw.size(), worst);\n"
    << "    return mismatches ? 1 : 0;\n  }\n  return 0;\n}\n";
  return o.str();
}

std::string tclScript(const ExportModel& m) {
  std::ostringstream o;
  o << "# Vitis HLS script for model '" << m.name << "' (generated by hwnas; not run by hwnas).\n"
    << "# vitis_hls -f run_hls.tcl\n"
    << "open_project " << bd::identifier(m.name) << "_hls\nset_top model_top\n"
    << "add_files model_hls.cpp -cflags \"-std=c++14\"\n"
    << "add_files -tb tb.cpp\nadd_files -tb tb_input.f32\nadd_files -tb tb_expected.txt\n"
    << "open_solution solution1\nset_part xc7z045ffg900-2\ncreate_clock -period 5\n"
    << "csim_design\ncsynth_design\nexit\n";
  return o.str();
}

double noteNumber(const std::string& note, const std::string& key) {
  const size_t at = note.find(key + "=");
  if (at == std::string::npos) return 0;
  return std::atof(note.c_str() + at + key.size() + 1);
}

}  // namespace

HlsReference hlsReference(const ExportModel& model, const std::vector<float>& input, int64_t batch,
                          const BackendOptions& options) {
  const Format f = formatOf(options);
  const rt::Plan plan = bd::lowerForBackend(model, "fpga", options);
  bd::requireFloatPlan(plan, "fpga");
  return referenceRun(plan, quantizeOps(plan, f), f, input, batch);
}

BackendResult HlsBackend::write(const ExportModel& model, const std::string& outDir,
                                const BackendOptions& options) const {
  const Format f = formatOf(options);
  const rt::Plan plan = bd::lowerForBackend(model, "fpga", options);
  bd::requireFloatPlan(plan, "fpga");
  const std::string src = backendSourceDir(options);
  const std::vector<QuantOp> q = quantizeOps(plan, f);

  // The testbench's input (a fixed pattern, 2 images), the reference's raw outputs and the fp32 runtime's.
  const int64_t tbBatch = 2, in = perImage(plan, plan.inputs[0]);
  std::vector<float> x(static_cast<size_t>(tbBatch * in));
  for (size_t i = 0; i < x.size(); ++i) x[i] = float((i * 37) % 101) / 50.0f - 1.0f;
  const HlsReference ref = referenceRun(plan, q, f, x, tbBatch);
  rt::ExecutorOptions eo;
  eo.batch = tbBatch;
  rt::Executor exec(plan, eo);
  const std::vector<float> fp32 = exec.run(x);
  double worst = 0, scale = 0;
  std::ostringstream expected;
  expected << tbBatch << "\n";
  char buf[64];
  for (size_t i = 0; i < fp32.size(); ++i) {
    worst = std::max(worst, std::fabs(double(ref.values[i]) - fp32[i]));
    scale = std::max(scale, std::fabs(double(fp32[i])));
    std::snprintf(buf, sizeof buf, "%.9g", double(fp32[i]));
    expected << ref.raw[i] << " " << buf << "\n";
  }

  // Resources and latency from the analytic FPGA model (latency_luts), per fused op.
  FpgaLatencyModel fpgaModel(options.fpgaDevice);
  const LatencyPrediction pred = fpgaModel.predict(model.graph);
  const FpgaParams& fp = fpgaModel.params();
  int64_t weightValues = 0;
  for (const QuantOp& qo : q) weightValues += int64_t(qo.w.size() + qo.w2.size());
  const int64_t weightBits = weightValues * f.wb;
  Json layers = Json::array();
  std::ostringstream md;
  md << "# " << model.name << ": FPGA report (generated by hwnas)\n\n"
     << "Estimates of latency_luts' analytic FPGA model (`" << options.fpgaDevice << "`: " << fp.peRows << "x"
     << fp.peCols << " PE array at " << fp.clockMhz << " MHz, " << fp.bandwidthGBs
     << " GB/s, budgets " << fp.dspBudget << " DSP / " << fp.bram36Budget << " BRAM36 / " << fp.lutBudget
     << " LUT). They describe that accelerator model running these layers, not a synthesis of model_hls.cpp.\n\n"
     << "Fixed point: activations fixed<" << f.aw << ", " << f.aw - f.af << ">, weights " << f.wb
     << " bits per layer-chosen integer bits; " << weightValues << " weight values (" << (weightBits + 7) / 8
     << " bytes, " << (weightBits + 36863) / 36864 << " BRAM36 if all are on chip).\n"
     << "C simulation vs fp32 runtime on the testbench input (2 images): max |error| " << worst
     << " (largest |output| " << scale << ").\n\n"
     << "| # | op | key | cycles | bound | DSP | BRAM36 | LUT | ms |\n|---|---|---|---|---|---|---|---|---|\n";
  const int dsp = fp.peRows * fp.peCols * fp.dspPerPe, luts = fp.peRows * fp.peCols * fp.lutPerPe;
  double totalCycles = 0;
  int64_t maxBram = 0;
  for (size_t i = 0; i < pred.ops.size() && i < plan.ops.size(); ++i) {
    const OpLatency& ol = pred.ops[i];
    const double cycles = noteNumber(ol.note, "cycles");
    const int64_t bram = int64_t(noteNumber(ol.note, "bram36"));
    const std::string bound = ol.note.find("memory-bound") != std::string::npos ? "memory" : "compute";
    totalCycles += cycles;
    maxBram = std::max(maxBram, bram);
    Json l;
    l["index"] = int(i);
    l["name"] = plan.ops[i].name;
    l["key"] = ol.key;
    l["cycles"] = cycles;
    l["bound"] = bound;
    l["dsp"] = dsp;
    l["bram36"] = bram;
    l["lut"] = luts;
    l["ms"] = ol.ms;
    if (!q[i].w.empty()) l["weight_format"] = "fixed<" + std::to_string(f.wb) + ", " + std::to_string(q[i].wI) + ">";
    layers.push_back(l);
    md << "| " << i << " | " << plan.ops[i].name << " | `" << ol.key << "` | " << cycles << " | " << bound << " | "
       << dsp << " | " << bram << " | " << luts << " | " << ol.ms << " |\n";
  }
  md << "\nTotal: " << totalCycles << " cycles, " << pred.latencyMs << " ms at " << fp.clockMhz
     << " MHz; the layers share one PE array: " << dsp << " DSP, " << luts << " LUT, up to " << maxBram
     << " BRAM36 of buffers per layer.\n";
  Json report;
  report["format"] = "hwnas-fpga-report";
  report["version"] = 1;
  report["model"] = model.name;
  report["device"] = options.fpgaDevice;
  report["method"] = pred.method;
  report["clock_mhz"] = fp.clockMhz;
  report["total_cycles"] = totalCycles;
  report["latency_ms"] = pred.latencyMs;
  report["dsp"] = dsp;
  report["lut"] = luts;
  report["bram36_max_layer"] = maxBram;
  report["budgets"] = {{"dsp", fp.dspBudget}, {"bram36", fp.bram36Budget}, {"lut", fp.lutBudget}};
  report["activation_format"] = "fixed<" + std::to_string(f.aw) + ", " + std::to_string(f.aw - f.af) + ">";
  report["weight_values"] = weightValues;
  report["weight_bytes"] = (weightBits + 7) / 8;
  report["csim_vs_fp32_max_abs_error"] = worst;
  report["fp32_max_abs_output"] = scale;
  report["layers"] = layers;

  bd::StagedOutput out(outDir, options.replace);
  out.write("model_hls.h", hlsHeader(model, plan, f));
  out.write("model_hls.cpp", hlsSource(model, plan, q, f));
  out.write("tb.cpp", testbench(model));
  out.write("tb_input.f32", bd::floatBytes(x));
  out.write("tb_expected.txt", expected.str());
  out.copyFrom(src + "/exporter/hls_fixed.h", "hls_fixed.h");
  out.write("run_hls.tcl", tclScript(model));
  out.write("report.json", report.dump(2) + "\n");
  out.write("report.md", md.str());
  std::ostringstream readme;
  readme << "# " << model.name << ": HLS C++ (generated by hwnas)\n\n"
         << "One function per fused op of the lowered plan (" << plan.ops.size() << " ops), `model_top` with\n"
         << "`#pragma HLS DATAFLOW`, fixed-point types from `hls_fixed.h`.\n\n"
         << "```sh\ng++ -O2 -std=c++17 model_hls.cpp tb.cpp -o tb && ./tb   # C simulation, checks tb_expected.txt\n"
         << "vitis_hls -f run_hls.tcl                                  # synthesis (not run by hwnas)\n```\n\n"
         << "`report.md` / `report.json`: per-layer cycles, DSP/BRAM/LUT and latency from the analytic FPGA model.\n";
  out.write("README.md", readme.str());
  char note[160];
  std::snprintf(note, sizeof note, "fpga: %zu layers; fixed-point vs fp32 max |error| %.3g on the testbench input; %.4g ms (analytic)",
                plan.ops.size(), worst, pred.latencyMs);
  return out.commit({note});
}

}  // namespace hwnas
