// End-to-end tests of the pipeline's predictor stage, the `predictor` accuracy source and the
// hierarchical (macro -> micro) search on a tiny config: a supernet trained for 2 steps, 12
// predictor samples (3 held out), a 20 + 2 x 10 query hierarchical evolution over the predictor,
// the top 3 re-scored by the supernet, 1 finalist and refnet trained for 2 steps. Asserts what
// search.db holds (the samples apart from the queries, each phase's rows, the macro phase's
// micro decisions at their middle choice, each micro phase inside its kept macro candidate, the
// verify rows), the held-out Kendall tau recomputed here, and that one thread, kill -9 in the
// predictor stage and in a micro phase, then --resume give the same queries and winner.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "core/fs_util.h"
#include "core/json_util.h"
#include "core/sqlite.h"
#include "tests/cli/cli_util.h"

namespace fs = std::filesystem;
using namespace hwnas;
using cli::haveFashionMnist;
using cli::writeConfig;
using cli::scalar;

namespace {

const std::string kBin = std::string(HWNAS_BIN_DIR) + "/nas-search";
const std::string kSrc = std::string(HWNAS_SOURCE_DIR);

std::string tinyConfig(const std::string& latency = "") {
  return "kind: pipeline\nspace: " + kSrc + "/configs/spaces/fmnist_small.yaml\nseed: 5\n"
         "supernet: {recipe: " + kSrc + "/configs/supernet/fmnist_small.yaml, epochs: 1, max_steps: 2, train_limit: 128, batch_size: 64}\n"
         "predictor: {samples: 12, holdout: 0.25}\n"
         "objective:\n  accuracy: {source: predictor, calibration_images: 64, val_images: 100, verify: 3}\n" +
         (latency.empty() ? "latency:\n  source: lut\n  device: host-cpu\n  fallback: true\n"
                            "  profile: {samples: 3, candidates: 6, runs: 3, warmup: 1, burst: 1}\n"
                          : latency) +
         "constraints:\n  - {metric: latency, device: host-cpu, max: 0.9, relative_to: baseline}\n"
         "search:\n  strategy: evolution\n  queries: 40\n  mode: hierarchical\n"
         "  hierarchical: {macro_queries: 20, macro_keep: 2}\n  evolution: {population: 4, sample_size: 2}\n"
         "finalists: {top_k: 1, epochs: 1, max_steps: 2, train_limit: 128, eval_limit: 100, batch_size: 64, baseline: " + kSrc +
         "/configs/models/refnet.yaml, measure_runs: 3}\nexport: false\n";
}

// Every query row's (phase, hash, accuracy) in order, and the predictor samples.
std::string querySequence(const std::string& db) {
  Database d(db);
  std::ostringstream o;
  Statement s = d.prepare("SELECT phase, arch_hash, accuracy, counted FROM queries ORDER BY seq");
  while (s.step()) o << s.getText(0) << "/" << s.getText(1) << ":" << (s.isNull(2) ? -1.0 : s.getDouble(2)) << s.getInt64(3) << ";";
  Statement p = d.prepare("SELECT arch_hash, accuracy, held_out FROM predictor_samples ORDER BY seq");
  while (p.step()) o << "S" << p.getText(0) << ":" << p.getDouble(1) << p.getInt64(2) << ";";
  return o.str();
}

struct Row {
  std::string phase, hash;
  Json arch, metrics;
  double accuracy;
  bool feasible;
};
std::vector<Row> rows(const std::string& db) {
  Database d(db);
  Statement s = d.prepare("SELECT phase, arch_hash, arch_json, metrics_json, accuracy, feasible FROM queries ORDER BY seq");
  std::vector<Row> out;
  while (s.step())
    out.push_back({s.getText(0), s.getText(1), parseJson(s.getText(2)), parseJson(s.getText(3)),
                   s.isNull(4) ? -1.0 : s.getDouble(4), s.getInt64(5) != 0});
  return out;
}

// The macro decisions of an fmnist_small arch (resolution and width have one choice there).
std::string macroOf(const Json& a) {
  std::string k;
  for (const auto& st : a["stages"]) k += std::to_string(st["depth"].get<int>()) + "/" + std::to_string(st["out"].get<int>()) + ";";
  return k;
}

// Kendall tau-b, O(n^2), written out here to check the stage's figure (predictors/metrics.h).
double tauB(const std::vector<double>& x, const std::vector<double>& y) {
  double c = 0, d = 0, tx = 0, ty = 0;
  for (size_t i = 0; i < x.size(); ++i)
    for (size_t j = i + 1; j < x.size(); ++j) {
      const double a = x[i] - x[j], b = y[i] - y[j];
      if (a == 0 && b == 0) continue;
      if (a == 0) ++tx;
      else if (b == 0) ++ty;
      else if ((a > 0) == (b > 0)) ++c;
      else ++d;
    }
  return (c - d) / std::sqrt((c + d + tx) * (c + d + ty));
}

// Starts nas-search, SIGKILLs it once `ready` holds; true when it was killed before it ended.
bool killWhen(const std::string& args, const std::function<bool()>& ready, int timeoutS = 60) {
  pid_t pid = fork();
  if (pid == 0) {
    std::string cmd = "exec " + kBin + " " + args + " >/dev/null 2>/dev/null";
    execl("/bin/sh", "sh", "-c", cmd.c_str(), (char*)nullptr);
    _exit(127);
  }
  int status = 0;
  const auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(timeoutS)) {
    if (waitpid(pid, &status, WNOHANG) == pid) return false;
    bool r = false;
    try {
      r = ready();
    } catch (const std::exception&) {
    }
    if (r) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return true;
}

}  // namespace

