#include "runtime/plan.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace hwnas::runtime {

namespace {

const char kMagic[8] = {'H', 'W', 'N', 'A', 'S', 'P', 'L', 'N'};
constexpr uint32_t kVersion = 2;
constexpr int kMaxRank = 8;

const char* const kActNames[] = {"identity", "relu", "relu6", "hswish", "hsigmoid", "silu", "sigmoid"};
static_assert(sizeof(kActNames) / sizeof(kActNames[0]) == size_t(Act::Count), "every Act needs a name");
const char* const kOpNames[] = {"conv2d", "dwconv2d", "linear",  "add",     "mul",     "avgpool",
                                "maxpool", "global_avgpool", "se", "concat", "flatten", "act", "quantize", "dequantize"};
static_assert(sizeof(kOpNames) / sizeof(kOpNames[0]) == size_t(OpType::Count), "every OpType needs a name");

uint64_t fnv1a(const char* p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= uint8_t(p[i]);
    h *= 1099511628211ull;
  }
  return h;
}

class Writer {
 public:
  void u8(uint8_t v) { out_.push_back(char(v)); }
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) u8(uint8_t(v >> (8 * i)));
  }
  void u64(uint64_t v) {
    for (int i = 0; i < 8; ++i) u8(uint8_t(v >> (8 * i)));
  }
  void i32(int32_t v) { u32(uint32_t(v)); }
  void i64(int64_t v) { u64(uint64_t(v)); }
  void str(const std::string& s) {
    u32(uint32_t(s.size()));
    out_ += s;
  }
  void blob(const std::vector<float>& v) {
    u64(v.size());
    for (float f : v) {
      uint32_t b;
      std::memcpy(&b, &f, 4);
      u32(b);
    }
  }
  void bytesBlob(const std::vector<int8_t>& v) {
    u64(v.size());
    for (int8_t b : v) u8(uint8_t(b));
  }
  void intBlob(const std::vector<int32_t>& v) {
    u64(v.size());
    for (int32_t b : v) i32(b);
  }
  void f32(float f) {
    uint32_t b;
    std::memcpy(&b, &f, 4);
    u32(b);
  }
  void raw(const char* p, size_t n) { out_.append(p, n); }
  std::string& bytes() { return out_; }

 private:
  std::string out_;
};

class Reader {
 public:
  Reader(const std::string& bytes, size_t end, std::string where) : b_(bytes), end_(end), where_(std::move(where)) {}
  [[noreturn]] void fail(const std::string& msg) const {
    throw RuntimeError(where_ + ": " + msg + " (at byte " + std::to_string(pos_) + ")");
  }
  void need(uint64_t n, const char* what) {
    if (n > end_ - pos_) fail(std::string("truncated plan file: ") + what + " runs past the end");
  }
  uint8_t u8(const char* what) {
    need(1, what);
    return uint8_t(b_[pos_++]);
  }
  uint32_t u32(const char* what) {
    need(4, what);
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t(uint8_t(b_[pos_ + i])) << (8 * i);
    pos_ += 4;
    return v;
  }
  uint64_t u64(const char* what) {
    need(8, what);
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t(uint8_t(b_[pos_ + i])) << (8 * i);
    pos_ += 8;
    return v;
  }
  int32_t i32(const char* what) { return int32_t(u32(what)); }
  int64_t i64(const char* what) { return int64_t(u64(what)); }
  // A count of items of at least `itemBytes` each: must fit in what is left.
  uint64_t count(const char* what, uint64_t itemBytes, bool wide = false) {
    uint64_t n = wide ? u64(what) : u32(what);
    if (itemBytes > 0 && n > (end_ - pos_) / itemBytes)
      fail(std::string("corrupt plan file: ") + what + " " + std::to_string(n) + " exceeds the file size");
    return n;
  }
  std::string str(const char* what) {
    uint64_t n = count(what, 1);
    std::string s = b_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  std::vector<float> blob(const char* what) {
    uint64_t n = count(what, 4, true);
    std::vector<float> v(n);
    for (uint64_t i = 0; i < n; ++i) {
      uint32_t bits = u32(what);
      std::memcpy(&v[i], &bits, 4);
    }
    return v;
  }
  std::vector<int8_t> bytesBlob(const char* what) {
    uint64_t n = count(what, 1, true);
    std::vector<int8_t> v(n);
    for (uint64_t i = 0; i < n; ++i) v[i] = int8_t(b_[pos_ + i]);
    pos_ += n;
    return v;
  }
  std::vector<int32_t> intBlob(const char* what) {
    uint64_t n = count(what, 4, true);
    std::vector<int32_t> v(n);
    for (auto& x : v) x = i32(what);
    return v;
  }
  float f32(const char* what) {
    uint32_t bits = u32(what);
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
  size_t pos() const { return pos_; }
  void seek(size_t p) { pos_ = p; }

 private:
  const std::string& b_;
  size_t end_;
  size_t pos_ = 0;
  std::string where_;
};

int64_t windowOut(int64_t in, int k, int s, int p, int d) {
  const int64_t span = int64_t(d) * (k - 1) + 1;
  if (in + 2 * int64_t(p) < span) return -1;
  return (in + 2 * int64_t(p) - span) / s + 1;
}

}  // namespace

const char* actName(Act a) { return size_t(a) < size_t(Act::Count) ? kActNames[size_t(a)] : "?"; }
const char* opTypeName(OpType t) { return size_t(t) < size_t(OpType::Count) ? kOpNames[size_t(t)] : "?"; }
const char* dtypeName(DType t) { return t == DType::F32 ? "f32" : t == DType::I8 ? "i8" : "?"; }

bool isInt8Op(const Plan& plan, const PlanOp& op) {
  if (op.type == OpType::Quantize) return true;
  return !op.inputs.empty() && op.inputs[0] >= 0 && size_t(op.inputs[0]) < plan.tensors.size() &&
         plan.tensors[op.inputs[0]].dtype == DType::I8;
}

std::vector<int64_t> withBatch(std::vector<int64_t> shape, int64_t batch) {
  if (!shape.empty()) shape[0] = batch;
  return shape;
}

int64_t shapeElements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shapeText(const std::vector<int64_t>& shape) {
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "x" : "") + std::to_string(shape[i]);
  return s;
}

