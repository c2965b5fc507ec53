// Accuracy-predictor quality on NAS-Bench-201 CIFAR-10 valid accuracy
// (data/nb201/nb201_cifar10valid_200ep.csv): for each seed, 2,000 random archs are held out and
// the training archs (the first n of the rest, n = 50/100/200/1000) come from the others; each
// predictor is fitted on the training archs only and scored on the held-out ones (Kendall tau-b
// and Spearman, mean ± std over seeds). Hyperparameters are fixed in this file (see --tune for
// how they were chosen: cross-validation inside the training archs of seeds 1000+, never on
// held-out archs). Then the ensembles' 90%-interval coverage (raw, and with a stddev scale fitted
// by 5-fold cross-calibration inside the training archs) and the batched prediction speed of a 5-model XGBoost
// ensemble against a single XGBoost model, measured in the same run on one thread.
// Usage: predictor_bench [--seeds 10] [--sizes 50,100,200,1000] [--only name,name] [--tune]
//                        [--threads 1] [--speed-only]
#include <tbb/global_control.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/rng.h"
#include "predictors/calibration.h"
#include "predictors/encoding.h"
#include "predictors/metrics.h"
#include "predictors/models.h"
#include "search_spaces/nb201_space.h"

using namespace hwnas;
using Clock = std::chrono::steady_clock;

