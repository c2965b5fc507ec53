// search_bench: search efficiency of the nas/ strategies on the NAS-Bench-201 tables (known
// answers), and the engine's throughput. Prints tables, not pass/fail:
//  1. CIFAR-10: mean +- std over seeds of the test accuracy (cifar10_test_acc) of the arch with
//     the best valid_acc found, after 50/75/100/150/300 queries, per strategy.
//  2. Pixel 3 latency budget at the space's median: valid_acc (and test) regret against the
//     exhaustive feasible optimum after 150 queries, and whether any reported arch violates it.
//  3. NSGA-II on Raspberry Pi 4 + FPGA latency, 300 queries: for each device and each budget at
//     the 10/25/50/75/90% latency quantiles, the best front member within the budget against
//     the exhaustive optimum; plain NSGA-II, surrogate-assisted NSGA-II and random sampling of
//     300 archs side by side.
//  4. Engine throughput with the 5-member XGBoost ensemble (guided strategy, large candidate
//     pools): candidates per second per core, counting mutation, dedup, screening table
//     lookups, prediction and the SQLite writes.
// Usage: search_bench [--seeds N] [--nsga-seeds N] [--only cifar|pixel3|nsga|throughput] [--threads T] [--seed-base S]
//                     [--guided '<search: lines>'] [--guided-pixel3 '<...>'] [--guided-only]
//                     [--nsga '<search: lines>'] [--nsga-surrogate '<search: lines>' (empty: skip it)]
//   --guided replaces the guided strategy's search lines (YAML under `search:`, two-space
//   indented), e.g. --guided '  batch: 5\n  guided: {encoding: onehot+path}'.
#include <tbb/global_control.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/fs_util.h"
#include <sys/resource.h>

#include "nas/results_store.h"
#include "predictors/encoding.h"
#include "predictors/predictor.h"
#include "nas/search_engine.h"
#include "nas/search_problem.h"
#include "nas/search_report.h"
#include "search_spaces/nb201_space.h"

using namespace hwnas;

namespace {

const std::string kBase = std::string(HWNAS_SOURCE_DIR) + "/configs/benchmarks";
const std::string kAcc =
    "objective:\n  accuracy: {source: table, path: ../../data/nb201/nb201_cifar10valid_200ep.csv, column: valid_acc, key: index}\n";
const std::string kAccMin = kAcc.substr(0, kAcc.size()) ;
const std::string kLat =
    "latency:\n  source: table\n  tables: [{path: ../../data/nb201/hwnasbench_nb201_cifar10_latency_via_help.csv, key: index}]\n";
const std::string kReport =
    "report:\n  accuracy: {source: table, path: ../../data/nb201/nb201_test_acc_200ep.csv, column: cifar10_test_acc, key: index}\n";

std::string searchBlock(const std::string& strategy, int queries, const std::string& extra) {
  return "search:\n  strategy: " + strategy + "\n  queries: " + std::to_string(queries) + "\n" + extra;
}

std::unique_ptr<SearchProblem> problem(const std::string& body) {
  return SearchProblem::parse("space: ../spaces/nb201.yaml\nseed: 0\n" + body, "<bench>", kBase);
}

struct Stat {
  double mean = 0, sd = 0;
};
Stat stat(const std::vector<double>& v) {
  Stat s;
  if (v.empty()) return s;
  for (double x : v) s.mean += x;
  s.mean /= double(v.size());
  for (double x : v) s.sd += (x - s.mean) * (x - s.mean);
  s.sd = v.size() > 1 ? std::sqrt(s.sd / double(v.size() - 1)) : 0.0;
  return s;
}

// The best feasible queried row among the first `q` counted queries.
std::optional<size_t> bestWithin(const std::vector<QueryRow>& rows, int64_t q) {
  std::optional<size_t> best;
  int64_t n = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].counted) {
      if (n == q) break;
      ++n;
    }
    if (!rows[i].queried || rows[i].violation > 0.0) continue;
    if (!best || rows[i].accuracy > rows[*best].accuracy) best = i;
  }
  return best;
}

double seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct StrategyCase {
  std::string label, strategy, extra;
  int maxQueries;
};

// The guided settings of configs/benchmarks/nb201_pixel3_guided.yaml: a 5-member bootstrap
// ensemble of ridge regressions on one-hot + path + cell-statistics features, fitted on
// max(valid_acc, median of the queried), UCB (beta 0.5)
// over 200 mutations of the 10 best plus 8000 uniform (screened) candidates per ask.
std::string kGuidedExtra =
    "  batch: 5\n  guided: {initial: 10, parents: 10, candidates: 200, random_candidates: 8000, acquisition: ucb, "
    "ucb_beta: 0.5, encoding: onehot+path+cellstats, target: clip, predictor: {kind: ensemble, members: 5, member: {kind: ridge, "
    "alpha: 1.0}}}\n";
