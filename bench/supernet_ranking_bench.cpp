// Weight-sharing ranking quality of the fmnist_small supernet: for N subnets spread evenly over
// the space's MAC range, the Kendall tau between their inherited validation accuracy (supernet
// weights, BN calibrated on 2,000 training images) and their accuracy when trained alone with a
// short budget, with a bootstrap 90% interval; MACs-only and params-only taus as the baseline a
// supernet has to beat. Writes per-subnet results (arch, MACs, params, both accuracies) as CSV,
// JSON and JSON lines, so other rankings (zero-cost proxies, predictors) can use the same subnets.
//
// Usage:
//   supernet_ranking_bench --out DIR [--supernet TRAINED_DIR | --recipe R.yaml --supernet-epochs E
//        --supernet-train-limit N] [--subnets 24] [--standalone-epochs 1] [--standalone-train-limit 10000]
//        [--eval-limit 0] [--pool 2000] [--bootstrap 2000] [--threads 2] [--seed 0] [--wait-minutes 0]
// Defaults train the supernet here (3 epochs on 20,000 images with the recipe's settings); with
// --supernet it uses a folder nas-train --supernet wrote (waiting up to --wait-minutes for it to
// appear: the stand-alone runs come first). All selection uses the validation split.
#include <sys/resource.h>
#include <tbb/global_control.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <map>
#include <numeric>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/fs_util.h"
#include "core/json_util.h"
#include "search_spaces/mbconv_space.h"
#include "search_spaces/supernet_recipe.h"
#include "trainer/training.h"

using namespace hwnas;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// Kendall's tau-b (ties in either variable handled as scipy.stats.kendalltau does).
double kendallTauB(const std::vector<double>& x, const std::vector<double>& y) {
  const size_t n = x.size();
  double concordant = 0, discordant = 0, tiesX = 0, tiesY = 0;
  for (size_t i = 0; i < n; ++i)
    for (size_t j = i + 1; j < n; ++j) {
      const double dx = x[i] - x[j], dy = y[i] - y[j];
      if (dx == 0 && dy == 0) continue;
      if (dx == 0) {
        tiesX += 1;
      } else if (dy == 0) {
        tiesY += 1;
      } else if ((dx > 0) == (dy > 0)) {
        concordant += 1;
      } else {
        discordant += 1;
      }
    }
  const double denom = std::sqrt((concordant + discordant + tiesX) * (concordant + discordant + tiesY));
  return denom > 0 ? (concordant - discordant) / denom : 0.0;
}

std::vector<double> ranks(const std::vector<double>& v) {
  std::vector<size_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> r(v.size());
  for (size_t i = 0; i < idx.size();) {
    size_t j = i;
    while (j + 1 < idx.size() && v[idx[j + 1]] == v[idx[i]]) ++j;
    for (size_t k = i; k <= j; ++k) r[idx[k]] = (i + j) / 2.0 + 1;
    i = j + 1;
  }
  return r;
}

double spearman(const std::vector<double>& x, const std::vector<double>& y) {
  std::vector<double> rx = ranks(x), ry = ranks(y);
  const double n = (double)x.size();
  const double mx = std::accumulate(rx.begin(), rx.end(), 0.0) / n, my = std::accumulate(ry.begin(), ry.end(), 0.0) / n;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < rx.size(); ++i) {
    sxy += (rx[i] - mx) * (ry[i] - my);
    sxx += (rx[i] - mx) * (rx[i] - mx);
    syy += (ry[i] - my) * (ry[i] - my);
  }
  return sxx > 0 && syy > 0 ? sxy / std::sqrt(sxx * syy) : 0.0;
}

// Percentile bootstrap over subnets (resampled with replacement): the 5% and 95% quantiles.
std::pair<double, double> bootstrapTau(const std::vector<double>& x, const std::vector<double>& y, int rounds, uint64_t seed) {
  Rng rng(seed);
  std::vector<double> taus;
  std::vector<double> bx(x.size()), by(y.size());
  for (int r = 0; r < rounds; ++r) {
    for (size_t i = 0; i < x.size(); ++i) {
      const size_t k = rng.uniformInt(x.size());
      bx[i] = x[k];
      by[i] = y[k];
    }
    taus.push_back(kendallTauB(bx, by));
  }
  std::sort(taus.begin(), taus.end());
  auto q = [&](double p) { return taus[(size_t)std::llround(p * (double)(taus.size() - 1))]; };
  return {q(0.05), q(0.95)};
}

