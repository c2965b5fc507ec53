// ProbeRunner: times the ops of a ProbePlan on this machine the way they run inside a network,
// and writes the results JSON that `nas-lut import` reads. Each op runs as a one-op plan in the
// runtime Executor, and its time is the Executor's per-op timer (the op alone, in place), not
// the wall time of Executor::run: that adds a fixed per-call cost (input/output copies, the call
// itself; about 0.02 ms on a desktop) that a network pays once, not once per op. The call time is
// reported beside it. Ops run in groups, interleaved visit by visit (A B C A B C ...), so drift
// of the machine's speed is spread over all of them, and each op's weights are as cold as
// inside a network (see ProbeOptions); samples far above the median (preemption) are rejected. Invariant: given the plan, the run order and the weights are fixed.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runtime/probe/probe_plan.h"

namespace hwnas::runtime {

// Written into the results ("hwnas-probe 0.1.0").
extern const char* const kProbeToolVersion;
constexpr int kProbeResultsVersion = 1;

struct ProbeOptions {
  int threads = 0;  // 0: the plan's
  int repeats = 0;  // timed runs per op; 0: the plan's
  int warmup = -1;  // untimed runs per op first; -1: the plan's
  // Ops interleaved together, one timed run per visit, no untimed run first: between two visits
  // of an op the other 31 ops pass through the caches, so its weights arrive as cold as they do
  // inside a network (where the ops before it ran since its last call) while its input is hot
  // (copied in just before, as a producer leaves it). Warm visits (an untimed run, then a burst
  // of timed ones) predicted fmnist_small networks 9-15% faster than they run (validate mean
  // ratio 0.85-0.91, within 10% 0.0-0.73 over 4 runs); cold visits of 32: ratio 1.00-1.07,
  // within 10% 0.80-0.975 (3 runs; docs/latency.md).
  int group = 32;
  int burst = 1;           // timed runs per visit of an op
  bool warmVisit = false;  // one untimed run at the start of each visit (weights back in cache)
  // A sample above median + rejectMads x MAD (MAD scaled to sigma, at least 5% of the median) is
  // rejected as an outlier.
  double rejectMads = 5.0;
};

struct ProbeOpResult {
  std::string key;
  std::string spec;  // the op line's fields (formatProbeOp), so an importer can rebuild the op
  double minMs = 0, medianMs = 0, p90Ms = 0, meanMs = 0, stdMs = 0;  // of the kept samples
  double callMedianMs = 0;  // median wall time of Executor::run (op + per-call cost)
  int samples = 0;          // kept
  int rejected = 0;
};

struct ProbeDevice {
  std::string cpu;   // /proc/cpuinfo model name, or the board model, or "unknown"
  std::string arch;  // x86_64, aarch64, arm, ...
  std::string isa;   // the runtime's kernel set: scalar, avx2, avx512
  int hardwareThreads = 0;
};
ProbeDevice probeDevice();

struct ProbeResults {
  ProbeDevice device;
  int threads = 1, batch = 1, repeats = 0, warmup = 0;
  std::string startedAt, finishedAt;  // ISO 8601 UTC
  double seconds = 0;
  std::vector<ProbeOpResult> ops;  // in plan order
};

// progress(done, total) after each group. RuntimeError if an op fails to run.
ProbeResults runProbe(const ProbePlan& plan, const ProbeOptions& options,
                      const std::function<void(size_t, size_t)>& progress = nullptr);

// The results file (hand-written JSON; format "hwnas-probe-results", version 1):
// {"format", "version", "tool_version", "plan": {"file", "space_id", "space", "version", "ops"},
//  "device": {"cpu", "arch", "isa", "hardware_threads"}, "dtype", "threads", "batch", "repeats",
//  "warmup", "statistic_note", "started_at", "finished_at", "seconds",
//  "ops": [{"key", "spec", "min_ms", "median_ms", "p90_ms", "mean_ms", "std_ms", "call_median_ms",
//           "samples", "rejected"}]}
std::string probeResultsJson(const ProbePlan& plan, const std::string& planFile, const ProbeResults& results);

// Statistics helpers (exposed for tests).
double probeMedian(std::vector<double> v);
double probePercentile(std::vector<double> v, double p);  // nearest rank, p in [0, 1]
// Keeps the samples <= median + k x max(1.4826 MAD, 0.05 median); returns how many were dropped.
int rejectOutliers(std::vector<double>& v, double k);
std::string jsonEscape(const std::string& s);
std::string utcNow();

}  // namespace hwnas::runtime
