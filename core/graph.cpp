#include "core/graph.h"

#include <algorithm>
#include <map>

#include "core/error.h"
#include "core/key_check.h"

namespace hwnas {

// ---------------------------------------------------------------- small types

static const char* const kActNames[] = {"identity", "relu", "relu6", "hswish", "hsigmoid", "silu", "sigmoid"};
static_assert(sizeof(kActNames) / sizeof(kActNames[0]) == size_t(ActKind::Count), "every ActKind needs a name");

const char* actKindName(ActKind act) {
  int i = int(act);
  return i >= 0 && i < int(ActKind::Count) ? kActNames[i] : "?";
}

ActKind parseActKind(const std::string& name) {
  for (int i = 0; i < int(ActKind::Count); ++i) {
    if (name == kActNames[i]) return ActKind(i);
  }
  std::vector<std::string> names(std::begin(kActNames), std::end(kActNames));
  std::string msg = "unknown activation '" + name + "'";
  std::string near = closestMatch(name, names);
  if (!near.empty()) msg += "; did you mean '" + near + "'?";
  msg += " known: ";
  for (size_t i = 0; i < names.size(); ++i) msg += (i ? ", " : "") + names[i];
  throw InputError(msg);
}

const char* dtypeName(DType t) { return t == DType::I8 ? "i8" : "f32"; }
int dtypeSize(DType t) { return t == DType::I8 ? 1 : 4; }


// ---------------------------------------------------------------- shape helpers

namespace {

[[noreturn]] void shapeFail(const char* op, const std::string& node, const std::string& msg) {
  throw ShapeError(std::string(op) + " '" + node + "': " + msg);
}

void requireRank(const char* op, const std::string& node, const TensorType& t, size_t rank, const char* what) {
  if (t.shape.size() != rank) {
    shapeFail(op, node, std::string("expects a ") + what + " input, got " + shapeToString(t.shape));
  }
}

void requireWindow(const char* op, const std::string& node, const OpAttrs& a) {
  if (a.kernelH < 1 || a.kernelW < 1) shapeFail(op, node, "kernel must be >= 1");
  if (a.strideH < 1 || a.strideW < 1) shapeFail(op, node, "stride must be >= 1");
  if (a.padH < 0 || a.padW < 0) shapeFail(op, node, "padding must be >= 0");
  if (a.dilationH < 1 || a.dilationW < 1) shapeFail(op, node, "dilation must be >= 1");
}

// Output size of a sliding window (PyTorch's floor formula).
int64_t windowOut(const char* op, const std::string& node, int64_t in, int k, int s, int p, int d, const char* dim) {
  int64_t span = int64_t(d) * (k - 1) + 1;
  int64_t out = (in + 2 * int64_t(p) - span) / s + 1;
  if (in + 2 * int64_t(p) < span || out < 1) {
    shapeFail(op, node,
              std::string("window ") + std::to_string(span) + " does not fit the input " + dim + " " +
                  std::to_string(in) + " with padding " + std::to_string(p) + "; use a smaller kernel or stride");
  }
  return out;
}

TensorType sameAsInput(const std::vector<TensorType>& in) { return in[0]; }

OpCost elementwise(const TensorType& out) {
  OpCost c;
  c.elementwiseOps = numel(out.shape);
  return c;
}

// ---------------------------------------------------------------- per-op shape and cost

TensorType inferInput(const std::vector<TensorType>&, const OpAttrs& a, const std::string& node) {
  if (a.shape.empty()) shapeFail("input", node, "needs a shape");
  for (auto d : a.shape) {
    if (d < 1) shapeFail("input", node, "every dimension must be >= 1, got " + shapeToString(a.shape));
  }
  return {a.shape, DType::F32};
}

TensorType inferConv2d(const std::vector<TensorType>& in, const OpAttrs& a, const std::string& node) {
  const char* op = "conv2d";
  requireRank(op, node, in[0], 4, "4-D NCHW");
  requireWindow(op, node, a);
  const Shape& x = in[0].shape;
  if (a.outChannels < 1) shapeFail(op, node, "out_channels must be >= 1");
  if (a.groups < 1) shapeFail(op, node, "groups must be >= 1");
  if (x[1] % a.groups != 0) {
    shapeFail(op, node, "input has " + std::to_string(x[1]) + " channels, not divisible by groups " +
                            std::to_string(a.groups));
  }
  if (a.outChannels % a.groups != 0) {
    shapeFail(op, node, "out_channels " + std::to_string(a.outChannels) + " is not divisible by groups " +
                            std::to_string(a.groups));
  }
  int64_t h = windowOut(op, node, x[2], a.kernelH, a.strideH, a.padH, a.dilationH, "height");
  int64_t w = windowOut(op, node, x[3], a.kernelW, a.strideW, a.padW, a.dilationW, "width");
  return {{x[0], a.outChannels, h, w}, in[0].dtype};
}

OpCost costConv2d(const std::vector<TensorType>& in, const TensorType& out, const OpAttrs& a) {
  OpCost c;
  int64_t cinPerGroup = in[0].shape[1] / a.groups;
  int64_t kernelElems = cinPerGroup * a.kernelH * a.kernelW;
  c.macs = numel(out.shape) * kernelElems;  // N * Cout * Hout * Wout * (Cin/g) * KH * KW
  c.params = a.outChannels * kernelElems + (a.bias ? a.outChannels : 0);
  return c;
}

TensorType inferLinear(const std::vector<TensorType>& in, const OpAttrs& a, const std::string& node) {
  requireRank("linear", node, in[0], 2, "2-D [N, features] (flatten first)");
  if (a.outChannels < 1) shapeFail("linear", node, "out_features must be >= 1");
  return {{in[0].shape[0], a.outChannels}, in[0].dtype};
}

OpCost costLinear(const std::vector<TensorType>& in, const TensorType& out, const OpAttrs& a) {
  OpCost c;
  int64_t inF = in[0].shape[1];
  c.macs = in[0].shape[0] * inF * a.outChannels;
  c.params = inF * a.outChannels + (a.bias ? a.outChannels : 0);
  return c;
}

TensorType inferBatchNorm(const std::vector<TensorType>& in, const OpAttrs& a, const std::string& node) {
  size_t r = in[0].shape.size();
  if (r != 2 && r != 4) shapeFail("batchnorm", node, "expects a 2-D or 4-D input, got " + shapeToString(in[0].shape));
  if (!(a.eps > 0)) shapeFail("batchnorm", node, "eps must be > 0");
  return in[0];
}

OpCost costBatchNorm(const std::vector<TensorType>& in, const TensorType& out, const OpAttrs&) {
  OpCost c = elementwise(out);
  int64_t ch = in[0].shape[1];
  c.params = 2 * ch;   // gamma, beta
  c.buffers = 2 * ch;  // running mean, running var
  return c;
}

OpCost costAct(const std::vector<TensorType>&, const TensorType& out, const OpAttrs& a) {
  return a.act == ActKind::Identity ? OpCost() : elementwise(out);
}

TensorType inferAdd(const std::vector<TensorType>& in, const OpAttrs&, const std::string& node) {
  if (in[0].shape != in[1].shape) {
    shapeFail("add", node, "input shapes " + shapeToString(in[0].shape) + " and " + shapeToString(in[1].shape) +
                               " differ; add needs equal shapes");
  }
  return in[0];
}

bool isChannelVector(const Shape& full, const Shape& v) {
  return full.size() == 4 && v.size() == 4 && v[0] == full[0] && v[1] == full[1] && v[2] == 1 && v[3] == 1;
}

TensorType inferMul(const std::vector<TensorType>& in, const OpAttrs&, const std::string& node) {
  const Shape& a = in[0].shape;
  const Shape& b = in[1].shape;
  if (a == b) return in[0];
  if (isChannelVector(a, b)) return in[0];
  if (isChannelVector(b, a)) return in[1];
  shapeFail("mul", node, "input shapes " + shapeToString(a) + " and " + shapeToString(b) +
                             " differ; mul needs equal shapes or [N,C,H,W] * [N,C,1,1]");
}

TensorType inferPool(const char* op, const std::vector<TensorType>& in, const OpAttrs& a, const std::string& node) {
  requireRank(op, node, in[0], 4, "4-D NCHW");
  requireWindow(op, node, a);
  const Shape& x = in[0].shape;
  int64_t h = windowOut(op, node, x[2], a.kernelH, a.strideH, a.padH, a.dilationH, "height");
  int64_t w = windowOut(op, node, x[3], a.kernelW, a.strideW, a.padW, a.dilationW, "width");
  return {{x[0], x[1], h, w}, in[0].dtype};
}

OpCost costPool(const std::vector<TensorType>&, const TensorType& out, const OpAttrs& a) {
  OpCost c;
  c.elementwiseOps = numel(out.shape) * a.kernelH * a.kernelW;
  return c;
}

TensorType inferGlobalAvgPool(const std::vector<TensorType>& in, const OpAttrs&, const std::string& node) {
  requireRank("global_avgpool", node, in[0], 4, "4-D NCHW");
  const Shape& x = in[0].shape;
  return {{x[0], x[1], 1, 1}, in[0].dtype};
}

OpCost costGlobalAvgPool(const std::vector<TensorType>& in, const TensorType&, const OpAttrs&) {
  OpCost c;
  c.elementwiseOps = numel(in[0].shape);
  return c;
}

TensorType inferSqueezeExcite(const std::vector<TensorType>& in, const OpAttrs& a, const std::string& node) {
  requireRank("se", node, in[0], 4, "4-D NCHW");
  if (a.outChannels < 1) shapeFail("se", node, "reduced_channels must be >= 1");
  return in[0];
}

OpCost costSqueezeExcite(const std::vector<TensorType>& in, const TensorType&, const OpAttrs& a) {
  OpCost c;
  int64_t n = in[0].shape[0], ch = in[0].shape[1], r = a.outChannels;
  c.macs = n * (ch * r + r * ch);           // two 1x1 convs on the pooled vector
  c.params = ch * r + r + r * ch + ch;      // both with bias
  c.elementwiseOps = numel(in[0].shape)     // global average pool
                     + (a.act == ActKind::Identity ? 0 : n * r) + (a.gate == ActKind::Identity ? 0 : n * ch) +
                     numel(in[0].shape);    // the channel-wise scaling
  return c;
}

TensorType inferConcat(const std::vector<TensorType>& in, const OpAttrs&, const std::string& node) {
  TensorType out = in[0];
  if (out.shape.size() < 2) shapeFail("concat", node, "inputs need a channel dimension, got " + shapeToString(out.shape));
  for (size_t i = 1; i < in.size(); ++i) {
    const Shape& s = in[i].shape;
    bool ok = s.size() == out.shape.size() && in[i].dtype == in[0].dtype;
    for (size_t d = 0; ok && d < s.size(); ++d) ok = d == 1 || s[d] == in[0].shape[d];
    if (!ok) {
      shapeFail("concat", node, "input " + std::to_string(i) + " has shape " + shapeToString(s) +
                                    ", which does not match " + shapeToString(in[0].shape) + " outside dim 1");
    }
    out.shape[1] += s[1];
  }
  return out;
}

TensorType inferFlatten(const std::vector<TensorType>& in, const OpAttrs&, const std::string& node) {
  const Shape& x = in[0].shape;
  if (x.size() < 2) shapeFail("flatten", node, "expects at least 2 dims, got " + shapeToString(x));
  return {{x[0], numel(x) / x[0]}, in[0].dtype};
}

TensorType inferQuant(const std::vector<TensorType>& in, const OpAttrs& a, const std::string& node) {
  if (in[0].dtype != DType::F32) shapeFail("quant", node, "input is already int8");
  if (!(a.scale > 0)) shapeFail("quant", node, "scale must be > 0");
  return {in[0].shape, DType::I8};
}

TensorType inferDequant(const std::vector<TensorType>& in, const OpAttrs& a, const std::string& node) {
  if (in[0].dtype != DType::I8) shapeFail("dequant", node, "input is not int8");
  if (!(a.scale > 0)) shapeFail("dequant", node, "scale must be > 0");
  return {in[0].shape, DType::F32};
}

OpCost noCost(const std::vector<TensorType>&, const TensorType&, const OpAttrs&) { return OpCost(); }

}  // namespace

// ---------------------------------------------------------------- registry

OpRegistry::OpRegistry() {
  const std::vector<std::string> window = {"kernel", "stride", "padding", "dilation"};
  auto add = [&](OpKind k, const char* name, int minIn, int maxIn, std::vector<std::string> attrs, auto infer,
                 auto cost) {
    OpInfo info;
    info.kind = k;
    info.name = name;
    info.minInputs = minIn;
    info.maxInputs = maxIn;
    info.attrNames = std::move(attrs);
    info.inferType = infer;
    info.cost = cost;
    ops_.push_back(std::move(info));
  };
  std::vector<std::string> convAttrs = {"out_channels", "kernel", "stride", "padding", "dilation", "groups", "bias"};
  add(OpKind::Input, "input", 0, 0, {"shape"}, inferInput, noCost);
  add(OpKind::Conv2d, "conv2d", 1, 1, convAttrs, inferConv2d, costConv2d);
  add(OpKind::Linear, "linear", 1, 1, {"out_features", "bias"}, inferLinear, costLinear);
  add(OpKind::BatchNorm, "batchnorm", 1, 1, {"eps"}, inferBatchNorm, costBatchNorm);
  add(
      OpKind::Act, "act", 1, 1, {"act"},
      [](const std::vector<TensorType>& in, const OpAttrs&, const std::string&) { return sameAsInput(in); }, costAct);
  add(OpKind::Add, "add", 2, 2, {}, inferAdd,
      [](const std::vector<TensorType>&, const TensorType& out, const OpAttrs&) { return elementwise(out); });
  add(OpKind::Mul, "mul", 2, 2, {}, inferMul,
      [](const std::vector<TensorType>&, const TensorType& out, const OpAttrs&) { return elementwise(out); });
  add(
      OpKind::AvgPool, "avgpool", 1, 1, window,
      [](const std::vector<TensorType>& in, const OpAttrs& a, const std::string& n) { return inferPool("avgpool", in, a, n); },
      costPool);
  add(
      OpKind::MaxPool, "maxpool", 1, 1, window,
      [](const std::vector<TensorType>& in, const OpAttrs& a, const std::string& n) { return inferPool("maxpool", in, a, n); },
      costPool);
  add(OpKind::GlobalAvgPool, "global_avgpool", 1, 1, {}, inferGlobalAvgPool, costGlobalAvgPool);
  add(OpKind::SqueezeExcite, "se", 1, 1, {"reduced_channels", "act", "gate"}, inferSqueezeExcite, costSqueezeExcite);
  add(OpKind::Concat, "concat", 1, -1, {}, inferConcat, noCost);
  add(OpKind::Flatten, "flatten", 1, 1, {}, inferFlatten, noCost);
  add(OpKind::Quant, "quant", 1, 1, {"scale", "zero_point"}, inferQuant,
      [](const std::vector<TensorType>&, const TensorType& out, const OpAttrs&) { return elementwise(out); });
  add(OpKind::Dequant, "dequant", 1, 1, {"scale", "zero_point"}, inferDequant,
      [](const std::vector<TensorType>&, const TensorType& out, const OpAttrs&) { return elementwise(out); });
  std::sort(ops_.begin(), ops_.end(), [](const OpInfo& a, const OpInfo& b) { return int(a.kind) < int(b.kind); });
}

const OpRegistry& OpRegistry::instance() {
  static const OpRegistry registry;
  return registry;
}

const OpInfo* OpRegistry::find(OpKind kind) const {
  for (const auto& op : ops_) {
    if (op.kind == kind) return &op;
  }
  return nullptr;
}

const OpInfo* OpRegistry::find(const std::string& name) const {
  for (const auto& op : ops_) {
    if (op.name == name) return &op;
  }
  return nullptr;
}

const OpInfo& OpRegistry::get(OpKind kind) const {
  const OpInfo* info = find(kind);
  if (!info) throw Error("graph: op kind #" + std::to_string(int(kind)) + " is not registered in core/graph.cpp");
  return *info;
}

const char* opKindName(OpKind kind) {
  const OpInfo* info = OpRegistry::instance().find(kind);
  return info ? info->name.c_str() : "?";
}

// ---------------------------------------------------------------- Graph

int Graph::checkedInput(int id, const std::string& forNode) const {
  if (id < 0 || id >= int(nodes_.size())) {
    throw InputError("graph: node '" + forNode + "' refers to input #" + std::to_string(id) + ", but the graph has " +
                     std::to_string(nodes_.size()) + " nodes; add inputs before their consumers");
  }
  return id;
}

int Graph::addNode(const std::string& name, OpKind kind, const std::vector<int>& inputs, const OpAttrs& attrs) {
  const OpInfo& info = OpRegistry::instance().get(kind);
  Node n;
  n.id = int(nodes_.size());
  n.name = name.empty() ? info.name + "_" + std::to_string(n.id) : name;
  n.kind = kind;
  n.attrs = attrs;
  if (findNode(n.name) >= 0) throw InputError("graph: duplicate node name '" + n.name + "'");
  int count = int(inputs.size());
  if (count < info.minInputs || (info.maxInputs >= 0 && count > info.maxInputs)) {
    std::string want = info.maxInputs < 0 ? "at least " + std::to_string(info.minInputs)
                       : info.minInputs == info.maxInputs ? std::to_string(info.minInputs)
                                                          : std::to_string(info.minInputs) + ".." + std::to_string(info.maxInputs);
    throw ShapeError(info.name + " '" + n.name + "': takes " + want + " inputs, got " + std::to_string(count));
  }
  std::vector<TensorType> in;
  for (int id : inputs) {
    const Node& src = nodes_[size_t(checkedInput(id, n.name))];
    in.push_back({src.shape, src.dtype});
  }
  n.inputs = inputs;
  TensorType out = info.inferType(in, attrs, n.name);
  n.shape = out.shape;
  n.dtype = out.dtype;
  nodes_.push_back(std::move(n));
  return nodes_.back().id;
}

int Graph::addInput(const std::string& name, const Shape& shape) {
  OpAttrs a;
  a.shape = shape;
  return addNode(name, OpKind::Input, {}, a);
}

int Graph::addConv2d(const std::string& name, int input, int64_t outChannels, int kernel, int stride, int padding,
                     int64_t groups, bool bias, int dilation) {
  OpAttrs a;
  a.outChannels = outChannels;
  a.kernelH = a.kernelW = kernel;
  a.strideH = a.strideW = stride;
  a.padH = a.padW = padding < 0 ? dilation * (kernel - 1) / 2 : padding;
  a.dilationH = a.dilationW = dilation;
  a.groups = groups;
  a.bias = bias;
  return addNode(name, OpKind::Conv2d, {input}, a);
}

int Graph::addDepthwiseConv2d(const std::string& name, int input, int kernel, int stride, int padding, bool bias) {
  const Node& x = node(checkedInput(input, name));
  if (x.shape.size() != 4) {
    throw ShapeError("conv2d '" + name + "': depthwise conv expects a 4-D NCHW input, got " + shapeToString(x.shape));
  }
  int64_t c = x.shape[1];
  return addConv2d(name, input, c, kernel, stride, padding, c, bias);
}

int Graph::addLinear(const std::string& name, int input, int64_t outFeatures, bool bias) {
  OpAttrs a;
  a.outChannels = outFeatures;
  a.bias = bias;
  return addNode(name, OpKind::Linear, {input}, a);
}

int Graph::addBatchNorm(const std::string& name, int input, double eps) {
  OpAttrs a;
  a.eps = eps;
  return addNode(name, OpKind::BatchNorm, {input}, a);
}

int Graph::addAct(const std::string& name, int input, ActKind act) {
  OpAttrs a;
  a.act = act;
  return addNode(name, OpKind::Act, {input}, a);
}

int Graph::addAdd(const std::string& name, int x, int y) { return addNode(name, OpKind::Add, {x, y}, OpAttrs()); }
int Graph::addMul(const std::string& name, int x, int y) { return addNode(name, OpKind::Mul, {x, y}, OpAttrs()); }

static OpAttrs poolAttrs(int kernel, int stride, int padding) {
  OpAttrs a;
  a.kernelH = a.kernelW = kernel;
  a.strideH = a.strideW = stride < 0 ? kernel : stride;
  a.padH = a.padW = padding;
  return a;
}

int Graph::addAvgPool(const std::string& name, int input, int kernel, int stride, int padding) {
  return addNode(name, OpKind::AvgPool, {input}, poolAttrs(kernel, stride, padding));
}

int Graph::addMaxPool(const std::string& name, int input, int kernel, int stride, int padding) {
  return addNode(name, OpKind::MaxPool, {input}, poolAttrs(kernel, stride, padding));
}

int Graph::addGlobalAvgPool(const std::string& name, int input) {
  return addNode(name, OpKind::GlobalAvgPool, {input}, OpAttrs());
}

int Graph::addSqueezeExcite(const std::string& name, int input, int64_t reducedChannels, ActKind inner, ActKind gate) {
  OpAttrs a;
  a.outChannels = reducedChannels;
  a.act = inner;
  a.gate = gate;
  return addNode(name, OpKind::SqueezeExcite, {input}, a);
}

int Graph::addConcat(const std::string& name, const std::vector<int>& inputs) {
  return addNode(name, OpKind::Concat, inputs, OpAttrs());
}

int Graph::addFlatten(const std::string& name, int input) { return addNode(name, OpKind::Flatten, {input}, OpAttrs()); }

int Graph::addQuant(const std::string& name, int input, double scale, int64_t zeroPoint) {
  OpAttrs a;
  a.scale = scale;
  a.zeroPoint = zeroPoint;
  return addNode(name, OpKind::Quant, {input}, a);
}

int Graph::addDequant(const std::string& name, int input, double scale, int64_t zeroPoint) {
  OpAttrs a;
  a.scale = scale;
  a.zeroPoint = zeroPoint;
  return addNode(name, OpKind::Dequant, {input}, a);
}

const Node& Graph::node(int id) const {
  if (id < 0 || id >= int(nodes_.size())) {
    throw Error("graph: no node #" + std::to_string(id) + " (the graph has " + std::to_string(nodes_.size()) + ")");
  }
  return nodes_[size_t(id)];
}

int Graph::findNode(const std::string& name) const {
  for (const auto& n : nodes_) {
    if (n.name == name) return n.id;
  }
  return -1;
}

std::vector<int> Graph::consumers(int id) const {
  std::vector<int> out;
  for (size_t j = size_t(id) + 1; j < nodes_.size(); ++j) {
    const auto& ins = nodes_[j].inputs;
    if (std::find(ins.begin(), ins.end(), id) != ins.end()) out.push_back(int(j));
  }
  return out;
}

std::vector<int> Graph::inputIds() const {
  std::vector<int> out;
  for (const auto& n : nodes_) {
    if (n.kind == OpKind::Input) out.push_back(n.id);
  }
  return out;
}

std::vector<int> Graph::outputIds() const {
  std::vector<bool> used(nodes_.size(), false);
  for (const auto& n : nodes_) {
    for (int i : n.inputs) used[size_t(i)] = true;
  }
  std::vector<int> out;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (!used[i]) out.push_back(int(i));
  }
  return out;
}

