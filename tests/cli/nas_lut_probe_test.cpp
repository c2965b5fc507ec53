// The on-board profiling path end to end with the real tools: nas-lut plan -> hwnas-probe ->
// nas-lut import, garbage plans and bad results as one-line errors that write nothing, the
// static probe, the probe cross-compiled for 64-bit ARM and run under qemu-aarch64-static
// (skipped with a message when the cross tools are missing), and nas-space's peak activation
// bytes against the arena the runtime executor allocates.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "core/json_util.h"
#include "core/lower.h"
#include "runtime/executor.h"
#include "tests/cli/cli_util.h"
#include "trainer/model_def.h"
#include "trainer/weight_map.h"

using namespace hwnas;
using namespace hwnas::cli;

namespace {

const std::string kSrc = HWNAS_SOURCE_DIR;
const std::string kBin = HWNAS_BIN_DIR;
const std::string kLut = kBin + "/nas-lut";
const std::string kProbe = kBin + "/hwnas-probe";
const std::string kSpace = kSrc + "/configs/spaces/fmnist_small.yaml";

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

bool haveTool(const std::string& name) { return std::system(("command -v " + name + " >/dev/null 2>&1").c_str()) == 0; }

int countLines(const std::string& text, const std::string& prefix) {
  int n = 0;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) n += line.rfind(prefix, 0) == 0;
  return n;
}

// A small plan: `ops` op lines of the fmnist_small plan, 2 repeats.
std::string smallPlan(const TempDir& dir, int ops) {
  const std::string full = dir.file("full.txt");
  const CliRun r = runCli(kLut, "plan --space " + kSpace + " --out " + full + " --samples 2 --repeats 2 --warmup 1");
  EXPECT_EQ(r.code, 0) << r.err;
  std::istringstream in(slurp(full));
  std::string line, out;
  int n = 0;
  while (std::getline(in, line)) {
    if (line.rfind("ops ", 0) == 0) line = "ops " + std::to_string(ops);
    if (line.rfind("op ", 0) == 0 && n++ >= ops) continue;
    out += line + "\n";
  }
  const std::string path = dir.file("small.txt");
  std::ofstream(path) << out;
  return path;
}

}  // namespace

TEST(NasLutProbe, PlanProbeImportEndToEnd) {
  TempDir dir;
  const std::string plan = dir.file("plan.txt"), results = dir.file("results.json"), db = dir.file("lut.db");
  CliRun r = runCli(kLut, "plan --space " + kSpace + " --out " + plan + " --samples 3 --repeats 3 --warmup 1 --threads 1");
  ASSERT_EQ(r.code, 0) << r.err;
  const Json summary = parseJson(r.out);
  const std::string text = slurp(plan);
  const int ops = countLines(text, "op ");
  EXPECT_EQ(summary["ops"], ops);
  EXPECT_GT(ops, 20);
  EXPECT_NE(text.find("format hwnas-probe-plan\nversion 1\n"), std::string::npos);
  EXPECT_NE(text.find("repeats 3\n"), std::string::npos);
  r = runCli(kProbe, plan + " " + results);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find(std::to_string(ops) + "/" + std::to_string(ops) + " ops (100%)"), std::string::npos) << r.err;
  const Json j = readJsonFile(results);
  EXPECT_EQ(j["ops"].size(), size_t(ops));
  EXPECT_EQ(j["repeats"], 3);
  // Import without --format: the results are recognised.
  r = runCli(kLut, "import --db " + db + " --device board --kind mobile " + results);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(parseJson(r.out)["board"], ops);
  r = runCli(kLut, "list --db " + db + " --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const Json list = parseJson(r.out);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["name"], "board");
  EXPECT_EQ(list[0]["kind"], "mobile");
  EXPECT_EQ(list[0]["op"], ops);
  r = runCli(kLut, "export --db " + db + " --device board");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(countLines(r.out, "board,mobile,op,"), ops);
  EXPECT_NE(r.out.find(",profiled,\"hwnas-probe on '"), std::string::npos) << r.out;
  // The same file again replaces the rows (same keys), it does not add any.
  r = runCli(kLut, "import --db " + db + " --device board --format hwnas-probe " + results);
  ASSERT_EQ(r.code, 0) << r.err;
  r = runCli(kLut, "list --db " + db + " --json");
  EXPECT_EQ(parseJson(r.out)[0]["op"], ops);
}

TEST(NasLutProbe, GarbagePlanIsALineNumberedErrorAndWritesNothing) {
  TempDir dir;
  const std::string plan = smallPlan(dir, 3);
  std::string text = slurp(plan);
  const size_t at = text.find("\nop ");
  const int lineNo = int(std::count(text.begin(), text.begin() + long(at), '\n')) + 2;
  text.insert(at + 1, "op conv2d key=x in=1x3x8x8 out=4 g=garbage\n");
  const std::string bad = dir.file("bad.txt"), results = dir.file("results.json");
  std::ofstream(bad) << text;
  CliRun r = runCli(kProbe, bad + " " + results);
  expectOneLineError(r, "hwnas-probe", bad + ":" + std::to_string(lineNo) + ": g=garbage is not an integer");
  EXPECT_FALSE(fileExists(results));
  EXPECT_FALSE(fileExists(results + ".tmp"));
  r = runCli(kProbe, dir.file("missing.txt") + " " + results);
  expectOneLineError(r, "hwnas-probe", "cannot open the plan file");
  r = runCli(kProbe, plan + " " + results + " --repeats zero");
  expectOneLineError(r, "hwnas-probe", "--repeats zero");
  r = runCli(kProbe, plan);
  expectOneLineError(r, "hwnas-probe", "usage: hwnas-probe PLAN.txt RESULTS.json");
  EXPECT_FALSE(fileExists(results));
  r = runCli(kLut, "plan --space " + kSpace);
  expectOneLineError(r, "nas-lut", "plan: --out plan.txt is required");
}

