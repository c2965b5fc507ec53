#include "exporter/onnx_export.h"

#include <cmath>
#include <cstring>
#include <limits>

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include "core/error.h"
#include "core/fs_util.h"

namespace hwnas {

namespace {

bool sameIgnoringTrailingOnes(Shape a, Shape b) {
  while (a.size() > 1 && a.back() == 1) a.pop_back();
  while (b.size() > 1 && b.back() == 1) b.pop_back();
  return a == b;
}

template <typename T>
std::string rawBytes(const std::vector<T>& v) {
  static_assert(sizeof(float) == 4, "ONNX raw data is IEEE float32");
  const uint16_t probe = 1;
  if (*reinterpret_cast<const uint8_t*>(&probe) != 1) throw Error("exportOnnx: big-endian hosts are not supported");
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

class OnnxWriter {
 public:
  OnnxWriter(const ExportModel& m, const OnnxExportOptions& o) : m_(m), g_(m.graph), o_(o) {}

  onnx::ModelProto build() {
    if (o_.opset < 13 || o_.opset > 17)
      throw InputError("exportOnnx: opset " + std::to_string(o_.opset) + " is not supported; use 13..17");
    if (g_.empty()) throw InputError("exportOnnx: model '" + m_.name + "' has an empty graph");
    onnx::ModelProto model;
    model.set_ir_version(o_.opset <= 13 ? 7 : 8);
    model.set_producer_name("hwnas");
    if (!o_.producerVersion.empty()) model.set_producer_version(o_.producerVersion);
    model.set_doc_string("exported by hwnas" + std::string(o_.quant ? " (int8 QDQ)" : ""));
    auto* opset = model.add_opset_import();
    opset->set_domain("");
    opset->set_version(o_.opset);
    graph_ = model.mutable_graph();
    graph_->set_name(m_.name);

    nameTensors();
    for (int id : g_.inputIds()) addValueInfo(graph_->add_input(), id);
    if (o_.quant) checkQuantSpec();
    for (const Node& n : g_.nodes())
      if (n.kind != OpKind::Input) emitNode(n);
    for (int id : g_.outputIds()) addValueInfo(graph_->add_output(), id);
    return model;
  }

 private:
  // ------------------------------------------------------------ naming and value infos
  void nameTensors() {
    tensor_.resize(g_.size());
    for (const Node& n : g_.nodes()) tensor_[n.id] = n.name;
    const auto ins = g_.inputIds(), outs = g_.outputIds();
    if (ins.empty()) throw InputError("exportOnnx: model '" + m_.name + "' has no input node");
    for (int o : outs)
      if (g_.node(o).kind == OpKind::Input)
        throw InputError("exportOnnx: input '" + g_.node(o).name + "' is not used by any node; remove it");
    if (ins.size() == 1) tensor_[ins[0]] = "input";
    if (outs.size() == 1) tensor_[outs[0]] = "output";
  }

  void addValueInfo(onnx::ValueInfoProto* vi, int id) {
    const Node& n = g_.node(id);
    vi->set_name(tensor_[id]);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(n.dtype == DType::I8 ? onnx::TensorProto::INT8 : onnx::TensorProto::FLOAT);
    auto* shape = tt->mutable_shape();
    for (size_t d = 0; d < n.shape.size(); ++d) {
      auto* dim = shape->add_dim();
      if (d == 0 && o_.dynamicBatch) dim->set_dim_param("batch");
      else dim->set_dim_value(n.shape[d]);
    }
  }

  // ------------------------------------------------------------ protobuf helpers
  onnx::NodeProto* node(const std::string& op, const std::string& name, const std::vector<std::string>& ins,
                        const std::string& out) {
    auto* p = graph_->add_node();
    p->set_op_type(op);
    if (!name.empty()) p->set_name(name);
    for (const auto& i : ins) p->add_input(i);
    p->add_output(out);
    return p;
  }

  static void attrInt(onnx::NodeProto* p, const char* name, int64_t v) {
    auto* a = p->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attrInts(onnx::NodeProto* p, const char* name, const std::vector<int64_t>& v) {
    auto* a = p->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  static void attrFloat(onnx::NodeProto* p, const char* name, float v) {
    auto* a = p->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }

  onnx::TensorProto* initializer(const std::string& name, const Shape& shape, int dataType) {
    auto* t = graph_->add_initializer();
    t->set_name(name);
    t->set_data_type(dataType);
    for (int64_t d : shape) t->add_dims(d);
    return t;
  }
  void floatInit(const std::string& name, const Shape& shape, const std::vector<float>& v) {
    initializer(name, shape, onnx::TensorProto::FLOAT)->set_raw_data(rawBytes(v));
  }
  void int8Init(const std::string& name, const Shape& shape, const std::vector<int8_t>& v) {
    initializer(name, shape, onnx::TensorProto::INT8)->set_raw_data(rawBytes(v));
  }
  void int32Init(const std::string& name, const Shape& shape, const std::vector<int32_t>& v) {
    initializer(name, shape, onnx::TensorProto::INT32)->set_raw_data(rawBytes(v));
  }

  // The weight `node.suffix`, checked against `shape` (trailing ones may differ, as in lower()).
  const std::vector<float>& weight(const Node& n, const std::string& suffix, const Shape& shape) const {
    const std::string key = n.name + suffix;
    auto it = m_.weights.find(key);
    if (it == m_.weights.end())
      throw InputError("exportOnnx: weight '" + key + "' for " + opKindName(n.kind) + " node '" + n.name +
                       "' is missing from the model's weights; check that they belong to this graph");
    if (!sameIgnoringTrailingOnes(it->second.shape, shape) || int64_t(it->second.values.size()) != numel(shape))
      throw InputError("exportOnnx: weight '" + key + "' has shape " + shapeToString(it->second.shape) +
                       ", node '" + n.name + "' needs " + shapeToString(shape));
    return it->second.values;
  }
  // A float weight as an initializer named like the weight; returns the initializer name.
  std::string floatWeight(const Node& n, const std::string& suffix, const Shape& shape) {
    floatInit(n.name + suffix, shape, weight(n, suffix, shape));
    return n.name + suffix;
  }

  // ------------------------------------------------------------ activations
  std::string clipConst(bool six) {
    const std::string name = six ? "hwnas.const.six" : "hwnas.const.zero";
    if (!(six ? haveSix_ : haveZero_)) {
      floatInit(name, {}, {six ? 6.f : 0.f});
      (six ? haveSix_ : haveZero_) = true;
    }
    return name;
  }

  // act(in) as ONNX node(s); the last one is named `name` and writes `out`.
  void emitAct(ActKind act, const std::string& name, const std::string& in, const std::string& out) {
    switch (act) {
      case ActKind::Identity: node("Identity", name, {in}, out); return;
      case ActKind::Relu: node("Relu", name, {in}, out); return;
      case ActKind::Relu6: node("Clip", name, {in, clipConst(false), clipConst(true)}, out); return;
      case ActKind::HSigmoid: hardSigmoid(name, in, out); return;
      case ActKind::HSwish:
        if (o_.opset >= 14) {
          node("HardSwish", name, {in}, out);
        } else {
          hardSigmoid(name + ".hsigmoid", in, name + ".hsigmoid");
          node("Mul", name, {in, name + ".hsigmoid"}, out);
        }
        return;
      case ActKind::Silu:
        node("Sigmoid", name + ".sigmoid", {in}, name + ".sigmoid");
        node("Mul", name, {in, name + ".sigmoid"}, out);
        return;
      case ActKind::Sigmoid: node("Sigmoid", name, {in}, out); return;
      case ActKind::Count: break;
    }
    throw Error("exportOnnx: node '" + name + "' has an unknown activation");
  }
  void hardSigmoid(const std::string& name, const std::string& in, const std::string& out) {
    auto* p = node("HardSigmoid", name, {in}, out);
    attrFloat(p, "alpha", 1.f / 6.f);
    attrFloat(p, "beta", 0.5f);
  }

  // ------------------------------------------------------------ QDQ
  void checkQuantSpec() {
    for (const auto& [name, lq] : o_.quant->layers) {
      if (!lq.int8) continue;
      const int id = g_.findNode(name);
      if (id < 0)
        throw InputError("exportOnnx: the quantization spec names layer '" + name + "', which is not in model '" +
                         m_.name + "'; calibrate this model again");
      const Node& n = g_.node(id);
      if (n.kind != OpKind::Conv2d && n.kind != OpKind::Linear)
        throw InputError("exportOnnx: the quantization spec names '" + name + "', a " + opKindName(n.kind) +
                         " node; only conv2d and linear layers are quantized");
      const size_t c = size_t(n.attrs.outChannels);
      if (lq.weightScales.size() != c && lq.weightScales.size() != 1)
        throw InputError("exportOnnx: layer '" + name + "' has " + std::to_string(lq.weightScales.size()) +
                         " weight scales in the quantization spec, it has " + std::to_string(c) +
                         " output channels");
      for (float s : lq.weightScales)
        if (!(s > 0) || !std::isfinite(s))
          throw InputError("exportOnnx: layer '" + name + "': weight scales must be finite and > 0");
      if (!(lq.inputScale > 0) || !std::isfinite(lq.inputScale))
        throw InputError("exportOnnx: layer '" + name + "': the input scale must be finite and > 0");
      if (lq.inputZeroPoint < -128 || lq.inputZeroPoint > 127)
        throw InputError("exportOnnx: layer '" + name + "': input zero point " + std::to_string(lq.inputZeroPoint) +
                         " is outside int8 [-128, 127]");
    }
  }

  // QDQ initializers are named "<layer>.<short suffix>" (x_scale, x_zp, w_q, w_scale, b_q,
  // b_scale), the tensors between the Q/DQ nodes and the layer "q<k>.<x|xq|w|b>" (k: the k-th
  // quantized layer) and the Q/DQ nodes are unnamed: on a net as small as refnet the names
  // otherwise weigh as much as all the scales.
  std::string qdqTensor(const char* what) const { return "q" + std::to_string(quantIndex_) + "." + what; }

  // Q -> DQ on the layer's input; returns the dequantized tensor's name.
  std::string quantizeInput(const Node& n, const LayerQuant& q, const std::string& in) {
    const std::string s = n.name + ".x_scale", z = n.name + ".x_zp";
    floatInit(s, {}, {q.inputScale});
    int8Init(z, {}, {int8_t(q.inputZeroPoint)});
    node("QuantizeLinear", "", {in, s, z}, qdqTensor("xq"));
    node("DequantizeLinear", "", {qdqTensor("xq"), s, z}, qdqTensor("x"));
    return qdqTensor("x");
  }

  // INT8 weight + per-channel DequantizeLinear; returns the float weight tensor's name.
  std::string quantizeWeight(const Node& n, const LayerQuant& q, const Shape& shape) {
    const auto& w = weight(n, ".weight", shape);
    const int64_t c = shape[0], per = numel(shape) / c;
    std::vector<int8_t> qw(w.size());
    for (int64_t o = 0; o < c; ++o) {
      const double s = q.weightScales.size() == 1 ? q.weightScales[0] : q.weightScales[size_t(o)];
      for (int64_t i = 0; i < per; ++i) {
        const double v = std::nearbyint(double(w[size_t(o * per + i)]) / s);
        qw[size_t(o * per + i)] = int8_t(std::min(127.0, std::max(-127.0, v)));
      }
    }
    int8Init(n.name + ".w_q", shape, qw);
    const Shape scaleShape = q.weightScales.size() == 1 ? Shape{} : Shape{c};
    floatInit(n.name + ".w_scale", scaleShape, q.weightScales);
    std::vector<std::string> ins = {n.name + ".w_q", n.name + ".w_scale"};
    // Symmetric weights have zero point 0, ONNX's default. onnxruntime's QGemm (what it fuses
    // DQ -> Gemm into) insists on a zero point per scale, so linear layers store theirs.
    if (n.kind == OpKind::Linear) {
      int8Init(n.name + ".w_zp", scaleShape, std::vector<int8_t>(q.weightScales.size(), 0));
      ins.push_back(n.name + ".w_zp");
    }
    auto* p = node("DequantizeLinear", "", ins, qdqTensor("w"));
    if (q.weightScales.size() != 1) attrInt(p, "axis", 0);
    return qdqTensor("w");
  }

  // INT32 bias with scale inputScale * weightScale[c] + DequantizeLinear.
  std::string quantizeBias(const Node& n, const LayerQuant& q) {
    const int64_t c = n.attrs.outChannels;
    const auto& b = weight(n, ".bias", {c});
    std::vector<float> scale(static_cast<size_t>(c));
    std::vector<int32_t> qb(static_cast<size_t>(c));
    for (int64_t o = 0; o < c; ++o) {
      const float ws = q.weightScales.size() == 1 ? q.weightScales[0] : q.weightScales[size_t(o)];
      scale[size_t(o)] = q.inputScale * ws;
      const double v = std::nearbyint(double(b[size_t(o)]) / double(scale[size_t(o)]));
      const double lim = double(std::numeric_limits<int32_t>::max());
      qb[size_t(o)] = int32_t(std::min(lim, std::max(-lim, v)));
    }
    int32Init(n.name + ".b_q", {c}, qb);
    floatInit(n.name + ".b_scale", {c}, scale);
    attrInt(node("DequantizeLinear", "", {n.name + ".b_q", n.name + ".b_scale"}, qdqTensor("b")), "axis", 0);
    return qdqTensor("b");
  }

  // ------------------------------------------------------------ nodes
  static void windowAttrs(onnx::NodeProto* p, const OpAttrs& a, bool dilations) {
    attrInts(p, "kernel_shape", {a.kernelH, a.kernelW});
    attrInts(p, "strides", {a.strideH, a.strideW});
    attrInts(p, "pads", {a.padH, a.padW, a.padH, a.padW});
    if (dilations) attrInts(p, "dilations", {a.dilationH, a.dilationW});
  }

  void emitNode(const Node& n) {
    const OpAttrs& a = n.attrs;
    const std::string& out = tensor_[n.id];
    std::vector<std::string> ins;
    for (int i : n.inputs) ins.push_back(tensor_[i]);
    const LayerQuant* q = o_.quant ? o_.quant->find(n.name) : nullptr;
    if (q) ++quantIndex_;
    switch (n.kind) {
      case OpKind::Conv2d: {
        const Shape& x = g_.node(n.inputs[0]).shape;
        const Shape ws = {a.outChannels, x[1] / a.groups, a.kernelH, a.kernelW};
        std::vector<std::string> cin = {q ? quantizeInput(n, *q, ins[0]) : ins[0],
                                        q ? quantizeWeight(n, *q, ws) : floatWeight(n, ".weight", ws)};
        if (a.bias) cin.push_back(q ? quantizeBias(n, *q) : floatWeight(n, ".bias", {a.outChannels}));
        auto* p = node("Conv", n.name, cin, out);
        windowAttrs(p, a, true);
        attrInt(p, "group", a.groups);
        return;
      }
      case OpKind::Linear: {
        const Shape& x = g_.node(n.inputs[0]).shape;
        const Shape ws = {a.outChannels, x[1]};
        std::vector<std::string> gin = {q ? quantizeInput(n, *q, ins[0]) : ins[0],
                                        q ? quantizeWeight(n, *q, ws) : floatWeight(n, ".weight", ws)};
        if (a.bias) gin.push_back(q ? quantizeBias(n, *q) : floatWeight(n, ".bias", {a.outChannels}));
        attrInt(node("Gemm", n.name, gin, out), "transB", 1);
        return;
      }
      case OpKind::BatchNorm: {
        const Shape cs = {n.shape[1]};
        auto* p = node("BatchNormalization", n.name,
                       {ins[0], floatWeight(n, ".weight", cs), floatWeight(n, ".bias", cs),
                        floatWeight(n, ".running_mean", cs), floatWeight(n, ".running_var", cs)},
                       out);
        attrFloat(p, "epsilon", float(a.eps));
        return;
      }
      case OpKind::Act: emitAct(a.act, n.name, ins[0], out); return;
      case OpKind::Add: node("Add", n.name, ins, out); return;
      case OpKind::Mul: node("Mul", n.name, ins, out); return;
      case OpKind::AvgPool: {
        if (a.dilationH != 1 || a.dilationW != 1)
          throw InputError("exportOnnx: avgpool '" + n.name + "' has dilation " + std::to_string(a.dilationH) + "x" +
                           std::to_string(a.dilationW) + "; ONNX AveragePool at opset < 19 has none");
        auto* p = node("AveragePool", n.name, ins, out);
        windowAttrs(p, a, false);
        attrInt(p, "count_include_pad", 1);
        return;
      }
      case OpKind::MaxPool:
        windowAttrs(node("MaxPool", n.name, ins, out), a, a.dilationH != 1 || a.dilationW != 1);
        return;
      case OpKind::GlobalAvgPool: node("GlobalAveragePool", n.name, ins, out); return;
      case OpKind::SqueezeExcite: {
        const int64_t c = n.shape[1], r = a.outChannels;
        node("GlobalAveragePool", n.name + ".pool", ins, n.name + ".pool");
        auto conv1x1 = [&](const std::string& part, const std::string& in, int64_t co, int64_t ci) {
          auto* p = node("Conv", n.name + "." + part,
                         {in, floatWeight(n, "." + part + ".weight", {co, ci, 1, 1}), floatWeight(n, "." + part + ".bias", {co})},
                         n.name + "." + part);
          OpAttrs one;
          windowAttrs(p, one, true);
          attrInt(p, "group", 1);
          return n.name + "." + part;
        };
        std::string h = conv1x1("reduce", n.name + ".pool", r, c);
        if (a.act != ActKind::Identity) {
          emitAct(a.act, n.name + ".act", h, n.name + ".act");
          h = n.name + ".act";
        }
        h = conv1x1("expand", h, c, r);
        if (a.gate != ActKind::Identity) {
          emitAct(a.gate, n.name + ".gate", h, n.name + ".gate");
          h = n.name + ".gate";
        }
        node("Mul", n.name, {ins[0], h}, out);
        return;
      }
      case OpKind::Concat: attrInt(node("Concat", n.name, ins, out), "axis", 1); return;
      case OpKind::Flatten: attrInt(node("Flatten", n.name, ins, out), "axis", 1); return;
      case OpKind::Quant:
      case OpKind::Dequant: {
        if (a.zeroPoint < -128 || a.zeroPoint > 127)
          throw InputError("exportOnnx: " + std::string(opKindName(n.kind)) + " '" + n.name + "' has zero point " +
                           std::to_string(a.zeroPoint) + ", outside int8");
        floatInit(n.name + ".scale", {}, {float(a.scale)});
        int8Init(n.name + ".zero_point", {}, {int8_t(a.zeroPoint)});
        node(n.kind == OpKind::Quant ? "QuantizeLinear" : "DequantizeLinear", n.name,
             {ins[0], n.name + ".scale", n.name + ".zero_point"}, out);
        return;
      }
      case OpKind::Input:
      case OpKind::Count: break;
    }
    throw InputError("exportOnnx: node '" + n.name + "' has op kind " + opKindName(n.kind) + ", which has no ONNX form");
  }

  const ExportModel& m_;
  const Graph& g_;
  const OnnxExportOptions& o_;
  onnx::GraphProto* graph_ = nullptr;
  std::vector<std::string> tensor_;  // ONNX tensor name of each Graph node's output
  bool haveZero_ = false, haveSix_ = false;
  int quantIndex_ = 0;  // quantized layers so far
};

}  // namespace

std::string exportOnnxBytes(const ExportModel& model, const OnnxExportOptions& options) {
  onnx::ModelProto proto = OnnxWriter(model, options).build();
  try {
    onnx::checker::check_model(proto);
  } catch (const std::exception& e) {
    throw Error("exportOnnx: the ONNX checker rejects the model '" + model.name + "': " + e.what() +
                " (a bug in the exporter: please report it with the graph)");
  }
  std::string bytes;
  if (!proto.SerializeToString(&bytes)) throw Error("exportOnnx: protobuf could not serialize model '" + model.name + "'");
  return bytes;
}

void exportOnnx(const ExportModel& model, const std::string& path, const OnnxExportOptions& options) {
  const std::string bytes = exportOnnxBytes(model, options);  // everything checked before the file is touched
  writeFileAtomic(path, bytes);
}

}  // namespace hwnas
