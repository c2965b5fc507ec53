// Validation of a latency model against whole networks run with the runtime on this machine:
// sampled networks (a seed never used to build the table), two independent measurements of
// each (two passes over all networks, each interleaving a group run by run), and the figures
// the issue asks for beside a FLOPs-proportional baseline. Also the rank metrics it uses.
// Invariant: given the seed the sampled networks are fixed; only the timings vary.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "latency_luts/latency_model.h"
#include "latency_luts/latency_store.h"
#include "search_spaces/search_space.h"

namespace hwnas {

// Spearman's rho (average ranks for ties) and Kendall's tau-b. 0 for fewer than 2 points or a
// constant series.
double spearman(const std::vector<double>& a, const std::vector<double>& b);
double kendallTau(const std::vector<double>& a, const std::vector<double>& b);

struct AccuracyFigures {
  int samples = 0;
  double within10 = 0;  // fraction with |pred - meas| / meas <= 0.10
  double mape = 0;      // mean |pred - meas| / meas
  double spearman = 0;
  double kendall = 0;
  double meanRatio = 0;  // mean pred / meas
};
AccuracyFigures accuracyFigures(const std::vector<double>& predicted, const std::vector<double>& measured);

struct ValidateOptions {
  int samples = 100;
  uint64_t seed = 1000;
  int threads = 1;
  int groupSize = 6;
  int warmup = 2;
  int runs = 15;  // timed runs per network per measurement
  int burst = 4;  // see TimingOptions::burst
  std::string statistic = "min";  // of each measurement's runs: "min" or "median"
  std::vector<int> resolutions;
  bool allowFallback = false;
  bool driftCorrection = true;  // scale each group by the probe's speed against profiling time
  bool quiet = false;
};

struct ValidateResult {
  AccuracyFigures model, flops;
  AccuracyFigures rawModel, rawFlops;  // without drift correction
  double rawRepeatability = 0;
  bool driftCorrected = false;
  std::vector<double> probeFactors;  // per group: table probe time / probe time now
  double repeatability = 0;    // fraction of networks whose two measurements agree within +-5%
  double repeatability10 = 0;  // the same within +-10%
  double medianSpread = 0;     // median |A - B| / mean(A, B)
  int fallbackNetworks = 0;
  double overheadMs = 0, msPerMflop = 0;
  bool flopsSlopeFromValidation = false;  // no calibration: the baseline slope was fitted here
  std::vector<double> predicted, measured, measuredA, measuredB, flopsPredicted, mflops;
  std::vector<double> rawMeasured, rawA, rawB;
  std::vector<std::string> archHashes;
  std::string statisticName;
  Json toJson(bool perNetwork = false) const;
};

ValidateResult validateModel(const SearchSpace& space, LatencyStore& store, const std::string& device,
                             const ValidateOptions& options);

}  // namespace hwnas
