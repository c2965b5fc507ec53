// Helpers for the compression-pass tests: seeded random weights for any Graph (backend_test_util.h's
// generator, non-trivial BN statistics), and running a Graph + WeightMap through the runtime executor.
#pragma once
#include <cmath>
#include <string>
#include <vector>

#include "core/lower.h"
#include "core/rng.h"
#include "exporter/export_model.h"
#include "runtime/executor.h"
#include "tests/exporter/backend_test_util.h"

namespace hwnas::ctest {

// Seeded random weights for every node of a Graph: the backend tests' generator.
using betest::randomWeights;

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