std::string kGuidedPixelExtra = kGuidedExtra;
bool kGuidedOnly = false;
// Seeds run are kSeedBase .. kSeedBase + N - 1 (tune settings on other seeds than the reported 0..N-1).
int kSeedBase = 0;
// Chosen on seeds 1000-1049 (--seed-base 1000), not on the reported ones: 0.250 there, vs 0.285
// for {population: 20, crossover_prob: 0.5}.
std::string kNsgaExtra = "  nsga2: {population: 30, offspring: 5, crossover_prob: 0.9}\n";
// Surrogate-assisted NSGA-II (search.nsga2.surrogate), the same NSGA-II settings; empty: not run.
// Chosen on seeds 1000-1049 (0.124 there; docs/search.md lists what else was tried).
std::string kNsgaSurrogateExtra =
    "  nsga2: {population: 30, offspring: 5, crossover_prob: 0.9, surrogate: {candidates: 500, selection: rank_crowding, "
    "beta: 1, target: clip, encoding: onehot+path+cellstats, predictor: {kind: ensemble, members: 5, member: {kind: ridge, "
    "alpha: 1.0}}}}\n";

void cifar(int seeds) {
  std::vector<int> qs = {50, 75, 100, 150, 300};
  std::vector<StrategyCase> cases = {
      {"random", "random", "  batch: 10\n", 300},
      {"evolution (pop 20, tournament 5)", "evolution", "  evolution: {population: 20, sample_size: 5}\n", 300},
      {"local search", "local", "", 300},
      {"guided (ridge x5, ucb)", "guided", kGuidedExtra, 150},
  };
  if (kGuidedOnly) cases.erase(cases.begin(), cases.end() - 1);
  std::printf("\n== NB201 CIFAR-10, unconstrained: cifar10_test_acc of the best valid_acc arch, mean +- std over %d seeds\n",
              seeds);
  std::printf("%-34s", "strategy \\ queries");
  for (int q : qs) std::printf(" %15d", q);
  std::printf("   seconds\n");
  for (const auto& c : cases) {
    auto p = problem(kAcc + searchBlock(c.strategy, c.maxQueries, c.extra) + kReport);
    std::map<int, std::vector<double>> test;
    auto t0 = std::chrono::steady_clock::now();
    for (int s = 0; s < seeds; ++s) {
      p->setSeed(uint64_t(kSeedBase + s));
      SearchEngine e(*p, nullptr);
      SearchOutcome o = e.run();
      for (int q : qs) {
        if (q > c.maxQueries) continue;
        auto b = bestWithin(o.rows, q);
        if (b) test[q].push_back(*p->reportAccuracy(o.rows[*b].arch));
      }
    }
    std::printf("%-34s", c.label.c_str());
    for (int q : qs) {
      if (q > c.maxQueries) {
        std::printf(" %15s", "-");
        continue;
      }
      Stat st = stat(test[q]);
      std::printf("   %6.2f +- %4.2f", st.mean, st.sd);
    }
    std::printf("   %7.1f\n", seconds(t0));
    std::fflush(stdout);
  }
}

// Exhaustive optimum of valid_acc with metric(label) <= budget; returns (valid, test, index).
struct Optimum {
  double valid = -INFINITY, test = NAN;
  int index = -1;
};