TEST(NasLutProbe, BadResultsLeaveTheTableUnchanged) {
  TempDir dir;
  const std::string plan = smallPlan(dir, 3), results = dir.file("r.json"), db = dir.file("lut.db");
  ASSERT_EQ(runCli(kProbe, plan + " " + results + " --quiet").code, 0);
  ASSERT_EQ(runCli(kLut, "import --db " + db + " --device board " + results).code, 0);
  const std::string before = runCli(kLut, "export --db " + db).out;
  std::string text = slurp(results);
  const std::string badVersion = dir.file("v.json"), truncated = dir.file("t.json");
  std::string v = text;
  v.replace(v.find("\"version\": 1"), 12, "\"version\": 9");
  std::ofstream(badVersion) << v;
  std::ofstream(truncated) << text.substr(0, text.size() - 40);
  CliRun r = runCli(kLut, "import --db " + db + " --device other --format hwnas-probe " + badVersion);
  expectOneLineError(r, "nas-lut", "version 9 is newer");
  r = runCli(kLut, "import --db " + db + " --device other --format hwnas-probe " + truncated);
  expectOneLineError(r, "nas-lut", "not valid JSON");
  r = runCli(kLut, "import --db " + db + " " + results);
  expectOneLineError(r, "nas-lut", "--device");
  EXPECT_EQ(runCli(kLut, "export --db " + db).out, before);
  EXPECT_EQ(parseJson(runCli(kLut, "list --db " + db + " --json").out).size(), 1u);
}

TEST(NasLutProbe, StaticProbeHasNoInterpreterAndRuns) {
  const std::string bin = kBin + "/hwnas-probe-static";
  if (!fileExists(bin)) GTEST_SKIP() << "hwnas-probe-static not built (HWNAS_PROBE_STATIC=OFF or a sanitizer build)";
  if (!haveTool("readelf")) GTEST_SKIP() << "readelf (binutils) missing";
  TempDir dir;
  const CliRun elf = runCli("readelf", "-l " + bin);
  ASSERT_EQ(elf.code, 0);
  EXPECT_EQ(elf.out.find("INTERP"), std::string::npos) << "hwnas-probe-static asks for a dynamic loader";
  EXPECT_EQ(elf.out.find("DYNAMIC"), std::string::npos);
  const std::string plan = smallPlan(dir, 2), results = dir.file("r.json");
  const CliRun r = runCli(bin, plan + " " + results + " --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(readJsonFile(results)["ops"].size(), 2u);
}

// The board path for a Raspberry Pi 4 class board: cross-compile the probe from runtime/ alone,
// run it under user-mode emulation (timings mean nothing there) and import what it wrote.
TEST(NasLutProbe, CrossCompiledArmProbeRunsUnderQemuAndImports) {
  const std::string cxx = "aarch64-linux-gnu-g++", qemu = "qemu-aarch64-static";
  if (!haveTool(cxx) || !haveTool(qemu))
    GTEST_SKIP() << "skipped: needs " << cxx << " and " << qemu
                 << " (Debian packages g++-aarch64-linux-gnu and qemu-user-static; scripts/install-deps.sh)";
  TempDir dir;
  const std::string exe = dir.file("hwnas-probe-aarch64");
  // runtime/ and runtime/probe/ only: the probe needs nothing else. -O1 keeps CI time down.
  const std::string compile = cxx + " -std=c++17 -O1 -static -pthread -I" + kSrc + " " + kSrc + "/runtime/*.cpp " +
                              kSrc + "/runtime/probe/*.cpp -o " + exe;
  CliRun r = runCli(compile, "");
  ASSERT_EQ(r.code, 0) << compile << "\n" << r.err;
  const CliRun elf = runCli("file", exe);
  if (elf.code == 0) EXPECT_NE(elf.out.find("aarch64"), std::string::npos) << elf.out;
  const std::string plan = smallPlan(dir, 4), results = dir.file("arm.json"), db = dir.file("lut.db");
  r = runCli(qemu, exe + " " + plan + " " + results);
  ASSERT_EQ(r.code, 0) << r.err;
  const Json j = readJsonFile(results);
  EXPECT_EQ(j["device"]["arch"], "aarch64");
  EXPECT_EQ(j["device"]["isa"], "scalar");
  EXPECT_EQ(j["ops"].size(), 4u);
  r = runCli(kLut, "import --db " + db + " --device raspi4-qemu --kind mobile " + results);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(parseJson(r.out)["raspi4-qemu"], 4);
  r = runCli(kLut, "export --db " + db + " --device raspi4-qemu");
  EXPECT_NE(r.out.find("aarch64, kernels scalar"), std::string::npos) << r.out;
}

TEST(NasSpacePeak, StatsReportTheArenaTheExecutorAllocates) {
  const std::string model = kSrc + "/configs/models/refnet.yaml";
  const CliRun r = runCli(kBin + "/nas-space", "stats --model " + model);
  ASSERT_EQ(r.code, 0) << r.err;
  const Json j = parseJson(r.out);
  const ModelDef def = loadModelDef(model);
  auto net = buildModel(def, 0);
  net->eval();
  runtime::Executor ex(lower(net->toGraph(1), weightMapOf(*net)));
  EXPECT_EQ(j["peak_activation_bytes"].get<int64_t>(), ex.allocatedArenaBytes());
  EXPECT_GT(ex.allocatedArenaBytes(), 0);
  EXPECT_TRUE(j.contains("graph_peak_activation_bytes"));
}