int64_t Plan::batch() const { return tensors.empty() || tensors[0].shape.empty() ? 0 : tensors[0].shape[0]; }

std::vector<int64_t> Plan::inferShape(const PlanOp& op, const std::vector<std::vector<int64_t>>& in) {
  auto fail = [&](const std::string& msg) -> std::vector<int64_t> {
    throw RuntimeError(std::string(opTypeName(op.type)) + ": " + msg);
  };
  auto need = [&](size_t lo, size_t hi) {
    if (in.size() < lo || in.size() > hi) fail("takes " + std::to_string(lo) + ".." + std::to_string(hi) +
                                               " inputs, got " + std::to_string(in.size()));
  };
  auto need4d = [&](const std::vector<int64_t>& s) {
    if (s.size() != 4) fail("expects a 4-D NCHW input, got " + shapeText(s));
  };
  auto checkWindow = [&]() {
    if (op.kernelH < 1 || op.kernelW < 1 || op.strideH < 1 || op.strideW < 1 || op.padH < 0 || op.padW < 0 ||
        op.dilationH < 1 || op.dilationW < 1)
      fail("bad window attributes (kernel, stride, dilation >= 1, padding >= 0)");
  };
  auto checkSize = [&](size_t size, int64_t n, const char* what, bool optional) {
    if (optional && size == 0) return;
    if (int64_t(size) != n) fail(std::string(what) + " has " + std::to_string(size) + " values, expected " + std::to_string(n));
  };
  auto checkWeights = [&](const std::vector<float>& w, int64_t n, const char* what, bool optional) {
    checkSize(w.size(), n, what, optional);
  };
  // Conv / linear: float weights, or (int8 op: weight scales present) qweight, qbias, scales.
  const bool quantized = !op.weightScales.empty();
  auto checkLayerWeights = [&](int64_t n, int64_t out) {
    if (quantized) {
      checkSize(op.qweight.size(), n, "int8 weight", false);
      checkSize(op.qbias.size(), out, "int32 bias", true);
      checkSize(op.weightScales.size(), out, "weight scales", false);
      if (!op.weight.empty() || !op.bias.empty()) fail("an int8 op carries float weights too");
    } else {
      checkWeights(op.weight, n, "weight", false);
      checkWeights(op.bias, out, "bias", true);
      if (!op.qweight.empty() || !op.qbias.empty()) fail("int8 weights without weight scales");
    }
  };
  if (size_t(op.act) >= size_t(Act::Count) || size_t(op.gate) >= size_t(Act::Count)) fail("unknown activation");
  switch (op.type) {
    case OpType::Conv2d:
    case OpType::DepthwiseConv2d: {
      need(1, 1);
      need4d(in[0]);
      checkWindow();
      const auto& x = in[0];
      int64_t groups = op.type == OpType::DepthwiseConv2d ? x[1] : op.groups;
      if (op.type == OpType::DepthwiseConv2d &&
          (op.outChannels != x[1] || op.groups != x[1] || op.dilationH != 1 || op.dilationW != 1))
        fail("depthwise needs out_channels = groups = input channels and dilation 1");
      if (groups < 1 || op.outChannels < 1 || x[1] % groups || op.outChannels % groups)
        fail("channels " + std::to_string(x[1]) + "->" + std::to_string(op.outChannels) + " do not fit groups " +
             std::to_string(groups));
      int64_t oh = windowOut(x[2], op.kernelH, op.strideH, op.padH, op.dilationH);
      int64_t ow = windowOut(x[3], op.kernelW, op.strideW, op.padW, op.dilationW);
      if (oh < 1 || ow < 1) fail("window does not fit the input " + shapeText(x));
      checkLayerWeights(int64_t(op.outChannels) * (x[1] / groups) * op.kernelH * op.kernelW, op.outChannels);
      return {x[0], op.outChannels, oh, ow};
    }
    case OpType::Linear: {
      need(1, 1);
      if (in[0].size() < 2) fail("expects [N, features], got " + shapeText(in[0]));
      int64_t f = shapeElements(in[0]) / in[0][0];
      if (op.outChannels < 1) fail("out_features must be >= 1");
      checkLayerWeights(int64_t(op.outChannels) * f, op.outChannels);
      return {in[0][0], op.outChannels};
    }
    case OpType::Add:
      need(2, 2);
      if (in[0] != in[1]) fail("input shapes " + shapeText(in[0]) + " and " + shapeText(in[1]) + " differ");
      return in[0];
    case OpType::Mul:
      need(2, 2);
      if (op.broadcastChannels) {
        need4d(in[0]);
        if (in[1] != std::vector<int64_t>{in[0][0], in[0][1], 1, 1})
          fail("broadcast input " + shapeText(in[1]) + " is not [N,C,1,1] of " + shapeText(in[0]));
      } else if (in[0] != in[1]) {
        fail("input shapes " + shapeText(in[0]) + " and " + shapeText(in[1]) + " differ");
      }
      return in[0];
    case OpType::AvgPool:
    case OpType::MaxPool: {
      need(1, 1);
      need4d(in[0]);
      checkWindow();
      if (op.dilationH != 1 || op.dilationW != 1) fail("pooling needs dilation 1");
      if (op.padH >= op.kernelH || op.padW >= op.kernelW) fail("padding must be smaller than the kernel");
      int64_t oh = windowOut(in[0][2], op.kernelH, op.strideH, op.padH, 1);
      int64_t ow = windowOut(in[0][3], op.kernelW, op.strideW, op.padW, 1);
      if (oh < 1 || ow < 1) fail("window does not fit the input " + shapeText(in[0]));
      return {in[0][0], in[0][1], oh, ow};
    }
    case OpType::GlobalAvgPool:
      need(1, 1);
      need4d(in[0]);
      return {in[0][0], in[0][1], 1, 1};
    case OpType::SqueezeExcite: {
      need(1, 1);
      need4d(in[0]);
      const int64_t c = in[0][1], r = op.outChannels;
      if (r < 1) fail("reduced channels must be >= 1");
      checkWeights(op.weight, r * c, "reduce weight", false);
      checkWeights(op.bias, r, "reduce bias", true);
      checkWeights(op.weight2, c * r, "expand weight", false);
      checkWeights(op.bias2, c, "expand bias", true);
      return in[0];
    }
    case OpType::Concat: {
      need(1, 1u << 20);
      std::vector<int64_t> out = in[0];
      if (out.size() < 2) fail("inputs need a channel dimension");
      for (size_t i = 1; i < in.size(); ++i) {
        bool ok = in[i].size() == out.size();
        for (size_t d = 0; ok && d < out.size(); ++d) ok = d == 1 || in[i][d] == in[0][d];
        if (!ok) fail("input " + std::to_string(i) + " " + shapeText(in[i]) + " does not match " + shapeText(in[0]));
        out[1] += in[i][1];
      }
      return out;
    }
    case OpType::Flatten:
      need(1, 1);
      if (in[0].size() < 2) fail("expects at least 2 dims");
      return {in[0][0], shapeElements(in[0]) / in[0][0]};
    case OpType::Activation:
    case OpType::Quantize:
    case OpType::Dequantize:
      need(1, 1);
      return in[0];
    case OpType::Count:
      break;
  }
  return fail("unknown op type " + std::to_string(int(op.type)));
}

