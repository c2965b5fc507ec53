#include "latency_luts/profiler.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <set>

#include <sys/resource.h>

#include "core/error.h"
#include "core/log.h"
#include "core/lower.h"
#include "runtime/executor.h"
#include "search_spaces/mbconv_space.h"

namespace hwnas {

namespace rt = runtime;

PlanOpCost planOpCost(const rt::Plan& plan, size_t i) {
  const rt::PlanOp& op = plan.ops.at(i);
  const auto& out = plan.tensors[op.output].shape;
  const auto& in = plan.tensors[op.inputs[0]].shape;
  const int64_t outElems = rt::shapeElements(out);
  PlanOpCost c;
  for (int32_t t : op.inputs) c.activationBytes += 4 * rt::shapeElements(plan.tensors[t].shape);
  c.activationBytes += 4 * outElems;
  int64_t weights = 0;
  switch (op.type) {
    case rt::OpType::Conv2d: {
      const int64_t per = (in[1] / op.groups) * op.kernelH * op.kernelW;
      c.macs = outElems * per;
      weights = op.outChannels * per + op.outChannels;
      break;
    }
    case rt::OpType::DepthwiseConv2d:
      c.macs = outElems * op.kernelH * op.kernelW;
      weights = in[1] * op.kernelH * op.kernelW + in[1];
      break;
    case rt::OpType::Linear: {
      const int64_t f = rt::shapeElements(in) / in[0];
      c.macs = in[0] * f * op.outChannels;
      weights = f * op.outChannels + op.outChannels;
      break;
    }
    case rt::OpType::SqueezeExcite: {
      const int64_t ch = in[1], r = op.outChannels;
      c.macs = in[0] * 2 * ch * r;
      weights = 2 * ch * r + ch + r;
      break;
    }
    default: break;
  }
  c.weightBytes = 4 * weights;
  c.bytes = c.activationBytes + c.weightBytes;
  return c;
}

namespace {

std::vector<float> randomValues(size_t n, double scale, Rng& rng) {
  std::vector<float> v(n);
  for (auto& x : v) x = float(rng.uniform(-scale, scale));
  return v;
}

}  // namespace

rt::Plan randomWeightPlan(const Graph& g, Rng& rng) {
  rt::Plan p = lowerStructure(g);
  for (auto& op : p.ops) {
    const auto& in = p.tensors[op.inputs[0]].shape;
    // Uniform(-a, a) has variance a^2/3: a = sqrt(3 / fanIn) keeps unit variance.
    auto scaleFor = [](int64_t fanIn) { return std::sqrt(3.0 / double(std::max<int64_t>(1, fanIn))); };
    switch (op.type) {
      case rt::OpType::Conv2d: {
        const int64_t per = (in[1] / op.groups) * op.kernelH * op.kernelW;
        op.weight = randomValues(size_t(op.outChannels * per), scaleFor(per), rng);
        op.bias = randomValues(size_t(op.outChannels), 0.1, rng);
        break;
      }
      case rt::OpType::DepthwiseConv2d: {
        const int64_t kk = int64_t(op.kernelH) * op.kernelW;
        op.weight = randomValues(size_t(in[1] * kk), scaleFor(kk), rng);
        op.bias = randomValues(size_t(in[1]), 0.1, rng);
        break;
      }
      case rt::OpType::Linear: {
        const int64_t f = rt::shapeElements(in) / in[0];
        op.weight = randomValues(size_t(op.outChannels * f), scaleFor(f), rng);
        op.bias = randomValues(size_t(op.outChannels), 0.1, rng);
        break;
      }
      case rt::OpType::SqueezeExcite: {
        const int64_t c = in[1], r = op.outChannels;
        op.weight = randomValues(size_t(r * c), scaleFor(c), rng);
        op.bias = randomValues(size_t(r), 0.1, rng);
        op.weight2 = randomValues(size_t(c * r), scaleFor(r), rng);
        op.bias2 = randomValues(size_t(c), 0.1, rng);
        break;
      }
      default: break;
    }
  }
  p.validate("profiler");
  return p;
}

ArchConfig restrictResolution(const SearchSpace& space, ArchConfig arch, const std::vector<int>& resolutions,
                              Rng& rng) {
  if (resolutions.empty()) return arch;
  const auto* mb = dynamic_cast<const MbconvSpace*>(&space);
  if (!mb) throw InputError("--resolution applies to mbconv spaces only; '" + space.name() + "' is " + space.kind());
  for (int r : resolutions)
    if (std::find(mb->resolutions().begin(), mb->resolutions().end(), r) == mb->resolutions().end()) {
      std::string have;
      for (int x : mb->resolutions()) have += (have.empty() ? "" : ", ") + std::to_string(x);
      throw InputError("--resolution " + std::to_string(r) + " is not a resolution of space '" + space.name() +
                       "' (it has " + have + ")");
    }
  const int r = resolutions[rng.uniformInt(resolutions.size())];
  Json j = arch.json();
  if (mb->resolutions().size() > 1) j["resolution"] = r;
  ArchConfig out(j);
  space.validate(out);
  return out;
}

std::vector<NetworkTimes> timeInterleaved(const std::vector<rt::Plan>& plans, const TimingOptions& o) {
  using Clock = std::chrono::steady_clock;
  std::vector<std::unique_ptr<rt::Executor>> ex;
  std::vector<std::vector<float>> inputs, outputs;
  std::vector<NetworkTimes> times(plans.size());
  Rng rng(12345);
  for (size_t i = 0; i < plans.size(); ++i) {
    rt::ExecutorOptions eo;
    eo.threads = o.threads;
    ex.push_back(std::make_unique<rt::Executor>(plans[i], eo));
    inputs.push_back(randomValues(size_t(rt::shapeElements(ex.back()->inputShape())), 1.0, rng));
    outputs.emplace_back(size_t(rt::shapeElements(ex.back()->outputShape())));
    for (const auto& op : plans[i].ops) times[i].keys.push_back(op.key);
  }
  std::vector<int64_t> ns;
  const int burst = std::max(1, o.burst);
  auto switches = [] {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_nivcsw;
  };
  auto once = [&](size_t i, bool timed) {
    ex[i]->setOpTimer(timed && o.perOp ? &ns : nullptr);
    Clock::time_point t0, t1;
    for (int attempt = 0;; ++attempt) {
      const long before = timed ? switches() : 0;
      t0 = Clock::now();
      ex[i]->run({inputs[i].data()}, {outputs[i].data()});
      t1 = Clock::now();
      if (!timed || attempt >= o.preemptRetries || switches() == before) break;
      ++times[i].rejected;
    }
    if (!timed) return;
    times[i].totalMs.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    if (o.perOp) {
      std::vector<double> ms(ns.size());
      for (size_t k = 0; k < ns.size(); ++k) ms[k] = double(ns[k]) * 1e-6;
      times[i].opMs.push_back(std::move(ms));
    }
  };
  for (size_t i = 0; i < ex.size(); ++i)
    for (int w = 0; w < o.warmup; ++w) once(i, false);
  for (int done = 0; done < o.runs; done += burst) {
    const int n = std::min(burst, o.runs - done);
    for (size_t i = 0; i < ex.size(); ++i) {
      once(i, false);
      for (int b = 0; b < n; ++b) once(i, true);
    }
  }
  return times;
}

std::vector<double> fastestRunOpMs(const NetworkTimes& t, int n) {
  if (t.opMs.empty() || t.opMs.size() != t.totalMs.size()) return {};
  std::vector<size_t> order(t.totalMs.size());
  for (size_t r = 0; r < order.size(); ++r) order[r] = r;
  // Stable: equal totals keep run order, so the choice is deterministic given the timings.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return t.totalMs[a] < t.totalMs[b]; });
  const size_t take = std::min(order.size(), size_t(std::max(1, n)));
  std::vector<double> ms(t.opMs[order[0]].size(), 0.0);
  for (size_t i = 0; i < take; ++i)
    for (size_t k = 0; k < ms.size(); ++k) ms[k] += t.opMs[order[i]][k];
  for (double& v : ms) v /= double(take);
  return ms;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t rank = size_t(std::ceil(p * double(v.size())));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

Graph probeGraph() {
  Graph g;
  int x = g.addInput("probe_input", {1, 3, 96, 96});
  auto convBnAct = [&](const std::string& n, int in, int64_t out, int k, int s, int64_t groups, ActKind act) {
    int c = g.addConv2d(n, in, out, k, s, -1, groups);
    c = g.addBatchNorm(n + ".bn", c);
    return act == ActKind::Identity ? c : g.addAct(n + ".act", c, act);
  };
  x = convBnAct("stem", x, 16, 3, 2, 1, ActKind::HSwish);
  const int64_t widths[] = {24, 40, 80};
  int64_t c = 16;
  for (int i = 0; i < 3; ++i) {
    int e = convBnAct("b" + std::to_string(i) + ".expand", x, c * 4, 1, 1, 1, ActKind::Relu);
    e = convBnAct("b" + std::to_string(i) + ".dw", e, c * 4, 5, 2, c * 4, ActKind::Relu);
    x = convBnAct("b" + std::to_string(i) + ".project", e, widths[i], 1, 1, 1, ActKind::Identity);
    c = widths[i];
  }
  x = g.addGlobalAvgPool("pool", x);
  x = g.addFlatten("flatten", x);
  g.addLinear("fc", x, 100);
  return g;
}

void checkStatistic(const std::string& name) {
  if (name != "min" && name != "median") throw InputError("unknown statistic '" + name + "'; use min or median");
}

double statistic(const std::vector<double>& v, const std::string& name) {
  checkStatistic(name);
  if (v.empty()) return 0;
  return name == "min" ? *std::min_element(v.begin(), v.end()) : median(v);
}

std::vector<ArchConfig> coveringArchs(const SearchSpace& space, const CoverageOptions& o,
                                      const std::function<bool(const std::string&)>& wanted) {
  Rng rng(o.seed);
  std::map<std::string, int> cover;
  std::vector<ArchConfig> picked;
  int stale = 0;
  for (int n = 0; n < o.samples && stale < 3; ++n) {
    int best = -1;
    ArchConfig bestArch;
    for (int c = 0; c < o.candidates; ++c) {
      Rng r = rng.split(uint64_t(n) * 1000003u + uint64_t(c));
      ArchConfig a = restrictResolution(space, space.sample(r), o.resolutions, r);
      int gain = 0;
      std::set<std::string> uniq;
      for (const auto& k : opKeys(space.toGraph(a))) uniq.insert(k);
      for (const auto& k : uniq) {
        auto it = cover.find(k);
        if (wanted(k) && (it == cover.end() || it->second < o.minCoverage)) ++gain;
      }
      if (gain > best) best = gain, bestArch = a;
    }
    if (best <= 0) {
      ++stale;
      continue;
    }
    stale = 0;
    std::set<std::string> uniq;
    for (const auto& k : opKeys(space.toGraph(bestArch))) uniq.insert(k);
    for (const auto& k : uniq) ++cover[k];
    picked.push_back(bestArch);
  }
  if (!o.complete) return picked;
  std::vector<ArchConfig> pool;
  try {
    pool = space.keyCoveringArchs();
  } catch (const InputError&) {
    return picked;  // neither a structural cover nor enumerable
  }
  // Per cover network: its wanted keys that no picked network holds.
  std::vector<ArchConfig> cands;
  std::vector<std::set<std::string>> missing;
  for (ArchConfig& a : pool) {
    const Json& j = a.json();
    if (!o.resolutions.empty() && j.contains("resolution") &&
        std::find(o.resolutions.begin(), o.resolutions.end(), j["resolution"].get<int>()) == o.resolutions.end())
      continue;
    std::set<std::string> m;
    for (const auto& k : opKeys(space.toGraph(a)))
      if (wanted(k) && !cover.count(k)) m.insert(k);
    if (m.empty()) continue;
    cands.push_back(std::move(a));
    missing.push_back(std::move(m));
  }
  while (true) {
    size_t best = 0, bestGain = 0;
    for (size_t i = 0; i < cands.size(); ++i)
      if (missing[i].size() > bestGain) best = i, bestGain = missing[i].size();
    if (bestGain == 0) break;
    const std::set<std::string> taken = missing[best];
    picked.push_back(cands[best]);
    for (auto& m : missing)
      for (const auto& k : taken) m.erase(k);
  }
  return picked;
}

ProfileReport profileSpace(const SearchSpace& space, LatencyStore& store, const ProfileOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  store.requireDevice(o.device);
  checkStatistic(o.statistic);
  if (o.samples < 1 || o.runs < 3 || o.groupSize < 1 || o.threads < 1 || o.candidates < 1)
    throw InputError("profile: samples, groupSize, threads and candidates must be >= 1 and runs >= 3");
  const std::string dtype = "f32";
  const auto existing = store.table(o.device, KeyLevel::Op, dtype, o.threads, 1);

  // 1. Pick networks greedily (coveringArchs): keys neither in the store (unless remeasuring)
  // nor yet held by minCoverage picked networks.
  CoverageOptions co;
  co.samples = o.samples;
  co.candidates = o.candidates;
  co.minCoverage = o.minCoverage;
  co.seed = o.seed;
  co.resolutions = o.resolutions;
  co.complete = o.complete;
  const std::vector<ArchConfig> picked =
      coveringArchs(space, co, [&](const std::string& k) { return o.remeasure || !existing.count(k); });
  std::map<std::string, int> cover;
  std::vector<Graph> graphs;
  for (const auto& a : picked) {
    Graph g = space.toGraph(a);
    std::set<std::string> uniq;
    for (const auto& k : opKeys(g)) uniq.insert(k);
    for (const auto& k : uniq) ++cover[k];
    graphs.push_back(std::move(g));
  }

  ProfileReport rep;
  rep.networks = int(picked.size());
  rep.keysSeen = int64_t(cover.size());
  if (picked.empty()) {
    rep.keysSkipped = rep.keysSeen;
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return rep;
  }

  // 2. Time them in groups, interleaved run by run.
  std::map<std::string, std::vector<double>> samples;
  std::map<std::string, PlanOpCost> costs;
  std::vector<double> totals(picked.size()), rawTotals;
  std::vector<std::vector<double>> runTotals(picked.size());
  std::vector<std::vector<std::string>> netKeys(picked.size());
  std::vector<double> mflops(picked.size());
  Rng probeRng(77);
  const rt::Plan probe = randomWeightPlan(probeGraph(), probeRng);
  std::vector<double> probeTimes;                 // per group
  std::vector<std::vector<NetworkTimes>> groupTimes;
  Progress progress("profile " + o.device, int64_t(picked.size()), o.quiet);
  TimingOptions to;
  to.threads = o.threads;
  to.warmup = o.warmup;
  to.runs = o.runs;
  to.burst = o.burst;
  for (size_t g0 = 0; g0 < picked.size(); g0 += size_t(o.groupSize)) {
    const size_t g1 = std::min(picked.size(), g0 + size_t(o.groupSize));
    std::vector<rt::Plan> plans;
    for (size_t i = g0; i < g1; ++i) {
      Rng wr = Rng(o.seed).split(0x5eed0000u + i);
      plans.push_back(randomWeightPlan(graphs[i], wr));
      const rt::Plan& p = plans.back();
      for (size_t k = 0; k < p.ops.size(); ++k)
        if (!costs.count(p.ops[k].key)) costs[p.ops[k].key] = planOpCost(p, k);
      mflops[i] = 2e-6 * double(graphs[i].cost().macs);
    }
    plans.push_back(probe);
    auto times = timeInterleaved(plans, to);
    probeTimes.push_back(statistic(times.back().totalMs, o.statistic));
    times.pop_back();
    groupTimes.push_back(std::move(times));
    progress.set(int64_t(g1));
  }
  progress.finish();
  // Scale every group to the probe's median speed, then pool the samples.
  const double probeRef = median(probeTimes);
  std::map<std::string, std::vector<double>> fastest;  // per key: its times in its networks' fastest runs
  for (size_t gi = 0; gi < groupTimes.size(); ++gi) {
    const double f = o.driftCorrection && probeTimes[gi] > 0 ? probeRef / probeTimes[gi] : 1.0;
    const size_t g0 = gi * size_t(o.groupSize);
    for (size_t j = 0; j < groupTimes[gi].size(); ++j) {
      NetworkTimes& t = groupTimes[gi][j];
      for (const auto& run : t.opMs)
        for (size_t k = 0; k < run.size(); ++k) samples[t.keys[k]].push_back(run[k] * f);
      const std::vector<double> best = fastestRunOpMs(t, kFastestRuns);
      for (size_t k = 0; k < best.size(); ++k) fastest[t.keys[k]].push_back(best[k] * f);
      for (double& v : t.totalMs) v *= f;
      totals[g0 + j] = statistic(t.totalMs, o.statistic);
      runTotals[g0 + j] = t.totalMs;
      netKeys[g0 + j] = t.keys;
    }
  }

  // 3. Rows: op keys (statistic min: the median over the networks holding the key of its time in
  // their fastest runs; median: the median of all its samples), the networks, calibration.
  const std::string origin =
      "profile " + space.spaceId() + " seed " + std::to_string(o.seed) + " statistic " + o.statistic;
  std::vector<Measurement> rows;
  std::map<std::string, double> table;
  for (const auto& [key, v] : samples) {
    Measurement m;
    m.device = o.device;
    m.level = KeyLevel::Op;
    m.key = key;
    m.dtype = dtype;
    m.threads = o.threads;
    m.batch = 1;
    m.medianMs = median(v);
    m.minMs = *std::min_element(v.begin(), v.end());
    m.p90Ms = percentile(v, 0.9);
    m.latencyMs = o.statistic == "min" ? median(fastest[key]) : median(v);
    m.repeats = int64_t(v.size());
    m.source = Source::Profiled;
    m.origin = origin;
    m.macs = costs[key].macs;
    m.bytes = costs[key].bytes;
    table[key] = m.latencyMs;
    if (!o.remeasure && existing.count(key)) {
      ++rep.keysSkipped;
      table[key] = existing.at(key).latencyMs;
      continue;
    }
    rows.push_back(std::move(m));
  }
  rep.keysWritten = int64_t(rows.size());
  std::vector<double> overheads;
  double sxy = 0, sxx = 0;
  for (size_t i = 0; i < picked.size(); ++i) {
    double sum = 0;
    for (const auto& k : netKeys[i]) sum += table[k];
    overheads.push_back(totals[i] - sum);
    sxy += mflops[i] * totals[i];
    sxx += mflops[i] * mflops[i];
    Measurement m;
    m.device = o.device;
    m.level = KeyLevel::Arch;
    m.spaceId = space.spaceId();
    m.archHash = picked[i].hashHex();
    m.key = archKey(m.spaceId, m.archHash);
    m.dtype = dtype;
    m.threads = o.threads;
    m.batch = 1;
    m.medianMs = median(runTotals[i]);
    m.minMs = *std::min_element(runTotals[i].begin(), runTotals[i].end());
    m.p90Ms = percentile(runTotals[i], 0.9);
    m.latencyMs = totals[i];
    m.repeats = int64_t(runTotals[i].size());
    m.source = Source::Profiled;
    m.origin = origin + " (whole network, per-op timer on)";
    m.macs = int64_t(mflops[i] * 5e5 + 0.5);
    rows.push_back(std::move(m));
  }
  store.put(rows);
  Calibration cal;
  cal.device = o.device;
  cal.dtype = dtype;
  cal.threads = o.threads;
  cal.batch = 1;
  cal.overheadMs = median(overheads);
  cal.msPerMflop = sxx > 0 ? sxy / sxx : 0;
  cal.networks = int(picked.size());
  cal.probeMs = probeRef;
  cal.origin = origin;
  store.setCalibration(cal);
  rep.overheadMs = cal.overheadMs;
  rep.msPerMflop = cal.msPerMflop;
  rep.probeMs = probeRef;
  if (probeRef > 0)
    rep.probeSpread = (*std::max_element(probeTimes.begin(), probeTimes.end()) -
                       *std::min_element(probeTimes.begin(), probeTimes.end())) / probeRef;
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return rep;
}

}  // namespace hwnas