void pixel3(int seeds) {
  auto base = problem(kAcc + kLat + searchBlock("random", 10, "") + kReport);
  MetricSpec lat{"latency", "pixel3"};
  std::vector<double> all;
  for (int i = 0; i < Nb201Space::kArchs; ++i) all.push_back(base->metric(lat, Nb201Space::fromIndex(i)));
  std::vector<double> sorted = all;
  std::sort(sorted.begin(), sorted.end());
  double median = sorted.size() % 2 ? sorted[sorted.size() / 2] : 0.5 * (sorted[sorted.size() / 2 - 1] + sorted[sorted.size() / 2]);
  Optimum opt;
  for (int i = 0; i < Nb201Space::kArchs; ++i) {
    if (all[size_t(i)] > median) continue;
    double v = base->accuracy(Nb201Space::fromIndex(i));
    if (v > opt.valid) opt = {v, *base->reportAccuracy(Nb201Space::fromIndex(i)), i};
  }
  int near = 0;
  for (int i = 0; i < Nb201Space::kArchs; ++i)
    if (all[size_t(i)] <= median && base->accuracy(Nb201Space::fromIndex(i)) >= opt.valid - 0.15) ++near;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", median);
  std::printf("\n== NB201 CIFAR-10 under Pixel 3 latency <= %s ms (the space's median), 150 queries, %d seeds\n", buf, seeds);
  std::printf("exhaustive feasible optimum: index %d, valid_acc %.4f, test %.4f (%d feasible archs within 0.15)\n", opt.index,
              opt.valid, opt.test, near);
  std::string cons = "constraints:\n  - {metric: latency, device: pixel3, max: " + std::string(buf) + "}\n";
  std::vector<StrategyCase> cases = {
      {"random (feasible draws)", "random", "  batch: 10\n", 150},
      {"evolution (redraws infeasible)", "evolution", "  evolution: {population: 20, sample_size: 5}\n", 150},
      {"guided (ridge x5, ucb)", "guided", kGuidedPixelExtra, 150},
  };
  if (kGuidedOnly) cases.erase(cases.begin(), cases.end() - 1);
  std::printf("%-34s %22s %22s %10s %9s\n", "strategy", "valid regret", "test regret", "violations", "seconds");
  for (const auto& c : cases) {
    auto p = problem(kAcc + kLat + cons + searchBlock(c.strategy, c.maxQueries, c.extra) + kReport);
    std::vector<double> rv, rt;
    int violations = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (int s = 0; s < seeds; ++s) {
      p->setSeed(uint64_t(kSeedBase + s));
      SearchEngine e(*p, nullptr);
      SearchOutcome o = e.run();
      if (!o.best) continue;
      const auto& r = o.rows[*o.best];
      if (p->metric(lat, r.arch) > median) ++violations;
      rv.push_back(opt.valid - r.accuracy);
      rt.push_back(opt.test - *p->reportAccuracy(r.arch));
    }
    Stat a = stat(rv), b = stat(rt);
    std::printf("%-34s %13.3f +- %5.3f %13.3f +- %5.3f %10d %9.1f\n", c.label.c_str(), a.mean, a.sd, b.mean, b.sd, violations,
                seconds(t0));
    std::fflush(stdout);
  }
}

