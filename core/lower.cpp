#include "core/lower.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "runtime/memory_planner.h"

namespace hwnas {

void foldBatchNormInto(std::vector<float>& weight, std::vector<float>& bias, const std::vector<float>& gamma,
                       const std::vector<float>& beta, const std::vector<float>& mean, const std::vector<float>& var,
                       double eps, int64_t channels) {
  const int64_t per = int64_t(weight.size()) / channels;
  if (bias.empty()) bias.assign(size_t(channels), 0.f);
  for (int64_t c = 0; c < channels; ++c) {
    const double s = double(gamma[size_t(c)]) / std::sqrt(double(var[size_t(c)]) + eps);
    for (int64_t i = 0; i < per; ++i) weight[size_t(c * per + i)] = float(weight[size_t(c * per + i)] * s);
    bias[size_t(c)] = float(double(beta[size_t(c)]) + (double(bias[size_t(c)]) - double(mean[size_t(c)])) * s);
  }
}

namespace rt = runtime;

static_assert(int(ActKind::Count) == int(rt::Act::Count), "core ActKind and runtime Act must list the same kinds");

namespace {

rt::Act toRuntimeAct(ActKind a) { return rt::Act(int(a)); }

std::string pair(int a, int b) { return a == b ? std::to_string(a) : std::to_string(a) + "x" + std::to_string(b); }

// The canonical key of a plan op, from the op and the plan's tensor shapes.
std::string opKeyOf(const rt::Plan& plan, const rt::PlanOp& op) {
  if (op.type == rt::OpType::Quantize || op.type == rt::OpType::Dequantize)
    return std::string(rt::opTypeName(op.type)) + ":in=" + rt::shapeText(plan.tensors[op.inputs[0]].shape) + ":i8";
  const std::vector<int64_t>& in = plan.tensors[op.inputs[0]].shape;
  const std::string act = std::string(":act=") + rt::actName(op.act);
  std::string k = rt::opTypeName(op.type);
  auto window = [&](bool conv) {
    std::string s = ":k=" + pair(op.kernelH, op.kernelW) + ":s=" + pair(op.strideH, op.strideW);
    const int sameH = op.dilationH * (op.kernelH - 1) / 2, sameW = op.dilationW * (op.kernelW - 1) / 2;
    if (!conv || op.padH != sameH || op.padW != sameW) s += ":p=" + pair(op.padH, op.padW);
    if (op.dilationH != 1 || op.dilationW != 1) s += ":d=" + pair(op.dilationH, op.dilationW);
    return s;
  };
  switch (op.type) {
    case rt::OpType::Conv2d:
      k += ":in=" + rt::shapeText(in) + ":out=" + std::to_string(op.outChannels) + window(true) +
           ":g=" + std::to_string(op.groups) + act;
      break;
    case rt::OpType::DepthwiseConv2d: k += ":in=" + rt::shapeText(in) + window(true) + act; break;
    case rt::OpType::Linear:
      k += ":in=" + std::to_string(in[0]) + "x" + std::to_string(rt::shapeElements(in) / in[0]) +
           ":out=" + std::to_string(op.outChannels) + act;
      break;
    case rt::OpType::Add:
    case rt::OpType::Activation: k += ":in=" + rt::shapeText(in) + act; break;
    case rt::OpType::Mul: k += ":in=" + rt::shapeText(in) + (op.broadcastChannels ? ":bcast=channel" : ""); break;
    case rt::OpType::AvgPool:
    case rt::OpType::MaxPool: k += ":in=" + rt::shapeText(in) + window(false); break;
    case rt::OpType::SqueezeExcite:
      k += ":in=" + rt::shapeText(in) + ":r=" + std::to_string(op.outChannels) + act + ":gate=" + rt::actName(op.gate);
      break;
    case rt::OpType::Concat: {
      k += ":in=";
      for (size_t i = 0; i < op.inputs.size(); ++i) k += (i ? "," : "") + rt::shapeText(plan.tensors[op.inputs[i]].shape);
      break;
    }
    default: k += ":in=" + rt::shapeText(in); break;
  }
  return k + (rt::isInt8Op(plan, op) ? ":i8" : ":f32");
}

bool sameIgnoringTrailingOnes(Shape a, Shape b) {
  while (a.size() > 1 && a.back() == 1) a.pop_back();
  while (b.size() > 1 && b.back() == 1) b.pop_back();
  return a == b;
}

class Lowerer {
 public:
  Lowerer(const Graph& g, const WeightMap* weights) : g_(g), w_(weights) {}

