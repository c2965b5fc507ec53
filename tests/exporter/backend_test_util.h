// Helpers for the backend tests: a small network that exercises every plan op kind the backends
// generate (conv 3x3, depthwise stride 2, squeeze-excite, 1x1 GEMM conv, residual add, pools, a
// standalone activation, concat, flatten, linear) with seeded random weights and non-trivial BN
// statistics, shell commands with captured output, and float file I/O.
#pragma once
#include <gtest/gtest.h>

#include <array>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/quant_spec.h"
#include "core/rng.h"
#include "exporter/export_model.h"
#include "runtime/executor.h"
#include "trainer/model_def.h"
#include "trainer/weight_map.h"

namespace hwnas::betest {

inline void randomTensor(WeightMap& w, const std::string& name, const Shape& shape, Rng& rng, double lo, double hi) {
  WeightTensor t;
  t.shape = shape;
  t.values.resize(size_t(numel(shape)));
  for (float& v : t.values) v = float(rng.uniform(lo, hi));
  w[name] = std::move(t);
}

// Random weights for every node of g, by the names lower() reads.
inline WeightMap randomWeights(const Graph& g, uint64_t seed) {
  Rng rng(seed);
  WeightMap w;
  for (const Node& n : g.nodes()) {
    const OpAttrs& a = n.attrs;
    if (n.kind == OpKind::Conv2d) {
      const int64_t cin = g.node(n.inputs[0]).shape[1];
      const double s = 1.0 / std::sqrt(double(cin / a.groups * a.kernelH * a.kernelW));
      randomTensor(w, n.name + ".weight", {a.outChannels, cin / a.groups, a.kernelH, a.kernelW}, rng, -1.5 * s, 1.5 * s);
      if (a.bias) randomTensor(w, n.name + ".bias", {a.outChannels}, rng, -0.2, 0.2);
    } else if (n.kind == OpKind::Linear) {
      const int64_t f = g.node(n.inputs[0]).shape[1];
      const double s = 1.0 / std::sqrt(double(f));
      randomTensor(w, n.name + ".weight", {a.outChannels, f}, rng, -1.5 * s, 1.5 * s);
      if (a.bias) randomTensor(w, n.name + ".bias", {a.outChannels}, rng, -0.2, 0.2);
    } else if (n.kind == OpKind::BatchNorm) {
      const int64_t c = n.shape[1];
      randomTensor(w, n.name + ".weight", {c}, rng, 0.5, 1.5);
      randomTensor(w, n.name + ".bias", {c}, rng, -0.3, 0.3);
      randomTensor(w, n.name + ".running_mean", {c}, rng, -0.5, 0.5);
      randomTensor(w, n.name + ".running_var", {c}, rng, 0.3, 2.0);
    } else if (n.kind == OpKind::SqueezeExcite) {
      const int64_t c = n.shape[1], r = a.outChannels;
      randomTensor(w, n.name + ".reduce.weight", {r, c, 1, 1}, rng, -0.5, 0.5);
      randomTensor(w, n.name + ".reduce.bias", {r}, rng, -0.2, 0.2);
      randomTensor(w, n.name + ".expand.weight", {c, r, 1, 1}, rng, -0.5, 0.5);
      randomTensor(w, n.name + ".expand.bias", {c}, rng, -0.2, 0.2);
    }
  }
  return w;
}

// 3x12x12 -> 10 classes; every op kind of the runtime plan appears at least once.
inline ExportModel smallNet(uint64_t seed = 7) {
  ExportModel m;
  m.name = "smallnet";
  Graph& g = m.graph;
  int x = g.addInput("input", {1, 3, 12, 12});
  x = g.addConv2d("stem.conv", x, 8, 3);
  x = g.addBatchNorm("stem.bn", x);
  x = g.addAct("stem.act", x, ActKind::Relu6);
  int d = g.addDepthwiseConv2d("b0.dw", x, 3, 2);
  d = g.addBatchNorm("b0.dw_bn", d);
  d = g.addAct("b0.dw_act", d, ActKind::HSwish);
  d = g.addSqueezeExcite("b0.se", d, 4, ActKind::Relu, ActKind::HSigmoid);
  int p = g.addConv2d("b0.pw", d, 16, 1);
  p = g.addBatchNorm("b0.pw_bn", p);
  int s = g.addConv2d("b0.short", d, 16, 1, 1, 0, 1, true);
  int r = g.addAdd("b0.add", p, s);
  r = g.addAct("b0.add_act", r, ActKind::Relu);
  int mp = g.addMaxPool("b1.max", r, 2);
  int sg = g.addAct("b1.silu", mp, ActKind::Silu);
  int ap = g.addAvgPool("b1.avg", r, 3, 2, 1);
  int gc = g.addConv2d("b1.group", ap, 8, 3, 1, 1, 2, false);
  gc = g.addAct("b1.group_act", gc, ActKind::Sigmoid);
  int cat = g.addConcat("b1.cat", {sg, gc});
  int gap = g.addGlobalAvgPool("head.gap", cat);
  int fl = g.addFlatten("head.flat", gap);
  g.addLinear("head.fc", fl, 10, true);
  m.weights = randomWeights(g, seed);
  return m;
}

// refnet with seeded weights (configs/models/refnet.yaml), for the opt-in HWNAS_TEST_REFNET=1 runs.
inline bool refnetEnabled() {
  const char* env = std::getenv("HWNAS_TEST_REFNET");
  return env && std::string(env) == "1";
}

inline ExportModel refnet(uint64_t seed = 5) {
  const ModelDef def = loadModelDef(std::string(HWNAS_SOURCE_DIR) + "/configs/models/refnet.yaml");
  auto model = buildModel(def, seed);
  ExportModel m;
  m.name = "refnet";
  m.graph = model->toGraph(1);
  m.weights = weightMapOf(*model);
  return m;
}

// One int8 layer: enough for a backend to see an int8 plan.
inline QuantSpec oneInt8Layer(const std::string& layer) {
  QuantSpec spec;
  spec.calibration = "minmax";
  LayerQuant lq;
  lq.inputScale = 0.03f;
  lq.outputScale = 0.04f;
  spec.layers[layer] = lq;
  return spec;
}

inline std::vector<float> patternInput(size_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = float(rng.uniform(-2.0, 2.0));
  return v;
}

inline void writeFloats(const std::string& path, const std::vector<float>& v) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(v.data()), std::streamsize(v.size() * sizeof(float)));
  ASSERT_TRUE(f.good()) << path;
}

// Runs `cmd` through the shell; returns its exit status, stdout + stderr in *out.
inline int runCommand(const std::string& cmd, std::string* out) {
  std::string full = cmd + " 2>&1";
  FILE* p = popen(full.c_str(), "r");
  if (!p) return -1;
  std::array<char, 4096> buf;
  std::string text;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) text.append(buf.data(), n);
  const int status = pclose(p);
  if (out) *out = text;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// One number per line.
inline std::vector<double> parseNumbers(const std::string& text) {
  std::istringstream in(text);
  std::vector<double> v;
  double x;
  while (in >> x) v.push_back(x);
  return v;
}

inline std::vector<float> runtimeOutputs(const runtime::Plan& plan, const std::vector<float>& x, int64_t batch) {
  runtime::ExecutorOptions o;
  o.batch = batch;
  runtime::Executor e(plan, o);
  return e.run(x);
}

}  // namespace hwnas::betest