void Plan::validate(const std::string& where) const {
  auto fail = [&](const std::string& msg) { throw RuntimeError(where + ": " + msg); };
  // Which dtypes each op reads and writes (tensor ids are checked before this runs).
  auto checkDtypes = [&](size_t i, const std::string& opWhere) {
    const PlanOp& op = ops[i];
    const TensorInfo& x = tensors[op.inputs[0]];
    const TensorInfo& y = tensors[op.output];
    const bool i8in = x.dtype == DType::I8;
    auto bad = [&](const std::string& msg) { fail(opWhere + ": " + msg); };
    for (int32_t id : op.inputs)
      if (tensors[id].dtype != x.dtype && op.type != OpType::Concat)
        bad("inputs mix f32 and i8 tensors; insert a quantize or dequantize op");
    switch (op.type) {
      case OpType::Conv2d:
      case OpType::DepthwiseConv2d:
      case OpType::Linear:
        if (i8in != !op.weightScales.empty())
          bad(i8in ? "reads an i8 tensor but has float weights" : "has int8 weights but reads an f32 tensor");
        if (!i8in && y.dtype != DType::F32) bad("an f32 op must write an f32 tensor");
        return;
      case OpType::Quantize:
        if (i8in || y.dtype != DType::I8) bad("quantize reads f32 and writes i8");
        return;
      case OpType::Dequantize:
        if (!i8in || y.dtype != DType::F32) bad("dequantize reads i8 and writes f32");
        return;
      case OpType::Add:
      case OpType::GlobalAvgPool:
        if (!i8in && y.dtype != DType::F32) bad("an f32 op must write an f32 tensor");
        if (op.type == OpType::GlobalAvgPool && i8in && y.dtype != DType::I8) bad("int8 global avgpool writes i8");
        return;
      case OpType::MaxPool:
      case OpType::Flatten:
        if (y.dtype != x.dtype || (i8in && (y.scale != x.scale || y.zeroPoint != x.zeroPoint)))
          bad("must write the dtype, scale and zero point it reads");
        return;
      default:
        for (int32_t id : op.inputs)
          if (tensors[id].dtype != DType::F32) bad(std::string(opTypeName(op.type)) + " runs in f32 only; dequantize its input");
        if (y.dtype != DType::F32) bad("an f32 op must write an f32 tensor");
        return;
    }
  };
  const int64_t n = batch();
  for (size_t t = 0; t < tensors.size(); ++t) {
    const auto& s = tensors[t].shape;
    if (s.empty() || s.size() > size_t(kMaxRank)) fail("tensor " + std::to_string(t) + " has rank " + std::to_string(s.size()));
    for (int64_t d : s)
      if (d < 1 || d > (int64_t(1) << 31)) fail("tensor " + std::to_string(t) + " has a bad dimension: " + shapeText(s));
    if (s[0] != n) fail("tensor " + std::to_string(t) + " has batch " + std::to_string(s[0]) + ", the plan's is " + std::to_string(n));
    const TensorInfo& ti = tensors[t];
    if (size_t(ti.dtype) >= size_t(DType::Count)) fail("tensor " + std::to_string(t) + " has an unknown dtype");
    if (ti.dtype == DType::I8 && (!(ti.scale > 0.f) || !std::isfinite(ti.scale) || ti.zeroPoint < -128 || ti.zeroPoint > 127))
      fail("int8 tensor " + std::to_string(t) + " has scale " + std::to_string(ti.scale) + " and zero point " +
           std::to_string(ti.zeroPoint) + " (need scale > 0, zero point in [-128, 127])");
  }
  std::vector<int> producer(tensors.size(), -2);  // -2: none, -1: plan input, i: op i
  auto checkId = [&](int32_t id, const std::string& what) {
    if (id < 0 || size_t(id) >= tensors.size())
      fail(what + " refers to tensor " + std::to_string(id) + ", the plan has " + std::to_string(tensors.size()));
  };
  if (inputs.empty()) fail("no inputs");
  if (outputs.empty()) fail("no outputs");
  for (int32_t id : inputs) {
    checkId(id, "an input");
    if (producer[id] != -2) fail("tensor " + std::to_string(id) + " is listed as an input twice");
    producer[id] = -1;
  }
  for (size_t i = 0; i < ops.size(); ++i) {
    const PlanOp& op = ops[i];
    const std::string opWhere = "op #" + std::to_string(i) + " '" + op.name + "'";
    if (size_t(op.type) >= size_t(OpType::Count)) fail(opWhere + ": unknown op type " + std::to_string(int(op.type)));
    std::vector<std::vector<int64_t>> inShapes;
    for (int32_t id : op.inputs) {
      checkId(id, opWhere);
      if (producer[id] == -2) fail(opWhere + " reads tensor " + std::to_string(id) + " before anything writes it");
      inShapes.push_back(tensors[id].shape);
    }
    checkId(op.output, opWhere + " output");
    if (producer[op.output] != -2) fail(opWhere + " writes tensor " + std::to_string(op.output) + ", already written");
    producer[op.output] = int(i);
    std::vector<int64_t> out;
    try {
      out = inferShape(op, inShapes);
    } catch (const RuntimeError& e) {
      fail(opWhere + ": " + e.what());
    }
    if (out != tensors[op.output].shape)
      fail(opWhere + ": output shape " + shapeText(tensors[op.output].shape) + " should be " + shapeText(out));
    checkDtypes(i, opWhere);
  }
  for (int32_t id : outputs) {
    checkId(id, "an output");
    if (producer[id] == -2) fail("output tensor " + std::to_string(id) + " is never written");
  }
}