  // The graph node each emitted op starts from (conv / linear / ...), in op order.
  const std::vector<std::string>& opSources() const { return sources_; }

  rt::Plan run() {
    const size_t n = g_.size();
    tensorOf_.assign(n, -1);
    done_.assign(n, false);
    consumers_.resize(n);
    for (const Node& node : g_.nodes())
      for (int i : node.inputs) consumers_[i].push_back(node.id);
    for (int id : g_.inputIds()) {
      tensorOf_[id] = newTensor(g_.node(id).shape);
      plan_.inputs.push_back(tensorOf_[id]);
      done_[id] = true;
    }
    for (const Node& node : g_.nodes())
      if (!done_[node.id]) lowerNode(node);
    for (int id : g_.outputIds()) plan_.outputs.push_back(tensorOf_[id]);
    for (auto& op : plan_.ops) op.key = opKeyOf(plan_, op);
    return std::move(plan_);
  }

 private:
  int32_t newTensor(const Shape& s) {
    plan_.tensors.push_back({s});
    return int32_t(plan_.tensors.size() - 1);
  }

  int32_t in(const Node& node, size_t i) const {
    const int32_t t = tensorOf_[node.inputs.at(i)];
    if (t < 0) throw Error("lower: node '" + node.name + "' reads a tensor that was not lowered");
    return t;
  }

  // The single consumer of `id` when it has exactly one and it is of `kind`; else -1.
  int soleConsumer(int id, OpKind kind) const {
    if (consumers_[id].size() != 1) return -1;
    const int c = consumers_[id][0];
    return g_.node(c).kind == kind ? c : -1;
  }

  // The weight `node.suffix`, checked against `shape`; nullptr in structure-only mode.
  const std::vector<float>* weight(const Node& node, const std::string& suffix, const Shape& shape) const {
    if (!w_) return nullptr;
    const std::string key = node.name + suffix;
    auto it = w_->find(key);
    if (it == w_->end())
      throw InputError("lower: weight '" + key + "' for " + opKindName(node.kind) + " node '" + node.name +
                       "' is missing from the weights; check that they belong to this graph");
    if (!sameIgnoringTrailingOnes(it->second.shape, shape) || int64_t(it->second.values.size()) != numel(shape))
      throw InputError("lower: weight '" + key + "' has shape " + shapeToString(it->second.shape) + " (" +
                       std::to_string(it->second.values.size()) + " values), node '" + node.name + "' needs " +
                       shapeToString(shape));
    return &it->second.values;
  }

  void emit(rt::PlanOp op, int lastNode) {
    sources_.push_back(current_);
    op.output = newTensor(g_.node(lastNode).shape);
    tensorOf_[lastNode] = op.output;
    plan_.ops.push_back(std::move(op));
  }

  // Folds a following BN (per output channel of a [out, per] weight) and fuses a following act.
  int absorbBnAct(rt::PlanOp& op, int last, int64_t channels) {
    const int bn = soleConsumer(last, OpKind::BatchNorm);
    if (bn >= 0) {
      const Node& b = g_.node(bn);
      const Shape cs = {channels};
      const auto* gamma = weight(b, ".weight", cs);
      const auto* beta = weight(b, ".bias", cs);
      const auto* mean = weight(b, ".running_mean", cs);
      const auto* var = weight(b, ".running_var", cs);
      if (gamma) foldBatchNormInto(op.weight, op.bias, *gamma, *beta, *mean, *var, b.attrs.eps, channels);
      op.name += "+" + b.name;
      done_[bn] = true;
      last = bn;
    }
    return absorbAct(op, last);
  }