void nsga(int seeds) {
  const std::string objs = kAcc + "  minimize:\n    - {metric: latency, device: raspi4}\n    - {metric: latency, device: fpga}\n";
  auto p = problem(objs + kLat + searchBlock("nsga2", 300, kNsgaExtra) + kReport);
  std::vector<std::string> devs = {"raspi4", "fpga"};
  std::vector<double> quant = {0.10, 0.25, 0.50, 0.75, 0.90};
  std::vector<double> valid(Nb201Space::kArchs);
  std::vector<std::vector<double>> lat(devs.size(), std::vector<double>(Nb201Space::kArchs));
  for (int i = 0; i < Nb201Space::kArchs; ++i) {
    ArchConfig a = Nb201Space::fromIndex(i);
    valid[size_t(i)] = p->accuracy(a);
    for (size_t d = 0; d < devs.size(); ++d) lat[d][size_t(i)] = p->metric(MetricSpec{"latency", devs[d]}, a);
  }
  // budgets and exhaustive optima
  std::vector<std::vector<double>> budget(devs.size()), optimum(devs.size());
  for (size_t d = 0; d < devs.size(); ++d) {
    std::vector<double> s = lat[d];
    std::sort(s.begin(), s.end());
    for (double q : quant) {
      double b = s[size_t(std::lround(q * double(s.size() - 1)))];
      double best = -INFINITY;
      for (int i = 0; i < Nb201Space::kArchs; ++i)
        if (lat[d][size_t(i)] <= b) best = std::max(best, valid[size_t(i)]);
      budget[d].push_back(b);
      optimum[d].push_back(best);
    }
  }
  // Runs: plain NSGA-II, surrogate-assisted NSGA-II and random sampling of 300 distinct archs;
  // each variant's fronts against the same budgets.
  struct Variant {
    std::string label;
    std::unique_ptr<SearchProblem> problem;
    std::vector<std::vector<std::vector<double>>> reg;
    double seconds = 0.0;
  };
  std::vector<Variant> vs;
  vs.push_back({"nsga2", std::move(p), {}, 0.0});
  if (!kNsgaSurrogateExtra.empty())
    vs.push_back({"nsga2+surrogate", problem(objs + kLat + searchBlock("nsga2", 300, kNsgaSurrogateExtra) + kReport), {}, 0.0});
  vs.push_back({"random", problem(objs + kLat + searchBlock("random", 300, "  batch: 50\n") + kReport), {}, 0.0});
  for (auto& v : vs) v.reg.assign(devs.size(), std::vector<std::vector<double>>(quant.size()));
  auto t0 = std::chrono::steady_clock::now();
  for (int s = 0; s < seeds; ++s) {
    for (auto& v : vs) {
      SearchProblem& q = *v.problem;
      auto t1 = std::chrono::steady_clock::now();
      q.setSeed(uint64_t(kSeedBase + s));
      SearchEngine e(q, nullptr);
      SearchOutcome o = e.run();
      v.seconds += seconds(t1);
      auto front = paretoFront(o.rows, paretoAxes(q));
      for (size_t d = 0; d < devs.size(); ++d)
        for (size_t k = 0; k < quant.size(); ++k) {
          double best = -INFINITY;
          for (size_t i : front)
            if (o.rows[i].metrics.at("latency_" + devs[d] + "_ms").get<double>() <= budget[d][k])
              best = std::max(best, o.rows[i].accuracy);
          double reg = std::isfinite(best) ? optimum[d][k] - best : optimum[d][k];  // nothing within budget: full regret
          v.reg[d][k].push_back(reg);
        }
    }
  }
  auto flow = [](const std::string& extra) { return extra.substr(9, extra.size() - 10); };
  std::printf("\n== NSGA-II on Raspberry Pi 4 + FPGA latency, 300 queries, %d seeds (from %d): valid_acc regret of the best\n"
              "   front member within each budget against the exhaustive optimum (random: 300 random archs' front)\n"
              "   nsga2: %s\n",
              seeds, kSeedBase, flow(kNsgaExtra).c_str());
  if (!kNsgaSurrogateExtra.empty()) std::printf("   nsga2+surrogate: %s\n", flow(kNsgaSurrogateExtra).c_str());
  std::printf("%-8s %-6s %12s %12s", "device", "quant", "budget ms", "optimum");
  for (const auto& v : vs) std::printf(" %20s", (v.label + " regret").c_str());
  std::printf("\n");
  std::vector<double> sum(vs.size(), 0.0);
  int cnt = 0;
  for (size_t d = 0; d < devs.size(); ++d)
    for (size_t k = 0; k < quant.size(); ++k) {
      std::printf("%-8s %5.0f%% %12.4f %12.4f", devs[d].c_str(), quant[k] * 100, budget[d][k], optimum[d][k]);
      for (size_t j = 0; j < vs.size(); ++j) {
        Stat a = stat(vs[j].reg[d][k]);
        std::printf(" %13.3f +- %4.2f", a.mean, a.sd);
        sum[j] += a.mean;
      }
      std::printf("\n");
      ++cnt;
    }
  std::printf("mean over devices and quantiles:");
  for (size_t j = 0; j < vs.size(); ++j)
    std::printf(" %s %.3f (%.1f s)%s", vs[j].label.c_str(), sum[j] / cnt, vs[j].seconds, j + 1 < vs.size() ? "," : "");
  std::printf("  [total %.1f s]\n", seconds(t0));
  std::fflush(stdout);
}

