// End-to-end tests of nas-search's pipeline mode (kind: pipeline) on a tiny config: a supernet
// trained on 256 Fashion-MNIST images, a 4-network profile of this CPU (with the fallback fit
// for keys it did not cover), 6 supernet evaluations, 1 finalist and the refnet baseline
// trained for 4 steps. Asserts the outputs' contents (winner within the LUT budget, report
// sections, search.db stage and query rows), that --resume skips every finished stage without
// re-measuring the table, and that kill -9 or SIGINT during the search or the finalists'
// training then --resume ends with the uninterrupted run's winner and queries.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
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

using cli::CliRun;

CliRun run(const std::string& args) { return cli::runCli(kBin, args); }

// The tiny pipeline; `latency` replaces the latency section (e.g. to reuse a frozen table).
std::string tinyConfig(const std::string& latency = "") {
  return "kind: pipeline\nspace: " + kSrc + "/configs/spaces/fmnist_small.yaml\nseed: 3\n"
         "supernet: {recipe: " + kSrc + "/configs/supernet/fmnist_small.yaml, epochs: 1, train_limit: 256, batch_size: 64}\n"
         "objective:\n  accuracy: {source: supernet, calibration_images: 128, val_images: 200}\n" +
         (latency.empty() ? "latency:\n  source: lut\n  device: host-cpu\n  fallback: true\n"
                            "  profile: {samples: 4, candidates: 8, runs: 3, warmup: 1, burst: 1}\n"
                          : latency) +
         "constraints:\n  - {metric: latency, device: host-cpu, max: 0.9, relative_to: baseline}\n"
         "search:\n  strategy: evolution\n  queries: 6\n  evolution: {population: 4, sample_size: 2}\n"
         "finalists: {top_k: 1, epochs: 1, train_limit: 256, eval_limit: 200, batch_size: 64, baseline: " + kSrc +
         "/configs/models/refnet.yaml, measure_runs: 5}\n";
}

std::string text(const std::string& db, const std::string& sql) {
  Database d(db);
  Statement s = d.prepare(sql);
  if (!s.step()) return "";
  return s.getText(0);
}

// The counted queries' (hash, accuracy) in order.
std::string querySequence(const std::string& db) {
  Database d(db);
  Statement s = d.prepare("SELECT arch_hash, accuracy FROM queries WHERE counted ORDER BY seq");
  std::ostringstream o;
  while (s.step()) o << s.getText(0) << ":" << s.getDouble(1) << ";";
  return o.str();
}

struct Signalled {
  bool sent = false;  // the signal was sent before the run ended by itself
  int code = -1;      // exit status (-1: killed by a signal)
  std::string err;    // its stderr
};

// Starts nas-search in the background and sends it `sig` once `ready` holds (polled), or lets it
// exit first; then waits for it to end.
Signalled signalWhen(const std::string& args, const std::function<bool()>& ready, int sig, int timeoutS = 60) {
  TempDir tmp;
  const std::string errFile = tmp.file("stderr");
  pid_t pid = fork();
  if (pid == 0) {
    std::string cmd = "exec " + kBin + " " + args + " >/dev/null 2>" + errFile;
    execl("/bin/sh", "sh", "-c", cmd.c_str(), (char*)nullptr);
    _exit(127);
  }
  Signalled s;
  int status = 0;
  auto finish = [&] {
    waitpid(pid, &status, 0);
    s.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    s.err = readFile(errFile);
    return s;
  };
  const auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(timeoutS)) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      s.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      s.err = readFile(errFile);
      return s;
    }
    bool r = false;
    try {
      r = ready();
    } catch (const std::exception&) {
      r = false;  // a database in the middle of being created
    }
    if (r) {
      kill(pid, sig);
      s.sent = true;
      return finish();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, SIGKILL);
  s.sent = true;
  return finish();
}

// Starts nas-search in the background and SIGKILLs it once `ready` holds (polled), or when it
// exits first. Returns true when it was killed.
bool killWhen(const std::string& args, const std::function<bool()>& ready, int timeoutS = 60) {
  return signalWhen(args, ready, SIGKILL, timeoutS).sent;
}

}  // namespace