  int absorbAct(rt::PlanOp& op, int last) {
    const int a = soleConsumer(last, OpKind::Act);
    if (a >= 0) {
      op.act = toRuntimeAct(g_.node(a).attrs.act);
      op.name += "+" + g_.node(a).name;
      done_[a] = true;
      last = a;
    }
    return last;
  }

  static void setWindow(rt::PlanOp& op, const OpAttrs& a) {
    op.kernelH = a.kernelH;
    op.kernelW = a.kernelW;
    op.strideH = a.strideH;
    op.strideW = a.strideW;
    op.padH = a.padH;
    op.padW = a.padW;
    op.dilationH = a.dilationH;
    op.dilationW = a.dilationW;
  }

  void lowerNode(const Node& node) {
    current_ = node.name;
    const OpAttrs& a = node.attrs;
    rt::PlanOp op;
    op.name = node.name;
    switch (node.kind) {
      case OpKind::Conv2d: {
        const Shape& x = g_.node(node.inputs[0]).shape;
        const int64_t cin = x[1];
        const bool depthwise = a.groups == cin && a.outChannels == cin && a.dilationH == 1 && a.dilationW == 1;
        op.type = depthwise ? rt::OpType::DepthwiseConv2d : rt::OpType::Conv2d;
        setWindow(op, a);
        op.groups = int32_t(a.groups);
        op.outChannels = int32_t(a.outChannels);
        op.inputs = {in(node, 0)};
        const Shape ws = {a.outChannels, cin / a.groups, a.kernelH, a.kernelW};
        if (const auto* w = weight(node, ".weight", ws)) op.weight = *w;
        if (a.bias)
          if (const auto* b = weight(node, ".bias", {a.outChannels})) op.bias = *b;
        const int last = absorbBnAct(op, node.id, a.outChannels);
        emit(std::move(op), last);
        return;
      }
      case OpKind::Linear: {
        const Shape& x = g_.node(node.inputs[0]).shape;
        op.type = rt::OpType::Linear;
        op.outChannels = int32_t(a.outChannels);
        op.inputs = {in(node, 0)};
        if (const auto* w = weight(node, ".weight", {a.outChannels, x[1]})) op.weight = *w;
        if (a.bias)
          if (const auto* b = weight(node, ".bias", {a.outChannels})) op.bias = *b;
        const int last = absorbBnAct(op, node.id, a.outChannels);
        emit(std::move(op), last);
        return;
      }
      case OpKind::BatchNorm: {
        const Shape& x = node.shape;
        if (x.size() != 4)
          throw Error("lower: batchnorm '" + node.name +
                      "' on a 2-D tensor must follow a linear layer to be folded; the runtime has no standalone 2-D BN");
        op.type = rt::OpType::DepthwiseConv2d;
        op.groups = op.outChannels = int32_t(x[1]);
        op.inputs = {in(node, 0)};
        const Shape cs = {x[1]};
        const auto* gamma = weight(node, ".weight", cs);
        const auto* beta = weight(node, ".bias", cs);
        const auto* mean = weight(node, ".running_mean", cs);
        const auto* var = weight(node, ".running_var", cs);
        if (gamma) {
          for (int64_t c = 0; c < x[1]; ++c) {
            const double s = double((*gamma)[c]) / std::sqrt(double((*var)[c]) + a.eps);
            op.weight.push_back(float(s));
            op.bias.push_back(float(double((*beta)[c]) - double((*mean)[c]) * s));
          }
        }
        {
          const int last = absorbAct(op, node.id);
          emit(std::move(op), last);
        }
        return;
      }
      case OpKind::Act:
        if (a.act == ActKind::Identity) {
          tensorOf_[node.id] = in(node, 0);
          return;
        }
        op.type = rt::OpType::Activation;
        op.act = toRuntimeAct(a.act);
        op.inputs = {in(node, 0)};
        emit(op, node.id);
        return;
      case OpKind::Add:
        op.type = rt::OpType::Add;
        op.inputs = {in(node, 0), in(node, 1)};
        {
          const int last = absorbAct(op, node.id);
          emit(std::move(op), last);
        }
        return;
      case OpKind::Mul: {
        op.type = rt::OpType::Mul;
        const Shape& sa = g_.node(node.inputs[0]).shape;
        const Shape& sb = g_.node(node.inputs[1]).shape;
        op.broadcastChannels = sa != sb;
        const bool swap = op.broadcastChannels && sa[2] == 1 && sa[3] == 1 && !(sb[2] == 1 && sb[3] == 1);
        op.inputs = swap ? std::vector<int32_t>{in(node, 1), in(node, 0)} : std::vector<int32_t>{in(node, 0), in(node, 1)};
        emit(op, node.id);
        return;
      }
      case OpKind::AvgPool:
      case OpKind::MaxPool:
        op.type = node.kind == OpKind::AvgPool ? rt::OpType::AvgPool : rt::OpType::MaxPool;
        setWindow(op, a);
        op.inputs = {in(node, 0)};
        emit(op, node.id);
        return;
      case OpKind::GlobalAvgPool:
        op.type = rt::OpType::GlobalAvgPool;
        op.inputs = {in(node, 0)};
        emit(op, node.id);
        return;
      case OpKind::SqueezeExcite: {
        const int64_t c = node.shape[1], r = a.outChannels;
        op.type = rt::OpType::SqueezeExcite;
        op.outChannels = int32_t(r);
        op.act = toRuntimeAct(a.act);
        op.gate = toRuntimeAct(a.gate);
        op.inputs = {in(node, 0)};
        if (const auto* w = weight(node, ".reduce.weight", {r, c, 1, 1})) op.weight = *w;
        if (const auto* w = weight(node, ".reduce.bias", {r})) op.bias = *w;
        if (const auto* w = weight(node, ".expand.weight", {c, r, 1, 1})) op.weight2 = *w;
        if (const auto* w = weight(node, ".expand.bias", {c})) op.bias2 = *w;
        emit(op, node.id);
        return;
      }
      case OpKind::Concat:
        op.type = rt::OpType::Concat;
        for (size_t i = 0; i < node.inputs.size(); ++i) op.inputs.push_back(in(node, i));
        emit(op, node.id);
        return;
      case OpKind::Flatten: {
        bool allLinear = !consumers_[node.id].empty();
        for (int c : consumers_[node.id]) allLinear = allLinear && g_.node(c).kind == OpKind::Linear;
        if (allLinear) {  // the linear reads [N, ...] as [N, features] itself
          tensorOf_[node.id] = in(node, 0);
          return;
        }
        op.type = rt::OpType::Flatten;
        op.inputs = {in(node, 0)};
        emit(op, node.id);
        return;
      }
      case OpKind::Quant:
      case OpKind::Dequant:
        throw Error("lower: " + std::string(opKindName(node.kind)) + " node '" + node.name +
                    "': the runtime's fp32 plans have no int8 ops yet; lower the float graph");
      case OpKind::Input:
      case OpKind::Count:
        break;
    }
    throw Error("lower: node '" + node.name + "' has op kind " + opKindName(node.kind) + ", which cannot be lowered");
  }

