// exportOnnx: the checker passes, re-import gives the same Graph and weights, onnxruntime-node
// matches the runtime (fp32 refnet at batch 1 and 3 through the dynamic batch dim, a graph with
// every op kind), the int8 QDQ file runs in onnxruntime close to fp32 (its size: onnx_int8_size_test).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include "core/error.h"
#include "core/fs_util.h"
#include "exporter/onnx_export.h"
#include "exporter/onnx_import.h"
#include "tests/exporter/onnx_test_util.h"

namespace hwnas {
namespace {

using namespace onnxtest;

onnx::ModelProto parse(const std::string& path) {
  onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromString(readFile(path)));
  return m;
}

// Every weight the Graph reads, drawn at random (BN variances > 0).
WeightMap randomWeights(const Graph& g, uint64_t seed) {
  Rng rng(seed);
  WeightMap w;
  auto put = [&](const std::string& key, const Shape& s, double lo, double hi) {
    WeightTensor t;
    t.shape = s;
    for (int64_t i = 0; i < numel(s); ++i) t.values.push_back(float(rng.uniform(lo, hi)));
    w[key] = t;
  };
  for (const Node& n : g.nodes()) {
    const OpAttrs& a = n.attrs;
    if (n.kind == OpKind::Conv2d) {
      const int64_t cin = g.node(n.inputs[0]).shape[1];
      put(n.name + ".weight", {a.outChannels, cin / a.groups, a.kernelH, a.kernelW}, -0.5, 0.5);
      if (a.bias) put(n.name + ".bias", {a.outChannels}, -0.2, 0.2);
    } else if (n.kind == OpKind::Linear) {
      put(n.name + ".weight", {a.outChannels, g.node(n.inputs[0]).shape[1]}, -0.3, 0.3);
      if (a.bias) put(n.name + ".bias", {a.outChannels}, -0.2, 0.2);
    } else if (n.kind == OpKind::BatchNorm) {
      const Shape c = {n.shape[1]};
      put(n.name + ".weight", c, 0.5, 1.5);
      put(n.name + ".bias", c, -0.3, 0.3);
      put(n.name + ".running_mean", c, -0.2, 0.2);
      put(n.name + ".running_var", c, 0.5, 1.5);
    } else if (n.kind == OpKind::SqueezeExcite) {
      const int64_t c = n.shape[1], r = a.outChannels;
      put(n.name + ".reduce.weight", {r, c, 1, 1}, -0.5, 0.5);
      put(n.name + ".reduce.bias", {r}, -0.2, 0.2);
      put(n.name + ".expand.weight", {c, r, 1, 1}, -0.5, 0.5);
      put(n.name + ".expand.bias", {c}, -0.2, 0.2);
    }
  }
  return w;
}

// A graph with every op kind and activation the exporter maps (quant/dequant aside).
ExportModel allOpsModel(int64_t batch) {
  Graph g;
  int x = g.addInput("input", {batch, 4, 10, 10});
  int h = g.addAct("a1", g.addBatchNorm("b1", g.addConv2d("c1", x, 8, 3, 1, 1, 1, true), double(1e-5f)), ActKind::HSwish);
  h = g.addAct("a2", g.addConv2d("dw", h, 8, 3, 2, 1, 8, false), ActKind::Silu);  // depthwise, 5x5
  const int se = g.addSqueezeExcite("se", h, 4, ActKind::Relu, ActKind::HSigmoid);
  h = g.addAct("a3", g.addAdd("add", g.addConv2d("c2", se, 8, 1, 1, 0), se), ActKind::Relu6);
  h = g.addConcat("cat", {g.addMaxPool("mp", h, 3, 1, 1), g.addAvgPool("ap", h, 3, 1, 1)});
  h = g.addAct("a4", g.addConv2d("dil", h, 8, 3, 1, 2, 2, true, 2), ActKind::Sigmoid);  // dilation 2, groups 2
  h = g.addBatchNorm("bn2", g.addAct("a5", h, ActKind::HSigmoid), double(1e-3f));                      // standalone BN
  h = g.addMul("gmul", h, g.addGlobalAvgPool("gap", h));                              // channel broadcast
  h = g.addAct("a6", g.addLinear("fc", g.addFlatten("flat", h), 10, true), ActKind::Identity);
  ExportModel m;
  m.name = "allops";
  m.graph = std::move(g);
  m.weights = randomWeights(m.graph, 11);
  return m;
}

void expectSameModel(const ExportModel& want, const ExportModel& got) {
  const Json a = want.graph.toJson()["nodes"], b = got.graph.toJson()["nodes"];
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].dump(), b[i].dump());
  for (const auto& [key, w] : got.weights) {
    auto it = want.weights.find(key);
    ASSERT_NE(it, want.weights.end()) << "imported weight " << key << " is not in the original";
    EXPECT_EQ(numel(it->second.shape), numel(w.shape)) << key;
    EXPECT_EQ(it->second.values, w.values) << key;
  }
  // and every weight the original plan reads came back: the plans are the same
  const auto pa = lower(want.graph, want.weights), pb = lower(got.graph, got.weights);
  ASSERT_EQ(pa.ops.size(), pb.ops.size());
  for (size_t i = 0; i < pa.ops.size(); ++i) {
    EXPECT_EQ(pa.ops[i].key, pb.ops[i].key);
    EXPECT_EQ(pa.ops[i].weight, pb.ops[i].weight) << pa.ops[i].name;
    EXPECT_EQ(pa.ops[i].bias, pb.ops[i].bias) << pa.ops[i].name;
  }
}