TEST(NasSearchPipelineCli, RunsEveryStageThenResumeSkipsThem) {
  if (!haveFashionMnist()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  TempDir tmp;
  const std::string cfg = writeConfig(tmp, "tiny.yaml", tinyConfig());
  const std::string out = tmp.file("out");
  CliRun r = run("--config " + cfg + " --out " + out + " --threads 2");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("report in " + out + "/report.md"), std::string::npos) << r.out;
  for (const char* f : {"search.db", "lut.db", "best_arch.json", "pareto.json", "pareto.csv", "pareto.svg", "report.md",
                        "supernet/supernet.json", "supernet/supernet.safetensors", "baseline/metrics.json",
                        "baseline/model.safetensors", "export/model.yaml", "export/model.safetensors"})
    EXPECT_TRUE(fs::exists(out + "/" + f)) << f;

  // The winner: trained, measured, and within the budget per the LUT.
  Json best = readJsonFile(out + "/best_arch.json");
  const std::string hash = best["hash"].get<std::string>();
  ASSERT_EQ(hash.size(), 16u);
  EXPECT_TRUE(fs::exists(out + "/finalists/" + hash + "/model.safetensors"));
  Json m = readJsonFile(out + "/finalists/" + hash + "/metrics.json");
  EXPECT_EQ(m["hash"], hash);
  EXPECT_EQ(m["steps"].get<int64_t>(), 4);  // 256 images, batch 64, 1 epoch
  EXPECT_EQ(m["train_images"].get<int64_t>(), 256);
  EXPECT_EQ(m["val_images"].get<int64_t>(), 200);
  EXPECT_GE(m["val_accuracy"].get<double>(), 0.0);
  EXPECT_GE(m["test_accuracy"].get<double>(), 0.0);
  EXPECT_GT(m["measured_latency_ms"].get<double>(), 0.0);
  EXPECT_EQ(m["latency_runs"].get<int64_t>(), 5);
  const Json& budget = best["budgets"][0];
  EXPECT_EQ(budget["metric"], "latency_host-cpu_ms");
  EXPECT_NEAR(budget["max"].get<double>(), 0.9 * budget["baseline_value"].get<double>(), 1e-12);
  EXPECT_TRUE(best["meets_budget_lut"].get<bool>());
  EXPECT_LE(m["predicted_latency_ms"].get<double>(), budget["max"].get<double>());
  EXPECT_LE(m["search"]["latency_host-cpu_ms"].get<double>(), budget["max"].get<double>());
  // The baseline's LUT prediction is the budget's reference; its measured latency is beside it.
  Json b = readJsonFile(out + "/baseline/metrics.json");
  EXPECT_NEAR(b["predicted_latency_ms"].get<double>(), budget["baseline_value"].get<double>(), 1e-9);
  EXPECT_EQ(b["params"].get<int64_t>(), 136570);  // refnet
  EXPECT_GE(b["test_accuracy"].get<double>(), 0.0);
  // The exported model is the winner's, through the exporter: BN folded into the ONNX file,
  // the CPU package, the exporter's report listing them; nas-export reads the ONNX file back.
  EXPECT_EQ(readFile(out + "/export/model.safetensors"), readFile(out + "/finalists/" + hash + "/model.safetensors"));
  for (const char* f : {"export/model.onnx", "export/report.json", "export/report.md", "export/cpu/model.h",
                        "export/cpu/model.cpp", "export/cpu/main.cpp", "export/cpu/CMakeLists.txt"})
    EXPECT_TRUE(fs::exists(out + "/" + f)) << f;
  {
    Json er = readJsonFile(out + "/export/report.json");
    ASSERT_GE(er["steps"].size(), 2u);
    EXPECT_EQ(er["steps"][1]["name"], "fold_bn");
    EXPECT_EQ(er["steps"][0]["params"], m["params"]);  // the winner's model, as trained
    std::vector<std::string> files;
    for (const auto& f : er["artifacts"]) files.push_back(f.get<std::string>());
    EXPECT_NE(std::find(files.begin(), files.end(), "model.onnx"), files.end());
    EXPECT_NE(std::find(files.begin(), files.end(), "cpu/model.cpp"), files.end());
    const std::string back = tmp.file("onnx_back");
    CliRun reimport = cli::runCli(std::string(HWNAS_BIN_DIR) + "/nas-export",
                                  "--model " + out + "/export/model.onnx --target onnx --out " + back +
                                      " --no-accuracy --no-latency --quiet");
    if (fs::exists(std::string(HWNAS_BIN_DIR) + "/nas-export")) {
      EXPECT_EQ(reimport.code, 0) << reimport.err;
      Json br = readJsonFile(back + "/report.json");
      EXPECT_EQ(br["steps"][0]["macs"], er["steps"][1]["macs"]);
    }
  }

  // report.md: its sections and the winner.
  const std::string rep = readFile(out + "/report.md");
  for (const char* s : {"## Budget", "## Winner vs baseline", "## Finalists", "## Search", "## Export", "- `model.onnx`",
                        "- `cpu/`: ", "`model.cpp`", "## Stages", "Pareto front"})
    EXPECT_NE(rep.find(s), std::string::npos) << s;
  EXPECT_NE(rep.find("winner `" + hash + "`"), std::string::npos);
  for (const char* s : {"| supernet |", "| latency |", "| search |", "| finalists |", "| export |"})
    EXPECT_NE(rep.find(s), std::string::npos) << s;

  // search.db: the five stages done once, 6 counted queries, the run done.
  const std::string db = out + "/search.db";
  EXPECT_EQ(scalar(db, "SELECT count(*) FROM stages WHERE status = 'done' AND attempts = 1"), 5);
  EXPECT_EQ(text(db, "SELECT group_concat(name, ',') FROM (SELECT name FROM stages ORDER BY ord)"),
            "supernet,latency,search,finalists,export");
  EXPECT_EQ(scalar(db, "SELECT count(*) FROM queries WHERE counted"), 6);
  EXPECT_EQ(scalar(db, "SELECT count(*) FROM queries WHERE counted AND json_extract(metrics_json, '$.supernet_val_acc') "
                       "BETWEEN 0 AND 100"), 6);
  EXPECT_EQ(text(db, "SELECT status FROM runs"), "done");
  EXPECT_EQ(scalar(db, "SELECT json_extract(output_json, '$.queries') FROM stages WHERE name = 'search'"), 6);
  // The latency table: this CPU's op rows.
  const std::string lut = out + "/lut.db";
  const int64_t rows = scalar(lut, "SELECT count(*) FROM measurements WHERE device = 'host-cpu' AND level = 'op'");
  EXPECT_GT(rows, 0);
  const std::string stamp = text(lut, "SELECT max(created_at) FROM measurements");

  // --resume: every stage is skipped, the table is not re-measured, the same winner.
  CliRun again = run("--config " + cfg + " --out " + out + " --resume --threads 1");
  ASSERT_EQ(again.code, 0) << again.err;
  for (const char* s : {"supernet", "latency", "search", "finalists", "export"})
    EXPECT_NE(again.err.find(std::string("stage ") + s + ": done earlier"), std::string::npos) << s << "\n" << again.err;
  EXPECT_EQ(again.err.find(": running"), std::string::npos) << again.err;
  EXPECT_EQ(scalar(lut, "SELECT count(*) FROM measurements WHERE device = 'host-cpu' AND level = 'op'"), rows);
  EXPECT_EQ(text(lut, "SELECT max(created_at) FROM measurements"), stamp);
  EXPECT_EQ(readJsonFile(out + "/best_arch.json")["hash"], hash);
  EXPECT_EQ(scalar(db, "SELECT count(*) FROM stages WHERE attempts = 1"), 5);

  // Without --resume the finished run is refused; another config in the same dir too.
  CliRun refused = run("--config " + cfg + " --out " + out);
  EXPECT_EQ(refused.code, 2) << refused.err;
  EXPECT_NE(refused.err.find("--resume"), std::string::npos) << refused.err;
  const std::string other = writeConfig(tmp, "other.yaml", tinyConfig() + "export: false\n");
  CliRun foreign = run("--config " + other + " --out " + out + " --resume");
  EXPECT_EQ(foreign.code, 2) << foreign.err;
  EXPECT_NE(foreign.err.find("another config"), std::string::npos) << foreign.err;
}