  const Graph& g_;
  const WeightMap* w_;
  rt::Plan plan_;
  std::vector<int32_t> tensorOf_;
  std::vector<bool> done_;
  std::vector<std::vector<int>> consumers_;
  std::string current_;
  std::vector<std::string> sources_;
};

// ---- int8: rewrites a lowered fp32 plan per a QuantSpec (see lower.h).
class Quantizer {
 public:
  Quantizer(const rt::Plan& fp, const std::vector<std::string>& sources, const QuantSpec& spec)
      : fp_(fp), sources_(sources), spec_(spec) {}

  rt::Plan run() {
    const size_t nt = fp_.tensors.size();
    f32_.assign(nt, -1);
    i8_.assign(nt, -1);
    consumers_.assign(nt, {});
    for (size_t i = 0; i < fp_.ops.size(); ++i)
      for (int32_t id : fp_.ops[i].inputs) consumers_[id].push_back(int(i));
    for (int32_t id : fp_.inputs) {
      f32_[id] = newTensor(fp_.tensors[id]);
      out_.inputs.push_back(f32_[id]);
    }
    for (size_t i = 0; i < fp_.ops.size(); ++i) lowerOp(i);
    for (int32_t id : fp_.outputs) out_.outputs.push_back(f32(id));
    for (auto& op : out_.ops) op.key = opKeyOf(out_, op);
    return std::move(out_);
  }