TEST(NasSearchHierarchicalCli, PredictorStageMacroThenMicroAndVerifiedFinalists) {
  if (!haveFashionMnist()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  TempDir tmp;
  const std::string out = tmp.file("out");
  cli::CliRun r = cli::runCli(kBin, "--config " + writeConfig(tmp, "h.yaml", tinyConfig()) + " --out " + out + " --threads 2");
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string db = out + "/search.db";
  EXPECT_EQ(scalar(db, "SELECT count(*) FROM stages WHERE status = 'done'"), 5);
  EXPECT_EQ(scalar(db, "SELECT ord FROM stages WHERE name = 'predictor'"), 3);  // after latency, before search
  // The predictor's samples: their own table, 12 distinct, 3 held out, none among the queries' rows.
  EXPECT_EQ(scalar(db, "SELECT count(DISTINCT arch_hash) FROM predictor_samples"), 12);
  EXPECT_EQ(scalar(db, "SELECT sum(held_out) FROM predictor_samples"), 3);
  EXPECT_EQ(scalar(db, "SELECT count(*) FROM predictor_samples WHERE accuracy BETWEEN 0 AND 100"), 12);
  // The held-out figures: the stage's predictions for exactly the held-out samples, and its
  // Kendall tau is tau-b of those pairs.
  Json ps;
  {
    Database d(db);
    Statement s = d.prepare("SELECT output_json FROM stages WHERE name = 'predictor'");
    ASSERT_TRUE(s.step());
    ps = parseJson(s.getText(0));
  }
  ASSERT_EQ(ps["held_out_predictions"].size(), 3u);
  std::vector<double> pred, truth;
  std::set<std::string> heldHashes;
  {
    Database d(db);
    Statement s = d.prepare("SELECT arch_hash, accuracy FROM predictor_samples WHERE held_out ORDER BY seq");
    size_t k = 0;
    while (s.step()) {
      const Json& h = ps["held_out_predictions"][k++];
      EXPECT_EQ(h["hash"].get<std::string>(), s.getText(0));
      EXPECT_EQ(h["supernet"].get<double>(), s.getDouble(1));
      pred.push_back(h["predicted"].get<double>());
      truth.push_back(s.getDouble(1));
    }
  }
  EXPECT_NEAR(ps["kendall_tau"].get<double>(), tauB(pred, truth), 1e-12);
  EXPECT_TRUE(fs::exists(out + "/predictor/predictor.json"));
  Json best = readJsonFile(out + "/best_arch.json");
  EXPECT_EQ(best["predictor"]["kendall_tau"].get<double>(), ps["kendall_tau"].get<double>());
  EXPECT_EQ(best["search_mode"], "hierarchical");

  // The phases: 20 macro queries, 10 + 10 micro, 3 verified; counted per phase.
  EXPECT_EQ(scalar(db, "SELECT sum(counted) FROM queries WHERE phase = 'macro'"), 20);
  EXPECT_EQ(scalar(db, "SELECT sum(counted) FROM queries WHERE phase = 'micro:0'"), 10);
  EXPECT_EQ(scalar(db, "SELECT sum(counted) FROM queries WHERE phase = 'micro:1'"), 10);
  EXPECT_EQ(scalar(db, "SELECT count(*) FROM queries WHERE phase = 'verify'"), 3);
  EXPECT_EQ(scalar(db, "SELECT count(*) FROM queries WHERE phase NOT IN ('macro', 'micro:0', 'micro:1', 'verify')"), 0);
  const std::vector<Row> all = rows(db);
  // Macro phase: every block at the middle choices (kernel 3 of [3, 5], expand 4 of [2, 4, 6]),
  // SE off (false of [false, true]); the macro decisions vary.
  std::set<std::string> macros;
  for (const Row& q : all) {
    if (q.phase != "macro") continue;
    macros.insert(macroOf(q.arch));
    for (const auto& st : q.arch["stages"]) {
      EXPECT_EQ(st["se"], false) << q.hash;
      ASSERT_EQ(st["blocks"].size(), st["depth"].get<size_t>());
      for (const auto& b : st["blocks"]) {
        EXPECT_EQ(b["kernel"], 3) << q.hash;
        EXPECT_EQ(b["expand"], 4) << q.hash;
      }
    }
  }
  EXPECT_GT(macros.size(), 5u);
  // Kept macro candidates: the two best distinct feasible macro rows by predicted accuracy; each
  // micro phase keeps its candidate's macro decisions and varies the micro ones.
  std::vector<const Row*> macroRows;
  for (const Row& q : all)
    if (q.phase == "macro" && q.feasible && q.accuracy >= 0) macroRows.push_back(&q);
  std::stable_sort(macroRows.begin(), macroRows.end(), [](const Row* a, const Row* b) { return a->accuracy > b->accuracy; });
  std::vector<std::string> kept;
  for (const Row* q : macroRows)
    if (kept.size() < 2 && std::find(kept.begin(), kept.end(), macroOf(q->arch)) == kept.end()) kept.push_back(macroOf(q->arch));
  ASSERT_EQ(kept.size(), 2u);
  for (int k = 0; k < 2; ++k) {
    std::set<std::string> hashes;
    for (const Row& q : all) {
      if (q.phase != "micro:" + std::to_string(k)) continue;
      EXPECT_EQ(macroOf(q.arch), kept[size_t(k)]) << q.hash;
      hashes.insert(q.hash);
    }
    EXPECT_GE(hashes.size(), 5u) << k;
  }
  // Verify: the top 3 distinct feasible search rows by predicted accuracy, re-scored by the
  // supernet (its accuracy beside the prediction); the winner is one of them.
  std::vector<const Row*> searchRows;
  for (const Row& q : all)
    if (q.phase != "verify" && q.feasible && q.accuracy >= 0) searchRows.push_back(&q);
  std::stable_sort(searchRows.begin(), searchRows.end(), [](const Row* a, const Row* b) { return a->accuracy > b->accuracy; });
  std::vector<std::string> top;
  for (const Row* q : searchRows)
    if (top.size() < 3 && std::find(top.begin(), top.end(), q->hash) == top.end()) top.push_back(q->hash);
  std::vector<std::string> verified;
  for (const Row& q : all)
    if (q.phase == "verify") {
      verified.push_back(q.hash);
      EXPECT_EQ(q.accuracy, q.metrics["supernet_val_acc"].get<double>());
      EXPECT_TRUE(q.metrics.contains("predicted_val_acc"));
    }
  EXPECT_EQ(verified, top);
  EXPECT_NE(std::find(verified.begin(), verified.end(), best["hash"].get<std::string>()), verified.end());
  const std::string rep = readFile(out + "/report.md");
  for (const char* s : {"## Predictor", "Kendall tau", "| macro | 20 | 20 |", "| micro:1 | 10 | 10 |", "re-scored with the supernet"})
    EXPECT_NE(rep.find(s), std::string::npos) << s;
}

TEST(NasSearchHierarchicalCli, OneThreadAndKillNineInPredictorAndMicroThenResumeAreIdentical) {
  if (!haveFashionMnist()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  TempDir tmp;
  const std::string ref = tmp.file("ref");
  cli::CliRun r = cli::runCli(kBin, "--config " + writeConfig(tmp, "ref.yaml", tinyConfig()) + " --out " + ref + " --threads 2 --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string frozen = tmp.file("lut.db");
  fs::copy_file(ref + "/lut.db", frozen);
  const std::string cfg = writeConfig(
      tmp, "frozen.yaml", tinyConfig("latency:\n  source: lut\n  device: host-cpu\n  fallback: true\n  path: " + frozen + "\n"));
  const std::string refSeq = querySequence(ref + "/search.db");
  const std::string refWinner = readJsonFile(ref + "/best_arch.json")["hash"].get<std::string>();
  ASSERT_NE(refSeq.find("micro:1/"), std::string::npos);
  // One thread, killed after the first 4 predictor samples, then in the second micro phase.
  const std::string out = tmp.file("out"), db = out + "/search.db";
  const std::string flags = " --threads 1 --step-delay-ms 100 --quiet";
  EXPECT_TRUE(killWhen("--config " + cfg + " --out " + out + flags,
                       [&] { return scalar(db, "SELECT count(*) FROM predictor_samples") >= 4; }));
  EXPECT_LT(scalar(db, "SELECT count(*) FROM predictor_samples"), 12);
  EXPECT_TRUE(killWhen("--config " + cfg + " --out " + out + flags + " --resume",
                       [&] { return scalar(db, "SELECT count(*) FROM queries WHERE phase = 'micro:1'") >= 2; }));
  EXPECT_EQ(scalar(db, "SELECT count(*) FROM queries WHERE phase = 'verify'"), 0);
  cli::CliRun res = cli::runCli(kBin, "--config " + cfg + " --out " + out + " --resume --threads 1 --quiet");
  ASSERT_EQ(res.code, 0) << res.err;
  EXPECT_EQ(querySequence(db), refSeq);
  EXPECT_EQ(readJsonFile(out + "/best_arch.json")["hash"].get<std::string>(), refWinner);
  EXPECT_EQ(scalar(db, "SELECT attempts FROM stages WHERE name = 'predictor'"), 2);
  EXPECT_EQ(scalar(db, "SELECT attempts FROM stages WHERE name = 'search'"), 2);
}