namespace {

std::vector<double> loadValidAcc() {
  const std::string path = std::string(HWNAS_SOURCE_DIR) + "/data/nb201/nb201_cifar10valid_200ep.csv";
  std::ifstream f(path);
  if (!f) {
    std::fprintf(stderr, "predictor_bench: cannot open %s\n", path.c_str());
    std::exit(1);
  }
  std::string line;
  std::getline(f, line);
  std::vector<std::string> head;
  std::stringstream hs(line);
  for (std::string c; std::getline(hs, c, ',');) head.push_back(c);
  const size_t col = std::find(head.begin(), head.end(), "valid_acc") - head.begin();
  std::vector<double> acc(Nb201Space::kArchs, 0);
  while (std::getline(f, line)) {
    std::stringstream ss(line);
    std::vector<std::string> cells;
    for (std::string c; std::getline(ss, c, ',');) cells.push_back(c);
    acc.at(std::stoi(cells.at(0))) = std::stod(cells.at(col));
  }
  return acc;
}

struct Config {
  std::string name, encoder;
  Json spec;
};

// The predictors compared. Choices fixed from a --tune run (--seeds 2 --sizes 200,1000: 5-fold
// CV inside the training archs of seeds 1000-1001): XGBoost depth 4 with 800 rounds (CV tau
// 0.745 / 0.835 on onehot+path+cellstats; depth 6: 0.729 / 0.852), MLP 128x128, 200 epochs,
// weight decay 1e-2 (0.668 / 0.814; 400 epochs gained <= 0.008 at twice the cost), ridge
// alpha 10 on the combined encoding (0.627 / 0.702). ridge-onehot keeps alpha 1, the reference.
std::vector<Config> configs() {
  const Json xgb = {{"kind", "xgboost"}, {"rounds", 800}, {"max_depth", 4}, {"eta", 0.05},
                    {"subsample", 0.8},  {"colsample", 0.7}, {"min_child_weight", 2}};
  const Json mlp = {{"kind", "mlp"}, {"hidden", {128, 128}}, {"epochs", 200}, {"lr", 0.003},
                    {"weight_decay", 1e-2}, {"batch", 32}};
  const std::string all = "onehot+path+cellstats";
  return {
      {"ridge-onehot", "onehot", {{"kind", "ridge"}, {"alpha", 1.0}}},
      {"ridge-all", all, {{"kind", "ridge"}, {"alpha", 10.0}}},
      {"xgb-onehot", "onehot", xgb},
      {"xgb-adjacency", "adjacency", xgb},
      {"xgb-path", "path", xgb},
      {"xgb-all", all, xgb},
      {"mlp-onehot", "onehot", mlp},
      {"mlp-all", all, mlp},
      {"ens5-xgb-all", all, {{"kind", "ensemble"}, {"members", 5}, {"member", xgb}}},
      {"ens5-mlp-all", all, {{"kind", "ensemble"}, {"members", 5}, {"member", mlp}}},
  };
}

// The candidates --tune compares (cross-validated inside training archs only).
std::vector<Config> tuneConfigs() {
  std::vector<Config> out;
  const std::string enc = "onehot+path+cellstats";
  for (int depth : {3, 4, 6})
    for (int rounds : {200, 400, 800})
      out.push_back({"xgb-d" + std::to_string(depth) + "-r" + std::to_string(rounds), enc,
                     {{"kind", "xgboost"}, {"rounds", rounds}, {"max_depth", depth}, {"eta", 0.05},
                      {"subsample", 0.8}, {"colsample", 0.7}, {"min_child_weight", 2}}});
  for (int width : {64, 128})
    for (int epochs : {100, 200, 400})
      for (double wd : {1e-3, 1e-2})
        out.push_back({"mlp-" + std::to_string(width) + "x2-e" + std::to_string(epochs) + "-wd" + (wd < 5e-3 ? "1e-3" : "1e-2"),
                       enc,
                       {{"kind", "mlp"}, {"hidden", {width, width}}, {"epochs", epochs}, {"lr", 0.003},
                        {"weight_decay", wd}, {"batch", 32}}});
  for (double alpha : {0.3, 1.0, 3.0, 10.0})
    out.push_back({"ridge-a" + std::to_string(alpha).substr(0, 4), enc, {{"kind", "ridge"}, {"alpha", alpha}}});
  return out;
}

std::vector<double> means(const std::vector<Prediction>& p) {
  std::vector<double> m;
  for (const auto& q : p) m.push_back(q.mean);
  return m;
}

std::vector<int> permutation(uint64_t seed) {
  std::vector<int> p(Nb201Space::kArchs);
  for (int i = 0; i < Nb201Space::kArchs; ++i) p[i] = i;
  Rng rng(seed);
  for (int i = Nb201Space::kArchs - 1; i > 0; --i) std::swap(p[i], p[rng.uniformInt(uint64_t(i) + 1)]);
  return p;
}

struct MeanStd {
  double mean = 0, sd = 0;
};
MeanStd meanStd(const std::vector<double>& v) {
  MeanStd m;
  for (double x : v) m.mean += x;
  m.mean /= v.size();
  for (double x : v) m.sd += (x - m.mean) * (x - m.mean);
  m.sd = v.size() > 1 ? std::sqrt(m.sd / (v.size() - 1)) : 0;
  return m;
}

FeatureMatrix rows(const FeatureMatrix& all, const std::vector<int>& idx) {
  FeatureMatrix out;
  for (int i : idx) out.push_back(all[i]);
  return out;
}
std::vector<double> pick(const std::vector<double>& all, const std::vector<int>& idx) {
  std::vector<double> out;
  for (int i : idx) out.push_back(all[i]);
  return out;
}

std::vector<std::string> splitList(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string c; std::getline(ss, c, ',');)
    if (!c.empty()) out.push_back(c);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int seeds = 10, threads = 1;
  std::vector<int> sizes = {50, 100, 200, 1000};
  std::vector<std::string> only;
  bool tune = false, speedOnly = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "predictor_bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--seeds") seeds = std::stoi(next());
    else if (a == "--threads") threads = std::stoi(next());
    else if (a == "--sizes") {
      sizes.clear();
      for (auto& s : splitList(next())) sizes.push_back(std::stoi(s));
    } else if (a == "--only") only = splitList(next());
    else if (a == "--tune") tune = true;
    else if (a == "--speed-only") speedOnly = true;
    else {
      std::fprintf(stderr,
                   "usage: predictor_bench [--seeds 10] [--sizes 50,100,200,1000] [--only a,b] [--tune] [--threads 1] "
                   "[--speed-only]\n");
      return a == "--help" ? 0 : 2;
    }
  }
  tbb::global_control gc(tbb::global_control::max_allowed_parallelism, threads);
  const std::vector<double> acc = loadValidAcc();
  Nb201Space space;
  std::vector<ArchConfig> all;
  for (int i = 0; i < Nb201Space::kArchs; ++i) all.push_back(Nb201Space::fromIndex(i));
  std::map<std::string, FeatureMatrix> encoded;
  auto features = [&](const std::string& enc) -> const FeatureMatrix& {
    auto it = encoded.find(enc);
    if (it == encoded.end()) it = encoded.emplace(enc, makeEncoder(space, enc)->encodeBatch(all)).first;
    return it->second;
  };

  std::vector<Config> cfgs;
  for (const Config& c : tune ? tuneConfigs() : configs())
    if (only.empty() || std::find(only.begin(), only.end(), c.name) != only.end()) cfgs.push_back(c);

  if (tune) {
    // Cross-validation inside the training archs only: seeds 1000.., 5 folds of the n archs.
    std::printf("tune: 5-fold CV Kendall tau inside the n training archs, seeds 1000..%d\n", 1000 + seeds - 1);
    std::printf("%-22s", "predictor");
    for (int n : sizes) std::printf(" %9s", ("n=" + std::to_string(n)).c_str());
    std::printf("\n");
    for (const Config& c : cfgs) {
      const FeatureMatrix& x = features(c.encoder);
      std::printf("%-22s", c.name.c_str());
      for (int n : sizes) {
        std::vector<double> taus;
        for (int s = 0; s < seeds; ++s) {
          const std::vector<int> p = permutation(1000 + s);
          const std::vector<int> train(p.begin() + 2000, p.begin() + 2000 + n);
          for (int fold = 0; fold < 5; ++fold) {
            std::vector<int> tr, va;
            for (int k = 0; k < n; ++k) (k % 5 == fold ? va : tr).push_back(train[k]);
            auto pred = makePredictor(c.spec);
            Rng rng(uint64_t(s) * 7 + fold);
            pred->fit(rows(x, tr), pick(acc, tr), rng);
            taus.push_back(kendallTau(means(pred->predict(rows(x, va))), pick(acc, va)));
          }
        }
        std::printf(" %9.3f", meanStd(taus).mean);
        std::fflush(stdout);
      }
      std::printf("\n");
    }
    return 0;
  }

  if (!speedOnly) {
    std::printf("NB201 CIFAR-10 valid_acc: held-out Kendall tau-b / Spearman on 2000 random archs, mean ± std over %d seeds, %d thread(s)\n",
                seeds, threads);
    std::printf("%-22s", "predictor");
    for (int n : sizes) std::printf(" %21s", ("n=" + std::to_string(n) + " tau / rho").c_str());
    std::printf("  fit s (n=%d)\n", sizes.back());
    struct Cov {
      std::vector<double> raw, scaled, scale;
    };
    std::map<std::string, std::map<int, Cov>> coverage;
    for (const Config& c : cfgs) {
      const FeatureMatrix& x = features(c.encoder);
      std::printf("%-22s", c.name.c_str());
      double fitSeconds = 0;
      for (int n : sizes) {
        std::vector<double> taus, rhos;
        for (int s = 0; s < seeds; ++s) {
          const std::vector<int> p = permutation(s);
          const std::vector<int> test(p.begin(), p.begin() + 2000), train(p.begin() + 2000, p.begin() + 2000 + n);
          auto pred = makePredictor(c.spec);
          Rng rng{uint64_t(s)};
          const auto t0 = Clock::now();
          pred->fit(rows(x, train), pick(acc, train), rng);
          fitSeconds = std::chrono::duration<double>(Clock::now() - t0).count();
          const auto out = pred->predict(rows(x, test));
          const std::vector<double> truth = pick(acc, test);
          taus.push_back(kendallTau(means(out), truth));
          rhos.push_back(spearmanRho(means(out), truth));
          if (c.spec["kind"] == "ensemble") {
            Cov& cv = coverage[c.name][n];
            cv.raw.push_back(intervalCoverage(out, truth).coverage);
            // Scale fitted on the training archs only: 5-fold out-of-sample predictions.
            Rng rng2{uint64_t(s) + 500};
            const double scale = crossCalibratedScale(c.spec, rows(x, train), pick(acc, train), rng2, 5);
            std::vector<Prediction> scaled = out;
            for (auto& q : scaled) q.stddev *= scale;
            cv.scaled.push_back(intervalCoverage(scaled, truth).coverage);
            cv.scale.push_back(scale);
          }
        }
        const MeanStd t = meanStd(taus), r = meanStd(rhos);
        std::printf("   %.3f±%.3f / %.3f", t.mean, t.sd, r.mean);
        std::fflush(stdout);
      }
      std::printf("  %.2f\n", fitSeconds);
    }
    if (!coverage.empty()) {
      std::printf("\nensemble 90%% interval (mean ± 1.645 sd) coverage on the held-out archs, mean over seeds:\n");
      std::printf("%-22s %6s %8s %12s %8s\n", "predictor", "n", "raw", "calibrated", "scale");
      for (auto& [name, byN] : coverage)
        for (auto& [n, cv] : byN)
          std::printf("%-22s %6d %8.3f %12.3f %8.2f\n", name.c_str(), n, meanStd(cv.raw).mean, meanStd(cv.scaled).mean,
                      meanStd(cv.scale).mean);
    }
    std::printf("\n");
  }

  // Batched prediction speed: a 5-model XGBoost ensemble (the nas/ engine's predictor) against
  // one XGBoost model of the same trees, batch 1,000 one-hot rows, one thread, interleaved A B A B;
  // for the default XGBoost spec (300 rounds, depth 6) and a lighter one (200 rounds, depth 4).
  for (const auto& [rounds, depth] : std::vector<std::pair<int, int>>{{300, 6}, {200, 4}}) {
    tbb::global_control one(tbb::global_control::max_allowed_parallelism, 1);
    const FeatureMatrix& x = features("onehot");
    const std::vector<int> p = permutation(0);
    const std::vector<int> train(p.begin() + 2000, p.begin() + 2200), batch(p.begin(), p.begin() + 1000);
    const Json xgb = {{"kind", "xgboost"}, {"rounds", rounds}, {"max_depth", depth}};
    auto single = makePredictor(xgb);
    auto ens = makePredictor(Json{{"kind", "ensemble"}, {"members", 5}, {"member", xgb}});
    Rng r1(1), r2(2);
    single->fit(rows(x, train), pick(acc, train), r1);
    ens->fit(rows(x, train), pick(acc, train), r2);
    const FeatureMatrix xb = rows(x, batch);
    std::vector<double> tSingle, tEns;
    for (int round = 0; round < 5; ++round) {
      auto t0 = Clock::now();
      for (int k = 0; k < 5; ++k) single->predict(xb);
      tSingle.push_back(std::chrono::duration<double>(Clock::now() - t0).count() / (5 * xb.size()));
      t0 = Clock::now();
      for (int k = 0; k < 5; ++k) ens->predict(xb);
      tEns.push_back(std::chrono::duration<double>(Clock::now() - t0).count() / (5 * xb.size()));
    }
    std::sort(tSingle.begin(), tSingle.end());
    std::sort(tEns.begin(), tEns.end());
    std::printf("batched prediction, batch 1000 one-hot rows, 1 thread, %d trees of depth <= %d per model "
                "(fitted on 200 archs): xgboost x1 %.0f pred/s, ensemble of 5 %.0f pred/s, ratio %.2f (median of 5)\n",
                rounds, depth, 1.0 / tSingle[2], 1.0 / tEns[2], tSingle[2] / tEns[2]);
  }
  return 0;
}
