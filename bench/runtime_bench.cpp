// The deployment runtime against onnxruntime (the inference bar) and the trainer's eval-mode
// forward on refnet, side by side in one run, interleaved A B C A B C per round: batch-1 latency
// (median of R rounds of 300 calls) and batch-64 throughput, at 1 and 2 threads, with the ratio
// runtime/onnxruntime (bar: <= 1.5x; the exporter issue tightens it to 1.0x) and, at batch 1, a
// per-op breakdown from the executor's per-op timer (where the runtime's time goes).
// onnxruntime-node runs the same network (same weights, exported to ONNX by exporter/onnx_export
// when the bench is built with HWNAS_BENCH_ONNX_EXPORT, or --onnx FILE) in a node process driven
// over a pipe (bench/ort_refnet.js); both sides compute the same input and their outputs are
// compared before timing. Usage: runtime_bench [--rounds R] [--model M.yaml] [--threads-list 1,2]
// [--onnx M.onnx] [--no-ort] [--node NODE] [--ort-script bench/ort_refnet.js]
#include <sys/types.h>
#include <sys/wait.h>
#include <tbb/global_control.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/lower.h"
#include "core/rng.h"
#include "runtime/executor.h"
#include "trainer/model_def.h"
#include "trainer/weight_map.h"
#ifdef HWNAS_BENCH_ONNX_EXPORT
#include "exporter/onnx_export.h"
#endif

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

// A node process running bench/ort_refnet.js, spoken to line by line over two pipes.
class OrtServer {
 public:
  OrtServer(const std::string& node, const std::string& script, const std::string& model, const std::string& threads) {
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      close(in[1]);
      close(out[0]);
      execlp(node.c_str(), node.c_str(), script.c_str(), model.c_str(), threads.c_str(), (char*)nullptr);
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    to_ = fdopen(in[1], "w");
    from_ = fdopen(out[0], "r");
    ready_ = readLine().rfind("ready", 0) == 0;
  }
  ~OrtServer() {
    if (to_) {
      std::fputs("quit\n", to_);
      std::fclose(to_);
    }
    if (from_) std::fclose(from_);
    if (pid_ > 0) waitpid(pid_, nullptr, 0);
  }
  bool ready() const { return ready_; }
  std::string ask(const std::string& cmd) {
    std::fputs((cmd + "\n").c_str(), to_);
    std::fflush(to_);
    return readLine();
  }

 private:
  std::string readLine() {
    std::string line;
    if (!from_) return line;
    int c;
    while ((c = std::fgetc(from_)) != EOF && c != '\n') line += char(c);
    return line;
  }
  pid_t pid_ = -1;
  FILE* to_ = nullptr;
  FILE* from_ = nullptr;
  bool ready_ = false;
};