std::string csvQuote(const std::string& s) {
  std::string o = "\"";
  for (char c : s) o += c == '"' ? std::string("\"\"") : std::string(1, c);
  return o + "\"";
}

struct Row {
  ArchConfig arch;
  int64_t macs = 0, params = 0;
  double inherited = -1, standalone = -1, standaloneSeconds = 0;
};

void writeResults(const std::string& out, const std::vector<Row>& rows) {
  std::ostringstream csv, jsonl;
  csv << "order,hash,macs,params,inherited_val_accuracy,standalone_val_accuracy,arch\n" << std::setprecision(6);
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    csv << i << ',' << r.arch.hashHex() << ',' << r.macs << ',' << r.params << ',' << r.inherited << ','
        << r.standalone << ',' << csvQuote(r.arch.canonical()) << '\n';
    jsonl << r.arch.canonical() << '\n';
  }
  writeFileAtomic(out + "/subnets.csv", csv.str());
  writeFileAtomic(out + "/archs.jsonl", jsonl.str());
}

}  // namespace

int main(int argc, char** argv) try {
  std::string out, supernetDir, recipePath = std::string(HWNAS_SOURCE_DIR) + "/configs/supernet/fmnist_small.yaml";
  int subnets = 24, supernetEpochs = 3, standaloneEpochs = 1, threads = 2, pool = 2000, bootstrap = 2000;
  int64_t supernetTrainLimit = 20000, standaloneTrainLimit = 10000, evalLimit = 0;
  uint64_t seed = 0;
  int waitMinutes = 0;
  for (int i = 1; i < argc; i += 2) {
    const std::string k = argv[i];
    if (i + 1 >= argc) throw InputError("flag " + k + " needs a value");
    const std::string v = argv[i + 1];
    if (k == "--out") out = v;
    else if (k == "--supernet") supernetDir = v;
    else if (k == "--recipe") recipePath = v;
    else if (k == "--subnets") subnets = std::stoi(v);
    else if (k == "--supernet-epochs") supernetEpochs = std::stoi(v);
    else if (k == "--supernet-train-limit") supernetTrainLimit = std::stoll(v);
    else if (k == "--standalone-epochs") standaloneEpochs = std::stoi(v);
    else if (k == "--standalone-train-limit") standaloneTrainLimit = std::stoll(v);
    else if (k == "--eval-limit") evalLimit = std::stoll(v);
    else if (k == "--pool") pool = std::stoi(v);
    else if (k == "--bootstrap") bootstrap = std::stoi(v);
    else if (k == "--threads") threads = std::stoi(v);
    else if (k == "--seed") seed = std::stoull(v);
    else if (k == "--wait-minutes") waitMinutes = std::stoi(v);
    else throw InputError("unknown flag " + k + " (see the comment at the top of bench/supernet_ranking_bench.cpp)");
  }
  if (out.empty()) throw InputError("--out DIR is required");
  if (subnets < 3 || pool < subnets) throw InputError("need --subnets >= 3 and --pool >= --subnets");
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, threads);
  fs::create_directories(out);
  const auto t0 = Clock::now();
  auto minutes = [&] { return std::chrono::duration<double>(Clock::now() - t0).count() / 60.0; };

  SupernetRecipe recipe = loadSupernetRecipe(recipePath);
  std::shared_ptr<const SearchSpace> space(loadSearchSpace(recipe.spacePath));
  if (space->kind() != "mbconv") throw InputError("the ranking bench is for mbconv spaces (fmnist_small)");
  const auto* mb = dynamic_cast<const MbconvSpace*>(space.get());

  // N subnets at evenly spaced MAC quantiles of `pool` uniform samples (distinct archs).
  Rng rng(seed ^ 0x4A4E4B);
  std::map<std::string, Row> byHash;
  for (int i = 0; i < pool; ++i) {
    ArchConfig a = space->sample(rng);
    if (byHash.count(a.hashHex())) continue;
    Row r;
    r.arch = a;
    ArchCost c = space->cost(a);
    r.macs = c.macs;
    r.params = c.params;
    byHash.emplace(a.hashHex(), r);
  }
  std::vector<Row> all;
  for (auto& [h, r] : byHash) all.push_back(r);
  std::stable_sort(all.begin(), all.end(), [](const Row& a, const Row& b) { return a.macs < b.macs; });
  std::vector<Row> picked;
  for (int i = 0; i < subnets; ++i) picked.push_back(all[(size_t)std::llround((double)i * (all.size() - 1) / (subnets - 1))]);
  // The ends are the space's own smallest and largest architectures: the whole MAC range.
  for (int end = 0; end < 2; ++end) {
    Row r;
    r.arch = end == 0 ? space->smallest() : space->largest();
    ArchCost c = space->cost(r.arch);
    r.macs = c.macs;
    r.params = c.params;
    picked[end == 0 ? 0 : subnets - 1] = r;
  }
  // Processed in van der Corput order of their MAC rank (0, 1/2, 1/4, 3/4, 1/8, ...), so the
  // results written so far always span the MAC range if the run is cut short.
  std::vector<Row> rows;
  std::vector<bool> used(subnets, false);
  for (int i = 0; i < subnets; ++i) {
    double vdc = 0, base = 0.5;
    for (int k = i; k > 0; k >>= 1, base /= 2) vdc += (k & 1) * base;
    int rank = (int)std::llround(vdc * (subnets - 1));
    while (used[rank]) rank = (rank + 1) % subnets;
    used[rank] = true;
    rows.push_back(picked[rank]);
  }
  const int64_t macsMin = picked.front().macs, macsMax = picked.back().macs;

  // Stand-alone training of each subnet with the recipe's settings and a short budget.
  TrainOptions sa = recipe.options.base;
  sa.epochs = standaloneEpochs;
  sa.trainLimit = standaloneTrainLimit;
  sa.evalLimit = evalLimit;
  sa.seed = seed;
  DataSplits saData = loadDataSplits(sa);
  for (size_t i = 0; i < rows.size(); ++i) {
    Row& r = rows[i];
    const auto s0 = Clock::now();
    auto model = buildModel(mb->toModelDef(r.arch), seed);
    r.standalone = trainModel(*model, saData, sa, "", false).valAccuracy;
    r.standaloneSeconds = std::chrono::duration<double>(Clock::now() - s0).count();
    std::fprintf(stderr, "stand-alone %2zu/%zu: %8.3f M MACs  val %.4f  (%.0f s; %.1f min so far)\n", i + 1, rows.size(),
                 r.macs / 1e6, r.standalone, r.standaloneSeconds, minutes());
    writeResults(out, std::vector<Row>(rows.begin(), rows.begin() + i + 1));
  }

  // The supernet (after the stand-alone runs, so a folder still being trained can be waited
  // for with --wait-minutes): a trained folder, or trained here from the recipe.
  std::unique_ptr<SpaceSupernet> net;
  TrainOptions snData = recipe.options.base;
  int64_t calibration = recipe.options.calibrationImages;
  std::string supernetWhat;
  if (!supernetDir.empty()) {
    for (int m = 0; m < waitMinutes * 6 && !fs::exists(supernetDir + "/supernet.json"); ++m)
      std::this_thread::sleep_for(std::chrono::seconds(10));
    SupernetFolder f = openSupernetFolder(supernetDir);
    if (f.space->spaceId() != space->spaceId())
      throw InputError(supernetDir + " holds a supernet of " + f.space->spaceId() + ", the recipe's space is " + space->spaceId());
    net = std::move(f.net);
    snData.dataset = f.data.dataset;
    snData.dataDir = f.data.dataDir;
    snData.valSize = f.data.valSize;
    snData.trainLimit = f.data.trainLimit;
    calibration = f.info.at("calibration_images").get<int64_t>();
    supernetWhat = supernetDir + " (" + std::to_string(f.info.at("epochs").get<int>()) + " epochs, train limit " +
                   std::to_string(f.data.trainLimit) + ", " + f.info.at("method").get<std::string>() + ")";
  } else {
    SupernetTrainOptions so = recipe.options;
    so.base.epochs = supernetEpochs;
    so.base.trainLimit = supernetTrainLimit;
    so.base.evalLimit = evalLimit;
    so.base.seed = seed;
    so.evalEachEpoch = false;
    snData = so.base;
    DataSplits d = loadDataSplits(so.base);
    net = std::make_unique<SpaceSupernet>(space, seed);
    std::fprintf(stderr, "training the supernet: %d epochs on %lld images...\n", supernetEpochs, (long long)d.train.n);
    net->train(d, so, "", false, nullptr);
    net->saveWeights(out + "/supernet.safetensors");
    supernetWhat = "trained here (" + std::to_string(supernetEpochs) + " epochs, train limit " +
                   std::to_string(supernetTrainLimit) + ", " + recipe.options.method + ")";
    std::fprintf(stderr, "supernet trained (%.1f min so far)\n", minutes());
  }
  net->module().eval();
  snData.evalLimit = evalLimit;
  DataSplits evalData = loadDataSplits(snData);
  for (size_t i = 0; i < rows.size(); ++i) {
    Row& r = rows[i];
    r.inherited = net->evaluate(r.arch, evalData, calibration, 500, seed).valAccuracy;
    std::fprintf(stderr, "subnet %2zu/%zu: %8.3f M MACs  inherited %.4f  standalone %.4f  (%.1f min so far)\n", i + 1,
                 rows.size(), r.macs / 1e6, r.inherited, r.standalone, minutes());
    writeResults(out, rows);
  }

  std::vector<double> inh, alone, macs, params;
  for (const Row& r : rows) {
    inh.push_back(r.inherited);
    alone.push_back(r.standalone);
    macs.push_back((double)r.macs);
    params.push_back((double)r.params);
  }
  const double tau = kendallTauB(inh, alone);
  const auto ci = bootstrapTau(inh, alone, bootstrap, seed + 1);
  const double tauMacs = kendallTauB(macs, alone), tauParams = kendallTauB(params, alone);
  const auto ciMacs = bootstrapTau(macs, alone, bootstrap, seed + 1);
  Json j;
  j["space_id"] = space->spaceId();
  j["supernet"] = supernetWhat;
  j["subnets"] = (int)rows.size();
  j["macs_min"] = macsMin;
  j["macs_max"] = macsMax;
  j["standalone"] = {{"epochs", standaloneEpochs}, {"train_images", saData.train.n}, {"lr", sa.lr}, {"batch_size", sa.batchSize}};
  j["val_images"] = evalData.val.n;
  j["calibration_images"] = calibration;
  j["kendall_tau"] = tau;
  j["kendall_tau_ci90"] = {ci.first, ci.second};
  j["spearman"] = spearman(inh, alone);
  j["kendall_tau_macs"] = tauMacs;
  j["kendall_tau_macs_ci90"] = {ciMacs.first, ciMacs.second};
  j["kendall_tau_params"] = tauParams;
  j["bootstrap_rounds"] = bootstrap;
  j["minutes"] = minutes();
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const double cpuMinutes = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec)) / 60.0;
  j["cpu_minutes"] = cpuMinutes;  // the machine is shared: wall minutes depend on the load
  j["threads"] = threads;
  j["seed"] = seed;
  writeJsonFile(out + "/summary.json", j);
  std::printf(
      "supernet ranking, %s, %zu subnets (%.2f..%.2f M MACs), supernet %s, stand-alone %d epoch(s) on %lld images, "
      "%lld val images, %d threads: Kendall tau %.3f (90%% bootstrap CI [%.3f, %.3f]), Spearman %.3f; "
      "MACs-only tau %.3f [%.3f, %.3f], params-only tau %.3f; %.1f min (%.1f CPU min)\n",
      space->name().c_str(), rows.size(), macsMin / 1e6, macsMax / 1e6, supernetWhat.c_str(),
      standaloneEpochs, (long long)saData.train.n, (long long)evalData.val.n, threads, tau, ci.first, ci.second,
      spearman(inh, alone), tauMacs, ciMacs.first, ciMacs.second, tauParams, minutes(), cpuMinutes);
  return 0;
} catch (const Error& e) {
  std::fprintf(stderr, "supernet_ranking_bench: %s\n", e.what());
  return e.exitCode();
}
