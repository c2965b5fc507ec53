// Profiler: plan op costs agree with the Graph's MACs, random-weight plans run and stay finite,
// the Executor's per-op timer, and a small profile run that covers its networks' keys, writes
// arch rows and calibration, and resumes without remeasuring; the fastest-runs statistic on
// synthetic timings. (Structure only: tests never assert timings.)
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "core/error.h"
#include "core/lower.h"
#include "latency_luts/latency_model.h"
#include "latency_luts/profiler.h"
#include "runtime/executor.h"
#include "search_spaces/search_space.h"

using namespace hwnas;

namespace {
const std::string kSrc = HWNAS_SOURCE_DIR;
}

TEST(Profiler, PlanOpCostsSumToTheGraphMacs) {
  for (const char* name : {"fmnist_small.yaml", "ofa_mbv3.yaml", "nb201.yaml"}) {
    auto space = loadSearchSpace(kSrc + "/configs/spaces/" + name);
    Rng rng(5);
    for (int i = 0; i < 5; ++i) {
      const Graph g = space->toGraph(space->sample(rng));
      const runtime::Plan p = lowerStructure(g);
      // A BN the lowering could not fold (NB201's last BN-ReLU) runs as a 1x1 depthwise conv:
      // one MAC per element in the plan, elementwise work in the Graph.
      int64_t macs = 0, loneBn = 0;
      for (size_t k = 0; k < p.ops.size(); ++k) {
        macs += planOpCost(p, k).macs;
        if (p.ops[k].type == runtime::OpType::DepthwiseConv2d && p.ops[k].kernelH == 1)
          loneBn += runtime::shapeElements(p.tensors[p.ops[k].output].shape);
      }
      EXPECT_EQ(macs, g.cost().macs + loneBn) << name << " sample " << i;
    }
  }
}

TEST(Profiler, RandomWeightPlansRunFiniteAndTheOpTimerCoversEveryOp) {
  auto space = loadSearchSpace(kSrc + "/configs/spaces/fmnist_small.yaml");
  Rng rng(9);
  const runtime::Plan p = randomWeightPlan(space->toGraph(space->largest()), rng);
  runtime::Executor ex(p);
  std::vector<float> in(size_t(runtime::shapeElements(ex.inputShape())), 0.5f);
  std::vector<int64_t> ns = {42};
  ex.run(in);
  EXPECT_EQ(ns, std::vector<int64_t>{42});  // no timer set: untouched
  ex.setOpTimer(&ns);
  const auto out = ex.run(in);
  ASSERT_EQ(ns.size(), p.ops.size());
  for (int64_t v : ns) EXPECT_GE(v, 0);
  for (float v : out) EXPECT_TRUE(std::isfinite(v));
  ex.setOpTimer(nullptr);
  // The probe network lowers and runs too.
  Rng r2(1);
  runtime::Executor probe(randomWeightPlan(probeGraph(), r2));
  for (float v : probe.run(std::vector<float>(3 * 96 * 96, 0.1f))) EXPECT_TRUE(std::isfinite(v));
}

TEST(Profiler, RestrictResolutionChecksTheSpace) {
  auto ofa = loadSearchSpace(kSrc + "/configs/spaces/ofa_mbv3.yaml");
  Rng rng(2);
  for (int i = 0; i < 10; ++i) {
    ArchConfig a = restrictResolution(*ofa, ofa->sample(rng), {128, 160}, rng);
    const int r = a.json()["resolution"].get<int>();
    EXPECT_TRUE(r == 128 || r == 160) << r;
  }
  EXPECT_THROW(restrictResolution(*ofa, ofa->sample(rng), {130}, rng), InputError);
  auto nb = loadSearchSpace(kSrc + "/configs/spaces/nb201.yaml");
  EXPECT_THROW(restrictResolution(*nb, nb->sample(rng), {32}, rng), InputError);
}

TEST(Profiler, ProfileCoversItsKeysAndResumes) {
  auto space = loadSearchSpace(kSrc + "/configs/spaces/fmnist_small.yaml");
  LatencyStore store(":memory:");
  store.addDevice({"host-cpu", "cpu", ""});
  ProfileOptions o;
  o.device = "host-cpu";
  o.samples = 4;
  o.candidates = 8;
  o.groupSize = 2;
  o.runs = 3;
  o.burst = 3;
  o.warmup = 1;
  o.seed = 11;
  o.quiet = true;
  o.complete = false;
  const ProfileReport r = profileSpace(*space, store, o);
  EXPECT_EQ(r.networks, 4);
  EXPECT_EQ(r.keysWritten, r.keysSeen);
  EXPECT_EQ(store.count("host-cpu", KeyLevel::Op), r.keysSeen);
  EXPECT_EQ(store.count("host-cpu", KeyLevel::Arch), 4);
  auto cal = store.calibration("host-cpu", "f32", 1, 1);
  ASSERT_TRUE(cal);
  EXPECT_EQ(cal->networks, 4);
  EXPECT_GT(cal->msPerMflop, 0);
  ASSERT_TRUE(cal->probeMs);
  EXPECT_GT(*cal->probeMs, 0);
  for (const auto& m : store.query({"host-cpu", KeyLevel::Op, "f32", 1, 1})) {
    EXPECT_GE(m.repeats, 3) << m.key;
    EXPECT_LE(*m.minMs, *m.medianMs);
    EXPECT_LE(*m.medianMs, *m.p90Ms);
    // statistic "min": from the networks' fastest runs, so never below the op's fastest sample;
    // with 3 runs (= kFastestRuns) a key seen once (3 samples) gets the mean of its 3 samples,
    // and with 3 samples nearest-rank p90 is the largest.
    EXPECT_GE(m.latencyMs, *m.minMs);
    if (m.repeats == 3) {
      EXPECT_NEAR(m.latencyMs, (*m.minMs + *m.medianMs + *m.p90Ms) / 3, 1e-12) << m.key;
    }
    EXPECT_TRUE(m.macs && m.bytes);
    EXPECT_EQ(m.source, Source::Profiled);
  }
  for (const auto& a : store.query({"host-cpu", KeyLevel::Arch, "f32", 1, 1})) EXPECT_EQ(a.spaceId, space->spaceId());
  // Resume: keys already in the table are skipped (their rows untouched), new ones are added.
  const auto before = store.table("host-cpu", KeyLevel::Op, "f32", 1, 1);
  const ProfileReport again = profileSpace(*space, store, o);
  EXPECT_EQ(store.count("host-cpu", KeyLevel::Op), r.keysWritten + again.keysWritten);
  for (const auto& [k, m] : before) {
    auto now = store.get("host-cpu", KeyLevel::Op, k, "f32", 1, 1);
    ASSERT_TRUE(now);
    EXPECT_EQ(now->latencyMs, m.latencyMs) << k;
    EXPECT_EQ(now->createdAt, m.createdAt) << k;
  }
  EXPECT_EQ(again.keysSeen, again.keysWritten + again.keysSkipped);
  EXPECT_THROW(profileSpace(*space, store, [&] {
                 ProfileOptions bad = o;
                 bad.device = "nope";
                 return bad;
               }()),
               InputError);
}

