#include "latency_luts/validate.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/log.h"
#include "latency_luts/profiler.h"

namespace hwnas {

namespace {

std::vector<double> ranks(const std::vector<double>& v) {
  std::vector<size_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> r(v.size());
  for (size_t i = 0; i < idx.size();) {
    size_t j = i;
    while (j + 1 < idx.size() && v[idx[j + 1]] == v[idx[i]]) ++j;
    const double avg = 0.5 * double(i + j) + 1.0;
    for (size_t k = i; k <= j; ++k) r[idx[k]] = avg;
    i = j + 1;
  }
  return r;
}

double pearson(const std::vector<double>& a, const std::vector<double>& b) {
  const size_t n = a.size();
  if (n < 2) return 0;
  double ma = 0, mb = 0;
  for (size_t i = 0; i < n; ++i) ma += a[i], mb += b[i];
  ma /= double(n);
  mb /= double(n);
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < n; ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  if (saa <= 0 || sbb <= 0) return 0;
  return sab / std::sqrt(saa * sbb);
}

}  // namespace

double spearman(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) throw Error("spearman: series of different lengths");
  return pearson(ranks(a), ranks(b));
}

double kendallTau(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) throw Error("kendall: series of different lengths");
  const size_t n = a.size();
  double conc = 0, disc = 0, tiesA = 0, tiesB = 0;
  for (size_t i = 0; i < n; ++i)
    for (size_t j = i + 1; j < n; ++j) {
      const double da = a[i] - a[j], db = b[i] - b[j];
      if (da == 0 && db == 0) continue;
      if (da == 0) {
        ++tiesA;
      } else if (db == 0) {
        ++tiesB;
      } else if ((da > 0) == (db > 0)) {
        ++conc;
      } else {
        ++disc;
      }
    }
  const double denom = std::sqrt((conc + disc + tiesA) * (conc + disc + tiesB));
  return denom > 0 ? (conc - disc) / denom : 0;
}

AccuracyFigures accuracyFigures(const std::vector<double>& pred, const std::vector<double>& meas) {
  AccuracyFigures f;
  f.samples = int(pred.size());
  if (pred.empty()) return f;
  int within = 0;
  for (size_t i = 0; i < pred.size(); ++i) {
    const double rel = std::fabs(pred[i] - meas[i]) / meas[i];
    within += rel <= 0.10;
    f.mape += rel;
    f.meanRatio += pred[i] / meas[i];
  }
  f.within10 = double(within) / double(pred.size());
  f.mape /= double(pred.size());
  f.meanRatio /= double(pred.size());
  f.spearman = spearman(pred, meas);
  f.kendall = kendallTau(pred, meas);
  return f;
}

static Json figuresJson(const AccuracyFigures& f) {
  return {{"samples", f.samples},   {"within_10pct", f.within10}, {"mape", f.mape},
          {"spearman", f.spearman}, {"kendall", f.kendall},       {"mean_ratio", f.meanRatio}};
}

Json ValidateResult::toJson(bool perNetwork) const {
  Json j = figuresJson(model);
  j["repeatability"] = repeatability;
  j["repeatability_10pct"] = repeatability10;
  j["median_spread"] = medianSpread;
  j["fallback_networks"] = fallbackNetworks;
  j["fallback_used"] = fallbackNetworks > 0;
  j["overhead_ms"] = overheadMs;
  j["statistic"] = statisticName;
  j["drift_corrected"] = driftCorrected;
  if (!probeFactors.empty()) {
    j["probe_factor_min"] = *std::min_element(probeFactors.begin(), probeFactors.end());
    j["probe_factor_max"] = *std::max_element(probeFactors.begin(), probeFactors.end());
  }
  j["raw"] = figuresJson(rawModel);
  j["raw"]["repeatability"] = rawRepeatability;
  j["raw"]["flops_baseline"] = figuresJson(rawFlops);
  j["flops_baseline"] = figuresJson(flops);
  j["flops_baseline"]["ms_per_mflop"] = msPerMflop;
  j["flops_baseline"]["slope_fitted_on"] = flopsSlopeFromValidation ? "these validation networks" : "the profiled networks";
  if (perNetwork) {
    Json a = Json::array();
    for (size_t i = 0; i < predicted.size(); ++i)
      a.push_back({{"arch_hash", archHashes[i]},
                   {"predicted_ms", predicted[i]},
                   {"measured_ms", measured[i]},
                   {"measured_a_ms", measuredA[i]},
                   {"measured_b_ms", measuredB[i]},
                   {"raw_a_ms", rawA[i]},
                   {"raw_b_ms", rawB[i]},
                   {"mflops", mflops[i]}});
    j["networks"] = a;
  }
  return j;
}