double cpuSeconds() {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

void throughput(int threads, const std::string& encoding) {
  // The guided search of the Pixel 3 config, with the 5-member XGBoost ensemble as predictor,
  // persisted to a real search.db: per ask, 200 mutations of the 10 best and 8000 uniform
  // draws, deduplicated against the run and the pool, screened by the Pixel 3 table, encoded,
  // predicted in one batch, ranked by UCB.
  const Json xgb = {{"kind", "ensemble"}, {"members", 5}, {"bootstrap", true},
                    {"member", {{"kind", "xgboost"}, {"rounds", 200}, {"max_depth", 6}, {"eta", 0.1}, {"nthread", 1}}}};
  std::string extra = "  batch: 5\n  guided: {initial: 10, parents: 10, candidates: 200, random_candidates: 8000, acquisition: ucb, "
                      "ucb_beta: 0.5, encoding: " + encoding + ", target: clip, predictor: " + xgb.dump() + "}\n";
  auto p = problem(kAcc + kLat + "constraints:\n  - {metric: latency, device: pixel3, max: 10.6756}\n" +
                   searchBlock("guided", 150, extra));
  TempDir tmp;
  ResultsStore store(tmp.file("search.db"));
  RunInfo ri{p->configHash(), p->resolved(), p->space().spaceId(), "guided", "running", 0, 150};
  store.startRun(ri);
  auto t0 = std::chrono::steady_clock::now();
  double c0 = cpuSeconds();
  SearchEngine e(*p, &store);
  SearchOutcome o = e.run();
  double sec = seconds(t0), cpu = cpuSeconds() - c0;
  StepInfo last = store.lastStep();
  int64_t scored = last.state.at("candidates_scored").get<int64_t>();
  // Where the time goes: one fit on 150 archs and one batched prediction of 8000.
  auto enc = makeEncoder(p->space(), encoding);
  std::vector<ArchConfig> train, pool;
  std::vector<double> y;
  Rng rng(7);
  for (int i = 0; i < 150; ++i) {
    train.push_back(p->space().sample(rng));
    y.push_back(p->accuracy(train.back()));
  }
  for (int i = 0; i < 8000; ++i) pool.push_back(p->space().sample(rng));
  auto pred = makePredictor(xgb);
  double f0 = cpuSeconds();
  pred->fit(enc->encodeBatch(train), y, rng);
  double fitCpu = cpuSeconds() - f0;
  f0 = cpuSeconds();
  FeatureMatrix x = enc->encodeBatch(pool);
  double encCpu = cpuSeconds() - f0;
  f0 = cpuSeconds();
  auto pr = pred->predict(x);
  double predCpu = cpuSeconds() - f0;
  std::printf("\n== engine throughput: the Pixel 3 guided search with a 5-member XGBoost ensemble (200 rounds, depth 6,\n"
              "   nthread 1) as predictor on %s features, 150 queries, SQLite store, %d thread(s)\n",
              encoding.c_str(), threads);
  std::printf("%lld candidates scored + %lld proposals told over %lld steps: wall %.2f s, cpu %.2f s\n", (long long)scored,
              (long long)o.proposals, (long long)o.steps, sec, cpu);
  std::printf("candidates/s/core: %.0f (cpu time), %.0f (wall, shared machine)\n", double(scored + o.proposals) / cpu,
              double(scored + o.proposals) / sec / threads);
  double fitWall = o.strategyStats.value("fit_seconds", 0.0), predWall = o.strategyStats.value("predict_seconds", 0.0);
  std::printf("in the run (cpu): %d ensemble fits %.2f s, encoding + batched prediction %.2f s; without the fits: %.0f "
              "candidates/s/core (mutation, dedup, screening lookups, encoding, prediction, SQLite writes)\n",
              o.strategyStats.value("fits", 0), fitWall, predWall, double(scored + o.proposals) / std::max(cpu - fitWall, 1e-9) / threads);
  std::printf("parts (cpu): one ensemble fit on 150 archs %.3f s; encoding 8000 archs %.3f s; predicting 8000 %.3f s (%.0f/s)\n",
              fitCpu, encCpu, predCpu, 8000 / std::max(predCpu, 1e-9));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  int seeds = 50, nsgaSeeds = 20, threads = 1;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--seeds" && i + 1 < argc) seeds = std::atoi(argv[++i]);
    else if (a == "--nsga-seeds" && i + 1 < argc) nsgaSeeds = std::atoi(argv[++i]);
    else if (a == "--only" && i + 1 < argc) only = argv[++i];
    else if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (a == "--seed-base" && i + 1 < argc) kSeedBase = std::atoi(argv[++i]);
    else if (a == "--guided" && i + 1 < argc) kGuidedExtra = kGuidedPixelExtra = std::string(argv[++i]) + "\n";
    else if (a == "--guided-pixel3" && i + 1 < argc) kGuidedPixelExtra = std::string(argv[++i]) + "\n";
    else if (a == "--guided-only") kGuidedOnly = true;
    else if (a == "--nsga" && i + 1 < argc) kNsgaExtra = std::string(argv[++i]) + "\n";
    else if (a == "--nsga-surrogate" && i + 1 < argc) {
      kNsgaSurrogateExtra = argv[++i];
      if (!kNsgaSurrogateExtra.empty()) kNsgaSurrogateExtra += "\n";
    }
    else {
      std::fprintf(stderr, "usage: search_bench [--seeds N] [--nsga-seeds N] [--only cifar|pixel3|nsga|throughput] [--threads T] [--seed-base S]\n");
      return 2;
    }
  }
  tbb::global_control tc(tbb::global_control::max_allowed_parallelism, size_t(std::max(1, threads)));
  try {
    if (only.empty() || only == "cifar") cifar(seeds);
    if (only.empty() || only == "pixel3") pixel3(seeds);
    if (only.empty() || only == "nsga") nsga(nsgaSeeds);
    if (only.empty() || only == "throughput") {
      throughput(std::max(1, threads), "onehot+path+cellstats");
      throughput(std::max(1, threads), "onehot");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "search_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
