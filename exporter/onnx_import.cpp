#include "exporter/onnx_import.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <set>

#include <onnx/onnx_pb.h>

#include "core/error.h"
#include "core/fs_util.h"

namespace hwnas {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// ONNX float attributes widen exactly: a graph whose eps came from a float (the trainer's
// 1e-5f) round-trips bit for bit.
double floatToDouble(float f) { return double(f); }

std::string shapeText(const Shape& s) { return shapeToString(s); }

std::string intsText(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

std::string numText(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

int elemSize(int type) {
  switch (type) {
    case onnx::TensorProto::FLOAT: return 4;
    case onnx::TensorProto::DOUBLE: return 8;
    case onnx::TensorProto::INT64: return 8;
    case onnx::TensorProto::UINT64: return 8;
    case onnx::TensorProto::INT32: return 4;
    case onnx::TensorProto::UINT32: return 4;
    case onnx::TensorProto::INT16: return 2;
    case onnx::TensorProto::UINT16: return 2;
    case onnx::TensorProto::INT8: return 1;
    case onnx::TensorProto::UINT8: return 1;
    case onnx::TensorProto::BOOL: return 1;
    default: return 0;
  }
}

const char* elemTypeName(int type) {
  switch (type) {
    case onnx::TensorProto::FLOAT: return "float";
    case onnx::TensorProto::DOUBLE: return "double";
    case onnx::TensorProto::FLOAT16: return "float16";
    case onnx::TensorProto::BFLOAT16: return "bfloat16";
    case onnx::TensorProto::INT64: return "int64";
    case onnx::TensorProto::UINT64: return "uint64";
    case onnx::TensorProto::INT32: return "int32";
    case onnx::TensorProto::UINT32: return "uint32";
    case onnx::TensorProto::INT16: return "int16";
    case onnx::TensorProto::UINT16: return "uint16";
    case onnx::TensorProto::INT8: return "int8";
    case onnx::TensorProto::UINT8: return "uint8";
    case onnx::TensorProto::BOOL: return "bool";
    case onnx::TensorProto::STRING: return "string";
    default: return "an unknown type";
  }
}

template <typename T>
T readLe(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

OnnxTensor tensorFromProto(const onnx::TensorProto& t, const std::string& where) {
  const std::string what = where + ": tensor '" + t.name() + "'";
  if (t.data_location() == onnx::TensorProto::EXTERNAL)
    throw InputError(what + " keeps its data in an external file, which is not supported; save the model with the "
                            "weights inside (onnx.save(..., save_as_external_data=False))");
  OnnxTensor out;
  out.elemType = t.data_type();
  int64_t n = 1;
  for (int64_t d : t.dims()) {
    if (d < 0) throw InputError(what + " has a negative dimension");
    out.shape.push_back(d);
    n *= d;
  }
  const int es = elemSize(out.elemType);
  if (es == 0) throw InputError(what + " has element type " + elemTypeName(out.elemType) + ", which is not supported");
  out.values.resize(size_t(n));
  if (t.has_raw_data()) {
    const std::string& raw = t.raw_data();
    if (int64_t(raw.size()) != n * es)
      throw InputError(what + " has " + std::to_string(raw.size()) + " bytes of data, its shape " + shapeText(out.shape) +
                       " needs " + std::to_string(n * es) + "; the file is corrupt");
    const char* p = raw.data();
    for (int64_t i = 0; i < n; ++i, p += es) {
      double v = 0;
      switch (out.elemType) {
        case onnx::TensorProto::FLOAT: v = readLe<float>(p); break;
        case onnx::TensorProto::DOUBLE: v = readLe<double>(p); break;
        case onnx::TensorProto::INT64: v = double(readLe<int64_t>(p)); break;
        case onnx::TensorProto::UINT64: v = double(readLe<uint64_t>(p)); break;
        case onnx::TensorProto::INT32: v = readLe<int32_t>(p); break;
        case onnx::TensorProto::UINT32: v = readLe<uint32_t>(p); break;
        case onnx::TensorProto::INT16: v = readLe<int16_t>(p); break;
        case onnx::TensorProto::UINT16: v = readLe<uint16_t>(p); break;
        case onnx::TensorProto::INT8: v = readLe<int8_t>(p); break;
        case onnx::TensorProto::UINT8:
        case onnx::TensorProto::BOOL: v = readLe<uint8_t>(p); break;
      }
      out.values[size_t(i)] = v;
    }
    return out;
  }
  auto fill = [&](const auto& field, const char* fieldName) {
    if (int64_t(field.size()) != n)
      throw InputError(what + " has " + std::to_string(field.size()) + " values in " + fieldName + ", its shape " +
                       shapeText(out.shape) + " needs " + std::to_string(n) + "; the file is corrupt");
    for (int64_t i = 0; i < n; ++i) out.values[size_t(i)] = double(field.Get(int(i)));
  };
  switch (out.elemType) {
    case onnx::TensorProto::FLOAT: fill(t.float_data(), "float_data"); break;
    case onnx::TensorProto::DOUBLE: fill(t.double_data(), "double_data"); break;
    case onnx::TensorProto::INT64: fill(t.int64_data(), "int64_data"); break;
    case onnx::TensorProto::UINT64:
    case onnx::TensorProto::UINT32: fill(t.uint64_data(), "uint64_data"); break;
    default: fill(t.int32_data(), "int32_data"); break;
  }
  return out;
}

[[noreturn]] void notOnnx(const std::string& where, const std::string& why) {
  throw InputError(where + ": not a readable ONNX model (" + why +
                "); the file is truncated, corrupt or not ONNX; export it again");
}

// ---------------------------------------------------------------- the importer

struct Value {
  int node = -1;            // Graph node id, or
  const OnnxTensor* c = nullptr;  // a constant
  std::vector<double> dqScales;   // for constants made by DequantizeLinear: the scales (per axis 0 or one)
};

struct Fused {
  enum Kind { None, Act, SqueezeExcite } kind = None;
  ActKind act = ActKind::Identity;   // Act: the activation; SE: the inner one
  ActKind gate = ActKind::Identity;  // SE
  std::string x;                     // the data input tensor
  int reduceConv = -1, expandConv = -1;  // SE: ONNX node indices
};

class Importer {
 public:
  Importer(const onnx::ModelProto& m, const std::string& where, const OnnxImportOptions& o)
      : m_(m), g_(m.graph()), where_(where), o_(o) {}

  OnnxImport run() {
    readOpset();
    for (const auto& t : g_.initializer()) addConst(t.name(), tensorFromProto(t, where_));
    for (const auto& [name, t] : o_.constantInputs) addConst(name, t);
    for (const auto& in : g_.input())
      if (!values_.count(in.name())) addInput(in);
    indexNodes();
    planFusions();
    for (int i = 0; i < g_.node_size(); ++i)
      if (!skip_.count(i)) importNode(i);
    for (const auto& out : g_.output()) {
      auto it = values_.find(out.name());
      if (it == values_.end() || it->second.node < 0)
        throw InputError(where_ + ": graph output '" + out.name() +
                         "' is a constant or not computed by any node; hwnas graphs compute every output");
      checkDeclaredShape(out, graph_.node(it->second.node).shape);
      result_.outputNames.push_back(out.name());
      result_.outputNodes.push_back(it->second.node);
    }
    result_.model.name = g_.name().empty() ? "model" : g_.name();
    result_.model.graph = std::move(graph_);
    result_.model.weights = std::move(weights_);
    return std::move(result_);
  }

 private:
  // ------------------------------------------------------------ setup
  void readOpset() {
    bool found = false;
    for (const auto& op : m_.opset_import()) {
      if (op.domain().empty() || op.domain() == "ai.onnx") {
        opset_ = op.version();
        found = true;
      }
    }
    if (!found) throw InputError(where_ + ": the model imports no default ONNX opset (ai.onnx); it is not a standard ONNX model");
    // Opsets 11..21 are the target. Older models import too where an op's meaning is the same:
    // the older forms differ by attributes (consumed_inputs, is_test, broadcast, Clip's min/max),
    // and an attribute the importer does not know is refused, never ignored.
    if (opset_ < 1 || opset_ > 21)
      throw InputError(where_ + ": unsupported ONNX opset " + std::to_string(opset_) +
                       "; hwnas imports opsets up to 21 (convert it with onnx.version_converter)");
  }

  // A graph output's declared shape (where its dims are known) must be what the import computed.
  void checkDeclaredShape(const onnx::ValueInfoProto& out, const Shape& got) const {
    if (!out.type().has_tensor_type() || !out.type().tensor_type().has_shape()) return;
    const auto& shape = out.type().tensor_type().shape();
    bool differs = shape.dim_size() != int(got.size());
    for (int d = 0; !differs && d < shape.dim_size(); ++d)
      differs = shape.dim(d).has_dim_value() && shape.dim(d).dim_value() > 0 && shape.dim(d).dim_value() != got[size_t(d)];
    if (differs) {
      std::string want = "[";
      for (int d = 0; d < shape.dim_size(); ++d)
        want += (d ? "," : "") + (shape.dim(d).has_dim_value() ? std::to_string(shape.dim(d).dim_value()) : "?");
      throw InputError(where_ + ": graph output '" + out.name() + "' is declared " + want + "] but computes " +
                       shapeText(got) + "; the model's shapes are inconsistent");
    }
  }

  void addConst(const std::string& name, OnnxTensor t) {
    consts_.push_back(std::make_unique<OnnxTensor>(std::move(t)));
    Value v;
    v.c = consts_.back().get();
    values_[name] = v;
  }

  void addInput(const onnx::ValueInfoProto& in) {
    const std::string what = where_ + ": graph input '" + in.name() + "'";
    if (!in.type().has_tensor_type()) throw InputError(what + " is not a tensor; hwnas imports tensor inputs only");
    const auto& tt = in.type().tensor_type();
    if (tt.elem_type() != onnx::TensorProto::FLOAT)
      throw InputError(what + " has element type " + elemTypeName(tt.elem_type()) +
                       "; hwnas graphs take float inputs only");
    if (!tt.has_shape() || tt.shape().dim_size() == 0)
      throw InputError(what + " has no shape (or is a scalar); hwnas graphs need input shapes");
    Shape s;
    for (int d = 0; d < tt.shape().dim_size(); ++d) {
      const auto& dim = tt.shape().dim(d);
      if (dim.has_dim_value() && dim.dim_value() > 0) {
        s.push_back(dim.dim_value());
      } else if (d == 0) {
        s.push_back(o_.batch);
      } else {
        throw InputError(what + " has a symbolic dimension " + std::to_string(d) +
                         (dim.has_dim_param() ? " ('" + dim.dim_param() + "')" : "") +
                         "; hwnas graphs need fixed shapes except the batch (dim 0)");
      }
    }
    Value v;
    v.node = graph_.addInput(uniqueName(in.name()), s);
    values_[in.name()] = v;
    result_.inputNames.push_back(in.name());
  }

  void indexNodes() {
    for (int i = 0; i < g_.node_size(); ++i) {
      const auto& n = g_.node(i);
      for (const auto& in : n.input())
        if (!in.empty()) consumers_[in].push_back(i);
      for (const auto& out : n.output())
        if (!out.empty()) producer_[out] = i;
    }
    for (const auto& out : g_.output()) graphOutputs_.insert(out.name());
  }

  std::string uniqueName(const std::string& want) {
    std::string name = want.empty() ? "node" : want;
    if (graph_.findNode(name) < 0) return name;
    for (int k = 1;; ++k) {
      std::string c = name + "_" + std::to_string(k);
      if (graph_.findNode(c) < 0) return c;
    }
  }

  std::string nodeName(const onnx::NodeProto& n, int index) {
    if (!n.name().empty()) return uniqueName(n.name());
    if (n.output_size() > 0 && !n.output(0).empty()) return uniqueName(n.output(0));
    return uniqueName(n.op_type() + "_" + std::to_string(index));
  }

  // ------------------------------------------------------------ errors and attributes
  std::string nodeWhere(const onnx::NodeProto& n) const {
    return where_ + ": ONNX " + n.op_type() + " node '" + (n.name().empty() ? (n.output_size() ? n.output(0) : "") : n.name()) + "'";
  }
  [[noreturn]] void unsupported(const onnx::NodeProto& n, const std::string& msg) const {
    throw InputError(nodeWhere(n) + ": unsupported: " + msg);
  }

  const onnx::AttributeProto* attr(const onnx::NodeProto& n, const char* name) const {
    for (const auto& a : n.attribute())
      if (a.name() == name) return &a;
    return nullptr;
  }
  int64_t attrInt(const onnx::NodeProto& n, const char* name, int64_t def) const {
    const auto* a = attr(n, name);
    return a ? a->i() : def;
  }
  float attrFloat(const onnx::NodeProto& n, const char* name, float def) const {
    const auto* a = attr(n, name);
    return a ? a->f() : def;
  }
  std::string attrString(const onnx::NodeProto& n, const char* name, const std::string& def) const {
    const auto* a = attr(n, name);
    return a ? a->s() : def;
  }
  std::vector<int64_t> attrInts(const onnx::NodeProto& n, const char* name) const {
    const auto* a = attr(n, name);
    return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : std::vector<int64_t>();
  }
  // Attributes outside `known` might change the op's meaning: refuse them.
  void checkAttrs(const onnx::NodeProto& n, const std::set<std::string>& known) const {
    for (const auto& a : n.attribute())
      if (!known.count(a.name())) unsupported(n, "attribute '" + a.name() + "' is not supported");
  }

  // ------------------------------------------------------------ values
  bool has(const onnx::NodeProto& n, int i) const { return i < n.input_size() && !n.input(i).empty(); }

  const Value& value(const onnx::NodeProto& n, int i) const {
    if (!has(n, i)) unsupported(n, "input " + std::to_string(i) + " is missing");
    auto it = values_.find(n.input(i));
    if (it == values_.end())
      throw InputError(nodeWhere(n) + ": input '" + n.input(i) +
                       "' is not produced by any earlier node, initializer or graph input; the model is not valid");
    return it->second;
  }
  int nodeInput(const onnx::NodeProto& n, int i) const {
    const Value& v = value(n, i);
    if (v.node < 0) unsupported(n, "input " + std::to_string(i) + " ('" + n.input(i) + "') is a constant; hwnas runs this op on computed tensors only");
    return v.node;
  }
  const OnnxTensor& constInput(const onnx::NodeProto& n, int i, const char* what) const {
    const Value& v = value(n, i);
    if (!v.c) unsupported(n, std::string(what) + " (input " + std::to_string(i) + " '" + n.input(i) + "') is computed at run time; hwnas needs it to be a constant (initializer)");
    return *v.c;
  }
  const Shape& shapeOf(int node) const { return graph_.node(node).shape; }

  void setOutput(const onnx::NodeProto& n, int node) {
    for (int k = 1; k < n.output_size(); ++k)
      if (!n.output(k).empty() && (consumers_.count(n.output(k)) || graphOutputs_.count(n.output(k))))
        unsupported(n, "output " + std::to_string(k) + " ('" + n.output(k) + "') is used; hwnas computes only the first output");
    Value v;
    v.node = node;
    values_[n.output(0)] = v;
  }
  void setConst(const onnx::NodeProto& n, OnnxTensor t, std::vector<double> dqScales = {}) {
    addConst(n.output(0), std::move(t));
    values_[n.output(0)].dqScales = std::move(dqScales);
  }

  void putWeight(const std::string& key, const Shape& shape, const std::vector<double>& v) {
    WeightTensor w;
    w.shape = shape;
    w.values.assign(v.begin(), v.end());
    weights_[key] = std::move(w);
  }
  void putWeight(const std::string& key, const Shape& shape, const std::vector<float>& v) { weights_[key] = {shape, v}; }

  int add(const std::string& name, OpKind kind, const std::vector<int>& ins, const OpAttrs& a, const onnx::NodeProto& n) {
    try {
      return graph_.addNode(name, kind, ins, a);
    } catch (const ShapeError& e) {
      unsupported(n, std::string("the hwnas graph cannot express it: ") + e.what());
    }
  }

  // ------------------------------------------------------------ pattern pass
  const onnx::NodeProto* producerOf(const std::string& t, int* index = nullptr) const {
    auto it = producer_.find(t);
    if (it == producer_.end()) return nullptr;
    if (index) *index = it->second;
    return &g_.node(it->second);
  }
  // The tensor is used by exactly one node and is not a graph output.
  bool singleUse(const std::string& t) const {
    auto it = consumers_.find(t);
    return it != consumers_.end() && it->second.size() == 1 && !graphOutputs_.count(t);
  }
  bool isConstName(const std::string& t) const {
    auto it = values_.find(t);
    return it != values_.end() && it->second.c;
  }
  bool constScalar(const onnx::NodeProto& n, int i, double* v) const {
    if (!has(n, i)) return false;
    auto it = values_.find(n.input(i));
    if (it == values_.end() || !it->second.c || it->second.c->values.size() != 1) return false;
    *v = it->second.c->values[0];
    return true;
  }
  // Clip's bounds: inputs from opset 11, attributes (defaults: the float range) before.
  bool clipBounds(const onnx::NodeProto& n, double* lo, double* hi) const {
    if (opset_ < 11) {
      for (const auto& a : n.attribute())
        if (a.name() != "min" && a.name() != "max") return false;
      const double big = double(std::numeric_limits<float>::max());
      *lo = attr(n, "min") ? double(attrFloat(n, "min", 0)) : -big;
      *hi = attr(n, "max") ? double(attrFloat(n, "max", 0)) : big;
      if (*lo == -big) *lo = -kInf;
      if (*hi == big) *hi = kInf;
      return n.input_size() == 1;
    }
    if (n.attribute_size()) return false;
    if (has(n, 1) && !constScalar(n, 1, lo)) return false;
    if (has(n, 2) && !constScalar(n, 2, hi)) return false;
    return true;
  }
  static bool isSixth(float a) { return std::fabs(double(a) - 1.0 / 6.0) < 1e-6; }

  // A one-node activation ONNX node as an ActKind; false if it is not one hwnas has.
  bool simpleAct(const onnx::NodeProto& n, ActKind* act) const {
    const std::string& t = n.op_type();
    if (n.attribute_size() == 0) {
      if (t == "Relu") return *act = ActKind::Relu, true;
      if (t == "Sigmoid") return *act = ActKind::Sigmoid, true;
      if (t == "HardSwish") return *act = ActKind::HSwish, true;
      if (t == "Identity") return *act = ActKind::Identity, true;
    }
    if (t == "HardSigmoid") {
      for (const auto& a : n.attribute())
        if (a.name() != "alpha" && a.name() != "beta") return false;
      if (isSixth(attrFloat(n, "alpha", 0.2f)) && attrFloat(n, "beta", 0.5f) == 0.5f) return *act = ActKind::HSigmoid, true;
      return false;
    }
    if (t == "Clip" && n.input_size() >= 1) {
      double lo = -kInf, hi = kInf;
      if (!clipBounds(n, &lo, &hi)) return false;
      if (lo == 0 && hi == 6) return *act = ActKind::Relu6, true;
      if (lo == 0 && hi == kInf) return *act = ActKind::Relu, true;
      if (lo == -kInf && hi == kInf) return *act = ActKind::Identity, true;
    }
    return false;
  }

  // Mul(x, Sigmoid(x)) -> silu, Mul(x, HardSigmoid(x)) -> hswish. Returns the x tensor and
  // the index of the inner node, or false.
  bool gatedAct(const onnx::NodeProto& mul, ActKind* act, std::string* x, int* inner) const {
    if (mul.op_type() != "Mul" || mul.input_size() != 2 || mul.attribute_size()) return false;
    for (int side = 0; side < 2; ++side) {
      const std::string& a = mul.input(side);
      const std::string& b = mul.input(1 - side);
      int idx = -1;
      const onnx::NodeProto* p = producerOf(b, &idx);
      if (!p || !singleUse(b) || skip_.count(idx) || p->input_size() < 1 || p->input(0) != a) continue;
      ActKind k;
      if (!simpleAct(*p, &k)) continue;
      if (k == ActKind::Sigmoid) *act = ActKind::Silu;
      else if (k == ActKind::HSigmoid) *act = ActKind::HSwish;
      else continue;
      *x = a;
      *inner = idx;
      return true;
    }
    return false;
  }

  // A plain 1x1 conv (stride 1, no padding, group 1) with constant weights.
  bool is1x1Conv(const onnx::NodeProto& c) const {
    if (c.op_type() != "Conv" || c.input_size() < 2 || !isConstName(c.input(1))) return false;
    if (has(c, 2) && !isConstName(c.input(2))) return false;
    for (const auto& a : c.attribute()) {
      const std::vector<int64_t> v(a.ints().begin(), a.ints().end());
      if (a.name() == "kernel_shape" && v != std::vector<int64_t>{1, 1}) return false;
      if ((a.name() == "strides" || a.name() == "dilations") && v != std::vector<int64_t>{1, 1}) return false;
      if (a.name() == "pads" && v != std::vector<int64_t>{0, 0, 0, 0}) return false;
      if (a.name() == "group" && a.i() != 1) return false;
      if (a.name() == "auto_pad" && a.s() != "NOTSET" && a.s() != "VALID") return false;
    }
    const OnnxTensor& w = *values_.at(c.input(1)).c;
    return w.shape.size() == 4 && w.shape[2] == 1 && w.shape[3] == 1;
  }

  // An activation ending at tensor t (one node or a gated pair); collects its node indices.
  bool actAt(const std::string& t, ActKind* act, std::string* in, std::vector<int>* nodes) const {
    int idx = -1;
    const onnx::NodeProto* p = producerOf(t, &idx);
    if (!p || skip_.count(idx)) return false;
    ActKind k;
    if (simpleAct(*p, &k) && p->input_size() >= 1) {
      *act = k;
      *in = p->input(0);
      nodes->push_back(idx);
      return true;
    }
    std::string x;
    int inner = -1;
    if (gatedAct(*p, &k, &x, &inner)) {
      *act = k;
      *in = x;
      nodes->push_back(idx);
      nodes->push_back(inner);
      return true;
    }
    return false;
  }

  // Mul(x, gate(Conv1x1(act(Conv1x1(GlobalAveragePool(x)))))) -> squeeze-excite.
  bool squeezeExcite(const onnx::NodeProto& mul, Fused* f, std::vector<int>* nodes) const {
    if (mul.op_type() != "Mul" || mul.input_size() != 2 || mul.attribute_size()) return false;
    for (int side = 0; side < 2; ++side) {
      const std::string& x = mul.input(side);
      std::vector<int> ns;
      ActKind gate = ActKind::Identity, inner = ActKind::Identity;
      std::string t = mul.input(1 - side), in;
      if (!singleUse(t)) continue;
      if (actAt(t, &gate, &in, &ns)) {
        t = in;
        if (!singleUse(t)) continue;
      }
      int expand = -1, reduce = -1, pool = -1;
      const onnx::NodeProto* e = producerOf(t, &expand);
      if (!e || skip_.count(expand) || !is1x1Conv(*e)) continue;
      ns.push_back(expand);
      t = e->input(0);
      if (!singleUse(t)) continue;
      if (actAt(t, &inner, &in, &ns)) {
        t = in;
        if (!singleUse(t)) continue;
      }
      const onnx::NodeProto* r = producerOf(t, &reduce);
      if (!r || skip_.count(reduce) || !is1x1Conv(*r)) continue;
      ns.push_back(reduce);
      t = r->input(0);
      if (!singleUse(t)) continue;
      const onnx::NodeProto* p = producerOf(t, &pool);
      if (!p || skip_.count(pool) || p->op_type() != "GlobalAveragePool" || p->input(0) != x) continue;
      ns.push_back(pool);
      f->kind = Fused::SqueezeExcite;
      f->act = inner;
      f->gate = gate;
      f->x = x;
      f->reduceConv = reduce;
      f->expandConv = expand;
      *nodes = ns;
      return true;
    }
    return false;
  }

  void planFusions() {
    for (int i = 0; i < g_.node_size(); ++i) {
      const auto& n = g_.node(i);
      if (n.op_type() != "Mul" || skip_.count(i)) continue;
      Fused f;
      std::vector<int> nodes;
      int inner = -1;
      if (squeezeExcite(n, &f, &nodes)) {
        for (int k : nodes) skip_.insert(k);
        fused_[i] = f;
      } else if (gatedAct(n, &f.act, &f.x, &inner)) {
        f.kind = Fused::Act;
        skip_.insert(inner);
        fused_[i] = f;
      }
    }
    if (o_.quant) planQdqAbsorption();
  }

  // Q -> DQ on an activation read only by conv/Gemm/MatMul (input 0) whose weights are DQ'd constants.
  void planQdqAbsorption() {
    for (int i = 0; i < g_.node_size(); ++i) {
      const auto& dq = g_.node(i);
      if (dq.op_type() != "DequantizeLinear" || dq.input_size() < 1) continue;
      int qi = -1;
      const onnx::NodeProto* q = producerOf(dq.input(0), &qi);
      if (!q || q->op_type() != "QuantizeLinear" || !singleUse(dq.input(0)) || isConstName(q->input(0))) continue;
      if (q->input_size() < 3 || dq.input_size() < 3 || q->input(1) != dq.input(1) || q->input(2) != dq.input(2)) continue;
      double scale = 0, zp = 0;
      if (!constScalar(*q, 1, &scale) || !constScalar(*q, 2, &zp)) continue;
      const int zpType = values_.at(q->input(2)).c->elemType;
      if (zpType == onnx::TensorProto::UINT8)
        zp -= 128;  // uint8 u and int8 u - 128 quantize and dequantize to the same numbers
      else if (zpType != onnx::TensorProto::INT8)
        continue;
      auto it = consumers_.find(dq.output(0));
      if (it == consumers_.end() || graphOutputs_.count(dq.output(0))) continue;
      bool ok = true;
      for (int c : it->second) {
        const auto& cn = g_.node(c);
        ok = ok && (cn.op_type() == "Conv" || cn.op_type() == "Gemm" || cn.op_type() == "MatMul") && cn.input(0) == dq.output(0) &&
             cn.input_size() >= 2;
        if (!ok) break;
        const onnx::NodeProto* w = producerOf(cn.input(1));
        ok = w && w->op_type() == "DequantizeLinear" && isConstName(w->input(0));
      }
      if (!ok) continue;
      skip_.insert(qi);
      skip_.insert(i);
      alias_[dq.output(0)] = q->input(0);
      for (int c : it->second) inputQuant_[c] = {float(scale), int32_t(zp)};
    }
  }

  // ------------------------------------------------------------ per-op import
  void importNode(int index) {
    const onnx::NodeProto& n = g_.node(index);
    if (!n.domain().empty() && n.domain() != "ai.onnx")
      throw InputError(where_ + ": unsupported ONNX op '" + n.domain() + "::" + n.op_type() + "' (node '" + n.name() + "')");
    if (n.output_size() < 1 || n.output(0).empty()) unsupported(n, "the node has no output");
    // Aliased inputs (an absorbed QDQ pair) read the tensor in front of the pair.
    onnx::NodeProto copy;
    const onnx::NodeProto* np = &n;
    for (int i = 0; i < n.input_size(); ++i) {
      if (alias_.count(n.input(i))) {
        if (np == &n) copy = n, np = &copy;
        copy.set_input(i, alias_.at(n.input(i)));
      }
    }
    const onnx::NodeProto& node = *np;
    auto fit = fused_.find(index);
    if (fit != fused_.end()) return importFused(node, index, fit->second);
    const std::string& t = node.op_type();
    if (t == "Conv") return importConv(node, index);
    if (t == "BatchNormalization") return importBatchNorm(node, index);
    if (t == "Identity" && node.attribute_size() == 0 && node.input_size() == 1 && value(node, 0).c) {
      values_[node.output(0)] = value(node, 0);  // an alias of a constant (PyTorch shares weights so)
      return;
    }
    if (t == "Relu" || t == "Sigmoid" || t == "HardSwish" || t == "HardSigmoid" || t == "Clip" || t == "Identity")
      return importAct(node, index);
    if (t == "Add" || t == "Mul") return importBinary(node, index);
    if (t == "Concat") return importConcat(node, index);
    if (t == "AveragePool" || t == "MaxPool") return importPool(node, index);
    if (t == "GlobalAveragePool") {
      checkAttrs(node, {});
      const int x = nodeInput(node, 0);
      if (shapeOf(x).size() != 4) unsupported(node, "input " + shapeText(shapeOf(x)) + " is not 4-D NCHW");
      return setOutput(node, add(nodeName(node, index), OpKind::GlobalAvgPool, {x}, OpAttrs(), node));
    }
    if (t == "Gemm" || t == "MatMul") return importLinear(node, index);
    if (t == "Flatten" || t == "Reshape") return importFlatten(node, index);
    if (t == "QuantizeLinear" || t == "DequantizeLinear") return importQdq(node, index);
    if (t == "Constant") return importConstant(node);
    throw InputError(where_ + ": unsupported ONNX op '" + t + "' (node '" + (node.name().empty() ? node.output(0) : node.name()) +
                     "'); hwnas imports " + opList());
  }

  static std::string opList() {
    std::string s;
    for (const auto& op : onnxImportedOps()) s += (s.empty() ? "" : ", ") + op;
    return s;
  }

  void importFused(const onnx::NodeProto& n, int index, const Fused& f) {
    auto it = values_.find(alias_.count(f.x) ? alias_.at(f.x) : f.x);
    if (it == values_.end() || it->second.node < 0) unsupported(n, "its input '" + f.x + "' is a constant");
    const int x = it->second.node;
    const std::string name = nodeName(n, index);
    if (f.kind == Fused::Act) {
      OpAttrs a;
      a.act = f.act;
      return setOutput(n, add(name, OpKind::Act, {x}, a, n));
    }
    const onnx::NodeProto& rc = g_.node(f.reduceConv);
    const onnx::NodeProto& ec = g_.node(f.expandConv);
    const int64_t c = shapeOf(x).size() == 4 ? shapeOf(x)[1] : -1;
    const OnnxTensor& rw = *values_.at(rc.input(1)).c;
    const OnnxTensor& ew = *values_.at(ec.input(1)).c;
    const int64_t r = rw.shape[0];
    if (c < 0 || rw.shape[1] != c || ew.shape[0] != c || ew.shape[1] != r)
      unsupported(n, "squeeze-excite weights " + shapeText(rw.shape) + " and " + shapeText(ew.shape) + " do not fit input " +
                         shapeText(shapeOf(x)));
    auto bias = [&](const onnx::NodeProto& conv, int64_t len) {
      if (!has(conv, 2)) return std::vector<double>(size_t(len), 0.0);
      const OnnxTensor& b = *values_.at(conv.input(2)).c;
      if (int64_t(b.values.size()) != len) unsupported(conv, "bias has " + std::to_string(b.values.size()) + " values, expected " + std::to_string(len));
      return b.values;
    };
    OpAttrs a;
    a.outChannels = r;
    a.act = f.act;
    a.gate = f.gate;
    const int id = add(name, OpKind::SqueezeExcite, {x}, a, n);
    putWeight(name + ".reduce.weight", {r, c, 1, 1}, rw.values);
    putWeight(name + ".reduce.bias", {r}, bias(rc, r));
    putWeight(name + ".expand.weight", {c, r, 1, 1}, ew.values);
    putWeight(name + ".expand.bias", {c}, bias(ec, c));
    setOutput(n, id);
  }

  // SAME_* / VALID / explicit pads as one symmetric pad per spatial dim; unsupported otherwise.
  void windowPads(const onnx::NodeProto& n, const Shape& x, const std::vector<int64_t>& k, const std::vector<int64_t>& s,
                  const std::vector<int64_t>& d, int* padH, int* padW) const {
    const std::string autoPad = attrString(n, "auto_pad", "NOTSET");
    std::vector<int64_t> pads = attrInts(n, "pads");
    if (autoPad == "VALID") {
      pads = {0, 0, 0, 0};
    } else if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
      pads.assign(4, 0);
      for (int i = 0; i < 2; ++i) {
        const int64_t in = x[2 + i], out = (in + s[i] - 1) / s[i];
        const int64_t total = std::max<int64_t>(0, (out - 1) * s[i] + (k[i] - 1) * d[i] + 1 - in);
        const int64_t small = total / 2, big = total - small;
        pads[i] = autoPad == "SAME_UPPER" ? small : big;
        pads[i + 2] = autoPad == "SAME_UPPER" ? big : small;
      }
    } else if (autoPad != "NOTSET") {
      unsupported(n, "auto_pad '" + autoPad + "' is not an ONNX value");
    }
    if (pads.empty()) pads = {0, 0, 0, 0};
    if (pads.size() != 4) unsupported(n, "pads " + intsText(pads) + " are not 2-D begin/end pairs");
    if (pads[0] != pads[2] || pads[1] != pads[3])
      unsupported(n, "pads " + intsText(pads) + (autoPad == "NOTSET" ? "" : " (from auto_pad " + autoPad + ")") +
                         " are asymmetric; hwnas windows pad both sides equally");
    if (pads[0] < 0 || pads[1] < 0) unsupported(n, "negative pads " + intsText(pads));
    *padH = int(pads[0]);
    *padW = int(pads[1]);
  }

  static std::vector<int64_t> orDefault(std::vector<int64_t> v, size_t n, int64_t def) {
    return v.empty() ? std::vector<int64_t>(n, def) : v;
  }

  void importConv(const onnx::NodeProto& n, int index) {
    checkAttrs(n, {"kernel_shape", "strides", "pads", "dilations", "group", "auto_pad"});
    const int x = nodeInput(n, 0);
    const Shape& xs = shapeOf(x);
    if (xs.size() != 4) unsupported(n, "input " + shapeText(xs) + " is not 4-D NCHW; hwnas convs are 2-D");
    const OnnxTensor& w = constInput(n, 1, "the weight");
    if (w.shape.size() != 4) unsupported(n, "weight " + shapeText(w.shape) + " is not 4-D");
    std::vector<int64_t> k = attrInts(n, "kernel_shape");
    if (k.empty()) k = {w.shape[2], w.shape[3]};
    if (k != std::vector<int64_t>{w.shape[2], w.shape[3]})
      unsupported(n, "kernel_shape " + intsText(k) + " differs from the weight " + shapeText(w.shape));
    const auto s = orDefault(attrInts(n, "strides"), 2, 1), d = orDefault(attrInts(n, "dilations"), 2, 1);
    if (s.size() != 2 || d.size() != 2) unsupported(n, "strides/dilations are not 2-D");
    OpAttrs a;
    a.groups = attrInt(n, "group", 1);
    a.outChannels = w.shape[0];
    a.kernelH = int(k[0]);
    a.kernelW = int(k[1]);
    a.strideH = int(s[0]);
    a.strideW = int(s[1]);
    a.dilationH = int(d[0]);
    a.dilationW = int(d[1]);
    windowPads(n, xs, k, s, d, &a.padH, &a.padW);
    if (a.groups < 1 || xs[1] % a.groups || w.shape[1] != xs[1] / a.groups)
      unsupported(n, "weight " + shapeText(w.shape) + " does not fit input " + shapeText(xs) + " with group " + std::to_string(a.groups));
    a.bias = has(n, 2);
    const std::string name = nodeName(n, index);
    const int id = add(name, OpKind::Conv2d, {x}, a, n);
    putWeight(name + ".weight", w.shape, w.values);
    if (a.bias) {
      const OnnxTensor& b = constInput(n, 2, "the bias");
      if (int64_t(b.values.size()) != a.outChannels)
        unsupported(n, "bias has " + std::to_string(b.values.size()) + " values for " + std::to_string(a.outChannels) + " channels");
      putWeight(name + ".bias", {a.outChannels}, b.values);
    }
    recordQuant(n, name, values_.at(n.input(1)), a.outChannels);
    setOutput(n, id);
  }

  void recordQuant(const onnx::NodeProto& n, const std::string& name, const Value& w, int64_t channels) {
    auto it = inputQuant_.find(nodeIndex(n));
    if (!o_.quant || it == inputQuant_.end()) return;
    LayerQuant lq;
    lq.inputScale = it->second.first;
    lq.inputZeroPoint = it->second.second;
    if (w.dqScales.size() == 1) lq.weightScales.assign(size_t(channels), float(w.dqScales[0]));
    else lq.weightScales.assign(w.dqScales.begin(), w.dqScales.end());
    if (int64_t(lq.weightScales.size()) != channels)
      unsupported(n, "its weight is dequantized with " + std::to_string(w.dqScales.size()) + " scales, not one per output channel");
    o_.quant->layers[name] = lq;
  }
  int nodeIndex(const onnx::NodeProto& n) const {
    auto it = producer_.find(n.output(0));
    return it == producer_.end() ? -1 : it->second;
  }

  void importBatchNorm(const onnx::NodeProto& n, int index) {
    checkAttrs(n, {"epsilon", "momentum", "training_mode", "spatial"});
    if (attrInt(n, "training_mode", 0) != 0) unsupported(n, "training_mode=1 (batch statistics); hwnas imports inference graphs");
    if (attrInt(n, "spatial", 1) != 1) unsupported(n, "spatial=0");
    const int x = nodeInput(n, 0);
    const Shape& xs = shapeOf(x);
    if (xs.size() != 2 && xs.size() != 4) unsupported(n, "input " + shapeText(xs) + " is neither [N,C] nor [N,C,H,W]");
    const int64_t c = xs[1];
    const char* names[] = {"the scale", "the bias", "the mean", "the variance"};
    const char* keys[] = {".weight", ".bias", ".running_mean", ".running_var"};
    std::vector<const OnnxTensor*> p;
    for (int i = 0; i < 4; ++i) {
      p.push_back(&constInput(n, i + 1, names[i]));
      if (int64_t(p.back()->values.size()) != c)
        unsupported(n, std::string(names[i]) + " has " + std::to_string(p.back()->values.size()) + " values for " + std::to_string(c) + " channels");
    }
    OpAttrs a;
    a.eps = floatToDouble(attrFloat(n, "epsilon", 1e-5f));
    const std::string name = nodeName(n, index);
    const int id = add(name, OpKind::BatchNorm, {x}, a, n);
    for (int i = 0; i < 4; ++i) putWeight(name + keys[i], {c}, p[size_t(i)]->values);
    setOutput(n, id);
  }

  void importAct(const onnx::NodeProto& n, int index) {
    ActKind act;
    if (!simpleAct(n, &act)) {
      const std::string& t = n.op_type();
      if (t == "HardSigmoid")
        unsupported(n, "alpha=" + numText(attrFloat(n, "alpha", 0.2f)) + ", beta=" + numText(attrFloat(n, "beta", 0.5f)) +
                           "; hwnas's hsigmoid is alpha=1/6, beta=0.5");
      if (t == "Clip") {
        double lo = -kInf, hi = kInf;
        if (!clipBounds(n, &lo, &hi)) unsupported(n, "min/max are not constant scalars (or an unknown attribute)");
        unsupported(n, "min=" + numText(lo) + ", max=" + numText(hi) +
                           "; hwnas clips to [0, 6] (relu6), [0, inf) (relu) or not at all");
      }
      if (n.attribute_size()) unsupported(n, "attribute '" + n.attribute(0).name() + "' is not supported");
      unsupported(n, "not an hwnas activation");
    }
    OpAttrs a;
    a.act = act;
    setOutput(n, add(nodeName(n, index), OpKind::Act, {nodeInput(n, 0)}, a, n));
  }

  // Add/Mul of two computed tensors, or of a tensor and a per-channel constant (a batchnorm).
  void importBinary(const onnx::NodeProto& n, int index) {
    checkAttrs(n, {});
    const bool isAdd = n.op_type() == "Add";
    const Value& va = value(n, 0);
    const Value& vb = value(n, 1);
    if (va.node >= 0 && vb.node >= 0) {
      const Shape &sa = shapeOf(va.node), &sb = shapeOf(vb.node);
      auto channelVec = [](const Shape& full, const Shape& v) {
        return full.size() == 4 && v.size() == 4 && v[0] == full[0] && v[1] == full[1] && v[2] == 1 && v[3] == 1;
      };
      if (sa == sb || (!isAdd && (channelVec(sa, sb) || channelVec(sb, sa))))
        return setOutput(n, add(nodeName(n, index), isAdd ? OpKind::Add : OpKind::Mul, {va.node, vb.node}, OpAttrs(), n));
      unsupported(n, "broadcasting " + shapeText(sa) + " with " + shapeText(sb) + "; hwnas " + (isAdd ? "adds equal shapes" :
                     "multiplies equal shapes or [N,C,H,W] by [N,C,1,1]"));
    }
    if (va.node < 0 && vb.node < 0) unsupported(n, "both inputs are constants");
    const int x = va.node >= 0 ? va.node : vb.node;
    const OnnxTensor& c = va.node >= 0 ? *vb.c : *va.c;
    const Shape& xs = shapeOf(x);
    // The constant, right-aligned against x, must vary along dim 1 at most.
    bool perChannel = xs.size() >= 2 && c.shape.size() <= xs.size();
    const size_t off = xs.size() - std::min(xs.size(), c.shape.size());
    int64_t varying = 1;
    for (size_t i = 0; perChannel && i < c.shape.size(); ++i) {
      const size_t dim = off + i;
      if (c.shape[i] == 1) continue;
      if (dim == 1 && c.shape[i] == xs[1]) varying = xs[1];
      else perChannel = false;
    }
    if (!perChannel)
      unsupported(n, "a constant of shape " + shapeText(c.shape) + " broadcast over " + shapeText(xs) +
                         "; hwnas takes per-channel constants only (shape [C,1,1] on NCHW)");
    const int64_t ch = xs[1];
    std::vector<double> gamma(size_t(ch), 1.0), beta(size_t(ch), 0.0);
    for (int64_t i = 0; i < ch; ++i) (isAdd ? beta : gamma)[size_t(i)] = c.values[size_t(varying == 1 ? 0 : i)];
    if (xs.size() != 2 && xs.size() != 4) unsupported(n, "a per-channel constant on a " + shapeText(xs) + " tensor");
    // As a batchnorm with mean 0 and var 1: y = gamma * x / sqrt(1 + eps) + beta, eps 1e-12 (exact in float).
    OpAttrs a;
    a.eps = 1e-12;
    const std::string name = nodeName(n, index);
    const int id = add(name, OpKind::BatchNorm, {x}, a, n);
    putWeight(name + ".weight", {ch}, gamma);
    putWeight(name + ".bias", {ch}, beta);
    putWeight(name + ".running_mean", {ch}, std::vector<double>(size_t(ch), 0.0));
    putWeight(name + ".running_var", {ch}, std::vector<double>(size_t(ch), 1.0));
    setOutput(n, id);
  }

  void importConcat(const onnx::NodeProto& n, int index) {
    checkAttrs(n, {"axis"});
    if (!attr(n, "axis")) unsupported(n, "attribute 'axis' is missing");
    std::vector<int> ins;
    for (int i = 0; i < n.input_size(); ++i) ins.push_back(nodeInput(n, i));
    const int64_t rank = int64_t(shapeOf(ins[0]).size());
    int64_t axis = attrInt(n, "axis", 1);
    if (axis < 0) axis += rank;
    if (axis != 1) unsupported(n, "axis=" + std::to_string(attrInt(n, "axis", 1)) + " on rank " + std::to_string(rank) + "; hwnas concatenates channels (axis 1)");
    setOutput(n, add(nodeName(n, index), OpKind::Concat, ins, OpAttrs(), n));
  }

  void importPool(const onnx::NodeProto& n, int index) {
    const bool isAvg = n.op_type() == "AveragePool";
    if (isAvg) checkAttrs(n, {"kernel_shape", "strides", "pads", "auto_pad", "ceil_mode", "count_include_pad", "dilations"});
    else checkAttrs(n, {"kernel_shape", "strides", "pads", "auto_pad", "ceil_mode", "dilations", "storage_order"});
    const int x = nodeInput(n, 0);
    const Shape& xs = shapeOf(x);
    if (xs.size() != 4) unsupported(n, "input " + shapeText(xs) + " is not 4-D NCHW; hwnas pools are 2-D");
    const auto k = attrInts(n, "kernel_shape");
    if (k.size() != 2) unsupported(n, "kernel_shape " + intsText(k) + " is not 2-D");
    const auto s = orDefault(attrInts(n, "strides"), 2, 1), d = orDefault(attrInts(n, "dilations"), 2, 1);
    if (s.size() != 2) unsupported(n, "strides are not 2-D");
    if (d != std::vector<int64_t>{1, 1}) unsupported(n, "dilations " + intsText(d) + "; hwnas pools have dilation 1");
    OpAttrs a;
    a.kernelH = int(k[0]);
    a.kernelW = int(k[1]);
    a.strideH = int(s[0]);
    a.strideW = int(s[1]);
    windowPads(n, xs, k, s, d, &a.padH, &a.padW);
    if (a.padH >= a.kernelH || a.padW >= a.kernelW) unsupported(n, "padding >= kernel size");
    if (isAvg && attrInt(n, "count_include_pad", 0) == 0 && (a.padH || a.padW))
      unsupported(n, "count_include_pad=0 with padding; hwnas averages count the padding (count_include_pad=1)");
    if (attrInt(n, "ceil_mode", 0) != 0) {
      for (int i = 0; i < 2; ++i) {
        const int64_t span = xs[2 + i] + 2 * (i ? a.padW : a.padH) - k[i];
        if (span % s[i] != 0) unsupported(n, "ceil_mode=1 changes the output size here; hwnas windows round down");
      }
    }
    setOutput(n, add(nodeName(n, index), isAvg ? OpKind::AvgPool : OpKind::MaxPool, {x}, a, n));
  }

  void importLinear(const onnx::NodeProto& n, int index) {
    const bool gemm = n.op_type() == "Gemm";
    if (gemm) checkAttrs(n, {"alpha", "beta", "transA", "transB"});
    else checkAttrs(n, {});
    const int x = nodeInput(n, 0);
    const Shape& xs = shapeOf(x);
    if (xs.size() != 2) unsupported(n, "input " + shapeText(xs) + " is not 2-D [N, features]; hwnas linears are 2-D");
    if (gemm && attrInt(n, "transA", 0) != 0) unsupported(n, "transA=1 (the input transposed)");
    const OnnxTensor& b = constInput(n, 1, "the weight");
    if (b.shape.size() != 2) unsupported(n, "weight " + shapeText(b.shape) + " is not 2-D");
    const bool transB = gemm && attrInt(n, "transB", 0) != 0;
    const int64_t k = transB ? b.shape[1] : b.shape[0], out = transB ? b.shape[0] : b.shape[1];
    if (k != xs[1]) unsupported(n, "weight " + shapeText(b.shape) + " does not fit input " + shapeText(xs));
    const double alpha = gemm ? double(attrFloat(n, "alpha", 1.f)) : 1.0;
    const double beta = gemm ? double(attrFloat(n, "beta", 1.f)) : 1.0;
    std::vector<double> w(size_t(out * k));
    for (int64_t o = 0; o < out; ++o)
      for (int64_t i = 0; i < k; ++i)
        w[size_t(o * k + i)] = alpha * b.values[size_t(transB ? o * k + i : i * out + o)];
    OpAttrs a;
    a.outChannels = out;
    a.bias = gemm && has(n, 2);
    std::vector<double> bias;
    if (a.bias) {
      const OnnxTensor& c = constInput(n, 2, "C (the bias)");
      // C broadcasts to [M, out]: it may vary along the output features only.
      const Shape& cs = c.shape;
      bool ok = cs.size() <= 2 && (cs.empty() || cs.back() == out || cs.back() == 1) && (cs.size() < 2 || cs[0] == 1);
      if (!ok) unsupported(n, "C of shape " + shapeText(cs) + " varies along the batch; hwnas biases are per output feature");
      for (int64_t o = 0; o < out; ++o) bias.push_back(beta * c.values[size_t(c.values.size() == 1 ? 0 : o)]);
    }
    const std::string name = nodeName(n, index);
    const int id = add(name, OpKind::Linear, {x}, a, n);
    putWeight(name + ".weight", {out, k}, w);
    if (a.bias) putWeight(name + ".bias", {out}, bias);
    if (!transB || alpha != 1.0) {
      // a weight that was transposed or scaled has no per-row DQ scales to keep
      if (o_.quant && inputQuant_.count(index)) unsupported(n, "a quantized weight that is not [out, in] (transB=1, alpha 1)");
    } else {
      recordQuant(n, name, values_.at(n.input(1)), out);
    }
    setOutput(n, id);
  }

  void importFlatten(const onnx::NodeProto& n, int index) {
    const int x = nodeInput(n, 0);
    const Shape& xs = shapeOf(x);
    const int64_t rank = int64_t(xs.size()), total = numel(xs);
    Shape target;
    if (n.op_type() == "Flatten") {
      checkAttrs(n, {"axis"});
      int64_t axis = attrInt(n, "axis", 1);
      if (axis < 0) axis += rank;
      if (axis < 0 || axis > rank) unsupported(n, "axis " + std::to_string(attrInt(n, "axis", 1)) + " is out of range");
      int64_t outer = 1;
      for (int64_t i = 0; i < axis; ++i) outer *= xs[size_t(i)];
      target = {outer, total / outer};
    } else {
      checkAttrs(n, {"allowzero"});
      const OnnxTensor& sh = constInput(n, 1, "the shape");
      const bool allowZero = attrInt(n, "allowzero", 0) != 0;
      int64_t known = 1, infer = -1;
      for (size_t i = 0; i < sh.values.size(); ++i) {
        int64_t v = int64_t(sh.values[i]);
        if (v == 0 && !allowZero) {
          if (int64_t(i) >= rank) unsupported(n, "shape " + shapeText(Shape(sh.values.begin(), sh.values.end())) + " copies a dim the input lacks");
          v = xs[i];
        }
        if (v == -1) {
          if (infer >= 0) unsupported(n, "more than one -1 in the shape");
          infer = int64_t(i);
          target.push_back(1);
          continue;
        }
        if (v < 0) unsupported(n, "a negative dimension in the shape");
        target.push_back(v);
        known *= v;
      }
      if (infer >= 0) {
        if (known == 0 || total % known) unsupported(n, "the shape does not fit " + std::to_string(total) + " elements");
        target[size_t(infer)] = total / known;
      }
      if (numel(target) != total) unsupported(n, "shape " + shapeText(target) + " does not hold the input " + shapeText(xs));
    }
    const std::string name = nodeName(n, index);
    if (target == xs && n.op_type() == "Reshape") {
      OpAttrs a;
      a.act = ActKind::Identity;
      return setOutput(n, add(name, OpKind::Act, {x}, a, n));
    }
    if (target.size() == 2 && rank >= 2 && target[0] == xs[0])
      return setOutput(n, add(name, OpKind::Flatten, {x}, OpAttrs(), n));
    unsupported(n, "output " + shapeText(target) + " from " + shapeText(xs) + "; hwnas reshapes only [N, ...] to [N, rest] (flatten)");
  }

  void importQdq(const onnx::NodeProto& n, int index) {
    checkAttrs(n, {"axis", "saturate", "block_size", "output_dtype"});
    if (attrInt(n, "block_size", 0) != 0) unsupported(n, "blocked quantization (block_size)");
    if (attrInt(n, "output_dtype", 0) != 0) unsupported(n, "attribute output_dtype");
    const bool quant = n.op_type() == "QuantizeLinear";
    const OnnxTensor& scale = constInput(n, 1, "the scale");
    const OnnxTensor* zp = has(n, 2) ? &constInput(n, 2, "the zero point") : nullptr;
    const Value& vx = value(n, 0);
    if (vx.c) {  // fold a constant: per-tensor or per-axis
      const OnnxTensor& x = *vx.c;
      const int64_t rank = int64_t(x.shape.size());
      int64_t axis = attrInt(n, "axis", 1);
      if (axis < 0) axis += rank;
      const size_t count = scale.values.size();
      if (count == 0 || (zp && zp->values.size() != count)) unsupported(n, "scale and zero point sizes differ");
      int64_t inner = 1;
      if (count > 1) {
        if (axis < 0 || axis >= rank || x.shape[size_t(axis)] != int64_t(count))
          unsupported(n, "per-axis scales (" + std::to_string(count) + ") do not fit " + shapeText(x.shape) + " at axis " + std::to_string(axis));
        for (int64_t i = axis + 1; i < rank; ++i) inner *= x.shape[size_t(i)];
      }
      OnnxTensor out;
      out.shape = x.shape;
      out.values.resize(x.values.size());
      int zpType = zp ? zp->elemType : onnx::TensorProto::UINT8;
      double lo = zpType == onnx::TensorProto::INT8 ? -128 : 0, hi = zpType == onnx::TensorProto::INT8 ? 127 : 255;
      if (quant && zpType != onnx::TensorProto::INT8 && zpType != onnx::TensorProto::UINT8)
        unsupported(n, std::string("quantizing to ") + elemTypeName(zpType));
      for (size_t i = 0; i < x.values.size(); ++i) {
        const size_t c = count == 1 ? 0 : size_t((int64_t(i) / inner) % int64_t(count));
        const double s = scale.values[c], z = zp ? zp->values[c] : 0.0;
        out.values[i] = quant ? std::min(hi, std::max(lo, std::nearbyint(x.values[i] / s) + z)) : (x.values[i] - z) * s;
      }
      out.elemType = quant ? zpType : onnx::TensorProto::FLOAT;
      return setConst(n, std::move(out), quant ? std::vector<double>{} : scale.values);
    }
    if (scale.values.size() != 1) unsupported(n, "per-axis scales on a computed tensor; hwnas quantizes activations per tensor");
    int64_t zeroPoint = zp ? int64_t(zp->values[0]) : 0;
    const int zpType = zp ? zp->elemType : onnx::TensorProto::UINT8;
    if (zpType == onnx::TensorProto::UINT8) {
      // A uint8 tensor u between QuantizeLinear and DequantizeLinear holds the same numbers as
      // the int8 tensor u - 128 with the zero point moved by -128 (the clamp [0, 255] becomes
      // [-128, 127]), so the pair imports exactly; anything else would see the shifted values.
      bool pair = false;
      if (quant) {
        auto it = consumers_.find(n.output(0));
        pair = it != consumers_.end() && !graphOutputs_.count(n.output(0));
        if (pair)
          for (int c : it->second) pair = pair && g_.node(c).op_type() == "DequantizeLinear";
      } else {
        const onnx::NodeProto* q = producerOf(n.input(0));
        pair = q && q->op_type() == "QuantizeLinear";
      }
      if (!pair)
        unsupported(n, "a uint8 tensor used other than between QuantizeLinear and DequantizeLinear; hwnas activations are int8");
      zeroPoint -= 128;
    } else if (zpType != onnx::TensorProto::INT8) {
      unsupported(n, std::string("zero point of type ") + elemTypeName(zpType) + "; hwnas activations are int8");
    }
    OpAttrs a;
    a.scale = floatToDouble(float(scale.values[0]));
    a.zeroPoint = zeroPoint;
    setOutput(n, add(nodeName(n, index), quant ? OpKind::Quant : OpKind::Dequant, {vx.node}, a, n));
  }

  void importConstant(const onnx::NodeProto& n) {
    if (n.attribute_size() != 1) unsupported(n, "a Constant needs exactly one value attribute");
    const auto& a = n.attribute(0);
    OnnxTensor t;
    if (a.name() == "value") {
      t = tensorFromProto(a.t(), where_);
    } else if (a.name() == "value_float") {
      t.values = {double(a.f())};
    } else if (a.name() == "value_floats") {
      t.shape = {int64_t(a.floats_size())};
      for (float f : a.floats()) t.values.push_back(f);
    } else if (a.name() == "value_int") {
      t.elemType = onnx::TensorProto::INT64;
      t.values = {double(a.i())};
    } else if (a.name() == "value_ints") {
      t.elemType = onnx::TensorProto::INT64;
      t.shape = {int64_t(a.ints_size())};
      for (int64_t v : a.ints()) t.values.push_back(double(v));
    } else {
      unsupported(n, "attribute '" + a.name() + "'");
    }
    setConst(n, std::move(t));
  }

  const onnx::ModelProto& m_;
  const onnx::GraphProto& g_;
  std::string where_;
  const OnnxImportOptions& o_;
  int64_t opset_ = 0;
  Graph graph_;
  WeightMap weights_;
  OnnxImport result_;
  std::vector<std::unique_ptr<OnnxTensor>> consts_;
  std::map<std::string, Value> values_;
  std::map<std::string, std::vector<int>> consumers_;
  std::map<std::string, int> producer_;
  std::set<std::string> graphOutputs_;
  std::set<int> skip_;
  std::map<int, Fused> fused_;
  std::map<std::string, std::string> alias_;                 // absorbed DQ output -> Q input
  std::map<int, std::pair<float, int32_t>> inputQuant_;      // node index -> (input scale, zero point)
};

}  // namespace

const std::vector<std::string>& onnxImportedOps() {
  static const std::vector<std::string> ops = {
      "Conv",    "BatchNormalization", "Relu",  "Clip",   "HardSigmoid",    "HardSwish",       "Sigmoid",
      "Add",     "Mul",                "Concat", "AveragePool", "MaxPool", "GlobalAveragePool", "Gemm",
      "MatMul",  "Flatten",            "Reshape", "QuantizeLinear", "DequantizeLinear"};
  return ops;
}

OnnxImport importOnnxBytes(const std::string& bytes, const std::string& where, const OnnxImportOptions& options) {
  if (bytes.empty()) notOnnx(where, "the file is empty");
  onnx::ModelProto model;
  if (!model.ParseFromString(bytes)) notOnnx(where, "protobuf parsing failed");
  if (model.ir_version() <= 0) notOnnx(where, "no ir_version");
  if (!model.has_graph()) notOnnx(where, "no graph");
  if (model.graph().node_size() == 0) throw InputError(where + ": the ONNX graph has no nodes");
  return Importer(model, where, options).run();
}

ExportModel importOnnx(const std::string& path, const OnnxImportOptions& options) {
  OnnxImport r = importOnnxBytes(readFile(path), path, options);
  if (r.model.name == "model") {
    std::string stem = path.substr(path.find_last_of('/') + 1);
    r.model.name = stem.substr(0, stem.rfind('.'));
  }
  return std::move(r.model);
}

OnnxTensor readOnnxTensorFile(const std::string& path) {
  const std::string bytes = readFile(path);
  onnx::TensorProto t;
  if (!t.ParseFromString(bytes)) throw InputError(path + ": not a readable ONNX TensorProto (truncated or corrupt)");
  return tensorFromProto(t, path);
}

}  // namespace hwnas
