// Table sources and config validation: lookups return exactly the CSV values (wide, HELP
// batch-suffixed and nn-Meter long formats), device entries name dtype/threads/batch, and each
// bad config is a ConfigError at file:line:col naming the key and what to do.
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/fs_util.h"
#include "nas/search_problem.h"
#include "nas/table.h"
#include "search_spaces/nb201_space.h"

using namespace hwnas;

namespace {

const std::string kSrc = HWNAS_SOURCE_DIR;
const std::string kData = kSrc + "/data/nb201/";

std::string head(const std::string& tables = "[" + kData + "hwnasbench_nb201_cifar10_latency_via_help.csv]") {
  return "space: " + kSrc + "/configs/spaces/nb201.yaml\n"
         "objective:\n  accuracy: {source: table, path: " + kData + "nb201_cifar10valid_200ep.csv, column: valid_acc, key: index}\n"
         "latency:\n  tables: " + tables + "\n";
}

std::string errorOf(const std::string& yaml) {
  try {
    SearchProblem::parse(yaml, "cfg.yaml", "");
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.exitCode(), 2);
    return e.what();
  } catch (const std::exception& e) {
    return std::string("not a ConfigError: ") + e.what();
  }
  return "no error";
}

}  // namespace

TEST(Tables, LookupsReturnTheCsvValues) {
  auto p = SearchProblem::parse(head("[" + kData + "hwnasbench_nb201_cifar10_latency_via_help.csv, " + kData +
                                     "help_nb201_latency_gpu.csv, " + kData + "nnmeter_nb201_latency.csv]") +
                                    "search: {strategy: random, queries: 5}\n"
                                    "report:\n  accuracy: {path: " + kData + "nb201_test_acc_200ep.csv, column: cifar10_test_acc}\n",
                                "<t>", "");
  // First rows of the files, as written there.
  ArchConfig a0 = Nb201Space::fromIndex(0), a1 = Nb201Space::fromIndex(1);
  EXPECT_EQ(p->accuracy(a0), 81.98266666);
  EXPECT_EQ(p->accuracy(a1), 90.76933332);
  EXPECT_EQ(*p->reportAccuracy(a0), 85.86333333333334);
  EXPECT_EQ(*p->reportAccuracy(a1), 93.66000000000001);
  EXPECT_EQ(p->metric({"latency", "pixel3"}, a0), 3.6058499999999998);
  EXPECT_EQ(p->metric({"latency", "raspi4"}, a1), 54.77739761998237);
  EXPECT_EQ(p->metric({"latency", "fpga"}, a0), 2.57296);
  MetricSpec titanx32{"latency", "titanx", "fp32", 1, 32};
  EXPECT_EQ(p->metric(titanx32, a0), 7.526812553405762);
  MetricSpec titanx1{"latency", "titanx", "fp32", 1, 1};
  EXPECT_EQ(p->metric(titanx1, a0), 8.257741928100586);
  EXPECT_EQ(p->metric({"latency", "cortexA76cpu_tflite21"}, Nb201Space::fromIndex(803)), 11.7491);
  EXPECT_EQ(titanx32.label(), "latency_titanx_b32_ms");
  // The known best: index 6111 has the top valid_acc 91.6067 (data/README.md).
  EXPECT_NEAR(p->accuracy(Nb201Space::fromIndex(6111)), 91.6067, 1e-4);
  // What the tables provide, with their batch.
  int hw = 0, gpuBatches = 0;
  for (const auto& d : p->devices()) {
    if (d.tablePath.find("hwnasbench") != std::string::npos) ++hw;
    if (d.device == "2080ti") gpuBatches += d.batch;
  }
  EXPECT_EQ(hw, 4);
  EXPECT_EQ(gpuBatches, 1 + 32 + 256);
}

TEST(Tables, ArchStrKeyAndRaggedFile) {
  auto t = CsvTable::parse("arch_str,v\n|a|,1.5\n|b|,2\n", "x.csv");
  TableIndex idx(t, "arch_str");
  ASSERT_TRUE(idx.find("|b|"));
  EXPECT_EQ(t->number(*idx.find("|b|"), 1), 2.0);
  EXPECT_FALSE(idx.find("|c|"));
  EXPECT_THROW(CsvTable::parse("a,b\n1,2,3\n", "bad.csv"), IoError);
  EXPECT_THROW(TableIndex(CsvTable::parse("index,v\n1,2\n1,3\n", "dup.csv"), "index"), IoError);
}

