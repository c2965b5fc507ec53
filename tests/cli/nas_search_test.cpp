// End-to-end tests of nas-search on table configs as a user runs it: real processes, the files
// it writes read back field by field, one-line errors with exit code 2, refusing a foreign out
// dir, and kill -9 (a real SIGKILL of the child) followed by --resume ending with the same best
// arch and the same query sequence as an uninterrupted run.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/fs_util.h"
#include "tests/cli/cli_util.h"
#include "core/json_util.h"
#include "core/sqlite.h"

using namespace hwnas;
using cli::writeConfig;

namespace {

const std::string kBin = std::string(HWNAS_BIN_DIR) + "/nas-search";
const std::string kSrc = std::string(HWNAS_SOURCE_DIR);
const std::string kRea = kSrc + "/configs/benchmarks/nb201_cifar10_rea.yaml";

using cli::CliRun;

CliRun run(const std::string& args) { return cli::runCli(kBin, args); }

void expectOneLineError(const CliRun& r, const std::string& part) { cli::expectOneLineError(r, "nas-search", part); }

// A config in `dir` that uses the repository's tables by absolute path.
std::string tables(const std::string& f) { return kSrc + "/data/nb201/" + f; }

std::string guidedConfig(int queries) {
  return "space: " + kSrc + "/configs/spaces/nb201.yaml\nseed: 5\nobjective:\n  accuracy: {path: " +
         tables("nb201_cifar10valid_200ep.csv") + ", column: valid_acc}\nlatency:\n  tables: [" +
         tables("hwnasbench_nb201_cifar10_latency_via_help.csv") +
         "]\nconstraints:\n  - {metric: latency, device: pixel3, max: 10.6756}\nsearch:\n  strategy: guided\n  queries: " +
         std::to_string(queries) +
         "\n  batch: 4\n  guided: {initial: 8, candidates: 60, predictor: {kind: ensemble, members: 3, member: {kind: xgboost, "
         "rounds: 30, nthread: 1}}}\nreport:\n  accuracy: {path: " +
         tables("nb201_test_acc_200ep.csv") + ", column: cifar10_test_acc}\n";
}

int64_t stepsIn(const std::string& db) {
  if (!fileExists(db)) return 0;
  try {
    Database::Options o;
    o.readOnly = true;
    Database d(db, o);
    if (!d.tableExists("steps")) return 0;
    Statement s = d.prepare("SELECT COUNT(*) FROM steps");
    return s.step() ? s.getInt64(0) : 0;
  } catch (const Error&) {
    return 0;
  }
}

// Starts nas-search with args, waits until its DB holds >= steps steps, then SIGKILLs it.
void runAndKill(const std::vector<std::string>& args, const std::string& db, int64_t steps) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(kBin.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    execv(kBin.c_str(), argv.data());
    _exit(127);
  }
  auto t0 = std::chrono::steady_clock::now();
  while (stepsIn(db) < steps && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(30))
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the search ended before it could be killed";
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
}

std::vector<std::string> querySequence(const std::string& db) {
  Database d(db);
  Statement s = d.prepare("SELECT seq, arch_hash, counted, accuracy FROM queries ORDER BY seq");
  std::vector<std::string> v;
  while (s.step()) v.push_back(std::to_string(s.getInt64(0)) + ":" + s.getText(1) + ":" + std::to_string(s.getInt64(2)));
  return v;
}

}  // namespace

