// SIGINT / SIGTERM of nas-search in table mode (kind absent: the SearchEngine on the NB201
// tables): the run stops between steps, exits 130 with one line saying how to resume, leaves
// search.db with the committed steps and the run still "running" (no best_arch.json or pareto
// files, which only a finished run writes), and --resume ends with the uninterrupted run's best
// arch and query sequence. The pipeline's SIGINT points are in nas_search_pipeline_test.cpp.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "core/fs_util.h"
#include "core/json_util.h"
#include "core/sqlite.h"
#include "tests/cli/cli_util.h"

namespace fs = std::filesystem;
using namespace hwnas;

namespace {

const std::string kBin = std::string(HWNAS_BIN_DIR) + "/nas-search";
const std::string kSrc = std::string(HWNAS_SOURCE_DIR);

// Regularized evolution on the NB201 CIFAR-10 tables, 2 proposals per step, 30 queries.
std::string reaConfig() {
  const std::string t = kSrc + "/data/nb201/";
  return "space: " + kSrc + "/configs/spaces/nb201.yaml\nseed: 11\nobjective:\n  accuracy: {path: " + t +
         "nb201_cifar10valid_200ep.csv, column: valid_acc, key: index}\nsearch:\n  strategy: evolution\n  queries: 30\n"
         "  batch: 2\n  evolution: {population: 8, sample_size: 3}\n";
}

int64_t scalarOr(const std::string& db, const std::string& sql, int64_t fallback) {
  if (!fileExists(db)) return fallback;
  try {
    Database::Options o;
    o.readOnly = true;
    Database d(db, o);
    Statement s = d.prepare(sql);
    return s.step() ? s.getInt64(0) : fallback;
  } catch (const Error&) {
    return fallback;  // created but not yet set up
  }
}

std::string querySequence(const std::string& db) {
  Database d(db);
  Statement s = d.prepare("SELECT seq, arch_hash, counted, accuracy FROM queries ORDER BY seq");
  std::string o;
  while (s.step()) o += std::to_string(s.getInt64(0)) + ":" + s.getText(1) + ":" + std::to_string(s.getInt64(2)) + ";";
  return o;
}

struct Stopped {
  bool sent = false;
  int code = -1;
  std::string err;
};

// Runs nas-search with `args`, sends `sig` once search.db holds >= `steps` steps, waits for it.
Stopped stopAfterSteps(const std::string& args, const std::string& db, int64_t steps, int sig) {
  TempDir tmp;
  const std::string errFile = tmp.file("stderr");
  pid_t pid = fork();
  if (pid == 0) {
    const std::string cmd = "exec " + kBin + " " + args + " >/dev/null 2>" + errFile;
    execl("/bin/sh", "sh", "-c", cmd.c_str(), (char*)nullptr);
    _exit(127);
  }
  Stopped s;
  int status = 0;
  const auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(30)) {
    if (waitpid(pid, &status, WNOHANG) == pid) break;
    if (scalarOr(db, "SELECT count(*) FROM steps", 0) >= steps) {
      kill(pid, sig);
      s.sent = true;
      waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  s.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  s.err = readFile(errFile);
  return s;
}

}  // namespace

TEST(NasSearchInterrupt, SigintOrSigtermInTableModeStopsCleanlyAndResumes) {
  TempDir tmp;
  const std::string cfg = tmp.file("rea.yaml");
  writeFileAtomic(cfg, reaConfig());
  const std::string straight = tmp.file("straight");
  cli::CliRun r = cli::runCli(kBin, "--config " + cfg + " --out " + straight + " --quiet --threads 1");
  ASSERT_EQ(r.code, 0) << r.err;
  const Json want = readJsonFile(straight + "/best_arch.json");
  const std::string wantSeq = querySequence(straight + "/search.db");
  ASSERT_FALSE(wantSeq.empty());

  for (int sig : {SIGINT, SIGTERM}) {
    const std::string out = tmp.file("stopped_" + std::to_string(sig));
    const std::string db = out + "/search.db";
    Stopped s = stopAfterSteps("--config " + cfg + " --out " + out + " --quiet --threads 1 --step-delay-ms 80", db, 3, sig);
    ASSERT_TRUE(s.sent) << "the search ended before the signal";
    EXPECT_EQ(s.code, 130) << s.err;
    EXPECT_EQ(s.err, "nas-search: interrupted; resume with --resume\n");
    const int64_t steps = scalarOr(db, "SELECT count(*) FROM steps", -1);
    EXPECT_GE(steps, 3);
    EXPECT_LT(scalarOr(db, "SELECT count(*) FROM queries WHERE counted", -1), 30);
    EXPECT_EQ(scalarOr(db, "SELECT count(*) FROM runs WHERE status = 'running'", -1), 1);
    for (const char* f : {"best_arch.json", "pareto.json", "pareto.csv", "pareto.svg"})
      EXPECT_FALSE(fs::exists(out + "/" + f)) << f;
    // Without --resume the interrupted run is refused (it is still this config's run).
    cli::CliRun again = cli::runCli(kBin, "--config " + cfg + " --out " + out + " --quiet");
    cli::expectOneLineError(again, "nas-search", "--resume");
    cli::CliRun res = cli::runCli(kBin, "--config " + cfg + " --out " + out + " --quiet --resume --threads 2");
    ASSERT_EQ(res.code, 0) << res.err;
    const Json got = readJsonFile(out + "/best_arch.json");
    EXPECT_EQ(got["hash"], want["hash"]);
    EXPECT_EQ(got["metrics"], want["metrics"]);
    EXPECT_EQ(querySequence(db), wantSeq);
  }
}