std::string Plan::serialize() const {
  // A plan without int8 tensors or weights is written as version 1, byte for byte as before,
  // so runtimes (and board probes) that predate int8 still read it.
  bool v2 = false;
  for (const auto& t : tensors) v2 = v2 || t.dtype != DType::F32;
  for (const auto& op : ops) v2 = v2 || !op.qweight.empty() || !op.qbias.empty() || !op.weightScales.empty();
  Writer w;
  w.raw(kMagic, 8);
  w.u32(v2 ? kVersion : 1);
  w.u32(uint32_t(tensors.size()));
  for (const auto& t : tensors) {
    w.u8(uint8_t(t.shape.size()));
    for (int64_t d : t.shape) w.i64(d);
    if (!v2) continue;
    w.u8(uint8_t(t.dtype));
    w.f32(t.scale);
    w.i32(t.zeroPoint);
  }
  w.u32(uint32_t(inputs.size()));
  for (int32_t id : inputs) w.i32(id);
  w.u32(uint32_t(outputs.size()));
  for (int32_t id : outputs) w.i32(id);
  w.u32(uint32_t(ops.size()));
  for (const auto& op : ops) {
    w.u8(uint8_t(op.type));
    w.u8(uint8_t(op.act));
    w.u8(uint8_t(op.gate));
    w.u8(op.broadcastChannels ? 1 : 0);
    for (int32_t v : {op.kernelH, op.kernelW, op.strideH, op.strideW, op.padH, op.padW, op.dilationH, op.dilationW,
                      op.groups, op.outChannels})
      w.i32(v);
    w.u32(uint32_t(op.inputs.size()));
    for (int32_t id : op.inputs) w.i32(id);
    w.i32(op.output);
    w.str(op.name);
    w.str(op.key);
    w.blob(op.weight);
    w.blob(op.bias);
    w.blob(op.weight2);
    w.blob(op.bias2);
    if (!v2) continue;
    w.bytesBlob(op.qweight);
    w.intBlob(op.qbias);
    w.blob(op.weightScales);
  }
  std::string& bytes = w.bytes();
  w.u64(fnv1a(bytes.data(), bytes.size()));
  return std::move(bytes);
}