 private:
  int32_t newTensor(rt::TensorInfo t) {
    out_.tensors.push_back(std::move(t));
    return int32_t(out_.tensors.size() - 1);
  }
  static rt::TensorInfo i8Info(const std::vector<int64_t>& shape, float scale, int32_t zp) {
    rt::TensorInfo t{shape};
    t.dtype = rt::DType::I8;
    t.scale = scale;
    t.zeroPoint = zp;
    return t;
  }
  void push(rt::PlanOp op) { out_.ops.push_back(std::move(op)); }

  // The f32 version of fp tensor id (dequantizing its i8 version once when needed).
  int32_t f32(int32_t id) {
    if (f32_[id] >= 0) return f32_[id];
    rt::PlanOp d;
    d.type = rt::OpType::Dequantize;
    d.name = "dequantize(" + nameOf(id) + ")";
    d.inputs = {i8_[id]};
    d.output = f32_[id] = newTensor(rt::TensorInfo{fp_.tensors[id].shape});
    push(d);
    return f32_[id];
  }
  // An i8 version of fp tensor id with this scale and zero point (quantizing once when needed).
  int32_t i8(int32_t id, float scale, int32_t zp) {
    if (i8_[id] >= 0 && out_.tensors[i8_[id]].scale == scale && out_.tensors[i8_[id]].zeroPoint == zp)
      return i8_[id];
    const int32_t src = f32(id);
    rt::PlanOp q;
    q.type = rt::OpType::Quantize;
    q.name = "quantize(" + nameOf(id) + ")";
    q.inputs = {src};
    q.output = newTensor(i8Info(fp_.tensors[id].shape, scale, zp));
    if (i8_[id] < 0) i8_[id] = q.output;
    push(q);
    return q.output;
  }
  std::string nameOf(int32_t id) const {
    for (size_t i = 0; i < fp_.ops.size(); ++i)
      if (fp_.ops[i].output == id) return fp_.ops[i].name;
    return "input";
  }
  // The int8 layer spec of fp op i, or nullptr when it stays fp32.
  const LayerQuant* layerOf(size_t i) const {
    const rt::PlanOp& op = fp_.ops[i];
    if (op.type != rt::OpType::Conv2d && op.type != rt::OpType::DepthwiseConv2d && op.type != rt::OpType::Linear)
      return nullptr;
    return spec_.find(sources_[i]);
  }
  // Output parameters an int8-capable op should write: the input parameters of a consumer
  // that is an int8 layer, else none (false).
  // Looks through maxpool and flatten, which run on i8 and keep the value range.
  bool consumerParams(int32_t id, float& scale, int32_t& zp) const {
    for (int c : consumers_[id])
      if (const LayerQuant* l = layerOf(size_t(c))) {
        scale = l->inputScale;
        zp = l->inputZeroPoint;
        return true;
      }
    for (int c : consumers_[id]) {
      const rt::OpType t = fp_.ops[size_t(c)].type;
      if ((t == rt::OpType::MaxPool || t == rt::OpType::Flatten) &&
          consumerParams(fp_.ops[size_t(c)].output, scale, zp))
        return true;
    }
    return false;
  }
  bool onlyI8(int32_t id) const { return i8_[id] >= 0 && f32_[id] < 0; }

