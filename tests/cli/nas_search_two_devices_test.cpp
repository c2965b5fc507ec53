// End-to-end test of a pipeline that searches for two devices at once: this CPU (the profiled
// LUT) and an analytic FPGA model (latency.devices) with an FPGA resource budget (fpga_bram36),
// NSGA-II over accuracy and both latencies. Asserts the budgets resolved from refnet on each
// device (the FPGA one equals `nas-lut predict --device analytic:fpga` on refnet), that every
// feasible query meets all three constraints and the BRAM budget screens archs out, the
// finalists' per-device predictions, the per-device Pareto sections, the same queries at one and
// two threads, and the config errors (a PE array over the DSP budget, BRAM on a non-FPGA device).
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "core/fs_util.h"
#include "core/json_util.h"
#include "core/sqlite.h"
#include "tests/cli/cli_util.h"

namespace fs = std::filesystem;
using namespace hwnas;
using cli::haveFashionMnist;
using cli::writeConfig;

namespace {

const std::string kBin = std::string(HWNAS_BIN_DIR) + "/nas-search";
const std::string kSrc = std::string(HWNAS_SOURCE_DIR);

std::string config(const std::string& lutPath = "", const std::string& fpga = "dsp: 80, bram36: 60, luts: 17600",
                   const std::string& bramDevice = "zynq7010") {
  return "kind: pipeline\nspace: " + kSrc + "/configs/spaces/fmnist_small.yaml\nseed: 3\n"
         "supernet: {recipe: " + kSrc + "/configs/supernet/fmnist_small.yaml, epochs: 1, max_steps: 2, train_limit: 128, batch_size: 64}\n"
         "objective:\n  accuracy: {source: supernet, calibration_images: 64, val_images: 100}\n"
         "  minimize: [{metric: latency, device: host-cpu}, {metric: latency, device: zynq7010}]\n"
         "latency:\n  source: lut\n  device: host-cpu\n  fallback: true\n" +
         (lutPath.empty() ? "  profile: {samples: 3, candidates: 6, runs: 3, warmup: 1, burst: 1}\n" : "  path: " + lutPath + "\n") +
         "  devices:\n    - {name: zynq7010, model: analytic:fpga, " + fpga + "}\n"
         "constraints:\n  - {metric: latency, device: host-cpu, max: 0.9, relative_to: baseline}\n"
         "  - {metric: latency, device: zynq7010, max: 0.8, relative_to: baseline}\n"
         "  - {metric: fpga_bram36, device: " + bramDevice + ", max: 2}\n"
         "search:\n  strategy: nsga2\n  queries: 12\n  nsga2: {population: 4}\n"
         "finalists: {top_k: 1, epochs: 1, max_steps: 2, train_limit: 128, eval_limit: 100, batch_size: 64, baseline: " + kSrc +
         "/configs/models/refnet.yaml, measure_runs: 3}\nexport: false\n";
}

std::string querySequence(const std::string& db) {
  Database d(db);
  Statement s = d.prepare("SELECT arch_hash, accuracy, metrics_json FROM queries ORDER BY seq");
  std::ostringstream o;
  while (s.step()) o << s.getText(0) << ":" << (s.isNull(1) ? -1.0 : s.getDouble(1)) << ";";
  return o.str();
}

}  // namespace

