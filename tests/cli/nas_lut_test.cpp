// End-to-end tests of nas-lut as a user runs it: import + list + predict + export on the shipped
// tables, a tiny profile and predict on this machine, and one-line errors with exit code 2 that
// leave the database as it was.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/fs_util.h"
#include "tests/cli/cli_util.h"
#include "core/json_util.h"

using namespace hwnas;

namespace {

const std::string kBin = std::string(HWNAS_BIN_DIR) + "/nas-lut";
const std::string kSrc = std::string(HWNAS_SOURCE_DIR);

using cli::CliRun;

CliRun run(const std::string& args) { return cli::runCli(kBin, args); }

void expectOneLineError(const CliRun& r, const std::string& part) { cli::expectOneLineError(r, "nas-lut", part); }

}  // namespace

TEST(NasLutCli, HelpShowsExamples) {
  CliRun r = run("--help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("nas-lut validate --db lut.db"), std::string::npos);
  EXPECT_NE(r.out.find("--resolution"), std::string::npos);
}

TEST(NasLutCli, ImportListPredictExport) {
  TempDir dir;
  const std::string db = dir.file("lut.db");
  CliRun r = run("import --db " + db + " --format nb201-hwnasbench " + kSrc +
                 "/data/nb201/hwnasbench_nb201_cifar10_latency_via_help.csv --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(parseJson(r.out)["fpga"].get<int>(), 15625);
  r = run("import --db " + db + " --format ofa-note10 " + kSrc + "/data/luts/ofa_note10_latency_lut.csv");
  ASSERT_EQ(r.code, 0) << r.err;
  r = run("list --db " + db + " --json");
  ASSERT_EQ(r.code, 0) << r.err;
  Json l = parseJson(r.out);
  ASSERT_EQ(l.size(), 5u);  // eyeriss, fpga, note10, pixel3, raspi4
  EXPECT_EQ(l[1]["name"], "fpga");
  EXPECT_EQ(l[1]["arch"].get<int>(), 15625);
  EXPECT_EQ(l[2]["name"], "note10");
  EXPECT_GT(l[2]["block"].get<int>(), 0);
  // Index 1 of the table: fpga 5.31536 ms.
  r = run("predict --db " + db + " --device fpga --space " + kSrc + "/configs/spaces/nb201.yaml --arch '{\"index\": 1}'");
  ASSERT_EQ(r.code, 0) << r.err;
  Json p = parseJson(r.out);
  EXPECT_EQ(p["latency_ms"].get<double>(), 5.31536);
  EXPECT_EQ(p["method"], "arch-table");
  r = run("export --db " + db + " --device fpga --level arch --out " + dir.file("fpga.csv"));
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string csv = readFile(dir.file("fpga.csv"));
  EXPECT_NE(csv.find(",5.31536,"), std::string::npos);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 15626);
  // Analytic devices need no table and report energy.
  r = run("predict --device analytic:fpga --model " + kSrc + "/configs/models/refnet.yaml --no-ops");
  ASSERT_EQ(r.code, 0) << r.err;
  p = parseJson(r.out);
  EXPECT_GT(p["latency_ms"].get<double>(), 0);
  EXPECT_GT(p["energy_mj"].get<double>(), 0);
}

TEST(NasLutCli, ProfileThenPredictOnThisMachine) {
  TempDir dir;
  const std::string db = dir.file("lut.db");
  const std::string space = kSrc + "/configs/spaces/fmnist_small.yaml";
  CliRun r = run("profile --db " + db + " --device host-cpu --space " + space +
                 " --samples 3 --no-complete --runs 3 --burst 3 --warmup 1 --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  Json pj = parseJson(r.out);
  EXPECT_EQ(pj["networks"].get<int>(), 3);
  EXPECT_GT(pj["keys_written"].get<int>(), 20);
  // (--no-complete: only the 3 sampled networks.) A refnet-sized arch is unlikely to be fully
  // covered by 3 networks: with the fallback it
  // predicts and says so, or it is an exact LUT sum.
  const std::string arch = dir.file("a.json");
  writeFileAtomic(arch, R"({"stages": [{"depth": 2, "out": 24, "se": false, "blocks": [{"kernel": 3, "expand": 4}, {"kernel": 3, "expand": 4}]},
    {"depth": 2, "out": 40, "se": false, "blocks": [{"kernel": 5, "expand": 4}, {"kernel": 5, "expand": 4}]},
    {"depth": 2, "out": 80, "se": false, "blocks": [{"kernel": 3, "expand": 4}, {"kernel": 3, "expand": 4}]}]})");
  r = run("predict --db " + db + " --device host-cpu --space " + space + " --arch " + arch + " --allow-fallback");
  ASSERT_EQ(r.code, 0) << r.err;
  Json p = parseJson(r.out);
  EXPECT_GT(p["latency_ms"].get<double>(), 0);
  int flagged = 0;
  for (const auto& op : p["ops"]) flagged += op["fallback"].get<bool>();
  EXPECT_EQ(p["fallback_ops"].get<int>(), flagged);
  EXPECT_EQ(p["fallback_used"].get<bool>(), flagged > 0);
  if (flagged > 0) {
    r = run("predict --db " + db + " --device host-cpu --space " + space + " --arch " + arch);
    expectOneLineError(r, "on device 'host-cpu'");
    EXPECT_NE(r.err.find("no latency for '"), std::string::npos) << r.err;
  }
  // 2 threads were never profiled: every key misses.
  r = run("predict --db " + db + " --device host-cpu --threads 2 --space " + space + " --arch " + arch);
  expectOneLineError(r, "2 threads");
}

TEST(NasLutCli, BadInputIsOneLineAndLeavesTheDatabaseAlone) {
  TempDir dir;
  const std::string garbage = dir.file("garbage.db");
  writeFileAtomic(garbage, "this is not a database\n");
  CliRun r = run("list --db " + garbage);
  expectOneLineError(r, "not an SQLite database");
  r = run("import --db " + garbage + " --format proxyless " + kSrc + "/data/luts/proxylessnas_mobile_latency_lut.csv");
  expectOneLineError(r, "not an SQLite database");
  EXPECT_EQ(readFile(garbage), "this is not a database\n");

  const std::string db = dir.file("lut.db");
  ASSERT_EQ(run("add-device --db " + db + " --device pixel3 --kind mobile --quiet").code, 0);
  r = run("predict --db " + db + " --device pixel4 --space " + kSrc + "/configs/spaces/nb201.yaml --arch '{\"index\": 1}'");
  expectOneLineError(r, "unknown device 'pixel4'");
  EXPECT_NE(r.err.find("the latency table has: pixel3"), std::string::npos) << r.err;
  r = run("import --db " + db + " --format nb201-help " + kSrc + "/configs/spaces/nb201.yaml");
  EXPECT_EQ(r.code, 2) << r.err;
  r = run("list --db " + db + " --json");
  ASSERT_EQ(r.code, 0);
  EXPECT_EQ(parseJson(r.out).size(), 1u);
  expectOneLineError(run("import --db " + db + " --format tflite x.csv"), "unknown --format 'tflite'");
  expectOneLineError(run("validate --db " + db + " --device pixel3"), "--space is required");
  expectOneLineError(run("profile --db " + db + " --device host --space " + kSrc +
                         "/configs/spaces/ofa_mbv3.yaml --resolution 130"),
                     "--resolution 130 is not a resolution");
  expectOneLineError(run("frobnicate"), "unknown command");
}