TEST(OnnxExport, RefnetPassesTheCheckerWithADynamicBatchAndNamedIo) {
  TempDir tmp;
  const ExportModel m = refnet(1);
  exportOnnx(m, tmp.file("refnet.onnx"));
  EXPECT_NO_THROW(onnx::checker::check_model(tmp.file("refnet.onnx")));
  const onnx::ModelProto p = parse(tmp.file("refnet.onnx"));
  ASSERT_EQ(p.opset_import_size(), 1);
  EXPECT_EQ(p.opset_import(0).version(), 13);
  ASSERT_EQ(p.graph().input_size(), 1);
  ASSERT_EQ(p.graph().output_size(), 1);
  EXPECT_EQ(p.graph().input(0).name(), "input");
  EXPECT_EQ(p.graph().output(0).name(), "output");
  const auto& in = p.graph().input(0).type().tensor_type().shape();
  ASSERT_EQ(in.dim_size(), 4);
  EXPECT_EQ(in.dim(0).dim_param(), "batch");
  EXPECT_EQ(in.dim(1).dim_value(), 1);
  EXPECT_EQ(in.dim(2).dim_value(), 28);
  EXPECT_EQ(p.graph().output(0).type().tensor_type().shape().dim(0).dim_param(), "batch");
  EXPECT_EQ(p.graph().output(0).type().tensor_type().shape().dim(1).dim_value(), 10);
  std::set<std::string> ops;
  for (const auto& n : p.graph().node()) ops.insert(n.op_type());
  EXPECT_EQ(ops, (std::set<std::string>{"Conv", "BatchNormalization", "Clip", "Add", "GlobalAveragePool", "Flatten", "Gemm"}));
}

TEST(OnnxExport, ReimportGivesTheSameGraphAndWeights) {
  TempDir tmp;
  for (int opset : {13, 14, 17}) {
    for (const ExportModel& m : {refnet(1), allOpsModel(1)}) {
      SCOPED_TRACE(m.name + " opset " + std::to_string(opset));
      OnnxExportOptions o;
      o.opset = opset;
      exportOnnx(m, tmp.file("m.onnx"), o);
      ExportModel back = importOnnx(tmp.file("m.onnx"));
      EXPECT_EQ(back.name, m.name);
      expectSameModel(m, back);
    }
  }
  // the symbolic batch takes the importer's batch
  exportOnnx(refnet(1), tmp.file("r.onnx"));
  OnnxImportOptions io;
  io.batch = 3;
  EXPECT_EQ(importOnnx(tmp.file("r.onnx"), io).graph.toJson().dump(), refnet(3).graph.toJson().dump());
}