OpCost Graph::opCost(int id) const {
  const Node& n = node(id);
  std::vector<TensorType> in;
  for (int i : n.inputs) in.push_back({nodes_[size_t(i)].shape, nodes_[size_t(i)].dtype});
  TensorType out{n.shape, n.dtype};
  OpCost c = OpRegistry::instance().get(n.kind).cost(in, out, n.attrs);
  c.outputBytes = numel(n.shape) * dtypeSize(n.dtype);
  return c;
}

int64_t Graph::peakActivationBytes() const {
  // A tensor is live from its producer's step to its last consumer's step; graph outputs stay
  // live to the end. Peak = max over steps of the bytes live during that step.
  size_t n = nodes_.size();
  if (n == 0) return 0;
  std::vector<size_t> lastUse(n);
  for (size_t i = 0; i < n; ++i) lastUse[i] = n - 1;  // outputs: live to the end
  std::vector<bool> consumed(n, false);
  for (size_t j = 0; j < n; ++j) {
    for (int i : nodes_[j].inputs) {
      size_t ii = size_t(i);
      lastUse[ii] = consumed[ii] ? std::max(lastUse[ii], j) : j;
      consumed[ii] = true;
    }
  }
  std::vector<int64_t> freedAfter(n, 0);
  int64_t live = 0, peak = 0;
  for (size_t j = 0; j < n; ++j) {
    int64_t bytes = numel(nodes_[j].shape) * dtypeSize(nodes_[j].dtype);
    live += bytes;
    freedAfter[lastUse[j]] += bytes;
    peak = std::max(peak, live);
    live -= freedAfter[j];
  }
  return peak;
}