// Where the runtime's batch-1 time goes: per-op timer over `calls` runs, summed by op kind.
void printOpBreakdown(runtime::Executor& ex, const float* x, float* y, int calls) {
  std::vector<int64_t> ns;
  std::map<std::string, double> byKind;
  std::map<std::string, int> count;
  double ops = 0, total = 0;
  const auto& plan = ex.plan();
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    const auto& op = plan.ops[i];
    std::string kind = runtime::opTypeName(op.type);
    if (op.type == runtime::OpType::Conv2d || op.type == runtime::OpType::DepthwiseConv2d)
      kind += " k" + std::to_string(op.kernelH) + " s" + std::to_string(op.strideH);
    ++count[kind];
  }
  ex.setOpTimer(&ns);
  for (int c = 0; c < calls; ++c) {
    const auto t0 = Clock::now();
    ex.run({x}, {y});
    total += std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    for (size_t i = 0; i < ns.size(); ++i) {
      const auto& op = plan.ops[i];
      std::string kind = runtime::opTypeName(op.type);
      if (op.type == runtime::OpType::Conv2d || op.type == runtime::OpType::DepthwiseConv2d)
        kind += " k" + std::to_string(op.kernelH) + " s" + std::to_string(op.strideH);
      byKind[kind] += double(ns[i]) * 1e-6;
      ops += double(ns[i]) * 1e-6;
    }
  }
  ex.setOpTimer(nullptr);
  std::vector<std::pair<double, std::string>> rows;
  for (const auto& [k, ms] : byKind) rows.push_back({ms / calls, k});
  std::sort(rows.rbegin(), rows.rend());
  std::printf("  runtime batch 1 per-op breakdown (per-op timer, mean of %d calls; %.4f ms in ops, %.4f ms per call):\n",
              calls, ops / calls, total / calls);
  for (const auto& [ms, k] : rows)
    std::printf("    %-16s x%-3d %.4f ms  %4.1f%%\n", k.c_str(), count[k], ms, 100.0 * ms / (total / calls));
  std::printf("    %-16s      %.4f ms  %4.1f%%  (input/output copies, call)\n", "outside ops", (total - ops) / calls,
              100.0 * (total - ops) / total);
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 7;
  std::string modelPath = std::string(HWNAS_SOURCE_DIR) + "/configs/models/refnet.yaml";
  std::vector<int> threadsList = {1, 2};
  std::string onnxPath, node = "node", ortScript = std::string(HWNAS_SOURCE_DIR) + "/bench/ort_refnet.js";
  bool useOrt = true;
  for (int i = 1; i < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--no-ort") {
      useOrt = false;
      --i;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "runtime_bench: %s needs a value\n", k.c_str());
      return 2;
    }
    if (k == "--onnx") {
      onnxPath = argv[i + 1];
    } else if (k == "--node") {
      node = argv[i + 1];
    } else if (k == "--ort-script") {
      ortScript = argv[i + 1];
    } else if (k == "--rounds") {
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

  // onnxruntime on the same network (same weights).
  std::string threadsText;
  for (int t : threadsList) threadsText += (threadsText.empty() ? "" : ",") + std::to_string(t);
  std::unique_ptr<OrtServer> ort;
  std::string tempOnnx;
  if (useOrt) {
#ifdef HWNAS_BENCH_ONNX_EXPORT
    if (onnxPath.empty()) {
      tempOnnx = "/tmp/hwnas_runtime_bench_" + std::to_string(getpid()) + ".onnx";
      ExportModel em;
      em.name = def.name;
      em.graph = model->toGraph(1);
      em.weights = weights;
      exportOnnx(em, tempOnnx);
      onnxPath = tempOnnx;
    }
#endif
    if (onnxPath.empty()) {
      std::printf("onnxruntime: skipped (this build cannot export ONNX: build with HWNAS_BENCH_ONNX_EXPORT or pass --onnx M.onnx)\n");
    } else {
      ort = std::make_unique<OrtServer>(node, ortScript, onnxPath, threadsText);
      if (!ort->ready()) {
        std::printf("onnxruntime: skipped (%s %s did not start; is onnxruntime-node installed? scripts/install-deps.sh)\n",
                    node.c_str(), ortScript.c_str());
        ort.reset();
      } else {
        // Same input on both sides: x[i] = sin(0.01 i).
        std::vector<float> xs(x1.size());
        for (size_t i = 0; i < xs.size(); ++i) xs[i] = float(std::sin(0.01 * double(i)));
        runtime::Executor ex(plan1);
        const std::vector<float> mine = ex.run(xs);
        std::istringstream theirs(ort->ask("check 1"));
        double worst = 0, v = 0, largest = 0;
        size_t n = 0;
        for (float m : mine) largest = std::max(largest, double(std::fabs(m)));
        while (theirs >> v) worst = std::max(worst, n < mine.size() ? std::fabs(v - double(mine[n++])) : 1e9);
        std::printf("onnxruntime-node on %s: outputs agree with the runtime's within %.2g (%zu values, largest |y| %.3g)\n",
                    onnxPath.c_str(), worst, n, largest);
        if (n != mine.size() || worst > 1e-3) {
          std::fprintf(stderr, "runtime_bench: onnxruntime and the runtime disagree (%g over %zu values)\n", worst, n);
          return 1;
        }
      }
    }
  }

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

    if (ort) {
      ort->ask("time " + std::to_string(threads) + " 1 100");  // warm-up
      ort->ask("time " + std::to_string(threads) + " 64 5");
    }
    std::vector<double> rtB1, trB1, rtB64, trB64, ortB1, ortB64;
    for (int r = 0; r < rounds; ++r) {
      rtB1.push_back(timeCalls(runtimeB1, 300) * 1e3);
      if (ort) ortB1.push_back(std::atof(ort->ask("time " + std::to_string(threads) + " 1 300").c_str()));
      trB1.push_back(timeCalls(trainerB1, 60) * 1e3);
      rtB64.push_back(64.0 / timeCalls(runtimeB64, 20));
      if (ort) ortB64.push_back(64e3 / std::atof(ort->ask("time " + std::to_string(threads) + " 64 20").c_str()));
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
    if (ort) {
      const Stats o1 = stats(ortB1), o64 = stats(ortB64);
      const double ratio = a.median / o1.median;
      std::printf(
          "refnet batch 1, %d thread%s: runtime %.4f ms (%.4f..%.4f), onnxruntime %.4f ms (%.4f..%.4f), "
          "runtime/onnxruntime %.2f [bar 1.5: %s; 1.0: %s] (median of %d interleaved rounds of 300 calls)\n",
          threads, threads > 1 ? "s" : "", a.median, a.min, a.max, o1.median, o1.min, o1.max, ratio,
          ratio <= 1.5 ? "met" : "MISSED", ratio <= 1.0 ? "met" : "missed", rounds);
      std::printf("refnet batch 64, %d thread%s: runtime %.0f img/s, onnxruntime %.0f img/s (%.0f..%.0f), "
                  "runtime/onnxruntime throughput %.2f (median of %d rounds)\n",
                  threads, threads > 1 ? "s" : "", c.median, o64.median, o64.min, o64.max, c.median / o64.median, rounds);
    } else {
      std::printf("runtime batch 1, %d thread%s vs onnxruntime's 0.29 ms reference (1 thread, same machine kind): %.2fx\n",
                  threads, threads > 1 ? "s" : "", a.median / 0.29);
    }
    printOpBreakdown(ex1, x1.data(), y1.data(), 300);
    std::fflush(stdout);
  }
  ort.reset();
  if (!tempOnnx.empty()) std::remove(tempOnnx.c_str());
  return 0;
}