// Every Graph op kind has an ONNX form (the exporter's part of the per-layer op registries):
// the every-op graph plus a quant/dequant graph cover OpKind 0..Count, and both round-trip.
TEST(OnnxExport, EveryOpKindIsExportedAndReimported) {
  Graph q;
  const int x = q.addInput("input", {1, 3, 4, 4});
  q.addConv2d("conv", q.addDequant("dq", q.addQuant("q", x, double(0.05f), -3), double(0.05f), -3), 2, 1, 1, 0);
  ExportModel qm;
  qm.name = "qdq";
  qm.graph = q;
  qm.weights = randomWeights(q, 3);
  const ExportModel all = allOpsModel(1);
  std::set<int> kinds;
  for (const ExportModel* m : std::vector<const ExportModel*>{&all, &qm}) {
    for (const Node& n : m->graph.nodes()) kinds.insert(int(n.kind));
    const OnnxImport back = importOnnxBytes(exportOnnxBytes(*m), m->name + ".onnx");
    EXPECT_EQ(back.model.graph.toJson().dump(), m->graph.toJson().dump()) << m->name;
  }
  for (int k = 0; k < kOpKindCount; ++k) EXPECT_TRUE(kinds.count(k)) << opKindName(OpKind(k)) << " is not covered";
  std::set<int> acts;
  for (const Node& n : all.graph.nodes())
    if (n.kind == OpKind::Act || n.kind == OpKind::SqueezeExcite) acts.insert(int(n.attrs.act));
  for (int a = 0; a < int(ActKind::Count); ++a) EXPECT_TRUE(acts.count(a)) << actKindName(ActKind(a)) << " is not covered";
}

TEST(OnnxExport, OnnxruntimeMatchesTheRuntimeFp32AtBatch1And3) {
  const std::string missing = ortMissing();
  if (!missing.empty()) GTEST_SKIP() << missing;
  TempDir tmp;
  const ExportModel m1 = refnet(1);
  exportOnnx(m1, tmp.file("refnet.onnx"));  // one file, batch 1 and 3 through dim_param "batch"
  for (int64_t batch : {1, 3}) {
    const ExportModel m = refnet(batch);
    const Shape in = m.graph.node(0).shape;
    const auto x = randomInput(numel(in), 40 + batch);
    const auto want = runRuntime(m.graph, m.weights, {x})[0];
    const auto got = runOrt(tmp.file("refnet.onnx"), x, in);
    const double err = maxAbsDiff(want, got);
    std::printf("refnet fp32 batch %lld: max |runtime - onnxruntime| = %.3g\n", (long long)batch, err);
    EXPECT_LE(err, 1e-4);
  }
  for (int opset : {13, 14, 17}) {
    const ExportModel m = allOpsModel(2);
    OnnxExportOptions o;
    o.opset = opset;
    exportOnnx(m, tmp.file("allops.onnx"), o);
    const auto x = randomInput(numel(m.graph.node(0).shape), 5);
    const double err = maxAbsDiff(runRuntime(m.graph, m.weights, {x})[0], runOrt(tmp.file("allops.onnx"), x, m.graph.node(0).shape));
    std::printf("every-op graph opset %d, batch 2: max |runtime - onnxruntime| = %.3g\n", opset, err);
    EXPECT_LE(err, 1e-4);
  }
}