TEST(NasSearchPipelineCli, DryRunPrintsStagesAndBadConfigsExitTwo) {
  TempDir tmp;
  const std::string cfg = writeConfig(tmp, "tiny.yaml", tinyConfig());
  CliRun d = run("--config " + cfg + " --dry-run");
  ASSERT_EQ(d.code, 0) << d.err;
  Json plan = parseJson(d.out);
  ASSERT_EQ(plan["stages"].size(), 6u);
  EXPECT_EQ(plan["stages"][0].get<std::string>().rfind("supernet: train sandwich", 0), 0u);
  EXPECT_EQ(plan["stages"][1].get<std::string>().rfind("latency: profile this CPU", 0), 0u);
  EXPECT_EQ(plan["config"]["kind"], "pipeline");
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.path()), fs::directory_iterator()), 1);  // only the config
  EXPECT_EQ(plan["stages"][4].get<std::string>().rfind("export: the winner through the exporter (fold_bn)", 0), 0u);

  // The quickstart's estimate: every stage's time from this machine's measured speed, positive,
  // the total their sum; the supernet (468 steps of 3+ subnets) the longest stage.
  CliRun q = run("--config " + kSrc + "/configs/quickstart.yaml --dry-run --threads 2");
  ASSERT_EQ(q.code, 0) << q.err;
  Json qp = parseJson(q.out);
  const Json& est = qp["estimate_seconds"];
  double sum = 0;
  for (const char* k : {"supernet", "latency", "search", "finalists", "export"}) {
    ASSERT_TRUE(est.contains(k)) << k << " " << est.dump();
    EXPECT_GT(est[k].get<double>(), 0.0) << k;
    sum += est[k].get<double>();
  }
  EXPECT_NEAR(est["total"].get<double>(), sum, 1e-6 * sum);
  EXPECT_GT(est["supernet"].get<double>(), est["search"].get<double>());
  EXPECT_GT(est["finalists"].get<double>(), est["latency"].get<double>());
  EXPECT_EQ(qp["work"]["supernet_steps"], 3 * (20000 / 128));  // the recipe's batch 128, 3 epochs on 20,000
  EXPECT_GT(qp["estimate"]["measured"]["largest"]["train_ms_per_image"].get<double>(),
            qp["estimate"]["measured"]["smallest"]["train_ms_per_image"].get<double>());
  EXPECT_FALSE(qp["estimate"]["method"].get<std::string>().empty());

  struct Bad {
    std::string body, part;
  };
  std::string base = tinyConfig();
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string s = base;
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  const std::vector<Bad> bad = {
      {replace("top_k: 1", "top_k: 0"), "finalists.top_k: must be >= 1"},
      {replace("top_k: 1", "topk: 1"), "finalists"},
      {replace(", baseline: " + kSrc + "/configs/models/refnet.yaml", ""), "constraints[0].relative_to"},
      {replace("source: supernet,", "source: supernet, path: /nonexistent,"), "objective.accuracy.path"},
      {replace("source: lut", "source: table"), "latency"},
      {replace("epochs: 1, train_limit: 256, batch_size: 64}", "epochs: 0}"), "supernet"},
      {base + "export: {targets: [gpu]}\n", "export.targets[0]"},
      {base + "export: {targets: [cpu, cpu]}\n", "export.targets[1]: listed twice"},
      {base + "export: {recipe: /nonexistent.yaml}\n", "export.recipe"},
      {base + "export: {target: cpu}\n", "export"},
  };
  for (const auto& c : bad) {
    const std::string p = writeConfig(tmp, "bad.yaml", c.body);
    CliRun r = run("--config " + p + " --out " + tmp.file("o"));
    EXPECT_EQ(r.code, 2) << c.part << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find("bad.yaml:"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(c.part), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(tmp.file("o"))) << c.part;
  }
}

