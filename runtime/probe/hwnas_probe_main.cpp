// hwnas-probe: the board agent. Runs a profiling plan written by `nas-lut plan` with the runtime
// and writes the results JSON that `nas-lut import` reads. Built from runtime/ alone (C++17
// standard library only), so it links statically and cross-compiles for ARM boards.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>

#include "runtime/probe/probe_plan.h"
#include "runtime/probe/probe_runner.h"

using namespace hwnas::runtime;

namespace {

const char* kHelp = R"(hwnas-probe: time the fused ops of a profiling plan on this machine (a board)

Usage: hwnas-probe PLAN.txt RESULTS.json [options]

Options:
  --threads T   runtime threads (default: the plan's)
  --repeats R   timed runs per op (default: the plan's)
  --warmup W    untimed runs per op first (default: the plan's)
  --group G     ops interleaved together (default 32)
  --burst B     timed runs per visit of an op (default 1)
  --warm-visits an untimed run before each visit's timed runs (hot caches; default off)
  --quiet       no progress on stderr
  --version     print the tool version
  --help        this text

Each op runs as a one-op runtime plan and is timed by the executor's per-op timer (the op alone,
as inside a network; the per-call cost is reported apart as call_median_ms). Results are written
atomically; nothing is written when the plan is bad.

Examples:
  nas-lut plan --space configs/spaces/fmnist_small.yaml --out plan.txt --threads 1
  scp plan.txt hwnas-probe pi@raspi4:        # hwnas-probe-static or an aarch64 cross build
  ssh pi@raspi4 ./hwnas-probe plan.txt results.json
  nas-lut import --db lut.db --device raspi4 --kind mobile results.json

Exit codes: 0 ok, 1 runtime failure, 2 bad input (plan or flags).
)";

struct UsageError {
  std::string msg;
};

int intFlag(const std::string& flag, const char* value, int lo) {
  if (!value) throw UsageError{flag + " needs a value"};
  char* end = nullptr;
  const long v = std::strtol(value, &end, 10);
  if (!*value || *end || v < lo || v > 1000000)
    throw UsageError{flag + " " + value + ": expected an integer >= " + std::to_string(lo)};
  return int(v);
}

void writeAtomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw RuntimeError(path + ": cannot write the results (check the folder exists and is writable)");
    f << text;
    f.flush();
    if (!f) throw RuntimeError(path + ": writing the results failed (disk full?)");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw RuntimeError(path + ": cannot move the results into place");
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string planPath, outPath;
  ProbeOptions o;
  bool quiet = false;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      const char* next = i + 1 < argc ? argv[i + 1] : nullptr;
      if (a == "--help" || a == "-h") {
        std::cout << kHelp;
        return 0;
      } else if (a == "--version") {
        std::cout << kProbeToolVersion << "\n";
        return 0;
      } else if (a == "--threads") {
        o.threads = intFlag(a, next, 1), ++i;
      } else if (a == "--repeats") {
        o.repeats = intFlag(a, next, 1), ++i;
      } else if (a == "--warmup") {
        o.warmup = intFlag(a, next, 0), ++i;
      } else if (a == "--group") {
        o.group = intFlag(a, next, 1), ++i;
      } else if (a == "--burst") {
        o.burst = intFlag(a, next, 1), ++i;
      } else if (a == "--warm-visits") {
        o.warmVisit = true;
      } else if (a == "--quiet" || a == "-q") {
        quiet = true;
      } else if (!a.empty() && a[0] == '-') {
        throw UsageError{"unknown option '" + a + "' (see hwnas-probe --help)"};
      } else if (planPath.empty()) {
        planPath = a;
      } else if (outPath.empty()) {
        outPath = a;
      } else {
        throw UsageError{"unexpected argument '" + a + "' (usage: hwnas-probe PLAN.txt RESULTS.json)"};
      }
    }
    if (outPath.empty()) throw UsageError{"usage: hwnas-probe PLAN.txt RESULTS.json [--threads T] [--repeats R]"};
    if (o.threads > 256) throw UsageError{"--threads must be at most 256"};
  } catch (const UsageError& e) {
    std::cerr << "hwnas-probe: " << e.msg << std::endl;
    return 2;
  }
  try {
    const ProbePlan plan = loadProbePlan(planPath);
    if (!quiet)
      std::cerr << "hwnas-probe: " << plan.ops.size() << " ops of " << (plan.spaceId.empty() ? "?" : plan.spaceId)
                << ", batch " << plan.batch << ", " << (o.threads ? o.threads : plan.threads) << " thread(s), "
                << (o.repeats ? o.repeats : plan.repeats) << " repeats; kernels "
                << probeDevice().isa << " on " << probeDevice().cpu << std::endl;
    int lastDecile = -1;
    const auto t0 = std::chrono::steady_clock::now();
    const ProbeResults r = runProbe(plan, o, [&](size_t done, size_t total) {
      if (quiet || total == 0) return;
      const int decile = int(10 * done / total);
      if (decile == lastDecile && done != total) return;
      lastDecile = decile;
      const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::cerr << "hwnas-probe: " << done << "/" << total << " ops (" << (100 * done / total) << "%), "
                << int(el) << " s, eta " << int(el * double(total - done) / double(done) + 0.5) << " s" << std::endl;
    });
    writeAtomic(outPath, probeResultsJson(plan, planPath, r));
    if (!quiet) std::cerr << "hwnas-probe: wrote " << outPath << " in " << r.seconds << " s" << std::endl;
    return 0;
  } catch (const ProbePlanError& e) {
    std::cerr << "hwnas-probe: " << e.what() << std::endl;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "hwnas-probe: " << e.what() << std::endl;
    return 1;
  }
}
