// importOnnx on hand-built ONNX models: each mapping (patterns, constants folded into weights)
// gives the Graph and numbers the ONNX semantics define; what the Graph cannot express, and
// broken files, are InputErrors naming op, node, attribute or file.
#include <gtest/gtest.h>

#include <onnx/onnx_pb.h>

#include <cmath>
#include <fstream>

#include "core/error.h"
#include "core/fs_util.h"
#include "exporter/onnx_export.h"
#include "exporter/onnx_import.h"
#include "tests/exporter/onnx_test_util.h"

namespace hwnas {
namespace {

using namespace onnxtest;

// A small builder for test models: opset 13, float tensors.
struct Builder {
  onnx::ModelProto m;
  onnx::GraphProto* g;
  explicit Builder(int opset = 13) {
    m.set_ir_version(7);
    auto* op = m.add_opset_import();
    op->set_domain("");
    op->set_version(opset);
    g = m.mutable_graph();
    g->set_name("t");
  }
  void input(const std::string& name, const Shape& s, bool dynamicBatch = false) {
    auto* vi = g->add_input();
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    for (size_t i = 0; i < s.size(); ++i) {
      auto* d = tt->mutable_shape()->add_dim();
      if (i == 0 && dynamicBatch) d->set_dim_param("N");
      else d->set_dim_value(s[i]);
    }
  }
  void output(const std::string& name) {
    auto* vi = g->add_output();
    vi->set_name(name);
    vi->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  }
  void init(const std::string& name, const Shape& s, const std::vector<float>& v) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (auto d : s) t->add_dims(d);
    for (float x : v) t->add_float_data(x);
  }
  void initInts(const std::string& name, const Shape& s, const std::vector<int64_t>& v, int type = onnx::TensorProto::INT64) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(type);
    for (auto d : s) t->add_dims(d);
    for (int64_t x : v) {
      if (type == onnx::TensorProto::INT64) t->add_int64_data(x);
      else t->add_int32_data(int32_t(x));
    }
  }
  onnx::NodeProto* node(const std::string& op, const std::string& name, const std::vector<std::string>& ins,
                        const std::string& out) {
    auto* n = g->add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (const auto& i : ins) n->add_input(i);
    n->add_output(out);
    return n;
  }
  static void attr(onnx::NodeProto* n, const char* name, int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attrF(onnx::NodeProto* n, const char* name, float v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }
  static void attrInts(onnx::NodeProto* n, const char* name, const std::vector<int64_t>& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (auto x : v) a->add_ints(x);
  }
  OnnxImport import(const OnnxImportOptions& o = OnnxImportOptions()) const {
    return importOnnxBytes(m.SerializeAsString(), "t.onnx", o);
  }
};

std::string importError(const Builder& b) {
  try {
    b.import();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

std::vector<float> iota(int64_t n, float scale = 0.1f, float offset = -1.f) {
  std::vector<float> v;
  for (int64_t i = 0; i < n; ++i) v.push_back(offset + scale * float(i % 23) + 0.01f * float(i / 23));
  return v;
}

TEST(OnnxImport, GatedActivationsBecomeSiluAndHswish) {
  Builder b;
  b.input("x", {1, 3, 4, 4});
  b.node("Sigmoid", "s", {"x"}, "s");
  b.node("Mul", "silu", {"x", "s"}, "y1");
  auto* hs = b.node("HardSigmoid", "hs", {"y1"}, "hs");
  Builder::attrF(hs, "alpha", 1.f / 6.f);
  Builder::attrF(hs, "beta", 0.5f);
  b.node("Mul", "hswish", {"hs", "y1"}, "y");  // either operand order
  b.output("y");
  const OnnxImport r = b.import();
  const Graph& g = r.model.graph;
  ASSERT_EQ(g.size(), 3u);
  EXPECT_EQ(g.node(1).name, "silu");
  EXPECT_EQ(g.node(1).attrs.act, ActKind::Silu);
  EXPECT_EQ(g.node(2).attrs.act, ActKind::HSwish);
  // and the numbers are x*sigmoid(x) then y*hsigmoid(y)
  const auto x = iota(48);
  const auto y = runRuntime(g, r.model.weights, {x})[0];
  for (size_t i = 0; i < x.size(); ++i) {
    const double s = x[i] / (1 + std::exp(-double(x[i])));
    EXPECT_NEAR(y[i], s * std::min(std::max(s + 3, 0.0), 6.0) / 6, 1e-6);
  }
}

TEST(OnnxImport, ClipRangesMapToReluAndRelu6OrAreRefused) {
  for (auto [lo, hi, act] : {std::tuple<float, float, ActKind>{0.f, 6.f, ActKind::Relu6},
                             {0.f, INFINITY, ActKind::Relu}}) {
    Builder b;
    b.input("x", {2, 3});
    b.init("lo", {}, {lo});
    b.init("hi", {}, {hi});
    b.node("Clip", "clip", {"x", "lo", "hi"}, "y");
    b.output("y");
    EXPECT_EQ(b.import().model.graph.node(1).attrs.act, act);
  }
  Builder b;
  b.input("x", {2, 3});
  b.init("lo", {}, {-1.f});
  b.init("hi", {}, {1.f});
  b.node("Clip", "clip_1", {"x", "lo", "hi"}, "y");
  b.output("y");
  const std::string e = importError(b);
  EXPECT_NE(e.find("Clip node 'clip_1'"), std::string::npos) << e;
  EXPECT_NE(e.find("min=-1, max=1"), std::string::npos) << e;
  // opset 6: bounds are attributes
  Builder old(6);
  old.input("x", {2, 3});
  auto* c = old.node("Clip", "clip", {"x"}, "y");
  Builder::attrF(c, "min", 0.f);
  Builder::attrF(c, "max", 6.f);
  old.output("y");
  EXPECT_EQ(old.import().model.graph.node(1).attrs.act, ActKind::Relu6);
}

TEST(OnnxImport, PerChannelConstantsBecomeBatchNormWithExactNumbers) {
  Builder b;
  b.input("x", {2, 3, 2, 2}, /*dynamicBatch=*/true);
  b.init("scale", {3, 1, 1}, {2.f, -1.f, 0.5f});
  b.init("shift", {1, 3, 1, 1}, {0.25f, 1.f, -3.f});
  b.node("Mul", "mul", {"scale", "x"}, "m");
  b.node("Add", "add", {"m", "shift"}, "y");
  b.output("y");
  OnnxImportOptions o;
  o.batch = 2;
  const OnnxImport r = b.import(o);
  ASSERT_EQ(r.model.graph.node(1).kind, OpKind::BatchNorm);
  EXPECT_EQ(r.model.graph.node(0).shape, (Shape{2, 3, 2, 2}));
  const auto x = iota(24);
  const auto y = runRuntime(r.model.graph, r.model.weights, {x})[0];
  const float sc[] = {2.f, -1.f, 0.5f}, sh[] = {0.25f, 1.f, -3.f};
  for (size_t i = 0; i < x.size(); ++i) EXPECT_FLOAT_EQ(y[i], x[i] * sc[(i / 4) % 3] + sh[(i / 4) % 3]) << i;
}

TEST(OnnxImport, GemmAndMatMulBecomeLinearWithTransposedScaledWeights) {
  Builder b;
  b.input("x", {2, 3});
  b.init("B", {3, 2}, {1, 2, 3, 4, 5, 6});  // [K, N]: transB = 0
  b.init("C", {2}, {0.5f, -0.5f});
  auto* gm = b.node("Gemm", "fc", {"x", "B", "C"}, "h");
  Builder::attrF(gm, "alpha", 2.f);
  Builder::attrF(gm, "beta", 3.f);
  b.init("W2", {2, 1}, {1, -1});
  b.node("MatMul", "mm", {"h", "W2"}, "y");
  b.output("y");
  const OnnxImport r = b.import();
  const WeightMap& w = r.model.weights;
  EXPECT_EQ(w.at("fc.weight").values, (std::vector<float>{2, 6, 10, 4, 8, 12}));
  EXPECT_EQ(w.at("fc.bias").values, (std::vector<float>{1.5f, -1.5f}));
  EXPECT_EQ(w.at("mm.weight").values, (std::vector<float>{1, -1}));
  const auto y = runRuntime(r.model.graph, w, {{1, 0, 0, 0, 1, 1}})[0];
  // h = 2 * x B + 3 C: row0 = [2+1.5, 4-1.5] = [3.5, 2.5]; row1 = [2*(3+5)+1.5, 2*(4+6)-1.5] = [17.5, 18.5]
  EXPECT_FLOAT_EQ(y[0], 1.f);
  EXPECT_FLOAT_EQ(y[1], -1.f);
}

TEST(OnnxImport, ReshapeToBatchByRestIsAFlattenOtherShapesAreRefused) {
  Builder b;
  b.input("x", {2, 3, 2, 2});
  b.initInts("shape", {2}, {0, -1});
  b.node("Reshape", "flat", {"x", "shape"}, "y");
  b.output("y");
  const OnnxImport r = b.import();
  EXPECT_EQ(r.model.graph.node(1).kind, OpKind::Flatten);
  EXPECT_EQ(r.model.graph.node(1).shape, (Shape{2, 12}));
  Builder bad;
  bad.input("x", {2, 3, 2, 2});
  bad.initInts("shape", {2}, {6, -1});
  bad.node("Reshape", "r1", {"x", "shape"}, "y");
  bad.output("y");
  const std::string e = importError(bad);
  EXPECT_NE(e.find("Reshape node 'r1'"), std::string::npos) << e;
  EXPECT_NE(e.find("[6,4]"), std::string::npos) << e;
}

TEST(OnnxImport, QdqAroundConstantWeightsFoldsIntoFloatWeights) {
  Builder b;
  b.input("x", {1, 2, 3, 3});
  b.initInts("wq", {2, 2, 1, 1}, {10, -20, 30, 127}, onnx::TensorProto::INT8);
  b.init("ws", {2}, {0.5f, 0.25f});
  auto* dq = b.node("DequantizeLinear", "wdq", {"wq", "ws"}, "w");
  Builder::attr(dq, "axis", 0);
  b.node("Conv", "conv", {"x", "w"}, "y");
  b.output("y");
  const OnnxImport r = b.import();
  EXPECT_EQ(r.model.weights.at("conv.weight").values, (std::vector<float>{5, -10, 7.5f, 31.75f}));
  EXPECT_EQ(r.model.graph.size(), 2u);
}

TEST(OnnxImport, Uint8QdqPairsOnActivationsBecomeInt8WithTheZeroPointMovedBy128) {
  // onnxruntime's default static quantization: uint8 activations. Between a QuantizeLinear and
  // its DequantizeLinear, u in [0, 255] with zero point z is the int8 u - 128 with z - 128.
  Builder b;
  b.input("x", {1, 2, 3, 3});
  b.init("s", {}, {0.05f});
  b.initInts("z", {}, {131}, onnx::TensorProto::UINT8);
  b.node("QuantizeLinear", "q", {"x", "s", "z"}, "xq");
  b.node("DequantizeLinear", "dq", {"xq", "s", "z"}, "xd");
  b.node("Relu", "relu", {"xd"}, "y");
  b.output("y");
  const OnnxImport r = b.import();
  int quants = 0;
  for (size_t i = 0; i < r.model.graph.size(); ++i) {
    const Node& n = r.model.graph.node(int(i));
    if (n.kind == OpKind::Quant || n.kind == OpKind::Dequant) {
      ++quants;
      EXPECT_EQ(n.attrs.zeroPoint, 3) << n.name;
      EXPECT_NEAR(n.attrs.scale, 0.05, 1e-9) << n.name;
    }
  }
  EXPECT_EQ(quants, 2);
  // The uint8 tensor itself as a graph output would carry the shifted values: refused.
  Builder out;
  out.input("x", {1, 2, 3, 3});
  out.init("s", {}, {0.05f});
  out.initInts("z", {}, {131}, onnx::TensorProto::UINT8);
  out.node("QuantizeLinear", "q_out", {"x", "s", "z"}, "y");
  out.output("y");
  const std::string e = importError(out);
  EXPECT_NE(e.find("QuantizeLinear node 'q_out'"), std::string::npos) << e;
  EXPECT_NE(e.find("uint8"), std::string::npos) << e;
}

TEST(OnnxImport, UnsupportedOpsAndAttributesNameOpNodeAndAttribute) {
  {
    Builder b;
    b.input("x", {1, 4, 8});
    b.node("LSTM", "lstm_1", {"x"}, "y");
    b.output("y");
    const std::string e = importError(b);
    EXPECT_NE(e.find("unsupported ONNX op 'LSTM' (node 'lstm_1')"), std::string::npos) << e;
    EXPECT_EQ(e.rfind("t.onnx: ", 0), 0u) << e;
  }
  {
    Builder b;
    b.input("x", {1, 1, 5, 5});
    b.init("w", {1, 1, 3, 3}, std::vector<float>(9, 1.f));
    auto* c = b.node("Conv", "conv_7", {"x", "w"}, "y");
    Builder::attrInts(c, "pads", {0, 0, 1, 1});
    b.output("y");
    const std::string e = importError(b);
    EXPECT_NE(e.find("Conv node 'conv_7'"), std::string::npos) << e;
    EXPECT_NE(e.find("pads [0,0,1,1]"), std::string::npos) << e;
  }
  {
    Builder b;
    b.input("x", {1, 1, 5, 5});
    auto* p = b.node("MaxPool", "pool", {"x"}, "y");
    Builder::attrInts(p, "kernel_shape", {2, 2});
    Builder::attrInts(p, "strides", {2, 2});  // 5x5: ceil gives 3x3, floor 2x2
    Builder::attr(p, "ceil_mode", 1);
    b.output("y");
    const std::string e = importError(b);
    EXPECT_NE(e.find("MaxPool node 'pool'"), std::string::npos) << e;
    EXPECT_NE(e.find("ceil_mode"), std::string::npos) << e;
  }
  {
    Builder b;
    b.input("x", {1, 2, 3, 3});
    auto* h = b.node("HardSigmoid", "hs", {"x"}, "y");
    Builder::attrF(h, "alpha", 0.2f);
    b.output("y");
    const std::string e = importError(b);
    EXPECT_NE(e.find("HardSigmoid node 'hs'"), std::string::npos) << e;
    EXPECT_NE(e.find("alpha=0.2"), std::string::npos) << e;
  }
  {
    Builder b(22);
    b.input("x", {1, 2});
    b.node("Relu", "r", {"x"}, "y");
    b.output("y");
    EXPECT_NE(importError(b).find("opset 22"), std::string::npos);
  }
}

TEST(OnnxImport, ADeclaredOutputShapeThatDiffersIsAnError) {
  Builder b;
  b.input("x", {1, 2, 3, 3});
  b.node("Relu", "r", {"x"}, "y");
  b.output("y");
  auto* shape = b.g->mutable_output(0)->mutable_type()->mutable_tensor_type()->mutable_shape();
  for (int64_t d : {1, 2, 3, 4}) shape->add_dim()->set_dim_value(d);
  const std::string e = importError(b);
  EXPECT_NE(e.find("graph output 'y' is declared [1,2,3,4] but computes [1,2,3,3]"), std::string::npos) << e;
  shape->mutable_dim(3)->set_dim_value(3);
  EXPECT_NO_THROW(b.import());
}

TEST(OnnxImport, TruncatedAndGarbageFilesAreInputErrorsNamingTheFile) {
  TempDir tmp;
  const std::string bytes = exportOnnxBytes(refnet(1));
  {
    std::ofstream f(tmp.file("cut.onnx"), std::ios::binary);
    f.write(bytes.data(), std::streamsize(bytes.size() / 2));
  }
  {
    std::ofstream f(tmp.file("junk.onnx"), std::ios::binary);
    for (int i = 0; i < 4000; ++i) f.put(char((i * 7919 + 13) & 0xff));
  }
  { std::ofstream f(tmp.file("empty.onnx")); }
  for (const char* name : {"cut.onnx", "junk.onnx", "empty.onnx"}) {
    try {
      importOnnx(tmp.file(name));
      ADD_FAILURE() << name << " imported";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(tmp.file(name)), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(importOnnx(tmp.file("missing.onnx")), IoError);
}

}  // namespace
}  // namespace hwnas

namespace hwnas {
namespace {

// A model from elsewhere (e.g. PyTorch's export of refnet: /usr/bin/python3
// /work/shared/anchors/refnet_onnx.py X.onnx), given by HWNAS_ONNX_MODEL: its import runs in
// the runtime with onnxruntime's outputs. Skipped without the variable.
TEST(OnnxImport, AForeignModelMatchesOnnxruntime) {
  const char* path = std::getenv("HWNAS_ONNX_MODEL");
  if (!path) GTEST_SKIP() << "set HWNAS_ONNX_MODEL to an ONNX file to check its import against onnxruntime";
  const std::string missing = ortMissing();
  if (!missing.empty()) GTEST_SKIP() << missing;
  for (int64_t batch : {1, 2}) {
    OnnxImportOptions o;
    o.batch = batch;
    const ExportModel m = importOnnx(path, o);
    const Shape in = m.graph.node(m.graph.inputIds()[0]).shape;
    const auto x = onnxtest::randomInput(numel(in), 77 + batch);
    const auto want = onnxtest::runOrt(path, x, in);
    const auto got = onnxtest::runRuntime(m.graph, m.weights, {x})[0];
    const double err = onnxtest::maxAbsDiff(want, got);
    ASSERT_FALSE(want.empty());
    std::printf("%s batch %lld: %zu graph nodes, max |runtime - onnxruntime| = %.3g\n", path, (long long)batch,
                m.graph.size(), err);
    EXPECT_LE(err, 1e-4);
  }
}

}  // namespace
}  // namespace hwnas
