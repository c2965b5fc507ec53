// Helpers of the ONNX tests: refnet as an ExportModel with non-trivial BN statistics, running a
// model through the runtime, through onnxruntime-node (exporter/ort_run.js), and a min/max
// calibrated QuantSpec built by hand (prefix graphs give each layer's input activation).
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "core/fs_util.h"
#include "core/lower.h"
#include "core/quant_spec.h"
#include "core/rng.h"
#include "exporter/export_model.h"
#include "runtime/executor.h"
#include "trainer/model_def.h"
#include "trainer/weight_map.h"

namespace hwnas::onnxtest {

inline ExportModel refnet(int64_t batch, uint64_t seed = 7) {
  const ModelDef def = loadModelDef(std::string(HWNAS_SOURCE_DIR) + "/configs/models/refnet.yaml");
  auto model = buildModel(def, seed);
  ExportModel m;
  m.name = "refnet";
  m.graph = model->toGraph(batch);
  m.weights = weightMapOf(*model);
  // Trained-looking BN statistics, so folding and BN export are exercised.
  Rng rng(seed + 100);
  for (auto& [key, w] : m.weights) {
    const bool mean = key.size() > 13 && key.compare(key.size() - 13, 13, ".running_mean") == 0;
    const bool var = key.size() > 12 && key.compare(key.size() - 12, 12, ".running_var") == 0;
    for (auto& v : w.values) {
      if (mean) v = float(0.1 * rng.normal());
      if (var) v = float(rng.uniform(0.5, 1.5));
    }
  }
  return m;
}

inline std::vector<float> randomInput(int64_t count, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> x(static_cast<size_t>(count));
  for (auto& v : x) v = float(rng.normal());
  return x;
}

// All plan outputs of g on `inputs` (one vector per Graph input, at the graph's batch).
inline std::vector<std::vector<float>> runRuntime(const Graph& g, const WeightMap& w,
                                                  const std::vector<std::vector<float>>& inputs) {
  runtime::Executor ex(lower(g, w));
  std::vector<std::vector<float>> outs;
  for (int id : g.outputIds()) outs.emplace_back(size_t(numel(g.node(id).shape)));
  std::vector<const float*> in;
  std::vector<float*> out;
  for (const auto& v : inputs) in.push_back(v.data());
  for (auto& v : outs) out.push_back(v.data());
  ex.run(in, out);
  return outs;
}

inline std::string ortModuleDir() {
  const char* cache = std::getenv("HWNAS_CACHE");
  const char* home = std::getenv("HOME");
  const std::string base = cache ? cache : std::string(home ? home : "/root") + "/.cache/hwnas";
  return base + "/onnxruntime-node/node_modules/onnxruntime-node";
}

// Empty when node and onnxruntime-node are available, else why not (for GTEST_SKIP).
inline std::string ortMissing() {
  if (std::system("node --version >/dev/null 2>&1") != 0) return "node is not installed";
  if (!fileExists(ortModuleDir() + "/package.json"))
    return "onnxruntime-node is not installed in " + ortModuleDir() + " (scripts/install-deps.sh installs it)";
  return "";
}

inline void writeFloats(const std::string& path, const std::vector<float>& v) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(v.data()), std::streamsize(v.size() * 4));
}

inline std::vector<float> readFloats(const std::string& path) {
  const std::string bytes = readFile(path);
  std::vector<float> v(bytes.size() / 4);
  std::memcpy(v.data(), bytes.data(), v.size() * 4);
  return v;
}