TEST(Config, UnknownStrategyListsTheKnownOnes) {
  std::string e = errorOf(head() + "search:\n  strategy: annealing\n  queries: 10\n");
  EXPECT_NE(e.find("cfg.yaml:"), std::string::npos) << e;
  EXPECT_NE(e.find("search.strategy"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown strategy 'annealing'"), std::string::npos) << e;
  EXPECT_NE(e.find("nsga2"), std::string::npos) << e;
}

TEST(Config, UnknownDeviceListsTheTableDevices) {
  std::string e = errorOf(head() + "search: {strategy: random, queries: 10}\nconstraints:\n  - {metric: latency, device: pixel4, max: 5}\n");
  EXPECT_NE(e.find("cfg.yaml:8:"), std::string::npos) << e;
  EXPECT_NE(e.find("constraints[0].device"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown device 'pixel4'"), std::string::npos) << e;
  EXPECT_NE(e.find("eyeriss, fpga, pixel3, raspi4"), std::string::npos) << e;
}

TEST(Config, BatchOrThreadsTheTableLacksSaysWhatItHas) {
  std::string e = errorOf(head() + "search: {strategy: random, queries: 10}\nconstraints:\n  - {metric: latency, device: pixel3, batch: 8, max: 5}\n");
  EXPECT_NE(e.find("no entry for latency on pixel3 (fp32, 1 thread, batch 8)"), std::string::npos) << e;
  EXPECT_NE(e.find("pixel3 (fp32, 1 thread, batch 1;"), std::string::npos) << e;
  e = errorOf(head() + "search: {strategy: random, queries: 10}\nconstraints:\n  - {metric: latency, device: pixel3, dtype: int8, max: 5}\n");
  EXPECT_NE(e.find("int8"), std::string::npos) << e;
}

TEST(Config, InfeasibleBudgetReportsTheClosestArch) {
  std::string e = errorOf(head() + "search: {strategy: random, queries: 10}\nconstraints:\n  - {metric: latency, device: fpga, max: 0.5}\n");
  EXPECT_NE(e.find("infeasible budget"), std::string::npos) << e;
  EXPECT_NE(e.find("latency_fpga_ms <= 0.5"), std::string::npos) << e;
  EXPECT_NE(e.find("the closest is index"), std::string::npos) << e;
  EXPECT_NE(e.find("cfg.yaml:8:"), std::string::npos) << e;
  EXPECT_NE(e.find("constraints[0].max"), std::string::npos) << e;
}

TEST(Config, MissingTableAndUnknownKeys) {
  std::string e = errorOf("space: " + kSrc + "/configs/spaces/nb201.yaml\nobjective:\n  accuracy: {path: /nonexistent/acc.csv, column: valid_acc}\nsearch: {strategy: random, queries: 3}\n");
  EXPECT_NE(e.find("cfg.yaml:3:"), std::string::npos) << e;
  EXPECT_NE(e.find("objective.accuracy.path"), std::string::npos) << e;
  EXPECT_NE(e.find("/nonexistent/acc.csv' does not exist"), std::string::npos) << e;
  e = errorOf(head("[/nonexistent/lat.csv]") + "search: {strategy: random, queries: 3}\n");
  EXPECT_NE(e.find("latency table '/nonexistent/lat.csv' does not exist"), std::string::npos) << e;
  e = errorOf(head() + "search: {strategy: random, queries: 3, budgett: 4}\n");
  EXPECT_NE(e.find("unknown key 'budgett'"), std::string::npos) << e;
  e = errorOf(head() + "search: {strategy: nsga2, queries: 3}\n");
  EXPECT_NE(e.find("objective.minimize"), std::string::npos) << e;
  e = errorOf(head() + "search: {strategy: random, queries: 3}\nobjective2: 1\n");
  EXPECT_NE(e.find("unknown key 'objective2'"), std::string::npos) << e;
  e = errorOf("space: " + kSrc + "/configs/spaces/nb201.yaml\nobjective:\n  accuracy: {path: " + kData +
              "nb201_cifar10valid_200ep.csv, column: valid_accuracy}\nsearch: {strategy: random, queries: 3}\n");
  EXPECT_NE(e.find("no column 'valid_accuracy'; it has: index, arch_str"), std::string::npos) << e;
}

TEST(Config, HashIdentifiesTheResolvedConfig) {
  std::string y = head() + "search: {strategy: evolution, queries: 10}\n";
  auto a = SearchProblem::parse(y, "a.yaml", ""), b = SearchProblem::parse("# a comment\n" + y, "b.yaml", "");
  EXPECT_EQ(a->configHash(), b->configHash());
  auto c = SearchProblem::parse(head() + "search: {strategy: evolution, queries: 11}\n", "c.yaml", "");
  EXPECT_NE(a->configHash(), c->configHash());
  b->setSeed(9);
  EXPECT_NE(a->configHash(), b->configHash());
}
