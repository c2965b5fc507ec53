// int8 against fp32 in the runtime, side by side in one run, 1 thread, interleaved A B A B:
// refnet at batch 64 and batch 1, and an ofa_mbv3 net at 160x160 at batch 1. Each side is the
// same network (same weights, BN folded); the int8 plan comes from exporter/quantize calibrate
// (min-max, on 4 batches of random inputs) + core lowerQuantized. Prints the median of R rounds
// per side, the spread, and the ratio int8/fp32 (goal <= 0.6 at batch 64 and on the ofa net).
// Usage: int8_bench [--rounds R] [--arch-seed S] [--isa scalar|avx2|vnni] [--ops]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/lower.h"
#include "core/rng.h"
#include "exporter/quantize.h"
#include "runtime/executor.h"
#include "search_spaces/search_space.h"
#include "trainer/model_def.h"
#include "trainer/weight_map.h"

using namespace hwnas;
using Clock = std::chrono::steady_clock;

namespace {

// Seeded weights with non-trivial BN statistics (a trained-looking scale per layer).
WeightMap randomWeights(const Graph& g, uint64_t seed) {
  Rng rng(seed);
  WeightMap w;
  auto fill = [&](const std::string& name, const Shape& s, double lo, double hi) {
    WeightTensor t{s, std::vector<float>(size_t(numel(s)))};
    for (float& v : t.values) v = float(rng.uniform(lo, hi));
    w[name] = std::move(t);
  };
  for (const Node& n : g.nodes()) {
    const OpAttrs& a = n.attrs;
    if (n.kind == OpKind::Conv2d) {
      const int64_t cin = g.node(n.inputs[0]).shape[1];
      const double s = 1.5 / std::sqrt(double(cin / a.groups * a.kernelH * a.kernelW));
      fill(n.name + ".weight", {a.outChannels, cin / a.groups, a.kernelH, a.kernelW}, -s, s);
      if (a.bias) fill(n.name + ".bias", {a.outChannels}, -0.2, 0.2);
    } else if (n.kind == OpKind::Linear) {
      const int64_t in = g.node(n.inputs[0]).shape[1];
      const double s = 1.5 / std::sqrt(double(in));
      fill(n.name + ".weight", {a.outChannels, in}, -s, s);
      if (a.bias) fill(n.name + ".bias", {a.outChannels}, -0.2, 0.2);
    } else if (n.kind == OpKind::BatchNorm) {
      const int64_t c = g.node(n.inputs[0]).shape[1];
      fill(n.name + ".weight", {c}, 0.5, 1.5);
      fill(n.name + ".bias", {c}, -0.3, 0.3);
      fill(n.name + ".running_mean", {c}, -0.3, 0.3);
      fill(n.name + ".running_var", {c}, 0.5, 2.0);
    } else if (n.kind == OpKind::SqueezeExcite) {
      const int64_t c = g.node(n.inputs[0]).shape[1];
      fill(n.name + ".reduce.weight", {a.outChannels, c, 1, 1}, -0.5, 0.5);
      fill(n.name + ".reduce.bias", {a.outChannels}, -0.2, 0.2);
      fill(n.name + ".expand.weight", {c, a.outChannels, 1, 1}, -0.5, 0.5);
      fill(n.name + ".expand.bias", {c}, -0.2, 0.2);
    }
  }
  return w;
}

std::vector<float> randomInput(int64_t n, Rng& rng) {
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = float(rng.uniform(-1.5, 1.5));
  return x;
}

struct Case {
  std::string name;
  ExportModel model;  // graph at batch 1
  int64_t batch = 1;
};

struct Result {
  double fp32 = 0, int8 = 0, fp32Min = 0, fp32Max = 0, int8Min = 0, int8Max = 0;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

Result runCase(const Case& c, int rounds, int isa, bool ops) {
  const int64_t perImage = numel(c.model.graph.node(c.model.graph.inputIds()[0]).shape);
  Rng rng(5);
  std::vector<std::vector<float>> calib;
  for (int b = 0; b < 4; ++b) calib.push_back(randomInput(8 * perImage, rng));
  const QuantSpec spec = calibrate(c.model, calib);
  const runtime::Plan fp = lower(c.model.graph, c.model.weights);
  const runtime::Plan q = lowerQuantized(c.model.graph, c.model.weights, spec);
  runtime::ExecutorOptions o;
  o.threads = 1;
  o.batch = c.batch;
  runtime::Executor ef(fp, o);
  o.int8Isa = isa;
  runtime::Executor eq(q, o);
  const std::vector<float> x = randomInput(c.batch * perImage, rng);
  std::vector<float> yf = ef.run(x), yq = eq.run(x);
  double maxErr = 0, maxAbs = 0;
  int agree = 0;
  const int64_t classes = int64_t(yf.size()) / c.batch;
  for (int64_t i = 0; i < c.batch; ++i) {
    const float* a = &yf[size_t(i * classes)];
    const float* b = &yq[size_t(i * classes)];
    agree += std::max_element(a, a + classes) - a == std::max_element(b, b + classes) - b;
    for (int64_t k = 0; k < classes; ++k) {
      maxErr = std::max(maxErr, double(std::fabs(a[k] - b[k])));
      maxAbs = std::max(maxAbs, double(std::fabs(a[k])));
    }
  }
  // Calls per round: about 40 ms of fp32 work.
  const auto t0 = Clock::now();
  ef.run(x);
  const double once = std::chrono::duration<double>(Clock::now() - t0).count();
  const int calls = std::max(1, int(0.04 / std::max(once, 1e-6)));
  std::vector<double> tf, tq;
  for (int r = 0; r < rounds; ++r) {
    for (int side = 0; side < 2; ++side) {
      runtime::Executor& ex = side == 0 ? ef : eq;
      std::vector<float>& y = side == 0 ? yf : yq;
      const auto s = Clock::now();
      for (int i = 0; i < calls; ++i) ex.run({x.data()}, {y.data()});
      (side == 0 ? tf : tq).push_back(std::chrono::duration<double, std::milli>(Clock::now() - s).count() / calls);
    }
  }
  Result res;
  res.fp32 = median(tf);
  res.int8 = median(tq);
  res.fp32Min = *std::min_element(tf.begin(), tf.end());
  res.fp32Max = *std::max_element(tf.begin(), tf.end());
  res.int8Min = *std::min_element(tq.begin(), tq.end());
  res.int8Max = *std::max_element(tq.begin(), tq.end());
  std::printf("%-28s fp32 %8.3f ms [%.3f..%.3f]  int8 (%s) %8.3f ms [%.3f..%.3f]  ratio int8/fp32 %.2f  "
              "(top-1 agreement %d/%lld, max |logit err| %.3g of %.3g; %d calls x %d rounds)\n",
              c.name.c_str(), res.fp32, res.fp32Min, res.fp32Max, runtime::int8::int8IsaName(eq.int8Isa()), res.int8,
              res.int8Min, res.int8Max, res.int8 / res.fp32, agree, (long long)c.batch, maxErr, maxAbs, calls, rounds);
  if (ops) {
    std::vector<int64_t> nf, nq;
    ef.setOpTimer(&nf);
    eq.setOpTimer(&nq);
    std::map<std::string, std::pair<double, double>> byType;  // fp32, int8 ms by op type
    for (int i = 0; i < calls; ++i) {
      ef.run({x.data()}, {yf.data()});
      for (size_t k = 0; k < nf.size(); ++k) byType[runtime::opTypeName(fp.ops[k].type)].first += nf[k] / 1e6 / calls;
      eq.run({x.data()}, {yq.data()});
      for (size_t k = 0; k < nq.size(); ++k) byType[runtime::opTypeName(q.ops[k].type)].second += nq[k] / 1e6 / calls;
    }
    for (const auto& [t, v] : byType) std::printf("    %-16s fp32 %8.3f ms  int8 %8.3f ms\n", t.c_str(), v.first, v.second);
  }
  return res;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 15, isa = -1;
  uint64_t archSeed = 7;
  bool ops = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--rounds" && i + 1 < argc) {
      rounds = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--arch-seed" && i + 1 < argc) {
      archSeed = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--isa" && i + 1 < argc) {
      isa = int(runtime::int8::parseInt8Isa(argv[++i]));
    } else if (a == "--ops") {
      ops = true;
    } else {
      std::fprintf(stderr, "usage: int8_bench [--rounds R] [--arch-seed S] [--isa scalar|avx2|vnni] [--ops]\n");
      return 2;
    }
  }
  try {
    const std::string src = HWNAS_SOURCE_DIR;
    std::vector<Case> cases;
    auto refnet = buildModel(loadModelDef(src + "/configs/models/refnet.yaml"), 1);
    refnet->eval();
    Case r64{"refnet batch 64", {}, 64};
    r64.model.graph = refnet->toGraph(1);
    r64.model.weights = randomWeights(r64.model.graph, 1);
    Case r1 = r64;
    r1.name = "refnet batch 1";
    r1.batch = 1;
    auto space = loadSearchSpace(src + "/configs/spaces/ofa_mbv3.yaml");
    Rng rng(archSeed);
    Json arch = space->sample(rng).json();
    arch["resolution"] = 160;
    Case ofa{"ofa_mbv3 160x160 batch 1", {}, 1};
    ofa.model.graph = space->toGraph(space->normalize(arch));
    ofa.model.weights = randomWeights(ofa.model.graph, 2);
    cases = {r64, r1, ofa};
    std::printf("int8 vs fp32, hwnas runtime, 1 thread, interleaved, median of %d rounds (ofa arch seed %llu: %s)\n",
                rounds, (unsigned long long)archSeed, arch.dump().c_str());
    for (const Case& c : cases) runCase(c, rounds, isa, ops);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "int8_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