Plan Plan::deserialize(const std::string& bytes, const std::string& where) {
  if (bytes.size() < 8 || std::memcmp(bytes.data(), kMagic, 8) != 0)
    throw RuntimeError(where + ": not an hwnas plan file (the magic bytes 'HWNASPLN' are missing)");
  if (bytes.size() < 20) throw RuntimeError(where + ": truncated plan file (" + std::to_string(bytes.size()) + " bytes)");
  const size_t end = bytes.size() - 8;
  Reader r(bytes, bytes.size(), where);
  r.seek(8);
  const uint32_t version = r.u32("version");
  if (version != kVersion && version != 1)
    throw RuntimeError(where + ": plan format version " + std::to_string(version) + ", this runtime reads versions 1 to " +
                       std::to_string(kVersion) + "; re-export the plan with a matching hwnas");
  r.seek(end);
  const uint64_t stored = r.u64("checksum");
  if (stored != fnv1a(bytes.data(), end))
    throw RuntimeError(where + ": checksum mismatch (plan format version " + std::to_string(version) +
                       "): the plan file is truncated or corrupt; re-export it");
  Reader body(bytes, end, where);
  body.seek(12);
  Plan p;
  const bool v2 = version >= 2;
  p.tensors.resize(body.count("tensor count", v2 ? 18 : 9));
  for (auto& t : p.tensors) {
    uint8_t rank = body.u8("tensor rank");
    if (rank < 1 || rank > kMaxRank) body.fail("corrupt plan file: tensor rank " + std::to_string(rank));
    t.shape.resize(rank);
    for (auto& d : t.shape) d = body.i64("tensor dims");
    if (v2) {
      const uint8_t dt = body.u8("tensor dtype");
      if (dt >= uint8_t(DType::Count)) body.fail("corrupt plan file: unknown tensor dtype " + std::to_string(dt));
      t.dtype = DType(dt);
      t.scale = body.f32("tensor scale");
      t.zeroPoint = body.i32("tensor zero point");
    }
  }
  p.inputs.resize(body.count("input count", 4));
  for (auto& id : p.inputs) id = body.i32("input ids");
  p.outputs.resize(body.count("output count", 4));
  for (auto& id : p.outputs) id = body.i32("output ids");
  p.ops.resize(body.count("op count", 4 + 40 + 4 + 4 + 8 + 32 + (v2 ? 24 : 0)));
  for (auto& op : p.ops) {
    op.type = OpType(body.u8("op type"));
    op.act = Act(body.u8("op act"));
    op.gate = Act(body.u8("op gate"));
    uint8_t flags = body.u8("op flags");
    if (size_t(op.type) >= size_t(OpType::Count)) body.fail("corrupt plan file: unknown op type " + std::to_string(int(op.type)));
    if (size_t(op.act) >= size_t(Act::Count) || size_t(op.gate) >= size_t(Act::Count))
      body.fail("corrupt plan file: unknown activation");
    if (flags > 1) body.fail("corrupt plan file: unknown op flags " + std::to_string(flags));
    op.broadcastChannels = flags & 1;
    for (int32_t* v : {&op.kernelH, &op.kernelW, &op.strideH, &op.strideW, &op.padH, &op.padW, &op.dilationH,
                       &op.dilationW, &op.groups, &op.outChannels})
      *v = body.i32("op attributes");
    op.inputs.resize(body.count("op input count", 4));
    for (auto& id : op.inputs) id = body.i32("op inputs");
    op.output = body.i32("op output");
    op.name = body.str("op name");
    op.key = body.str("op key");
    op.weight = body.blob("op weight");
    op.bias = body.blob("op bias");
    op.weight2 = body.blob("op weight2");
    op.bias2 = body.blob("op bias2");
    if (v2) {
      op.qweight = body.bytesBlob("op int8 weight");
      op.qbias = body.intBlob("op int32 bias");
      op.weightScales = body.blob("op weight scales");
    }
  }
  if (body.pos() != end) body.fail("corrupt plan file: " + std::to_string(end - body.pos()) + " unexpected trailing bytes");
  p.validate(where);
  return p;
}

void Plan::save(const std::string& path) const {
  validate(path);
  const std::string bytes = serialize();
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw RuntimeError(path + ": cannot open for writing");
    f.write(bytes.data(), std::streamsize(bytes.size()));
    f.flush();
    if (!f) throw RuntimeError(path + ": write failed (disk full?)");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw RuntimeError(path + ": cannot rename the temporary file into place");
  }
}

Plan Plan::load(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw RuntimeError(path + ": cannot open plan file");
  std::ostringstream ss;
  ss << f.rdbuf();
  return deserialize(ss.str(), path);
}

}  // namespace hwnas::runtime