// The model's first output from onnxruntime-node on `input` of shape `dims`.
inline std::vector<float> runOrt(const std::string& model, const std::vector<float>& input, const Shape& dims) {
  TempDir tmp("hwnas-ort-");
  writeFloats(tmp.file("in.f32"), input);
  std::string d;
  for (size_t i = 0; i < dims.size(); ++i) d += (i ? "," : "") + std::to_string(dims[i]);
  const std::string cmd = "node " + std::string(HWNAS_SOURCE_DIR) + "/exporter/ort_run.js " + model + " " +
                          tmp.file("in.f32") + " " + d + " " + tmp.file("out.f32") + " >" + tmp.file("log") + " 2>&1";
  const int rc = std::system(cmd.c_str());
  if (rc != 0) {
    ADD_FAILURE() << "onnxruntime failed (" << rc << "): " << readFile(tmp.file("log"));
    return {};
  }
  return readFloats(tmp.file("out.f32"));
}

inline double maxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) m = std::max(m, std::fabs(double(a[i]) - b[i]));
  return m;
}

// The graph's nodes 0..last (their names and attrs), as a Graph of its own.
inline Graph prefixGraph(const Graph& g, int last) {
  Json j = g.toJson();
  Json nodes = Json::array();
  for (int i = 0; i <= last; ++i) nodes.push_back(j["nodes"][size_t(i)]);
  j["nodes"] = nodes;
  return Graph::fromJson(j);
}

// The range [lo, hi] (0 included) of node `id`'s output over `batches` random input batches.
inline void nodeRange(const ExportModel& m, int id, int batches, uint64_t seed, double* lo, double* hi) {
  const Graph& g = m.graph;
  const Shape in = g.node(g.inputIds()[0]).shape;
  *lo = 0;
  *hi = 0;
  const bool isInput = g.node(id).kind == OpKind::Input;
  const Graph p = isInput ? Graph() : prefixGraph(g, id);
  for (int b = 0; b < batches; ++b) {
    const auto x = randomInput(numel(in), seed + b);
    const auto v = isInput ? x : runRuntime(p, m.weights, {x}).back();
    for (float f : v) *lo = std::min(*lo, double(f)), *hi = std::max(*hi, double(f));
  }
}

// Asymmetric int8 parameters of a range: scale (hi - lo) / 255, zero point -128 - lo / scale.
inline void int8Params(double lo, double hi, float* scale, int32_t* zeroPoint) {
  *scale = float(std::max(hi - lo, 1e-8) / 255.0);
  *zeroPoint = int32_t(std::lround(std::min(127.0, std::max(-128.0, -128.0 - lo / *scale))));
}

// Min/max calibration by hand: every conv/linear layer's input range, and its fused output's
// (after a sole-consumer batchnorm and activation, as lower() fuses them), over `batches`
// random batches; per-channel max|w| / 127 weight scales.
inline QuantSpec minMaxSpec(const ExportModel& m, int batches, uint64_t seed) {
  QuantSpec spec;
  spec.calibration = "minmax";
  const Graph& g = m.graph;
  for (const Node& n : g.nodes()) {
    if (n.kind != OpKind::Conv2d && n.kind != OpKind::Linear) continue;
    LayerQuant q;
    double lo, hi;
    nodeRange(m, n.inputs[0], batches, seed, &lo, &hi);
    int8Params(lo, hi, &q.inputScale, &q.inputZeroPoint);
    int out = n.id;
    for (OpKind k : {OpKind::BatchNorm, OpKind::Act}) {
      const auto c = g.consumers(out);
      if (c.size() == 1 && g.node(c[0]).kind == k) out = c[0];
    }
    nodeRange(m, out, batches, seed, &lo, &hi);
    int8Params(lo, hi, &q.outputScale, &q.outputZeroPoint);
    const auto& w = m.weights.at(n.name + ".weight");
    const int64_t c = n.attrs.outChannels, per = int64_t(w.values.size()) / c;
    for (int64_t o = 0; o < c; ++o) {
      double mx = 0;
      for (int64_t i = 0; i < per; ++i) mx = std::max(mx, std::fabs(double(w.values[size_t(o * per + i)])));
      q.weightScales.push_back(float(std::max(mx, 1e-8) / 127.0));
    }
    spec.layers[n.name] = q;
  }
  return spec;
}

}  // namespace hwnas::onnxtest
