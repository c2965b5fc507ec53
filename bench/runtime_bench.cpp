// The deployment runtime against the trainer's eval-mode forward on refnet, side by side in one
// run (interleaved A B A B per round): batch-1 latency (median of R rounds of 300 calls) and
// batch-64 throughput, at 1 and 2 threads. Usage: runtime_bench [--rounds R] [--model M.yaml]
// [--threads-list 1,2]. onnxruntime (bar: 0.29 ms at batch 1, 1 thread on this machine kind) is
// measured by ../shared/anchors/ort_bench.js; compare only figures from the same moment.
#include <tbb/global_control.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "core/lower.h"
#include "core/rng.h"
#include "runtime/executor.h"
#include "trainer/model_def.h"
#include "trainer/weight_map.h"

using namespace hwnas;
using Clock = std::chrono::steady_clock;

namespace {

struct Stats {
  double median = 0, min = 0, max = 0;
};

Stats stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front(), v.back()};
}

// Seconds per call over `calls` calls.
double timeCalls(const std::function<void()>& fn, int calls) {
  const auto t0 = Clock::now();
  for (int i = 0; i < calls; ++i) fn();
  return std::chrono::duration<double>(Clock::now() - t0).count() / calls;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 7;
  std::string modelPath = std::string(HWNAS_SOURCE_DIR) + "/configs/models/refnet.yaml";
  std::vector<int> threadsList = {1, 2};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--rounds") {
      rounds = std::max(1, std::atoi(argv[i + 1]));
    } else if (k == "--model") {
      modelPath = argv[i + 1];
    } else if (k == "--threads-list") {
      threadsList.clear();
      for (const char* p = argv[i + 1]; *p;) {
        threadsList.push_back(std::atoi(p));
        while (*p && *p != ',') ++p;
        if (*p) ++p;
      }
    } else {
      std::fprintf(stderr, "runtime_bench: unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  const ModelDef def = loadModelDef(modelPath);
  auto model = buildModel(def, 0);
  model->eval();
  const WeightMap weights = weightMapOf(*model);
  Rng rng(1);
  auto input = [&](int64_t batch) {
    std::vector<float> x(size_t(batch * def.inChannels * def.height * def.width));
    for (auto& v : x) v = float(rng.uniform(-1, 2));
    return x;
  };
  const std::vector<float> x1 = input(1), x64 = input(64);
  const Tensor t1 = Tensor::fromVector({1, def.inChannels, def.height, def.width}, x1);
  const Tensor t64 = Tensor::fromVector({64, def.inChannels, def.height, def.width}, x64);
  const runtime::Plan plan1 = lower(model->toGraph(1), weights);
  const runtime::Plan plan64 = lower(model->toGraph(64), weights);
  std::printf("model %s (%s), runtime kernels: %s, %zu fused ops, peak activations %lld bytes at batch 1\n",
              def.name.c_str(), modelPath.c_str(), runtime::kernels::isaName(runtime::kernels::bestIsa()),
              plan1.ops.size(), (long long)runtime::peakActivationBytes(plan1));

  for (int threads : threadsList) {
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, size_t(threads));
    runtime::ExecutorOptions o;
    o.threads = threads;
    runtime::Executor ex1(plan1, o), ex64(plan64, o);
    std::vector<float> y1(10 * 1), y64(size_t(10 * 64));
    y1.resize(size_t(runtime::shapeElements(ex1.outputShape())));
    y64.resize(size_t(runtime::shapeElements(ex64.outputShape())));
    auto runtimeB1 = [&] { ex1.run({x1.data()}, {y1.data()}); };
    auto runtimeB64 = [&] { ex64.run({x64.data()}, {y64.data()}); };
    auto trainerB1 = [&] {
      NoGradGuard ng;
      model->forward(Variable(t1));
    };
    auto trainerB64 = [&] {
      NoGradGuard ng;
      model->forward(Variable(t64));
    };
    // Check they agree before timing.
    runtimeB1();
    {
      NoGradGuard ng;
      const auto ref = model->forward(Variable(t1)).value().toVector();
      double worst = 0;
      for (size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, double(std::fabs(ref[i] - y1[i])));
      if (worst > 1e-4) {
        std::fprintf(stderr, "runtime_bench: runtime and trainer disagree by %g\n", worst);
        return 1;
      }
    }
    for (int i = 0; i < 50; ++i) runtimeB1(), trainerB1();  // warm-up
    runtimeB64();
    trainerB64();

    std::vector<double> rtB1, trB1, rtB64, trB64;
    for (int r = 0; r < rounds; ++r) {
      rtB1.push_back(timeCalls(runtimeB1, 300) * 1e3);
      trB1.push_back(timeCalls(trainerB1, 60) * 1e3);
      rtB64.push_back(64.0 / timeCalls(runtimeB64, 20));
      trB64.push_back(64.0 / timeCalls(trainerB64, 10));
    }
    const Stats a = stats(rtB1), b = stats(trB1), c = stats(rtB64), d = stats(trB64);
    std::printf(
        "refnet batch 1, %d thread%s: runtime %.3f ms (%.3f..%.3f), trainer eval %.3f ms (%.3f..%.3f), "
        "trainer/runtime %.2f (median of %d rounds; runtime 300 calls, trainer 60 calls per round)\n",
        threads, threads > 1 ? "s" : "", a.median, a.min, a.max, b.median, b.min, b.max, b.median / a.median, rounds);
    std::printf(
        "refnet batch 64, %d thread%s: runtime %.0f img/s (%.0f..%.0f), trainer eval %.0f img/s (%.0f..%.0f), "
        "runtime/trainer %.2f (median of %d rounds)\n",
        threads, threads > 1 ? "s" : "", c.median, c.min, c.max, d.median, d.min, d.max, c.median / d.median, rounds);
    std::printf("runtime batch 1, %d thread%s vs onnxruntime's 0.29 ms reference (1 thread, same machine kind): %.2fx\n",
                threads, threads > 1 ? "s" : "", a.median / 0.29);
    std::fflush(stdout);
  }
  return 0;
}