TEST(OnnxExport, Int8QdqLayoutRunsInOnnxruntimeCloseToFp32) {
  TempDir tmp;
  const ExportModel m = refnet(1);
  const QuantSpec spec = minMaxSpec(m, 3, 900);
  OnnxExportOptions o;
  o.quant = &spec;
  exportOnnx(m, tmp.file("int8.onnx"), o);
  exportOnnx(m, tmp.file("fp32.onnx"));
  EXPECT_NO_THROW(onnx::checker::check_model(tmp.file("int8.onnx")));
  // layout: every conv/linear reads DQ(Q(x)), an int8 weight through per-channel DQ (axis 0), an int32 bias
  const onnx::ModelProto p = parse(tmp.file("int8.onnx"));
  std::map<std::string, int> types;
  for (const auto& t : p.graph().initializer()) types[t.name()] = t.data_type();
  int layers = 0;
  for (const auto& n : p.graph().node()) {
    if (n.op_type() != "Conv" && n.op_type() != "Gemm") continue;
    ++layers;
    EXPECT_EQ(n.input(0), "q" + std::to_string(layers) + ".x");
    EXPECT_EQ(n.input(1), "q" + std::to_string(layers) + ".w");
    EXPECT_EQ(types[n.name() + ".w_q"], onnx::TensorProto::INT8) << n.name();
    EXPECT_EQ(types[n.name() + ".w_scale"], onnx::TensorProto::FLOAT) << n.name();
    EXPECT_EQ(types[n.name() + ".x_scale"], onnx::TensorProto::FLOAT) << n.name();
    EXPECT_EQ(types[n.name() + ".x_zp"], onnx::TensorProto::INT8) << n.name();
    if (n.input_size() > 2) {
      EXPECT_EQ(types[n.name() + ".b_q"], onnx::TensorProto::INT32) << n.name();
    }
    for (const auto& p2 : p.graph().node()) {  // the weight's DQ is per channel (axis 0)
      if (p2.output(0) != n.input(1)) continue;
      EXPECT_EQ(p2.op_type(), "DequantizeLinear");
      ASSERT_EQ(p2.attribute_size(), 1);
      EXPECT_EQ(p2.attribute(0).name(), "axis");
      EXPECT_EQ(p2.attribute(0).i(), 0);
    }
  }
  EXPECT_EQ(size_t(layers), spec.layers.size());
  // re-import with a QuantSpec: the float graph back, the spec back, weights = dequantized int8
  QuantSpec back;
  OnnxImportOptions io;
  io.quant = &back;
  const ExportModel im = importOnnx(tmp.file("int8.onnx"), io);
  EXPECT_EQ(im.graph.toJson().dump(), m.graph.toJson().dump());
  ASSERT_EQ(back.layers.size(), spec.layers.size());
  for (const auto& [name, q] : spec.layers) {
    EXPECT_EQ(back.layers.at(name).inputScale, q.inputScale) << name;
    EXPECT_EQ(back.layers.at(name).inputZeroPoint, q.inputZeroPoint) << name;
    EXPECT_EQ(back.layers.at(name).weightScales, q.weightScales) << name;
    const auto& w = m.weights.at(name + ".weight").values;
    const auto& wq = im.weights.at(name + ".weight").values;
    const size_t per = w.size() / q.weightScales.size();
    for (size_t i = 0; i < w.size(); ++i) ASSERT_NEAR(wq[i], w[i], 0.5001 * q.weightScales[i / per]) << name << "[" << i << "]";
  }
  // without a QuantSpec the activation QDQ pairs become quant/dequant nodes
  const ExportModel plain = importOnnx(tmp.file("int8.onnx"));
  int quants = 0;
  for (const Node& n : plain.graph.nodes()) quants += n.kind == OpKind::Quant;
  EXPECT_EQ(size_t(quants), spec.layers.size());

  const std::string missing = ortMissing();
  if (!missing.empty()) GTEST_SKIP() << missing;
  double num = 0, den = 0;
  int agree = 0;
  const int images = 8;  // one batch of 8 through the dynamic batch dimension
  const auto x = randomInput(images * 28 * 28, 500);
  const auto f = runOrt(tmp.file("fp32.onnx"), x, {images, 1, 28, 28});
  const auto q = runOrt(tmp.file("int8.onnx"), x, {images, 1, 28, 28});
  ASSERT_EQ(f.size(), size_t(images * 10));
  ASSERT_EQ(q.size(), f.size());
  for (size_t k = 0; k < f.size(); ++k) {
    num += (f[k] - q[k]) * double(f[k] - q[k]);
    den += double(f[k]) * f[k];
  }
  const double maxErr = maxAbsDiff(f, q);
  for (int i = 0; i < images; ++i) {
    const auto fi = f.begin() + i * 10, qi = q.begin() + i * 10;
    agree += std::max_element(fi, fi + 10) - fi == std::max_element(qi, qi + 10) - qi;
  }
  const double rel = std::sqrt(num / den);
  std::printf("refnet int8 QDQ vs fp32 in onnxruntime, %d images: relative L2 error %.3g, max |diff| %.3g, top-1 agree %d/%d\n",
              images, rel, maxErr, agree, images);
  EXPECT_LT(rel, 0.1);
  EXPECT_GE(agree, images - 2);
}