  void lowerOp(size_t i) {
    rt::PlanOp op = fp_.ops[i];
    const int32_t out = op.output;
    const auto& outShape = fp_.tensors[out].shape;
    if (const LayerQuant* l = layerOf(i)) {
      quantizeWeights(op, *l, sources_[i]);
      op.inputs = {i8(op.inputs[0], l->inputScale, l->inputZeroPoint)};
      op.output = i8_[out] = newTensor(i8Info(outShape, l->outputScale, l->outputZeroPoint));
      push(op);
      return;
    }
    const int32_t x = op.inputs[0];
    switch (op.type) {
      case rt::OpType::Add:
        if (i8_[op.inputs[0]] >= 0 && i8_[op.inputs[1]] >= 0 && (onlyI8(op.inputs[0]) || onlyI8(op.inputs[1]))) {
          // Output parameters: those of an int8 layer reading it, else the sum of the two
          // inputs' ranges (nothing measured them; this never clips, at up to one bit).
          op.inputs = {i8_[op.inputs[0]], i8_[op.inputs[1]]};
          float s;
          int32_t zp;
          if (!consumerParams(out, s, zp)) {
            const rt::TensorInfo& a = out_.tensors[op.inputs[0]];
            const rt::TensorInfo& b = out_.tensors[op.inputs[1]];
            const double lo = std::min(0.0, double(a.scale) * (-128 - a.zeroPoint) + double(b.scale) * (-128 - b.zeroPoint));
            const double hi = std::max(0.0, double(a.scale) * (127 - a.zeroPoint) + double(b.scale) * (127 - b.zeroPoint));
            s = float((hi - lo) / 255.0);
            zp = int32_t(std::max(-128.0, std::min(127.0, std::nearbyint(-128.0 - lo / s))));
          }
          op.output = i8_[out] = newTensor(i8Info(outShape, s, zp));
          push(op);
          return;
        }
        break;
      case rt::OpType::MaxPool:
      case rt::OpType::Flatten:
        if (onlyI8(x)) {
          const rt::TensorInfo& xt = out_.tensors[i8_[x]];
          op.inputs = {i8_[x]};
          op.output = i8_[out] = newTensor(i8Info(outShape, xt.scale, xt.zeroPoint));
          push(op);
          return;
        }
        break;
      case rt::OpType::GlobalAvgPool:
        if (onlyI8(x)) {
          float s = out_.tensors[i8_[x]].scale;
          int32_t zp = out_.tensors[i8_[x]].zeroPoint;
          consumerParams(out, s, zp);
          op.inputs = {i8_[x]};
          op.output = i8_[out] = newTensor(i8Info(outShape, s, zp));
          push(op);
          return;
        }
        break;
      default: break;
    }
    for (auto& id : op.inputs) id = f32(id);
    op.output = f32_[out] = newTensor(rt::TensorInfo{outShape});
    push(op);
  }

