// The on-board profiling path in the library: a plan holds exactly the distinct keys of the
// networks profile picks, each op line rebuilds the lowered op; probe results import with the
// values and metadata they carry, and every kind of bad results file is an InputError that
// leaves the store untouched. Also: the runtime memory planner's peak (what nas-space reports)
// equals the arena the executor allocates.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "core/error.h"
#include "core/fs_util.h"
#include "core/json_util.h"
#include "core/lower.h"
#include "latency_luts/probe_path.h"
#include "latency_luts/profiler.h"
#include "runtime/executor.h"
#include "runtime/probe/probe_runner.h"

using namespace hwnas;

namespace {

const std::string kSrc = HWNAS_SOURCE_DIR;

ProbePlanOptions smallPlan() {
  ProbePlanOptions o;
  o.coverage.samples = 3;
  o.coverage.candidates = 4;
  o.repeats = 3;
  o.warmup = 1;
  return o;
}

// Results of a real probe run over the first `n` ops of the fmnist_small plan.
std::string probeResults(int n) {
  auto space = loadSearchSpace(kSrc + "/configs/spaces/fmnist_small.yaml");
  runtime::ProbePlan plan = makeProbePlan(*space, smallPlan());
  plan.ops.resize(size_t(n));
  return runtime::probeResultsJson(plan, "plan.txt", runtime::runProbe(plan, runtime::ProbeOptions()));
}

std::string writeText(const TempDir& dir, const std::string& name, const std::string& text) {
  const std::string path = dir.file(name);
  std::ofstream(path) << text;
  return path;
}

}  // namespace

TEST(ProbePath, PlanListsEveryOpKeyOfTheSpaceOnce) {
  for (const char* name : {"fmnist_small.yaml", "nb201.yaml"}) {
    auto space = loadSearchSpace(kSrc + "/configs/spaces/" + name);
    const ProbePlanOptions o = smallPlan();
    const runtime::ProbePlan plan = makeProbePlan(*space, o);
    EXPECT_EQ(plan.spaceId, space->spaceId());
    std::set<std::string> want;
    std::map<std::string, runtime::PlanOp> lowered;
    std::map<std::string, std::vector<int64_t>> inShape;
    for (const auto& a : space->keyCoveringArchs()) {
      const runtime::Plan p = lowerStructure(space->toGraph(a));
      for (const auto& op : p.ops) {
        want.insert(op.key);
        lowered[op.key] = op;
        inShape[op.key] = p.tensors[op.inputs[0]].shape;
      }
    }
    std::set<std::string> got;
    for (const auto& op : plan.ops) {
      EXPECT_TRUE(got.insert(op.key).second) << "listed twice: " << op.key;
      const runtime::Plan one = runtime::oneOpPlan(op);
      const runtime::PlanOp& a = one.ops[0];
      const runtime::PlanOp& b = lowered.at(op.key);
      EXPECT_EQ(a.type, b.type);
      EXPECT_EQ(a.kernelH, b.kernelH);
      EXPECT_EQ(a.strideH, b.strideH);
      EXPECT_EQ(a.padH, b.padH);
      EXPECT_EQ(a.groups, b.groups);
      EXPECT_EQ(a.outChannels, b.outChannels);
      EXPECT_EQ(a.act, b.act);
      EXPECT_EQ(one.tensors[a.inputs[0]].shape, inShape.at(op.key)) << op.key;
    }
    EXPECT_EQ(got, want) << name;
    // Every key of the networks `nas-lut profile` picks is in the plan.
    for (const auto& a : coveringArchs(*space, o.coverage, [](const std::string&) { return true; }))
      for (const auto& k : opKeys(space->toGraph(a))) EXPECT_TRUE(got.count(k)) << name << ": missing " << k;
  }
}

TEST(ProbePath, PlanRestrictedToResolutionsHasOnlyTheirKeys) {
  auto space = loadSearchSpace(kSrc + "/configs/spaces/ofa_mbv3.yaml");
  ProbePlanOptions all = smallPlan(), one = smallPlan();
  one.coverage.resolutions = {128};
  const runtime::ProbePlan a = makeProbePlan(*space, all), b = makeProbePlan(*space, one);
  std::set<std::string> keysA;
  for (const auto& op : a.ops) keysA.insert(op.key);
  for (const auto& op : b.ops) EXPECT_TRUE(keysA.count(op.key)) << op.key;
  // 7 resolutions share only the head's linear layer and nothing else of the plan
  EXPECT_GT(b.ops.size() * 5, a.ops.size() / 2);
  EXPECT_LT(b.ops.size() * 5, a.ops.size());
}