// Synthetic timings where each run's whole time is the sum of its op times (as in the executor,
// up to the input/output copies): the fastest-runs entries sum to the mean of the fastest
// whole runs, while the per-op minima sum to less than any run (each op's luck on its own).
TEST(Profiler, FastestRunOpTimesSumToTheFastestWholeRuns) {
  NetworkTimes t;
  t.keys = {"a", "b", "c"};
  t.opMs = {{1.0, 2.0, 3.0},    // 6.0
            {0.5, 2.5, 3.5},    // 6.5
            {1.5, 1.0, 3.0},    // 5.5
            {1.0, 2.0, 2.0},    // 5.0
            {0.6, 3.0, 4.0}};   // 7.6
  for (const auto& r : t.opMs) t.totalMs.push_back(r[0] + r[1] + r[2]);
  // fastest three: runs 3 (5.0), 2 (5.5), 0 (6.0)
  const std::vector<double> best = fastestRunOpMs(t, 3);
  ASSERT_EQ(best.size(), 3u);
  EXPECT_DOUBLE_EQ(best[0], (1.0 + 1.5 + 1.0) / 3);
  EXPECT_DOUBLE_EQ(best[1], (2.0 + 1.0 + 2.0) / 3);
  EXPECT_DOUBLE_EQ(best[2], (2.0 + 3.0 + 3.0) / 3);
  EXPECT_NEAR(best[0] + best[1] + best[2], (5.0 + 5.5 + 6.0) / 3, 1e-12);
  EXPECT_LT(0.5 + 1.0 + 2.0, 5.0);  // the per-op minima: 3.5, below the fastest run
  // n = 1: exactly the fastest run; n above the run count: all runs; n < 1 counts as 1.
  EXPECT_EQ(fastestRunOpMs(t, 1), (std::vector<double>{1.0, 2.0, 2.0}));
  EXPECT_EQ(fastestRunOpMs(t, 0), (std::vector<double>{1.0, 2.0, 2.0}));
  const std::vector<double> all = fastestRunOpMs(t, 99);
  EXPECT_NEAR(all[0], (1.0 + 0.5 + 1.5 + 1.0 + 0.6) / 5, 1e-12);
  // Ties keep run order: runs 0 and 1 both take 4.0; n = 1 takes run 0.
  NetworkTimes tie;
  tie.keys = {"a", "b"};
  tie.opMs = {{1.0, 3.0}, {3.0, 1.0}};
  tie.totalMs = {4.0, 4.0};
  EXPECT_EQ(fastestRunOpMs(tie, 1), (std::vector<double>{1.0, 3.0}));
  // Whole runs only (no per-op times): nothing.
  NetworkTimes whole;
  whole.totalMs = {1.0, 2.0};
  EXPECT_TRUE(fastestRunOpMs(whole, 3).empty());
}

TEST(Profiler, ProfileCompletesTheTableToEveryOpKeyOfTheSpace) {
  // 2 sampled networks hold far fewer than fmnist_small's keys; the completion runs cover
  // networks until the table has exactly the keys of the space's cover (what `nas-lut plan` lists).
  auto space = loadSearchSpace(kSrc + "/configs/spaces/fmnist_small.yaml");
  std::set<std::string> all;
  for (const auto& a : space->keyCoveringArchs())
    for (const auto& k : opKeys(space->toGraph(a))) all.insert(k);
  LatencyStore store(":memory:");
  store.addDevice({"host-cpu", "cpu", ""});
  ProfileOptions o;
  o.device = "host-cpu";
  o.samples = 2;
  o.candidates = 2;
  o.groupSize = 8;
  o.runs = 3;
  o.burst = 3;
  o.warmup = 0;
  o.quiet = true;
  const ProfileReport r = profileSpace(*space, store, o);
  EXPECT_GT(r.networks, 2);
  std::set<std::string> got;
  for (const auto& [k, m] : store.table("host-cpu", KeyLevel::Op, "f32", 1, 1)) got.insert(k);
  EXPECT_EQ(got, all);
  EXPECT_EQ(r.keysSeen, int64_t(all.size()));
}