TEST(NasSearchCli, HelpShowsExamples) {
  CliRun r = run("--help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("Examples:"), std::string::npos);
  EXPECT_NE(r.out.find("--resume"), std::string::npos);
}

TEST(NasSearchCli, ReaRunWritesDatabaseAndResults) {
  TempDir tmp;
  std::string out = tmp.file("run");
  CliRun r = run("--config " + kRea + " --out " + out + " --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  Json best = readJsonFile(out + "/best_arch.json");
  EXPECT_EQ(best["found"], true);
  EXPECT_EQ(best["queries"], 150);
  EXPECT_EQ(best["strategy"], "evolution");
  // Its metrics are the table's: valid_acc and cifar10_test_acc of its index.
  int index = best["index"].get<int>();
  EXPECT_GE(best["metrics"]["valid_acc"].get<double>(), 91.0);
  EXPECT_GT(best["report"]["cifar10_test_acc"].get<double>(), 93.0);
  std::ifstream csv(kSrc + "/data/nb201/nb201_cifar10valid_200ep.csv");
  std::string line;
  std::getline(csv, line);
  while (std::getline(csv, line))
    if (line.rfind(std::to_string(index) + ",", 0) == 0) break;
  std::vector<std::string> f;
  std::stringstream ss(line);
  for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
  ASSERT_GE(f.size(), 6u);
  EXPECT_EQ(best["metrics"]["valid_acc"].get<double>(), std::stod(f[5]));
  EXPECT_EQ(best["arch_str"], f[1]);
  // search.db: WAL, schema version 1, one run, 150 counted queries, steps with state.
  Database db(out + "/search.db");
  EXPECT_EQ(db.userVersion(), 1);
  EXPECT_EQ(db.journalMode(), "wal");
  Statement s = db.prepare("SELECT COUNT(*), SUM(counted), MAX(step) FROM queries");
  ASSERT_TRUE(s.step());
  EXPECT_EQ(s.getInt64(1), 150);
  Statement st = db.prepare("SELECT status, strategy, budget FROM runs");
  ASSERT_TRUE(st.step());
  EXPECT_EQ(st.getText(0), "done");
  EXPECT_EQ(st.getText(1), "evolution");
  for (const char* fn : {"pareto.json", "pareto.csv", "pareto.svg"}) EXPECT_TRUE(fileExists(out + "/" + fn)) << fn;
  std::string svg = readFile(out + "/pareto.svg");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("<circle"), std::string::npos);
  // The same out dir again: refused without --resume/--force; a different config refused too.
  expectOneLineError(run("--config " + kRea + " --out " + out), "already holds this run");
  expectOneLineError(run("--config " + kRea + " --out " + out + " --seed 3"), "holds a run of another config");
  CliRun again = run("--config " + kRea + " --out " + out + " --seed 3 --force --quiet");
  EXPECT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(readJsonFile(out + "/best_arch.json")["seed"], 3);
}

TEST(NasSearchCli, DryRunWritesNothing) {
  TempDir tmp;
  std::string out = tmp.file("dry");
  CliRun r = run("--config " + kSrc + "/configs/benchmarks/nb201_pixel3_guided.yaml --out " + out + " --dry-run");
  ASSERT_EQ(r.code, 0) << r.err;
  Json j = parseJson(r.out);
  EXPECT_EQ(j["config"]["search"]["strategy"], "guided");
  EXPECT_GT(j["feasible_archs"].get<int64_t>(), 7000);
  EXPECT_LT(j["feasible_archs"].get<int64_t>(), 8700);
  EXPECT_FALSE(fileExists(out));
}

TEST(NasSearchCli, BadConfigsExitTwoWithLocation) {
  TempDir tmp;
  std::string base = "space: " + kSrc + "/configs/spaces/nb201.yaml\nobjective:\n  accuracy: {path: " +
                     tables("nb201_cifar10valid_200ep.csv") + ", column: valid_acc}\nlatency:\n  tables: [" +
                     tables("hwnasbench_nb201_cifar10_latency_via_help.csv") + "]\n";
  std::string out = tmp.file("out");
  expectOneLineError(run("--config " + writeConfig(tmp, "a.yaml", base + "search: {strategy: bayes, queries: 5}\n") + " --out " + out),
                     "a.yaml:6:20: search.strategy: unknown strategy 'bayes'");
  expectOneLineError(run("--config " + writeConfig(tmp, "b.yaml", base + "search: {strategy: random, queries: 5}\nconstraints:\n  - {metric: latency, device: pixel4, max: 3}\n") +
                         " --out " + out),
                     "b.yaml:8:31: constraints[0].device: unknown device 'pixel4'; the latency tables have: eyeriss, fpga, pixel3, raspi4");
  expectOneLineError(run("--config " + writeConfig(tmp, "c.yaml", base + "search: {strategy: random, queries: 5}\nconstraints:\n  - {metric: latency, device: pixel3, max: 0.001}\n") +
                         " --out " + out),
                     "infeasible budget");
  expectOneLineError(run("--config " + writeConfig(tmp, "d.yaml", "space: " + kSrc + "/configs/spaces/nb201.yaml\nobjective:\n  accuracy: {path: missing.csv, column: valid_acc}\nsearch: {strategy: random, queries: 5}\n") +
                         " --out " + out),
                     "d.yaml:3:");
  expectOneLineError(run("--config " + tmp.file("nope.yaml") + " --out " + out), "nope.yaml");
  EXPECT_FALSE(fileExists(out));  // nothing written for a bad config
}

TEST(NasSearchCli, KillNineThenResumeEndsWithTheSameBest) {
  TempDir tmp;
  std::string cfg = writeConfig(tmp, "g.yaml", guidedConfig(48));
  std::string straight = tmp.file("straight");
  CliRun r = run("--config " + cfg + " --out " + straight + " --quiet --threads 2");
  ASSERT_EQ(r.code, 0) << r.err;
  Json want = readJsonFile(straight + "/best_arch.json");
  auto wantSeq = querySequence(straight + "/search.db");
  ASSERT_EQ(wantSeq.size(), 48u);
  // Killed at two points (after 2 and after 7 committed steps; 12 steps in all), each resumed
  // at another thread count.
  std::string out = tmp.file("killed");
  runAndKill({"--config", cfg, "--out", out, "--quiet", "--threads", "1", "--step-delay-ms", "60"}, out + "/search.db", 2);
  runAndKill({"--config", cfg, "--out", out, "--quiet", "--resume", "--threads", "2", "--step-delay-ms", "60"}, out + "/search.db", 7);
  CliRun res = run("--config " + cfg + " --out " + out + " --quiet --resume --threads 1");
  ASSERT_EQ(res.code, 0) << res.err;
  Json got = readJsonFile(out + "/best_arch.json");
  EXPECT_EQ(got["hash"], want["hash"]);
  EXPECT_EQ(got["metrics"], want["metrics"]);
  EXPECT_EQ(querySequence(out + "/search.db"), wantSeq);
  EXPECT_EQ(readFile(out + "/pareto.csv"), readFile(straight + "/pareto.csv"));
}