GraphCost Graph::cost() const {
  GraphCost g;
  for (const auto& n : nodes_) {
    OpCost c = opCost(n.id);
    g.macs += c.macs;
    g.params += c.params;
    g.buffers += c.buffers;
    g.elementwiseOps += c.elementwiseOps;
    g.activationBytes += c.outputBytes;
  }
  g.peakActivationBytes = peakActivationBytes();
  return g;
}

// ---------------------------------------------------------------- JSON

namespace {

Json pairJson(int h, int w) { return Json::array({h, w}); }

void writeAttr(Json& out, const std::string& name, const OpAttrs& a) {
  if (name == "shape") out[name] = a.shape;
  else if (name == "out_channels" || name == "out_features" || name == "reduced_channels") out[name] = a.outChannels;
  else if (name == "kernel") out[name] = pairJson(a.kernelH, a.kernelW);
  else if (name == "stride") out[name] = pairJson(a.strideH, a.strideW);
  else if (name == "padding") out[name] = pairJson(a.padH, a.padW);
  else if (name == "dilation") out[name] = pairJson(a.dilationH, a.dilationW);
  else if (name == "groups") out[name] = a.groups;
  else if (name == "bias") out[name] = a.bias;
  else if (name == "act") out[name] = actKindName(a.act);
  else if (name == "gate") out[name] = actKindName(a.gate);
  else if (name == "eps") out[name] = a.eps;
  else if (name == "scale") out[name] = a.scale;
  else if (name == "zero_point") out[name] = a.zeroPoint;
  else throw Error("graph: attribute '" + name + "' has no JSON writer");
}

// An int or an [h, w] pair.
void readPair(const JsonReader& r, int& h, int& w) {
  if (r.isArray()) {
    std::vector<int> v = r.asIntList();
    if (v.size() != 2) r.fail("expected an integer or a pair [h, w], got " + std::to_string(v.size()) + " values");
    h = v[0];
    w = v[1];
  } else {
    h = w = r.asInt();
  }
}

ActKind readAct(const JsonReader& r) {
  try {
    return parseActKind(r.asString());
  } catch (const ConfigError&) {
    throw;
  } catch (const InputError& e) {
    r.fail(e.what());
  }
}

void readAttr(const JsonReader& r, const std::string& name, OpAttrs& a) {
  if (name == "shape") a.shape = r.asInt64List();
  else if (name == "out_channels" || name == "out_features" || name == "reduced_channels") a.outChannels = r.asInt64();
  else if (name == "kernel") readPair(r, a.kernelH, a.kernelW);
  else if (name == "stride") readPair(r, a.strideH, a.strideW);
  else if (name == "padding") readPair(r, a.padH, a.padW);
  else if (name == "dilation") readPair(r, a.dilationH, a.dilationW);
  else if (name == "groups") a.groups = r.asInt64();
  else if (name == "bias") a.bias = r.asBool();
  else if (name == "act") a.act = readAct(r);
  else if (name == "gate") a.gate = readAct(r);
  else if (name == "eps") a.eps = r.asDouble();
  else if (name == "scale") a.scale = r.asDouble();
  else if (name == "zero_point") a.zeroPoint = r.asInt64();
  else throw Error("graph: attribute '" + name + "' has no JSON reader");
}

}  // namespace

