// Helpers for the compression-pass tests: seeded random weights for any Graph (non-trivial BN
// statistics), and running a Graph + WeightMap through the runtime executor.
#pragma once
#include <cmath>
#include <string>
#include <vector>

#include "core/lower.h"
#include "core/rng.h"
#include "exporter/export_model.h"
#include "runtime/executor.h"

namespace hwnas::ctest {

inline void fill(WeightMap& w, const std::string& name, const Shape& shape, Rng& rng, double lo, double hi) {
  WeightTensor t;
  t.shape = shape;
  t.values.resize(size_t(numel(shape)));
  for (float& v : t.values) v = float(rng.uniform(lo, hi));
  w[name] = std::move(t);
}

inline WeightMap randomWeights(const Graph& g, uint64_t seed) {
  Rng rng(seed);
  WeightMap w;
  for (const Node& n : g.nodes()) {
    const OpAttrs& a = n.attrs;
    if (n.kind == OpKind::Conv2d) {
      const int64_t cin = g.node(n.inputs[0]).shape[1];
      const double s = 1.5 / std::sqrt(double(cin / a.groups * a.kernelH * a.kernelW));
      fill(w, n.name + ".weight", {a.outChannels, cin / a.groups, a.kernelH, a.kernelW}, rng, -s, s);
      if (a.bias) fill(w, n.name + ".bias", {a.outChannels}, rng, -0.2, 0.2);
    } else if (n.kind == OpKind::Linear) {
      const int64_t in = g.node(n.inputs[0]).shape[1];
      const double s = 1.5 / std::sqrt(double(in));
      fill(w, n.name + ".weight", {a.outChannels, in}, rng, -s, s);
      if (a.bias) fill(w, n.name + ".bias", {a.outChannels}, rng, -0.2, 0.2);
    } else if (n.kind == OpKind::BatchNorm) {
      const int64_t c = g.node(n.inputs[0]).shape[1];
      fill(w, n.name + ".weight", {c}, rng, 0.5, 1.5);
      fill(w, n.name + ".bias", {c}, rng, -0.3, 0.3);
      fill(w, n.name + ".running_mean", {c}, rng, -0.3, 0.3);
      fill(w, n.name + ".running_var", {c}, rng, 0.5, 2.0);
    } else if (n.kind == OpKind::SqueezeExcite) {
      const int64_t c = g.node(n.inputs[0]).shape[1];
      fill(w, n.name + ".reduce.weight", {a.outChannels, c, 1, 1}, rng, -0.5, 0.5);
      fill(w, n.name + ".reduce.bias", {a.outChannels}, rng, -0.2, 0.2);
      fill(w, n.name + ".expand.weight", {c, a.outChannels, 1, 1}, rng, -0.5, 0.5);
      fill(w, n.name + ".expand.bias", {c}, rng, -0.2, 0.2);
    }
  }
  return w;
}

inline std::vector<float> randomInput(const Graph& g, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> x(size_t(numel(g.node(g.inputIds()[0]).shape)));
  for (float& v : x) v = float(rng.uniform(-1.0, 1.0));
  return x;
}

inline std::vector<float> runModel(const Graph& g, const WeightMap& w, const std::vector<float>& x) {
  runtime::ExecutorOptions o;
  o.threads = 1;
  runtime::Executor ex(lower(g, w), o);
  return ex.run(x);
}

inline double maxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return 1e30;
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, double(std::fabs(a[i] - b[i])));
  return m;
}

}  // namespace hwnas::ctest