TEST(ProbePath, ImportWritesTheProbesFiguresAndMetadata) {
  TempDir dir;
  const std::string text = probeResults(6);
  const std::string path = writeText(dir, "results.json", text);
  EXPECT_TRUE(isProbeResultsFile(path));
  const Json j = parseJson(text);
  LatencyStore store(":memory:");
  ProbeImportOptions o;
  o.device = "board";
  o.kind = "mobile";
  const ProbeImportReport rep = importProbeResults(store, path, o);
  EXPECT_EQ(rep.rows, 6);
  EXPECT_TRUE(rep.deviceCreated);
  EXPECT_TRUE(rep.calibrationWritten);
  const auto dev = store.device("board");
  ASSERT_TRUE(dev);
  EXPECT_EQ(dev->kind, "mobile");
  EXPECT_NE(dev->description.find(j["device"]["cpu"].get<std::string>()), std::string::npos);
  const auto table = store.table("board", KeyLevel::Op, "f32", 1, 1);
  ASSERT_EQ(table.size(), 6u);
  for (const auto& e : j["ops"]) {
    const Measurement& m = table.at(e["key"].get<std::string>());
    EXPECT_EQ(m.latencyMs, e["min_ms"].get<double>());  // statistic min: the fastest sample (no whole networks on this path)
    EXPECT_EQ(*m.medianMs, e["median_ms"].get<double>());
    EXPECT_EQ(*m.p90Ms, e["p90_ms"].get<double>());
    EXPECT_EQ(m.repeats, e["samples"].get<int64_t>());
    EXPECT_EQ(m.source, Source::Profiled);
    EXPECT_EQ(m.toolVersion, runtime::kProbeToolVersion);
    EXPECT_EQ(m.createdAt, j["finished_at"].get<std::string>());
    EXPECT_NE(m.origin.find("hwnas-probe on '" + j["device"]["cpu"].get<std::string>()), std::string::npos);
    const runtime::Plan one = runtime::oneOpPlan(runtime::parseProbeOp(e["spec"].get<std::string>(), "spec"));
    EXPECT_EQ(*m.macs, planOpCost(one, 0).macs);
    EXPECT_EQ(*m.bytes, planOpCost(one, 0).bytes);
  }
  const auto cal = store.calibration("board", "f32", 1, 1);
  ASSERT_TRUE(cal);
  EXPECT_EQ(cal->networks, 0);
  EXPECT_GE(cal->overheadMs, 0.0);
  // median statistic
  LatencyStore s2(":memory:");
  o.statistic = "median";
  importProbeResults(s2, path, o);
  for (const auto& e : j["ops"])
    EXPECT_EQ(s2.get("board", KeyLevel::Op, e["key"], "f32", 1, 1)->latencyMs, e["median_ms"].get<double>());
}

TEST(ProbePath, BadResultsFilesChangeNothing) {
  TempDir dir;
  const std::string good = probeResults(3);
  const Json j = parseJson(good);
  auto variant = [&](const std::function<void(Json&)>& f) {
    Json k = j;
    f(k);
    return k.dump(1);
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not json {", "not valid JSON"},
      {good.substr(0, good.size() / 2), "not valid JSON"},
      {"{\"entries\": []}", "not hwnas-probe results"},
      {variant([](Json& k) { k["version"] = 2; }), "version 2 is newer"},
      {variant([](Json& k) { k["ops"][1]["min_ms"] = 1e9; }), "ops[1]: needs min_ms <= median_ms <= p90_ms"},
      {variant([](Json& k) { k["ops"][2]["median_ms"] = "fast"; }), "ops[2]: 'median_ms' must be a finite number"},
      {variant([](Json& k) { k["ops"][2]["key"] = k["ops"][0]["key"]; }), "listed twice"},
      {variant([](Json& k) { k["ops"][0]["spec"] = "conv2d key=x in=1x3x8x8 out=4 g=2"; }), "ops[0]: spec"},
      {variant([](Json& k) { k["ops"][0].erase("samples"); }), "ops[0]: missing 'samples'"},
      {variant([](Json& k) { k["ops"].erase(2); }), "the plan had 3 ops but 2 results"},
      {variant([](Json& k) { k["dtype"] = "i8"; }), "dtype 'i8'"},
      {variant([](Json& k) { k["threads"] = 0; }), "'threads' must be an integer >= 1"},
  };
  for (const bool existing : {false, true}) {
    const std::string db = dir.file(existing ? "with.db" : "empty.db");
    {
      LatencyStore store(db);
      if (existing) importProbeResults(store, writeText(dir, "good.json", good), {"board"});
    }
    for (size_t c = 0; c < cases.size(); ++c) {
      const std::string path = writeText(dir, "bad" + std::to_string(c) + ".json", cases[c].first);
      LatencyStore store(db);
      const auto before = store.query({});
      const auto devicesBefore = store.devices().size();
      try {
        importProbeResults(store, path, {"other"});
        ADD_FAILURE() << "no error for case " << c;
      } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find(cases[c].second), std::string::npos) << "case " << c << ": " << e.what();
        EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
      }
      EXPECT_EQ(store.query({}).size(), before.size()) << "case " << c;
      EXPECT_EQ(store.devices().size(), devicesBefore) << "case " << c;
      EXPECT_FALSE(store.device("other")) << "case " << c;
    }
  }
}

TEST(ProbePath, RuntimePeakActivationBytesIsTheArenaTheExecutorAllocates) {
  for (const char* name : {"fmnist_small.yaml", "nb201.yaml"}) {
    auto space = loadSearchSpace(kSrc + "/configs/spaces/" + name);
    Rng rng(9);
    for (int i = 0; i < 4; ++i) {
      const Graph g = space->toGraph(space->sample(rng));
      Rng wr(i);
      runtime::Executor ex(randomWeightPlan(g, wr));
      EXPECT_EQ(runtimePeakActivationBytes(g), ex.allocatedArenaBytes()) << name << " sample " << i;
      EXPECT_GT(ex.allocatedArenaBytes(), 0);
    }
  }
}