Json Graph::toJson() const {
  Json nodes = Json::array();
  for (const auto& n : nodes_) {
    const OpInfo& info = OpRegistry::instance().get(n.kind);
    Json jn;
    jn["name"] = n.name;
    jn["op"] = info.name;
    Json ins = Json::array();
    for (int i : n.inputs) ins.push_back(nodes_[size_t(i)].name);
    jn["inputs"] = ins;
    Json attrs = Json::object();
    for (const auto& an : info.attrNames) writeAttr(attrs, an, n.attrs);
    jn["attrs"] = attrs;
    jn["shape"] = n.shape;
    jn["dtype"] = dtypeName(n.dtype);
    nodes.push_back(jn);
  }
  return Json{{"format", "hwnas-graph"}, {"version", 1}, {"nodes", nodes}};
}

Graph Graph::fromJson(const Json& j, const std::string& file) {
  JsonReader root(j, file);
  root.checkKeys({"format", "version", "nodes"});
  if (root.getString("format") != "hwnas-graph") root["format"].fail("expected 'hwnas-graph'");
  int version = root.getInt("version");
  if (version != 1) root["version"].fail("unsupported graph version " + std::to_string(version) + "; this build reads 1");
  Graph g;
  for (const auto& jn : root["nodes"].items()) {
    jn.checkKeys({"name", "op", "inputs", "attrs", "shape", "dtype"});
    std::string name = jn.getString("name");
    std::string opName = jn.getString("op");
    const OpInfo* info = OpRegistry::instance().find(opName);
    if (!info) {
      std::vector<std::string> names;
      for (const auto& op : OpRegistry::instance().all()) names.push_back(op.name);
      std::string near = closestMatch(opName, names);
      std::string msg = "unknown op '" + opName + "'";
      if (!near.empty()) msg += "; did you mean '" + near + "'?";
      jn["op"].fail(msg);
    }
    std::vector<int> inputs;
    if (auto ins = jn.find("inputs")) {
      for (const auto& in : ins->items()) {
        int id = g.findNode(in.asString());
        if (id < 0) in.fail("unknown input node '" + in.asString() + "' (inputs must come before their consumers)");
        inputs.push_back(id);
      }
    }
    OpAttrs attrs;
    if (auto ja = jn.find("attrs")) {
      ja->checkKeys(info->attrNames);
      for (const auto& an : info->attrNames) {
        if (auto v = ja->find(an)) readAttr(*v, an, attrs);
      }
    }
    try {
      g.addNode(name, info->kind, inputs, attrs);
    } catch (const ShapeError& e) {
      jn.fail(e.what());
    } catch (const ConfigError&) {
      throw;
    } catch (const InputError& e) {
      jn.fail(e.what());
    }
    const Node& added = g.nodes_.back();
    if (auto s = jn.find("shape")) {
      Shape stored = s->asInt64List();
      if (stored != added.shape) {
        s->fail("stored shape " + shapeToString(stored) + " differs from the inferred " + shapeToString(added.shape));
      }
    }
    if (auto d = jn.find("dtype")) {
      if (d->asString() != dtypeName(added.dtype)) {
        d->fail("stored dtype '" + d->asString() + "' differs from the inferred '" + dtypeName(added.dtype) + "'");
      }
    }
  }
  return g;
}

}  // namespace hwnas
