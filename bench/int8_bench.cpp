// int8 against fp32 in the runtime, side by side in one run, 1 thread, interleaved A B A B:
// refnet at batch 64 and batch 1, and an ofa_mbv3 net at 160x160 at batch 1. Each side is the
// same network (same weights, BN folded); the int8 plan comes from exporter/quantize calibrate
// (min-max, on 4 batches of random inputs) + core lowerQuantized. Prints the median of R rounds
// per side, the spread, and the ratio int8/fp32 (goal <= 0.6 at batch 64 and on the ofa net).
// Usage: int8_bench [--rounds R] [--arch-seed S] [--isa scalar|avx2|vnni] [--ops] [--only NAME] [--planar]
// (--only: the cases whose name contains NAME, e.g. "batch 64", "ofa"; --planar: the int8 side
// keeps the planar layout, the VNNI kernels before channels-last). Each line also gives the
// thread CPU time of both sides (on a shared machine the wall clock counts descheduled time).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
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

double threadCpuMs() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) * 1e3 + double(t.tv_nsec) / 1e6;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

Result runCase(const Case& c, int rounds, int isa, bool ops, bool planar) {
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
  if (planar) o.int8ChannelsLast = 0;
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
  // Calls per round: about 200 ms of fp32 work (on a shared machine a round of one 10-25 ms
  // call is at the mercy of the scheduler; long rounds average the load over both sides).
  double once = 1e9;
  for (int i = 0; i < 3; ++i) {
    const auto t0 = Clock::now();
    ef.run(x);
    once = std::min(once, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  const int calls = std::max(1, int(0.2 / std::max(once, 1e-6)));
  std::vector<double> tf, tq, cf, cq;  // wall and this thread's CPU time (1 thread: the pool runs inline)
  for (int r = 0; r < rounds; ++r) {
    for (int side = 0; side < 2; ++side) {
      runtime::Executor& ex = side == 0 ? ef : eq;
      std::vector<float>& y = side == 0 ? yf : yq;
      const double c0 = threadCpuMs();
      const auto s = Clock::now();
      for (int i = 0; i < calls; ++i) ex.run({x.data()}, {y.data()});
      (side == 0 ? tf : tq).push_back(std::chrono::duration<double, std::milli>(Clock::now() - s).count() / calls);
      (side == 0 ? cf : cq).push_back((threadCpuMs() - c0) / calls);
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
              c.name.c_str(), res.fp32, res.fp32Min, res.fp32Max,
              (std::string(runtime::int8::int8IsaName(eq.int8Isa())) + (eq.int8ChannelsLast() ? "" : " planar")).c_str(), res.int8,
              res.int8Min, res.int8Max, res.int8 / res.fp32, agree, (long long)c.batch, maxErr, maxAbs, calls, rounds);
  // On a shared machine the wall clock also counts time the thread was descheduled; CPU time
  // does not (it still includes cache and frequency effects of the neighbours).
  std::printf("%-28s cpu time: fp32 %8.3f ms  int8 %8.3f ms  ratio int8/fp32 %.2f\n", "", median(cf), median(cq),
              median(cq) / median(cf));
  if (ops) {
    // Per op type, median over the rounds of the per-call means: fp32, int8 as run above, and
    // (VNNI) the planar int8 layout of the earlier kernels, interleaved.
    runtime::ExecutorOptions po = o;
    po.int8ChannelsLast = 0;
    runtime::Executor ep(q, po);
    std::vector<float> yp(yq.size());
    runtime::Executor* sides[3] = {&ef, &eq, &ep};
    const runtime::Plan* plans[3] = {&fp, &q, &q};
    std::vector<float>* outs[3] = {&yf, &yq, &yp};
    std::map<std::string, std::vector<std::vector<double>>> byType;  // type -> side -> per round ms
    std::vector<std::vector<double>> perOp[2];  // int8 op -> rounds (channels-last, planar)
    perOp[0].resize(q.ops.size());
    perOp[1].resize(q.ops.size());
    for (int r = 0; r < rounds; ++r) {
      std::map<std::string, double> acc[3];
      for (int side = 0; side < 3; ++side) {
        std::vector<int64_t> ns;
        sides[side]->setOpTimer(&ns);
        for (int i = 0; i < calls; ++i) {
          sides[side]->run({x.data()}, {outs[side]->data()});
          for (size_t k = 0; k < ns.size(); ++k) {
            acc[side][runtime::opTypeName(plans[side]->ops[k].type)] += ns[k] / 1e6 / calls;
            if (side > 0) {
              auto& v = perOp[side - 1][k];
              if (int(v.size()) <= r) v.push_back(0);
              v[r] += ns[k] / 1e6 / calls;
            }
          }
        }
        sides[side]->setOpTimer(nullptr);
      }
      for (int side = 0; side < 3; ++side)
        for (const auto& [t, v] : acc[side]) {
          auto& per = byType[t];
          per.resize(3);
          per[side].push_back(v);
        }
    }
    if (yp != yq) std::printf("    WARNING: the planar and channels-last int8 outputs differ\n");
    for (auto& [t, per] : byType) {
      auto med = [&](int side) { return per[side].empty() ? 0.0 : median(per[side]); };
      std::printf("    %-16s fp32 %8.3f ms  int8 %8.3f ms  (planar int8 %8.3f ms)\n", t.c_str(), med(0), med(1), med(2));
    }
    if (std::getenv("INT8_BENCH_PER_OP"))
      for (size_t k = 0; k < q.ops.size(); ++k)
        std::printf("      %8.4f  %8.4f  %s\n", median(perOp[0][k]), median(perOp[1][k]), q.ops[k].key.c_str());
  }
  return res;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 15, isa = -1;
  uint64_t archSeed = 7;
  bool ops = false;
  std::string only;     // run only the cases whose name contains this
  bool planar = false;  // the int8 side with the planar layout (the VNNI kernels before channels-last)
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
    } else if (a == "--planar") {
      planar = true;
    } else if (a == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else {
      std::fprintf(stderr, "usage: int8_bench [--rounds R] [--arch-seed S] [--isa scalar|avx2|vnni] [--ops] [--only NAME] [--planar]\n");
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
    for (const Case& c : cases)
      if (c.name.find(only) != std::string::npos) runCase(c, rounds, isa, ops, planar);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "int8_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
