#include "trainer/graph_module.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <set>

#include "core/error.h"
#include "trainer/ops_fused.h"

namespace hwnas {

namespace qat {

std::vector<float> perChannelScales(const Tensor& w) {
  if (w.dim() < 1 || w.size(0) < 1) throw ShapeError("fakeQuantWeight: expected a weight [out, ...], got " + shapeToString(w.shape()));
  const int64_t cout = w.size(0), per = w.numel() / cout;
  std::vector<float> scales(size_t(cout), 1.f);
  for (int64_t c = 0; c < cout; ++c) {
    float m = 0.f;
    for (int64_t i = 0; i < per; ++i) m = std::max(m, std::fabs(w[c * per + i]));
    if (m > 0.f) scales[size_t(c)] = m / 127.f;
  }
  return scales;
}

Variable fakeQuantWeight(const Variable& w) {
  const Tensor& wv = w.value();
  const std::vector<float> scales = perChannelScales(wv);
  const int64_t cout = wv.size(0), per = wv.numel() / cout;
  Tensor y = Tensor::empty(wv.shape());
  for (int64_t c = 0; c < cout; ++c) {
    const float s = scales[size_t(c)];
    for (int64_t i = 0; i < per; ++i) {
      const float q = std::min(127.f, std::max(-127.f, std::nearbyint(wv[c * per + i] / s)));
      y[c * per + i] = q * s;
    }
  }
  // Straight-through: the scale is max|w| / 127, so nothing is clipped and the gradient passes.
  return recordOp("fakeQuantWeight", std::move(y), {w}, [w](const Tensor& g) { accumulateGrad(w, g); });
}

Variable fakeQuantActivation(const Variable& x, float scale, int32_t zeroPoint) {
  if (!(scale > 0.f) || !std::isfinite(scale))
    throw InputError("fakeQuantActivation: scale " + std::to_string(scale) + " must be positive and finite");
  if (zeroPoint < -128 || zeroPoint > 127)
    throw InputError("fakeQuantActivation: zero point " + std::to_string(zeroPoint) + " is outside [-128, 127]");
  const Tensor& xv = x.value();
  const int64_t n = xv.numel();
  Tensor y = Tensor::empty(xv.shape());
  const bool needGrad = x.requiresGrad() && gradModeEnabled();
  auto pass = needGrad ? std::make_shared<std::vector<uint8_t>>(size_t(n)) : nullptr;
  const float zp = float(zeroPoint);
  for (int64_t i = 0; i < n; ++i) {
    const float r = std::nearbyint(xv[i] / scale) + zp;
    const float q = std::min(127.f, std::max(-128.f, r));
    y[i] = (q - zp) * scale;
    if (pass) (*pass)[size_t(i)] = r >= -128.f && r <= 127.f;
  }
  return recordOp("fakeQuantActivation", std::move(y), {x}, [x, pass](const Tensor& g) {
    Tensor gx = Tensor::empty(g.shape());
    for (int64_t i = 0; i < gx.numel(); ++i) gx[i] = (*pass)[size_t(i)] ? g[i] : 0.f;
    accumulateGrad(x, std::move(gx));
  });
}

void Observer::observe(const Tensor& x, float momentum) {
  if (x.numel() == 0) return;
  float lo = x[0], hi = x[0];
  for (int64_t i = 1; i < x.numel(); ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  if (!seen) {
    min = lo, max = hi, seen = true;
  } else {
    min = (1.f - momentum) * min + momentum * lo;
    max = (1.f - momentum) * max + momentum * hi;
  }
}

float Observer::scale() const {
  const float lo = std::min(min, 0.f), hi = std::max(max, 0.f);
  const float s = (hi - lo) / 255.f;
  return s > 0.f && std::isfinite(s) ? s : 1.f;
}

int32_t Observer::zeroPoint() const {
  const float lo = std::min(min, 0.f);
  const float z = std::nearbyint(-128.f - lo / scale());
  return int32_t(std::min(127.f, std::max(-128.f, z)));
}

}  // namespace qat

namespace {

ops::Act toOpsAct(ActKind a) {
  switch (a) {
    case ActKind::Identity: return ops::Act::Identity;
    case ActKind::Relu: return ops::Act::ReLU;
    case ActKind::Relu6: return ops::Act::ReLU6;
    case ActKind::HSwish: return ops::Act::HardSwish;
    case ActKind::HSigmoid: return ops::Act::HardSigmoid;
    case ActKind::Silu: return ops::Act::SiLU;
    case ActKind::Sigmoid: return ops::Act::Sigmoid;
    case ActKind::Count: break;
  }
  throw Error("GraphModule: unknown activation kind " + std::to_string(int(a)));
}

bool sameIgnoringTrailingOnes(Shape a, Shape b) {
  while (a.size() > 1 && a.back() == 1) a.pop_back();
  while (b.size() > 1 && b.back() == 1) b.pop_back();
  return a == b;
}

// The weight `node.suffix` as a tensor of the canonical `shape`.
Tensor fetchWeight(const WeightMap& weights, const Node& node, const std::string& suffix, const Shape& shape) {
  const std::string key = node.name + suffix;
  auto it = weights.find(key);
  if (it == weights.end())
    throw InputError("GraphModule: weight '" + key + "' for " + opKindName(node.kind) + " node '" + node.name +
                     "' is missing from the weights; check that they belong to this graph");
  if (!sameIgnoringTrailingOnes(it->second.shape, shape) || int64_t(it->second.values.size()) != numel(shape))
    throw InputError("GraphModule: weight '" + key + "' has shape " + shapeToString(it->second.shape) + " (" +
                     std::to_string(it->second.values.size()) + " values), " + opKindName(node.kind) + " node '" +
                     node.name + "' needs " + shapeToString(shape));
  return Tensor::fromVector(shape, it->second.values);
}

// s[c] = gamma[c] / sqrt(var[c] + eps)
std::vector<float> bnScale(const Tensor& gamma, const Tensor& var, double eps) {
  std::vector<float> s(size_t(gamma.numel()));
  for (int64_t c = 0; c < gamma.numel(); ++c) s[size_t(c)] = float(gamma[c] / std::sqrt(double(var[c]) + eps));
  return s;
}

// w * s[c] per output channel; gradients to w and gamma (the running variance is frozen).
Variable foldWeight(const Variable& w, const Variable& gamma, const Tensor& var, double eps) {
  const Tensor wv = w.value(), gv = gamma.value();
  const int64_t cout = wv.size(0), per = wv.numel() / cout;
  const std::vector<float> s = bnScale(gv, var, eps);
  Tensor y = Tensor::empty(wv.shape());
  for (int64_t c = 0; c < cout; ++c)
    for (int64_t i = 0; i < per; ++i) y[c * per + i] = wv[c * per + i] * s[size_t(c)];
  return recordOp("foldBnWeight", std::move(y), {w, gamma}, [w, gamma, wv, gv, var, eps, s, cout, per](const Tensor& g) {
    if (w.requiresGrad()) {
      Tensor gw = Tensor::empty(wv.shape());
      for (int64_t c = 0; c < cout; ++c)
        for (int64_t i = 0; i < per; ++i) gw[c * per + i] = g[c * per + i] * s[size_t(c)];
      accumulateGrad(w, std::move(gw));
    }
    if (gamma.requiresGrad()) {
      Tensor gg = Tensor::empty(gv.shape());
      for (int64_t c = 0; c < cout; ++c) {
        double acc = 0;
        for (int64_t i = 0; i < per; ++i) acc += double(g[c * per + i]) * wv[c * per + i];
        gg[c] = float(acc / std::sqrt(double(var[c]) + eps));
      }
      accumulateGrad(gamma, std::move(gg));
    }
  });
}

// beta + (b - mean) * s; b may be undefined (zero). Gradients to b, gamma and beta.
Variable foldBias(const Variable& b, const Variable& gamma, const Variable& beta, const Tensor& mean, const Tensor& var,
                  double eps) {
  const Tensor gv = gamma.value();
  const int64_t cout = gv.numel();
  const std::vector<float> s = bnScale(gv, var, eps);
  Tensor b0 = b.defined() ? b.value() : Tensor::zeros({cout});
  Tensor y = Tensor::empty({cout});
  for (int64_t c = 0; c < cout; ++c) y[c] = beta.value()[c] + (b0[c] - mean[c]) * s[size_t(c)];
  std::vector<Variable> inputs = {gamma, beta};
  if (b.defined()) inputs.push_back(b);
  return recordOp("foldBnBias", std::move(y), inputs, [b, gamma, beta, b0, mean, var, eps, s, cout](const Tensor& g) {
    if (b.defined() && b.requiresGrad()) {
      Tensor gb = Tensor::empty({cout});
      for (int64_t c = 0; c < cout; ++c) gb[c] = g[c] * s[size_t(c)];
      accumulateGrad(b, std::move(gb));
    }
    if (gamma.requiresGrad()) {
      Tensor gg = Tensor::empty({cout});
      for (int64_t c = 0; c < cout; ++c) gg[c] = float(double(g[c]) * (b0[c] - mean[c]) / std::sqrt(double(var[c]) + eps));
      accumulateGrad(gamma, std::move(gg));
    }
    accumulateGrad(beta, g);
  });
}

}  // namespace

GraphModule::GraphModule(const Graph& graph, const WeightMap& weights) : graph_(graph) {
  const auto inputs = graph_.inputIds(), outputs = graph_.outputIds();
  if (inputs.size() != 1 || outputs.size() != 1)
    throw Error("GraphModule: the graph has " + std::to_string(inputs.size()) + " inputs and " +
                std::to_string(outputs.size()) + " outputs; only graphs with one input and one output can be trained");
  input_ = inputs[0];
  output_ = outputs[0];
  const size_t n = graph_.size();
  w_.resize(n);
  lastUse_.assign(n, -1);
  bnActFuse_.assign(n, -1);
  foldedBn_.assign(n, false);
  for (const Node& node : graph_.nodes()) {
    for (int i : node.inputs) lastUse_[size_t(i)] = std::max(lastUse_[size_t(i)], node.id);
    NodeWeights& nw = w_[size_t(node.id)];
    const OpAttrs& a = node.attrs;
    auto param = [&](const std::string& suffix, const Shape& shape, Variable& v, std::string& name) {
      name = node.name + suffix;
      v = registerParameter(name, fetchWeight(weights, node, suffix, shape));
    };
    switch (node.kind) {
      case OpKind::Conv2d: {
        const int64_t cin = graph_.node(node.inputs[0]).shape[1];
        param(".weight", {a.outChannels, cin / a.groups, a.kernelH, a.kernelW}, nw.weight, nw.weightName);
        if (a.bias) param(".bias", {a.outChannels}, nw.bias, nw.biasName);
        break;
      }
      case OpKind::Linear: {
        const int64_t in = graph_.node(node.inputs[0]).shape[1];
        param(".weight", {a.outChannels, in}, nw.weight, nw.weightName);
        if (a.bias) param(".bias", {a.outChannels}, nw.bias, nw.biasName);
        break;
      }
      case OpKind::BatchNorm: {
        const int64_t c = graph_.node(node.inputs[0]).shape[1];
        param(".weight", {c}, nw.weight, nw.weightName);
        param(".bias", {c}, nw.bias, nw.biasName);
        nw.runningMean = registerBuffer(node.name + ".running_mean", fetchWeight(weights, node, ".running_mean", {c}));
        nw.runningVar = registerBuffer(node.name + ".running_var", fetchWeight(weights, node, ".running_var", {c}));
        const auto cons = graph_.consumers(node.id);
        if (cons.size() == 1 && graph_.node(cons[0]).kind == OpKind::Act) bnActFuse_[size_t(node.id)] = cons[0];
        break;
      }
      case OpKind::SqueezeExcite: {
        const int64_t c = graph_.node(node.inputs[0]).shape[1], r = a.outChannels;
        param(".reduce.weight", {r, c, 1, 1}, nw.weight, nw.weightName);
        param(".reduce.bias", {r}, nw.bias, nw.biasName);
        param(".expand.weight", {c, r, 1, 1}, nw.weight2, nw.weight2Name);
        param(".expand.bias", {c}, nw.bias2, nw.bias2Name);
        break;
      }
      case OpKind::Quant:
      case OpKind::Dequant:
        throw Error(std::string("GraphModule: node '") + node.name + "' is " + opKindName(node.kind) +
                    "; only fp32 graphs can be trained (use the graph before quantization and enableFakeQuant)");
      default: break;
    }
  }
}

Variable GraphModule::maskedParam(const Variable& p, const std::string& name) const {
  auto it = masks_.find(name);
  return it == masks_.end() ? p : ops::mul(p, Variable(it->second));
}

void GraphModule::checkObserved(int id, const std::string& what) const {
  auto it = observers_.find(id);
  if (it == observers_.end() || !it->second.seen)
    throw Error("GraphModule: the fake-quant observer of " + what + " (node '" + graph_.node(id).name +
                "') has seen no data; run a forward in train mode first (fineTune does)");
}

Variable GraphModule::convOrLinear(int id, const Variable& in) {
  const Node& node = graph_.node(id);
  const NodeWeights& nw = w_[size_t(id)];
  auto q = fq_.find(id);
  Variable x = in, w = maskedParam(nw.weight, nw.weightName), b = nw.bias;
  if (q != fq_.end()) {
    checkObserved(node.inputs[0], "the input of '" + node.name + "'");
    const qat::Observer& o = observers_.at(node.inputs[0]);
    x = qat::fakeQuantActivation(x, o.scale(), o.zeroPoint());
    if (q->second.bn >= 0) {
      const NodeWeights& bn = w_[size_t(q->second.bn)];
      const double eps = graph_.node(q->second.bn).attrs.eps;
      b = foldBias(b, bn.weight, bn.bias, bn.runningMean, bn.runningVar, eps);
      w = foldWeight(w, bn.weight, bn.runningVar, eps);
    }
    w = qat::fakeQuantWeight(w);
  }
  if (node.kind == OpKind::Linear) return ops::linear(x, w, b);
  const OpAttrs& a = node.attrs;
  ops::Conv2dParams p;
  p.strideH = a.strideH, p.strideW = a.strideW, p.padH = a.padH, p.padW = a.padW;
  p.dilationH = a.dilationH, p.dilationW = a.dilationW, p.groups = int(a.groups);
  return ops::conv2d(x, w, b, p);
}

Variable GraphModule::forward(const Variable& x) {
  const Shape& want = graph_.node(input_).shape;
  const Shape& got = x.shape();
  bool ok = got.size() == want.size() && !got.empty() && got[0] >= 1;
  for (size_t d = 1; ok && d < got.size(); ++d) ok = got[d] == want[d];
  if (!ok)
    throw ShapeError("GraphModule: input '" + graph_.node(input_).name + "' expects [N" +
                     [&] {
                       std::string s;
                       for (size_t d = 1; d < want.size(); ++d) s += ", " + std::to_string(want[d]);
                       return s;
                     }() +
                     "], got " + shapeToString(got));
  const bool training = isTraining();
  std::vector<Variable> v(graph_.size());
  for (const Node& node : graph_.nodes()) {
    const int id = node.id;
    if (v[size_t(id)].defined()) continue;  // an act already computed with its batchnorm
    const OpAttrs& a = node.attrs;
    auto in = [&](int k) -> const Variable& { return v[size_t(node.inputs[size_t(k)])]; };
    Variable y;
    switch (node.kind) {
      case OpKind::Input: y = x; break;
      case OpKind::Conv2d:
      case OpKind::Linear: y = convOrLinear(id, in(0)); break;
      case OpKind::BatchNorm: {
        NodeWeights& nw = w_[size_t(id)];
        if (foldedBn_[size_t(id)]) {
          y = in(0);  // folded into the producer's weights (QAT)
        } else if (bnActFuse_[size_t(id)] >= 0) {
          const int act = bnActFuse_[size_t(id)];
          v[size_t(act)] = ops::batchNormAct(in(0), nw.weight, nw.bias, nw.runningMean, nw.runningVar, training,
                                             toOpsAct(graph_.node(act).attrs.act), 0.1f, float(a.eps));
          y = Variable();  // only the act reads it
        } else {
          y = ops::batchNorm(in(0), nw.weight, nw.bias, nw.runningMean, nw.runningVar, training, 0.1f, float(a.eps));
        }
        break;
      }
      case OpKind::Act: y = ops::activation(in(0), toOpsAct(a.act)); break;
      case OpKind::Add: y = ops::add(in(0), in(1)); break;
      case OpKind::Mul: y = ops::mul(in(0), in(1)); break;
      case OpKind::AvgPool:
      case OpKind::MaxPool: {
        ops::Pool2dParams p;
        p.kernelH = a.kernelH, p.kernelW = a.kernelW, p.strideH = a.strideH, p.strideW = a.strideW;
        p.padH = a.padH, p.padW = a.padW;
        y = node.kind == OpKind::AvgPool ? ops::avgPool2d(in(0), p) : ops::maxPool2d(in(0), p);
        break;
      }
      case OpKind::GlobalAvgPool: y = ops::globalAvgPool(in(0)); break;
      case OpKind::SqueezeExcite: {
        const NodeWeights& nw = w_[size_t(id)];
        ops::Conv2dParams p;
        Variable s = ops::globalAvgPool(in(0));
        s = ops::activation(ops::conv2d(s, maskedParam(nw.weight, nw.weightName), nw.bias, p), toOpsAct(a.act));
        s = ops::activation(ops::conv2d(s, maskedParam(nw.weight2, nw.weight2Name), nw.bias2, p), toOpsAct(a.gate));
        y = ops::mul(in(0), s);
        break;
      }
      case OpKind::Concat: {
        std::vector<Variable> xs;
        for (int i : node.inputs) xs.push_back(v[size_t(i)]);
        y = ops::concat(xs);
        break;
      }
      case OpKind::Flatten: y = ops::flatten(in(0)); break;
      default: throw Error(std::string("GraphModule: cannot run ") + opKindName(node.kind) + " node '" + node.name + "'");
    }
    if (node.kind != OpKind::BatchNorm || y.defined()) v[size_t(id)] = y;
    // Observers see the node's output (the fused output for an act computed with its BN).
    const int produced = node.kind == OpKind::BatchNorm && !y.defined() ? bnActFuse_[size_t(id)] : id;
    if (training && !observers_.empty()) {
      auto o = observers_.find(produced);
      if (o != observers_.end()) o->second.observe(v[size_t(produced)].value(), observerMomentum_);
    }
    for (int i : node.inputs)
      if (lastUse_[size_t(i)] == id && i != output_) v[size_t(i)] = Variable();
    if (produced != id)
      for (int i : graph_.node(produced).inputs)
        if (lastUse_[size_t(i)] == produced && i != output_) v[size_t(i)] = Variable();
  }
  return v[size_t(output_)];
}

int GraphModule::toGraph(Graph& g, int input, const std::string& name) const {
  std::vector<int> map(graph_.size(), -1);
  for (const Node& node : graph_.nodes()) {
    if (node.kind == OpKind::Input) {
      map[size_t(node.id)] = input;
      continue;
    }
    std::vector<int> ins;
    for (int i : node.inputs) ins.push_back(map[size_t(i)]);
    map[size_t(node.id)] = g.addNode(join(name, node.name), node.kind, ins, node.attrs);
  }
  return map[size_t(output_)];
}

Graph GraphModule::toGraph(int64_t batch) const {
  if (batch <= 0) return graph_;
  Graph g;
  Shape s = graph_.node(input_).shape;
  s[0] = batch;
  toGraph(g, g.addInput(graph_.node(input_).name, s), "");
  return g;
}

void GraphModule::setWeightMask(const std::string& weightName, const Tensor& mask) {
  Variable p;
  for (auto& [n, v] : namedParameters())
    if (n == weightName) p = v;
  if (!p.defined()) throw InputError("setWeightMask: the model has no parameter '" + weightName + "'");
  if (!mask.defined() || mask.shape() != p.shape())
    throw InputError("setWeightMask: mask for '" + weightName + "' has shape " +
                     (mask.defined() ? shapeToString(mask.shape()) : std::string("(none)")) + ", the weight is " +
                     shapeToString(p.shape()));
  for (int64_t i = 0; i < mask.numel(); ++i)
    if (mask[i] != 0.f && mask[i] != 1.f)
      throw InputError("setWeightMask: mask for '" + weightName + "' has value " + std::to_string(mask[i]) +
                       " at index " + std::to_string(i) + "; entries must be 0 or 1");
  masks_[weightName] = mask.clone();
  applyMasks();
}

void GraphModule::clearWeightMasks() { masks_.clear(); }

void GraphModule::applyMasks() {
  if (masks_.empty()) return;
  for (auto& [n, v] : namedParameters()) {
    auto it = masks_.find(n);
    if (it == masks_.end()) continue;
    float* d = v.value().data();
    const float* m = it->second.data();
    for (int64_t i = 0; i < v.value().numel(); ++i)
      if (m[i] == 0.f) d[i] = 0.f;
  }
}

void GraphModule::enableFakeQuant(const FakeQuantOptions& o) {
  if (!(o.observerMomentum > 0.f && o.observerMomentum <= 1.f))
    throw InputError("enableFakeQuant: observer momentum " + std::to_string(o.observerMomentum) + " is not in (0, 1]");
  disableFakeQuant();
  std::vector<int> layers;
  if (o.layers.empty()) {
    for (const Node& n : graph_.nodes())
      if (n.kind == OpKind::Conv2d || n.kind == OpKind::Linear) layers.push_back(n.id);
  } else {
    for (const std::string& name : o.layers) {
      const int id = graph_.findNode(name);
      if (id < 0) throw InputError("enableFakeQuant: the graph has no node '" + name + "'");
      const Node& n = graph_.node(id);
      if (n.kind != OpKind::Conv2d && n.kind != OpKind::Linear)
        throw InputError("enableFakeQuant: node '" + name + "' is " + opKindName(n.kind) +
                         "; only conv2d and linear nodes are quantized");
      layers.push_back(id);
    }
  }
  auto sole = [&](int id, OpKind kind) {
    const auto c = graph_.consumers(id);
    return c.size() == 1 && graph_.node(c[0]).kind == kind ? c[0] : -1;
  };
  observerMomentum_ = o.observerMomentum;
  for (int id : layers) {
    QuantLayer ql;
    int last = id;
    const int bn = sole(id, OpKind::BatchNorm);
    if (bn >= 0) {
      last = bn;
      if (o.foldBatchNorm) ql.bn = bn;
    }
    const int act = sole(last, OpKind::Act);
    if (act >= 0) last = act;
    ql.outputNode = last;
    fq_[id] = ql;
    if (ql.bn >= 0) foldedBn_[size_t(ql.bn)] = true;
  }
  for (const auto& [id, ql] : fq_) {
    observers_[graph_.node(id).inputs[0]];
    observers_[ql.outputNode];
  }
  // An observer on a batchnorm computed together with its act would never see a tensor: an
  // unfolded BN whose act is fused observes through the act (it is the act's only input).
  for (auto& [id, ob] : observers_)
    if (graph_.node(id).kind == OpKind::BatchNorm && !foldedBn_[size_t(id)] && bnActFuse_[size_t(id)] >= 0)
      throw Error("GraphModule: internal: observer on batchnorm '" + graph_.node(id).name + "' fused with its act");
}

void GraphModule::disableFakeQuant() {
  fq_.clear();
  observers_.clear();
  foldedBn_.assign(graph_.size(), false);
}

Tensor GraphModule::foldedWeight(int id) const {
  const NodeWeights& nw = w_[size_t(id)];
  Tensor w = nw.weight.value().clone();
  auto m = masks_.find(nw.weightName);
  if (m != masks_.end())
    for (int64_t i = 0; i < w.numel(); ++i) w[i] *= m->second[i];
  auto q = fq_.find(id);
  if (q != fq_.end() && q->second.bn >= 0) {
    const NodeWeights& bn = w_[size_t(q->second.bn)];
    const std::vector<float> s = bnScale(bn.weight.value(), bn.runningVar, graph_.node(q->second.bn).attrs.eps);
    const int64_t cout = w.size(0), per = w.numel() / cout;
    for (int64_t c = 0; c < cout; ++c)
      for (int64_t i = 0; i < per; ++i) w[c * per + i] *= s[size_t(c)];
  }
  return w;
}

QuantSpec GraphModule::quantSpec() const {
  if (fq_.empty()) throw Error("quantSpec: fake quantization is off; call enableFakeQuant and train first");
  QuantSpec spec;
  spec.calibration = "qat";
  for (const auto& [id, ql] : fq_) {
    const Node& node = graph_.node(id);
    checkObserved(node.inputs[0], "the input of '" + node.name + "'");
    checkObserved(ql.outputNode, "the output of '" + node.name + "'");
    LayerQuant lq;
    lq.int8 = true;
    lq.weightScales = qat::perChannelScales(foldedWeight(id));
    const qat::Observer& in = observers_.at(node.inputs[0]);
    const qat::Observer& out = observers_.at(ql.outputNode);
    lq.inputScale = in.scale();
    lq.inputZeroPoint = in.zeroPoint();
    lq.outputScale = out.scale();
    lq.outputZeroPoint = out.zeroPoint();
    spec.layers[node.name] = lq;
  }
  return spec;
}

}  // namespace hwnas