TEST(NasSearchTwoDevicesCli, CpuAndAnalyticFpgaWithBramBudget) {
  if (!haveFashionMnist()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  TempDir tmp;
  const std::string out = tmp.file("out");
  cli::CliRun r = cli::runCli(kBin, "--config " + writeConfig(tmp, "two.yaml", config()) + " --out " + out + " --threads 2 --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  Json best = readJsonFile(out + "/best_arch.json");
  const Json& budgets = best["budgets"];
  ASSERT_EQ(budgets.size(), 3u);
  EXPECT_EQ(budgets[1]["metric"], "latency_zynq7010_ms");
  EXPECT_EQ(budgets[2]["metric"], "fpga_bram36_zynq7010");
  EXPECT_EQ(budgets[2]["max"].get<double>(), 2.0);
  // The FPGA budget's reference: refnet on the analytic model, as nas-lut predicts it.
  cli::CliRun p = cli::runCli(std::string(HWNAS_BIN_DIR) + "/nas-lut",
                              "predict --device analytic:fpga --no-ops --model " + kSrc + "/configs/models/refnet.yaml");
  ASSERT_EQ(p.code, 0) << p.err;
  const double refnetFpga = parseJson(p.out)["latency_ms"].get<double>();
  EXPECT_NEAR(budgets[1]["baseline_value"].get<double>(), refnetFpga, 1e-9);
  EXPECT_NEAR(budgets[1]["max"].get<double>(), 0.8 * refnetFpga, 1e-9);
  const double maxCpu = budgets[0]["max"].get<double>(), maxFpga = budgets[1]["max"].get<double>();
  // Every query has both latencies and the BRAM figure; the feasible ones meet all three (the
  // strategy redraws screened proposals, so infeasible rows are rare).
  int feasible = 0;
  {
    Database d(out + "/search.db");
    Statement s = d.prepare("SELECT metrics_json, feasible FROM queries");
    while (s.step()) {
      const Json m = parseJson(s.getText(0));
      const double cpu = m["latency_host-cpu_ms"].get<double>(), fpga = m["latency_zynq7010_ms"].get<double>();
      const double bram = m["fpga_bram36_zynq7010"].get<double>();
      EXPECT_GE(bram, 1.0);
      if (s.getInt64(1)) {
        ++feasible;
        EXPECT_LE(cpu, maxCpu);
        EXPECT_LE(fpga, maxFpga);
        EXPECT_LE(bram, 2.0);
      } else if (cpu <= maxCpu && fpga <= maxFpga) {
        EXPECT_GT(bram, 2.0);  // screened by the BRAM budget alone
      }
    }
  }
  EXPECT_GT(feasible, 0);
  // The finalists: the FPGA model's prediction of the trained network equals the search's.
  const std::string hash = best["hash"].get<std::string>();
  Json m = readJsonFile(out + "/finalists/" + hash + "/metrics.json");
  EXPECT_NEAR(m["predicted_latency_zynq7010_ms"].get<double>(), m["search"]["latency_zynq7010_ms"].get<double>(), 1e-9);
  EXPECT_EQ(m["fpga_bram36_zynq7010"].get<double>(), m["search"]["fpga_bram36_zynq7010"].get<double>());
  Json b = readJsonFile(out + "/baseline/metrics.json");
  EXPECT_NEAR(b["predicted_latency_zynq7010_ms"].get<double>(), refnetFpga, 1e-9);
  EXPECT_EQ(b["fpga_bram36_zynq7010"].get<int64_t>(), 3);  // refnet's largest layer buffer: over the budget of 2
  const std::string rep = readFile(out + "/report.md");
  for (const char* s : {"Pareto front on `latency_host-cpu_ms` alone", "Pareto front on `latency_zynq7010_ms` alone",
                        "| latency_zynq7010_ms | ", "BRAM36 zynq7010", "\"dsp_used\":64"})
    EXPECT_NE(rep.find(s), std::string::npos) << s;

  // One thread, the same table: the same queries and winner.
  const std::string frozen = tmp.file("lut.db");
  fs::copy_file(out + "/lut.db", frozen);
  const std::string one = tmp.file("one");
  cli::CliRun r1 = cli::runCli(kBin, "--config " + writeConfig(tmp, "one.yaml", config(frozen)) + " --out " + one + " --threads 1 --quiet");
  ASSERT_EQ(r1.code, 0) << r1.err;
  EXPECT_EQ(querySequence(one + "/search.db"), querySequence(out + "/search.db"));
  EXPECT_EQ(readJsonFile(one + "/best_arch.json")["hash"].get<std::string>(), hash);
}

TEST(NasSearchTwoDevicesCli, BadDeviceConfigsExitTwo) {
  TempDir tmp;
  // An 8x8 array needs 64 DSPs: a board with 32 cannot hold it.
  cli::CliRun r = cli::runCli(kBin, "--config " + writeConfig(tmp, "dsp.yaml", config("", "dsp: 32")) + " --dry-run");
  cli::expectOneLineError(r, "nas-search", "latency.devices[0]");
  EXPECT_NE(r.err.find("DSP"), std::string::npos) << r.err;
  // BRAM is an FPGA resource: on the CPU it is an error naming the FPGA devices.
  cli::CliRun c = cli::runCli(kBin, "--config " + writeConfig(tmp, "bram.yaml", config("", "dsp: 80", "host-cpu")) + " --dry-run");
  cli::expectOneLineError(c, "nas-search", "constraints[2].device");
  EXPECT_NE(c.err.find("zynq7010"), std::string::npos) << c.err;
}

TEST(NasSearchTwoDevicesCli, ExampleConfigsValidate) {
  // The shipped examples are whole, valid configs: --dry-run lists their stages.
  cli::CliRun two = cli::runCli(kBin, "--config " + kSrc + "/configs/search_two_devices.yaml --dry-run");
  ASSERT_EQ(two.code, 0) << two.err;
  Json p = parseJson(two.out);
  EXPECT_EQ(p["config"]["search"]["strategy"], "nsga2");
  cli::CliRun hier = cli::runCli(kBin, "--config " + kSrc + "/configs/search_hierarchical.yaml --dry-run");
  ASSERT_EQ(hier.code, 0) << hier.err;
  Json h = parseJson(hier.out);
  EXPECT_EQ(h["config"]["search"]["hierarchical"]["macro_keep"], 3);
  EXPECT_EQ(h["config"]["predictor"]["samples"], 120);
  bool predictorStage = false;
  for (const auto& s : h["stages"]) predictorStage = predictorStage || s.get<std::string>().rfind("predictor: evaluate 120", 0) == 0;
  EXPECT_TRUE(predictorStage);
  EXPECT_EQ(h["work"]["supernet_evaluations"], 120 + 12);  // the samples and the verified top 12
}