TEST(OnnxExport, Uint8ActivationsImportAsTheSameInt8Spec) {
  // The int8 QDQ file rewritten the way onnxruntime's quantizer writes activations (uint8, zero
  // point + 128: the same numbers) imports to the same QuantSpec and quant nodes.
  TempDir tmp;
  const ExportModel m = refnet(1);
  const QuantSpec spec = minMaxSpec(m, 3, 900);
  OnnxExportOptions o;
  o.quant = &spec;
  exportOnnx(m, tmp.file("int8.onnx"), o);
  onnx::ModelProto p = parse(tmp.file("int8.onnx"));
  int moved = 0;
  for (auto& t : *p.mutable_graph()->mutable_initializer()) {
    const std::string& n = t.name();
    if (n.size() < 5 || n.compare(n.size() - 5, 5, ".x_zp") != 0) continue;
    ASSERT_EQ(t.data_type(), onnx::TensorProto::INT8) << n;
    ASSERT_EQ(t.int32_data_size() + int(t.raw_data().size()), 1) << n;
    const int v = t.int32_data_size() ? t.int32_data(0) : int(int8_t(t.raw_data()[0]));
    t.clear_int32_data();
    t.clear_raw_data();
    t.set_data_type(onnx::TensorProto::UINT8);
    t.add_int32_data(v + 128);
    ++moved;
  }
  EXPECT_EQ(size_t(moved), spec.layers.size());
  {
    std::ofstream f(tmp.file("uint8.onnx"), std::ios::binary);
    ASSERT_TRUE(p.SerializeToOstream(&f));
  }
  QuantSpec back;
  OnnxImportOptions io;
  io.quant = &back;
  const ExportModel im = importOnnx(tmp.file("uint8.onnx"), io);
  EXPECT_EQ(im.graph.toJson().dump(), m.graph.toJson().dump());
  ASSERT_EQ(back.layers.size(), spec.layers.size());
  for (const auto& [name, q] : spec.layers) {
    EXPECT_EQ(back.layers.at(name).inputScale, q.inputScale) << name;
    EXPECT_EQ(back.layers.at(name).inputZeroPoint, q.inputZeroPoint) << name;
  }
  std::vector<int64_t> zpInt8, zpUint8;
  for (const Node& n : importOnnx(tmp.file("int8.onnx")).graph.nodes())
    if (n.kind == OpKind::Quant) zpInt8.push_back(n.attrs.zeroPoint);
  for (const Node& n : importOnnx(tmp.file("uint8.onnx")).graph.nodes())
    if (n.kind == OpKind::Quant) zpUint8.push_back(n.attrs.zeroPoint);
  EXPECT_EQ(zpUint8, zpInt8);
  EXPECT_EQ(zpInt8.size(), spec.layers.size());
}

TEST(OnnxExport, ErrorsNameTheProblemAndWriteNothing) {
  TempDir tmp;
  ExportModel m = refnet(1);
  m.weights.erase("blocks.2.depthwise.conv.weight");
  try {
    exportOnnx(m, tmp.file("x.onnx"));
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("blocks.2.depthwise.conv.weight"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fileExists(tmp.file("x.onnx")));

  const ExportModel good = refnet(1);
  QuantSpec spec = minMaxSpec(good, 1, 1);
  spec.layers.begin()->second.weightScales.pop_back();
  OnnxExportOptions o;
  o.quant = &spec;
  EXPECT_THROW(exportOnnx(good, tmp.file("x.onnx"), o), InputError);
  EXPECT_FALSE(fileExists(tmp.file("x.onnx")));
  QuantSpec stray;
  stray.layers["no.such.layer"] = LayerQuant{};
  o.quant = &stray;
  EXPECT_THROW(exportOnnx(good, tmp.file("x.onnx"), o), InputError);
  o.quant = nullptr;
  o.opset = 12;
  EXPECT_THROW(exportOnnx(good, tmp.file("x.onnx"), o), InputError);
  EXPECT_FALSE(fileExists(tmp.file("x.onnx")));
  EXPECT_THROW(exportOnnx(good, tmp.file("no/such/dir/x.onnx")), IoError);
  // an existing file is replaced whole or left as it was
  exportOnnx(good, tmp.file("keep.onnx"));
  const std::string before = readFile(tmp.file("keep.onnx"));
  EXPECT_THROW(exportOnnx(m, tmp.file("keep.onnx")), InputError);
  EXPECT_EQ(readFile(tmp.file("keep.onnx")), before);
}

}  // namespace
}  // namespace hwnas
