// Latency models: the LUT sum and its miss message, the flagged fallback regression, hand-computed
// FPGA cycles and GPU roofline times, the energy model from its per-operation figures, and the
// rank metrics validate reports.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "core/lower.h"
#include "latency_luts/latency_model.h"
#include "latency_luts/profiler.h"
#include "latency_luts/validate.h"
#include "search_spaces/search_space.h"

using namespace hwnas;

namespace {

const std::string kSrc = HWNAS_SOURCE_DIR;

// 1x16x8x8 -> conv 3x3 32 (no bias) -> relu: one fused op.
Graph oneConv() {
  Graph g;
  int x = g.addInput("x", {1, 16, 8, 8});
  x = g.addConv2d("conv", x, 32, 3);
  g.addAct("relu", x, ActKind::Relu);
  return g;
}

}  // namespace

TEST(LutModel, SumsFusedOpEntriesPlusOverheadAndNamesAMiss) {
  auto space = loadSearchSpace(kSrc + "/configs/spaces/fmnist_small.yaml");
  const Graph g = space->toGraph(space->largest());
  const auto keys = opKeys(g);
  LatencyStore store(":memory:");
  store.addDevice({"dev", "cpu", ""});
  std::vector<Measurement> rows;
  std::map<std::string, double> value;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (value.count(keys[i])) continue;
    value[keys[i]] = 0.001 * double(value.size() + 1);
    Measurement m;
    m.device = "dev";
    m.key = keys[i];
    m.latencyMs = value[keys[i]];
    rows.push_back(m);
  }
  store.put(rows);
  Calibration c;
  c.device = "dev";
  c.overheadMs = 0.0125;
  store.setCalibration(c);
  LutLatencyModel model(store, "dev");
  double expect = 0.0125;
  for (const auto& k : keys) expect += value[k];
  const LatencyPrediction p = model.predict(g);
  EXPECT_NEAR(p.latencyMs, expect, 1e-12);
  EXPECT_EQ(p.ops.size(), keys.size());
  EXPECT_FALSE(p.fallbackUsed);
  EXPECT_EQ(p.method, "lut");
  EXPECT_GT(*p.energyMj, 0);

  // Another thread count has no rows: the miss names device, key and what to do.
  LutModelOptions two;
  two.threads = 2;
  LutLatencyModel other(store, "dev", two);
  try {
    other.predict(g);
    FAIL() << "expected a miss";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("no latency for '" + keys[0] + "' on device 'dev'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("nas-lut profile --device dev"), std::string::npos) << msg;
    EXPECT_NE(msg.find("allow the fallback model"), std::string::npos) << msg;
  }
  EXPECT_THROW(LutLatencyModel(store, "nope"), InputError);
}

TEST(LutModel, FallbackRecoversALinearCostModelAndIsFlagged) {
  // Entries made exactly ms = 0.002 + 3e-9 * MACs + 5e-10 * bytes: the per-type fit must give
  // the same law back for a key the table does not have.
  auto space = loadSearchSpace(kSrc + "/configs/spaces/fmnist_small.yaml");
  LatencyStore store(":memory:");
  store.addDevice({"dev", "cpu", ""});
  auto law = [](const PlanOpCost& c) { return 0.002 + 3e-9 * double(c.macs) + 5e-10 * double(c.bytes); };
  Rng rng(3);
  std::map<std::string, Measurement> rows;
  for (int i = 0; i < 12; ++i) {
    const runtime::Plan p = lowerStructure(space->toGraph(space->sample(rng)));
    for (size_t k = 0; k < p.ops.size(); ++k) {
      const PlanOpCost c = planOpCost(p, k);
      Measurement m;
      m.device = "dev";
      m.key = p.ops[k].key;
      m.latencyMs = law(c);
      m.macs = c.macs;
      m.bytes = c.bytes;
      rows[m.key] = m;
    }
  }
  // Hold out the largest network's first conv key.
  const Graph big = space->toGraph(space->largest());
  const runtime::Plan bp = lowerStructure(big);
  std::vector<Measurement> put;
  for (auto& [k, m] : rows)
    if (k != bp.ops[1].key) put.push_back(m);
  store.put(put);
  for (size_t k = 0; k < bp.ops.size(); ++k)
    if (!rows.count(bp.ops[k].key)) {
      Measurement m;  // the other missing keys: filled too, so exactly op 1 misses
      m.device = "dev";
      m.key = bp.ops[k].key;
      m.latencyMs = law(planOpCost(bp, k));
      if (k != 1) store.put(m);
    }
  LutModelOptions o;
  o.allowFallback = true;
  o.useOverhead = false;
  LutLatencyModel model(store, "dev", o);
  const LatencyPrediction p = model.predict(big);
  EXPECT_TRUE(p.fallbackUsed);
  EXPECT_EQ(p.fallbackOps, 1);
  ASSERT_GT(p.ops.size(), 1u);
  EXPECT_TRUE(p.ops[1].fallback);
  EXPECT_FALSE(p.ops[0].fallback);
  EXPECT_NEAR(p.ops[1].ms, law(planOpCost(bp, 1)), 1e-6 * law(planOpCost(bp, 1)));
  EXPECT_TRUE(p.toJson()["fallback_used"].get<bool>());
}