ValidateResult validateModel(const SearchSpace& space, LatencyStore& store, const std::string& device,
                             const ValidateOptions& o) {
  if (o.samples < 2 || o.runs < 1 || o.groupSize < 1) throw InputError("validate: --samples must be >= 2");
  checkStatistic(o.statistic);
  LutModelOptions mo;
  mo.threads = o.threads;
  mo.allowFallback = o.allowFallback;
  LutLatencyModel model(store, device, mo);
  ValidateResult res;
  res.overheadMs = model.overheadMs();
  res.statisticName = o.statistic;
  Rng rng(o.seed);
  std::vector<Graph> graphs;
  for (int i = 0; i < o.samples; ++i) {
    Rng r = rng.split(uint64_t(i));
    ArchConfig a = restrictResolution(space, space.sample(r), o.resolutions, r);
    Graph g = space.toGraph(a);
    LatencyPrediction p = model.predict(g);
    res.fallbackNetworks += p.fallbackUsed;
    res.predicted.push_back(p.latencyMs);
    res.mflops.push_back(2e-6 * double(g.cost().macs));
    res.archHashes.push_back(a.hashHex());
    graphs.push_back(std::move(g));
  }
  // Two passes (A, then B) over all networks; each group interleaved run by run.
  TimingOptions to;
  to.threads = o.threads;
  to.warmup = o.warmup;
  to.runs = o.runs;
  to.burst = o.burst;
  to.perOp = false;
  res.measuredA.assign(graphs.size(), 0);
  res.measuredB.assign(graphs.size(), 0);
  res.rawA.assign(graphs.size(), 0);
  res.rawB.assign(graphs.size(), 0);
  auto cal = store.calibration(device, "f32", o.threads, 1);
  const double probeRef = cal && cal->probeMs ? *cal->probeMs : 0;
  res.driftCorrected = o.driftCorrection && probeRef > 0;
  Rng probeRng(77);
  const runtime::Plan probe = randomWeightPlan(probeGraph(), probeRng);
  Progress progress("validate " + device, int64_t(2 * graphs.size()), o.quiet);
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t g0 = 0; g0 < graphs.size(); g0 += size_t(o.groupSize)) {
      const size_t g1 = std::min(graphs.size(), g0 + size_t(o.groupSize));
      std::vector<runtime::Plan> plans;
      for (size_t i = g0; i < g1; ++i) {
        Rng wr = Rng(o.seed).split(0x77000000u + i);
        plans.push_back(randomWeightPlan(graphs[i], wr));
      }
      plans.push_back(probe);
      auto times = timeInterleaved(plans, to);
      const double probeNow = statistic(times.back().totalMs, o.statistic);
      times.pop_back();
      const double f = res.driftCorrected && probeNow > 0 ? probeRef / probeNow : 1.0;
      res.probeFactors.push_back(f);
      for (size_t j = 0; j < times.size(); ++j) {
        const double raw = statistic(times[j].totalMs, o.statistic);
        (pass == 0 ? res.rawA : res.rawB)[g0 + j] = raw;
        (pass == 0 ? res.measuredA : res.measuredB)[g0 + j] = raw * f;
      }
      progress.set(int64_t(pass * graphs.size() + g1));
    }
  }
  progress.finish();
  int rep5 = 0, rep10 = 0, rawRep5 = 0;
  std::vector<double> spreads;
  for (size_t i = 0; i < graphs.size(); ++i) {
    const double a = res.measuredA[i], b = res.measuredB[i];
    const double mean = 0.5 * (a + b);
    res.measured.push_back(mean);
    const double spread = std::fabs(a - b) / mean;
    spreads.push_back(spread);
    rep5 += spread <= 0.05;
    rep10 += spread <= 0.10;
    const double ra = res.rawA[i], rb = res.rawB[i];
    res.rawMeasured.push_back(0.5 * (ra + rb));
    rawRep5 += std::fabs(ra - rb) / (0.5 * (ra + rb)) <= 0.05;
  }
  res.rawRepeatability = double(rawRep5) / double(graphs.size());
  res.repeatability = double(rep5) / double(graphs.size());
  res.repeatability10 = double(rep10) / double(graphs.size());
  res.medianSpread = median(spreads);
  res.model = accuracyFigures(res.predicted, res.measured);
  if (cal && cal->msPerMflop > 0) {
    res.msPerMflop = cal->msPerMflop;
  } else {
    double sxy = 0, sxx = 0;
    for (size_t i = 0; i < graphs.size(); ++i) sxy += res.mflops[i] * res.measured[i], sxx += res.mflops[i] * res.mflops[i];
    res.msPerMflop = sxx > 0 ? sxy / sxx : 0;
    res.flopsSlopeFromValidation = true;
  }
  for (double m : res.mflops) res.flopsPredicted.push_back(res.msPerMflop * m);
  res.flops = accuracyFigures(res.flopsPredicted, res.measured);
  res.rawModel = accuracyFigures(res.predicted, res.rawMeasured);
  res.rawFlops = accuracyFigures(res.flopsPredicted, res.rawMeasured);
  return res;
}

}  // namespace hwnas