  static void quantizeWeights(rt::PlanOp& op, const LayerQuant& l, const std::string& node) {
    const int64_t m = op.outChannels, per = int64_t(op.weight.size()) / m;
    std::vector<float> scales = l.weightScales;
    if (scales.empty()) scales = weightScalesOf(op.weight, m);
    if (int64_t(scales.size()) != m)
      throw InputError("lowerQuantized: layer '" + node + "' has " + std::to_string(scales.size()) +
                       " weight scales in the quantization spec, its " + std::to_string(m) +
                       " output channels need one each; recalibrate for this model");
    if (!(l.inputScale > 0) || !(l.outputScale > 0) || l.inputZeroPoint < -128 || l.inputZeroPoint > 127 ||
        l.outputZeroPoint < -128 || l.outputZeroPoint > 127)
      throw InputError("lowerQuantized: layer '" + node +
                       "': activation scales must be > 0 and zero points in [-128, 127]; recalibrate");
    op.qweight.resize(op.weight.size());
    for (int64_t c = 0; c < m; ++c) {
      const double s = scales[c];
      if (!(s > 0)) throw InputError("lowerQuantized: layer '" + node + "': weight scale of channel " + std::to_string(c) + " must be > 0");
      for (int64_t k = 0; k < per; ++k)
        op.qweight[c * per + k] = int8_t(std::max(-127.0, std::min(127.0, std::nearbyint(op.weight[c * per + k] / s))));
    }
    if (!op.bias.empty()) {
      op.qbias.resize(size_t(m));
      for (int64_t c = 0; c < m; ++c) {
        const double q = std::nearbyint(double(op.bias[c]) / (double(l.inputScale) * scales[c]));
        op.qbias[c] = int32_t(std::max(-2147483647.0, std::min(2147483647.0, q)));
      }
    }
    op.weightScales = std::move(scales);
    op.weight.clear();
    op.bias.clear();
  }

  const rt::Plan& fp_;
  const std::vector<std::string>& sources_;
  const QuantSpec& spec_;
  rt::Plan out_;
  std::vector<int32_t> f32_, i8_;  // per fp tensor: its f32 / i8 version in out_ (-1: none yet)
  std::vector<std::vector<int>> consumers_;
};

}  // namespace

runtime::Plan lower(const Graph& g, const WeightMap& weights) {
  runtime::Plan p = Lowerer(g, &weights).run();
  try {
    p.validate("lower");
  } catch (const runtime::RuntimeError& e) {
    throw Error(std::string(e.what()) + " (a bug in the lowering: please report it with the graph)");
  }
  return p;
}

runtime::Plan lowerStructure(const Graph& g) { return Lowerer(g, nullptr).run(); }

std::vector<std::string> opSourceNodes(const Graph& g) {
  Lowerer l(g, nullptr);
  l.run();
  return l.opSources();
}

std::vector<float> weightScalesOf(const std::vector<float>& weight, int64_t outChannels) {
  const int64_t per = int64_t(weight.size()) / outChannels;
  std::vector<float> s(static_cast<size_t>(outChannels));
  for (int64_t c = 0; c < outChannels; ++c) {
    float mx = 0;
    for (int64_t k = 0; k < per; ++k) mx = std::max(mx, std::fabs(weight[c * per + k]));
    s[c] = mx > 0 ? mx / 127.f : 1.f;
  }
  return s;
}

runtime::Plan lowerQuantized(const Graph& g, const WeightMap& weights, const QuantSpec& spec) {
  Lowerer l(g, &weights);
  const runtime::Plan fp = l.run();
  for (const auto& [name, q] : spec.layers) {
    const int id = g.findNode(name);
    if (id < 0 || (g.node(id).kind != OpKind::Conv2d && g.node(id).kind != OpKind::Linear))
      throw InputError("lowerQuantized: the quantization spec names layer '" + name +
                       "', which is not a conv2d or linear node of this graph; recalibrate for this model");
  }
  runtime::Plan p = Quantizer(fp, l.opSources(), spec).run();
  try {
    p.validate("lowerQuantized");
  } catch (const runtime::RuntimeError& e) {
    throw Error(std::string(e.what()) + " (a bug in the int8 lowering: please report it with the graph and spec)");
  }
  return p;
}

std::vector<std::string> opKeys(const Graph& g) {
  std::vector<std::string> keys;
  for (const auto& op : lowerStructure(g).ops) keys.push_back(op.key);
  return keys;
}

int64_t runtimePeakActivationBytes(const Graph& g) { return runtime::peakActivationBytes(lowerStructure(g)); }

}  // namespace hwnas
