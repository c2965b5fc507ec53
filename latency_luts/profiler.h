// Profiler: measures fused-op latencies the way they run inside a network. It builds runtime
// plans of whole sampled networks (random weights: fp32 kernel time does not depend on the
// values), runs them with the runtime Executor many times, interleaving the networks of a group
// run by run (A B C A B C ...), and times every op in place with the Executor's per-op timer.
// A key's entry (statistic "min", the default) is taken from whole runs, not from the op's own
// fastest sample: per network, the op's mean time over that network's kFastestRuns fastest runs
// (by whole-run time), then the median over the networks that hold the key. So a network's op
// sum tracks its fastest whole runs, which is what finalists and `validate` measure (minimum of
// whole runs); the per-op minimum over every sample would drop each op's noise separately, an
// error that grows with the number of ops and that a constant overhead cannot absorb
// (docs/latency.md, "Why not the per-op minimum"). Statistic "median": the median of all samples.
// Invariants: given the seed, the networks and the order of runs are fixed; rows name device,
// threads, batch and the tool version; keys already in the store are skipped unless asked.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/graph.h"
#include "core/rng.h"
#include "latency_luts/latency_store.h"
#include "runtime/plan.h"
#include "search_spaces/search_space.h"

namespace hwnas {

// Compute and memory of one fused plan op at the plan's batch: MACs, and bytes moved (inputs +
// output + weights, fp32).
struct PlanOpCost {
  int64_t macs = 0;
  int64_t bytes = 0;
  int64_t weightBytes = 0;
  int64_t activationBytes = 0;  // inputs + output
};
PlanOpCost planOpCost(const runtime::Plan& plan, size_t opIndex);

// The structure of g lowered (core/lower.h) with seeded random weights of the right sizes,
// scaled 1/sqrt(fan-in) so activations stay O(1) through deep nets (no denormals or infs).
runtime::Plan randomWeightPlan(const Graph& g, Rng& rng);

// An mbconv arch whose resolution is replaced by one of `resolutions` (drawn with rng) when the
// list is non-empty; InputError if a resolution is not a choice of the space.
ArchConfig restrictResolution(const SearchSpace& space, ArchConfig arch, const std::vector<int>& resolutions, Rng& rng);

// Timings of a group of networks run interleaved.
struct NetworkTimes {
  std::vector<std::string> keys;              // op keys in execution order
  std::vector<std::vector<double>> opMs;      // [run][op]
  std::vector<double> totalMs;                // [run] wall time of Executor::run
  int64_t rejected = 0;                       // runs thrown away as preempted
};

struct TimingOptions {
  int threads = 1;
  int warmup = 3;   // untimed runs per network before the timed ones
  int runs = 20;    // timed runs per network
  // Each visit of a network runs it once untimed (its weights back in cache, as when one network
  // runs repeatedly) and then `burst` timed runs; visits go round the networks, so drift of the
  // machine's speed is spread over all of them.
  int burst = 4;
  // A timed run during which the process was preempted (getrusage: an involuntary context
  // switch) is thrown away and rerun, up to this many times per kept run; after that the run is
  // kept as it is. 0 keeps every run.
  int preemptRetries = 8;
  bool perOp = true;  // time ops in place (the per-op timer on); false: whole runs only
};
// Runs the plans interleaved run by run and returns each one's timings.
std::vector<NetworkTimes> timeInterleaved(const std::vector<runtime::Plan>& plans, const TimingOptions& options);

// How many of a network's fastest runs its op times are averaged over (statistic "min").
constexpr int kFastestRuns = 3;
// Per op of t (in execution order): its mean time over the n runs with the smallest whole-run
// time (all runs if fewer; ties keep run order). Empty when t has no per-op times.
std::vector<double> fastestRunOpMs(const NetworkTimes& t, int n);

double median(std::vector<double> v);
double percentile(std::vector<double> v, double p);  // nearest-rank on the sorted values, p in [0, 1]
// "min" or "median" of v; InputError for another name. On a shared machine other processes only
// ever add time, so the minimum over many short runs is the steadier estimate; on a quiet one
// the median is the conventional figure.
double statistic(const std::vector<double>& v, const std::string& name);
void checkStatistic(const std::string& name);

// The speed probe: a fixed small MobileNet-like network (3x96x96 input, about 12 MFLOPs) that
// profile and validate run interleaved with every group of networks. Its time in a group against
// its time when the table was built measures how fast the shared machine is at that moment.
Graph probeGraph();

// The networks profile runs: `samples` picks at most; each pick draws `candidates` archs
// (seeded, split per pick) and keeps the one holding the most keys that are wanted (wanted(key),
// e.g. not yet in the table) and held by fewer than minCoverage picked networks; it stops after
// 3 picks in a row gain nothing. Then, with `complete`, wanted keys no picked network holds are
// added from SearchSpace::keyCoveringArchs (within `resolutions`; greedily, the cover network
// with the most such keys first), so the table has every op key of the space, even beyond
// `samples` networks (spaces that can neither be covered nor enumerated skip this).
struct CoverageOptions {
  bool complete = true;
  int samples = 60;
  int candidates = 48;
  int minCoverage = 2;
  uint64_t seed = 1;
  std::vector<int> resolutions;  // mbconv: restrict the sampled input resolution
};
std::vector<ArchConfig> coveringArchs(const SearchSpace& space, const CoverageOptions& options,
                                      const std::function<bool(const std::string&)>& wanted);

struct ProfileOptions {
  std::string device;
  int threads = 1;
  int samples = 60;       // networks to run (at most)
  int candidates = 48;    // archs drawn per pick; the one with the most uncovered keys is run
  int minCoverage = 2;    // a key counts as covered once this many picked networks hold it
  int groupSize = 6;      // networks interleaved together
  int warmup = 3;
  int runs = 20;
  int burst = 4;
  std::string statistic = "min";  // what a row's latency_ms is: "min" (from the fastest whole runs, above) or "median" of its samples
  uint64_t seed = 1;
  std::vector<int> resolutions;  // mbconv: restrict the sampled input resolution
  bool complete = true;          // also run the cover networks that hold keys the samples missed (CoverageOptions)
  bool remeasure = false;        // also replace keys that are already in the store
  bool driftCorrection = true;   // scale each group's samples to the probe's median speed
  bool quiet = false;
};

struct ProfileReport {
  int networks = 0;
  int64_t keysSeen = 0;        // distinct op keys in the picked networks
  int64_t keysWritten = 0;
  int64_t keysSkipped = 0;     // already in the store
  double overheadMs = 0;       // fitted per-run overhead
  double msPerMflop = 0;       // FLOPs baseline slope
  double probeMs = 0;          // the probe's reference time (median over groups)
  double probeSpread = 0;      // (max - min) / median of the probe's per-group times
  double seconds = 0;
};

// Profiles `space` on this machine into `store` (device must exist): op rows for every key the
// picked networks hold, arch rows for the picked networks, and the device's calibration.
ProfileReport profileSpace(const SearchSpace& space, LatencyStore& store, const ProfileOptions& options);

}  // namespace hwnas