TEST(NasSearchPipelineCli, KillNineOrSigintThenResumeAndOneThreadGiveTheSameWinner) {
  if (!haveFashionMnist()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  TempDir tmp;
  // The reference run profiles a table; the killed runs use it frozen (a profile's timings are
  // the one thing that differs from run to run, so the same table is what makes them comparable).
  const std::string ref = tmp.file("ref");
  CliRun r = run("--config " + writeConfig(tmp, "ref.yaml", tinyConfig()) + " --out " + ref + " --threads 2 --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string refWinner = readJsonFile(ref + "/best_arch.json")["hash"].get<std::string>();
  const std::string refQueries = querySequence(ref + "/search.db");
  const std::string frozen = tmp.file("lut.db");
  fs::copy_file(ref + "/lut.db", frozen);
  const std::string cfg = writeConfig(
      tmp, "frozen.yaml", tinyConfig("latency:\n  source: lut\n  device: host-cpu\n  fallback: true\n  path: " + frozen + "\n"));

  // One thread instead of two, uninterrupted: the same queries, supernet and winner.
  {
    const std::string out = tmp.file("one_thread");
    CliRun one = run("--config " + cfg + " --out " + out + " --threads 1 --quiet");
    ASSERT_EQ(one.code, 0) << one.err;
    EXPECT_EQ(readJsonFile(out + "/best_arch.json")["hash"].get<std::string>(), refWinner);
    EXPECT_EQ(querySequence(out + "/search.db"), refQueries);
    EXPECT_EQ(readFile(out + "/supernet/supernet.safetensors"), readFile(ref + "/supernet/supernet.safetensors"));
    EXPECT_EQ(readFile(out + "/export/model.safetensors"), readFile(ref + "/export/model.safetensors"));
  }
  // Kill points: in the search (after 2 committed steps), and in the finalists' training.
  const std::vector<std::pair<std::string, std::function<bool(const std::string&)>>> points = {
      {"search", [](const std::string& out) { return scalar(out + "/search.db", "SELECT count(*) FROM steps") >= 2; }},
      {"finalists",
       [](const std::string& out) {
         return scalar(out + "/search.db", "SELECT count(*) FROM stages WHERE name = 'finalists' AND status = 'running'") == 1;
       }},
  };
  // SIGINT at the same points, one run stopped twice: in the search, then (resumed) in the
  // finalists. Each stop is clean (exit 130, one line saying how to resume), leaves the stage
  // not done and no outputs of a finished run; the last --resume finishes with the same winner.
  {
    const std::string out = tmp.file("int"), db = out + "/search.db";
    std::string flags = " --threads 2 --step-delay-ms 150 --quiet";
    for (const auto& [name, ready] : points) {
      Signalled s = signalWhen("--config " + cfg + " --out " + out + flags, [&, out = out] { return ready(out); }, SIGINT);
      flags = " --threads 2 --quiet --resume";
      EXPECT_TRUE(s.sent) << name << ": the run finished before the stop point";
      EXPECT_EQ(s.code, 130) << name << ": " << s.err;
      EXPECT_EQ(s.err, "nas-search: interrupted; resume with --resume\n") << name;
      EXPECT_EQ(scalar(db, "SELECT count(*) FROM stages WHERE name = '" + name + "' AND status = 'done'"), 0) << name;
      EXPECT_EQ(scalar(db, "SELECT count(*) FROM stages WHERE name = '" + name + "' AND status = 'running'"), 1) << name;
      EXPECT_FALSE(fs::exists(out + "/report.md")) << name;
      if (name == "search") {  // the search's own outputs are written when it is done
        EXPECT_EQ(text(db, "SELECT status FROM runs"), "running");
        EXPECT_FALSE(fs::exists(out + "/best_arch.json"));
        EXPECT_FALSE(fs::exists(out + "/pareto.json"));
        EXPECT_LT(scalar(db, "SELECT count(*) FROM queries WHERE counted"), 6);
      } else {  // best_arch.json is still the search's best, not a trained winner
        EXPECT_FALSE(readJsonFile(out + "/best_arch.json").contains("trained"));
        EXPECT_FALSE(fs::exists(out + "/export"));
      }
    }
    CliRun res = run("--config " + cfg + " --out " + out + " --resume --threads 1");
    ASSERT_EQ(res.code, 0) << res.err;
    EXPECT_NE(res.err.find("stage search: done earlier"), std::string::npos) << res.err;
    EXPECT_NE(res.err.find("stage finalists: resuming"), std::string::npos) << res.err;
    EXPECT_EQ(scalar(db, "SELECT attempts FROM stages WHERE name = 'search'"), 2);
    EXPECT_EQ(readJsonFile(out + "/best_arch.json")["hash"].get<std::string>(), refWinner);
    EXPECT_EQ(querySequence(db), refQueries);
    EXPECT_EQ(readFile(out + "/export/model.safetensors"), readFile(ref + "/export/model.safetensors"));
  }
  for (const auto& [name, ready] : points) {
    const std::string out = tmp.file("kill_" + name);
    const bool killed = killWhen("--config " + cfg + " --out " + out + " --threads 2 --step-delay-ms 150",
                                 [&, out = out] { return ready(out); });
    EXPECT_TRUE(killed) << name << ": the run finished before the kill point";
    CliRun res = run("--config " + cfg + " --out " + out + " --resume --threads 1");
    ASSERT_EQ(res.code, 0) << name << ": " << res.err;
    EXPECT_NE(res.err.find("stage supernet: done earlier"), std::string::npos) << res.err;
    EXPECT_EQ(readJsonFile(out + "/best_arch.json")["hash"].get<std::string>(), refWinner) << name;
    EXPECT_EQ(querySequence(out + "/search.db"), refQueries) << name;
    EXPECT_EQ(readFile(out + "/supernet/supernet.safetensors"), readFile(ref + "/supernet/supernet.safetensors")) << name;
  }
}