TEST(AnalyticModels, FpgaCyclesGpuRooflineAndEnergyMatchHandComputation) {
  const Graph g = oneConv();
  // FPGA, 8x8 PEs at 200 MHz: 4 (32 out / 8) x 18 (144 taps / 8) x 64 pixels = 4608 cycles;
  // memory: (4096 + 8192 + 18560 weights and bias) fp32 bytes = 30848 -> 15424 fp16 bytes / 10 B
  // per cycle = 1542 cycles, so compute-bound: (4608 + 200 setup) / 200e3 ms.
  FpgaLatencyModel fpga("zc706");
  const LatencyPrediction f = fpga.predict(g);
  ASSERT_EQ(f.ops.size(), 1u);
  EXPECT_NEAR(f.latencyMs, (4608.0 + 200.0) / 200e3, 1e-12);
  EXPECT_NE(f.ops[0].note.find("compute-bound"), std::string::npos) << f.ops[0].note;
  EXPECT_NE(f.ops[0].note.find("dsp=64"), std::string::npos) << f.ops[0].note;
  FpgaParams slow;
  slow.bandwidthGBs = 0.2;  // 1 B per cycle: 15424 memory cycles > 4608
  const LatencyPrediction fm = FpgaLatencyModel("slow", slow).predict(g);
  EXPECT_NEAR(fm.latencyMs, (15424.0 + 200.0) / 200e3, 1e-9);
  EXPECT_NE(fm.ops[0].note.find("memory-bound"), std::string::npos) << fm.ops[0].note;
  FpgaParams big;
  big.peRows = big.peCols = 32;  // 1024 DSPs > 900
  EXPECT_THROW(FpgaLatencyModel("x", big), InputError);

  // GPU: 2 * 294912 FLOPs at 11.3e12 * 0.3 vs 30848 bytes at 484e9 B/s, + 10 us launch.
  GpuRooflineModel gpu("1080ti");
  const LatencyPrediction r = gpu.predict(g);
  const double compute = 2.0 * 294912 / (11.3e12 * 0.3) * 1e3, memory = 30848 / 484e9 * 1e3;
  EXPECT_NEAR(r.latencyMs, std::max(compute, memory) + 0.010, 1e-12);

  // Energy (Horowitz 45 nm): 294912 MACs x 4.6 pJ + (4 x 294912 + 12288) B x 1.25 pJ +
  // 18560 weight and bias bytes from DRAM x 160 pJ.
  const double pj = 294912 * 4.6 + (4.0 * 294912 + 12288) * 1.25 + 18560 * 160.0;
  EXPECT_NEAR(*r.energyMj, pj * 1e-9, 1e-15);
  EXPECT_NEAR(*f.energyMj, pj * 1e-9, 1e-15);
  const runtime::Plan plan = lowerStructure(g);
  const PlanOpCost c = planOpCost(plan, 0);
  EXPECT_EQ(c.macs, 294912);
  EXPECT_EQ(c.weightBytes, 4 * (32 * 144 + 32));
  EXPECT_EQ(c.activationBytes, 4096 + 8192);
}

TEST(AnalyticModels, MakeLatencyModelResolvesNames) {
  EXPECT_EQ(makeLatencyModel(nullptr, "analytic:fpga")->predict(oneConv()).method, "fpga-analytic");
  EXPECT_EQ(makeLatencyModel(nullptr, "analytic:gpu")->predict(oneConv()).method, "gpu-roofline");
  EXPECT_THROW(makeLatencyModel(nullptr, "analytic:tpu"), InputError);
  EXPECT_THROW(makeLatencyModel(nullptr, "host-cpu"), InputError);
}

TEST(RankMetrics, KnownValues) {
  const std::vector<double> a = {1, 2, 3, 4, 5}, b = {2, 1, 4, 3, 5};
  EXPECT_NEAR(spearman(a, b), 0.8, 1e-12);    // 1 - 6 * 4 / (5 * 24)
  EXPECT_NEAR(kendallTau(a, b), 0.6, 1e-12);  // (8 - 2) / 10
  EXPECT_NEAR(spearman(a, {10, 20, 30, 40, 50}), 1.0, 1e-12);
  EXPECT_NEAR(kendallTau(a, {5, 4, 3, 2, 1}), -1.0, 1e-12);
  // Ties: average ranks / tau-b.
  EXPECT_NEAR(spearman({1, 2, 2, 3}, {1, 2, 3, 4}), 0.9486832980505138, 1e-12);
  EXPECT_NEAR(kendallTau({1, 2, 2, 3}, {1, 2, 3, 4}), 5.0 / std::sqrt(5.0 * 6.0), 1e-12);
  const AccuracyFigures f = accuracyFigures({1.05, 2.5, 3.0}, {1.0, 2.0, 3.0});
  EXPECT_NEAR(f.within10, 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(f.mape, (0.05 + 0.25 + 0) / 3, 1e-12);
}
