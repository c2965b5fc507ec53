// hwnas-probe's pieces: the plan text format (round trip, every op type of a lowered network
// rebuilt exactly, garbage/truncated/newer plans rejected with file:line), deterministic one-op
// plans that compute what the reference kernels do, the statistics and outlier rejection on
// known values, and a probe run whose results JSON parses back with consistent figures.
// (Structure only: no timing is asserted beyond min <= median <= p90.)
#include <gtest/gtest.h>

#include <cmath>

#include "core/json_util.h"
#include "core/lower.h"
#include "runtime/executor.h"
#include "runtime/probe/probe_plan.h"
#include "runtime/probe/probe_runner.h"
#include "trainer/model_def.h"

using namespace hwnas;
using namespace hwnas::runtime;

namespace {

const std::string kSrc = HWNAS_SOURCE_DIR;

ProbePlan refnetPlan() {
  const ModelDef def = loadModelDef(kSrc + "/configs/models/refnet.yaml");
  const Plan p = lowerStructure(modelGraph(def));
  ProbePlan plan;
  plan.spaceId = "refnet-test";
  plan.repeats = 3;
  plan.warmup = 1;
  for (size_t i = 0; i < p.ops.size(); ++i) plan.ops.push_back(probeOpOf(p, i));
  return plan;
}

void expectSameAttributes(const PlanOp& a, const PlanOp& b, const std::string& what) {
  EXPECT_EQ(a.type, b.type) << what;
  EXPECT_EQ(a.act, b.act) << what;
  EXPECT_EQ(a.gate, b.gate) << what;
  EXPECT_EQ(a.broadcastChannels, b.broadcastChannels) << what;
  EXPECT_EQ(a.kernelH, b.kernelH) << what;
  EXPECT_EQ(a.kernelW, b.kernelW) << what;
  EXPECT_EQ(a.strideH, b.strideH) << what;
  EXPECT_EQ(a.strideW, b.strideW) << what;
  EXPECT_EQ(a.padH, b.padH) << what;
  EXPECT_EQ(a.padW, b.padW) << what;
  EXPECT_EQ(a.dilationH, b.dilationH) << what;
  EXPECT_EQ(a.groups, b.groups) << what;
  EXPECT_EQ(a.outChannels, b.outChannels) << what;
}

std::string expectPlanError(const std::string& text, const std::string& part) {
  try {
    parseProbePlan(text, "plan.txt");
  } catch (const ProbePlanError& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error for:\n" << text;
  return "";
}

const char* kHeader =
    "format hwnas-probe-plan\nversion 1\nspace_id s-1\nbatch 1\nthreads 1\nrepeats 3\nwarmup 1\nops 1\n";
const char* kConvLine =
    "op conv2d key=c in=1x4x9x9 out=8 k=3x3 s=2x2 p=1x1 d=1x1 g=2 act=relu6 gate=hsigmoid bcast=0\n";

}  // namespace

TEST(ProbePlan, FormatParseRoundTripOfALoweredNetwork) {
  const ProbePlan plan = refnetPlan();
  ASSERT_GT(plan.ops.size(), 10u);
  const std::string text = formatProbePlan(plan);
  const ProbePlan back = parseProbePlan(text, "plan.txt");
  EXPECT_EQ(back.spaceId, "refnet-test");
  EXPECT_EQ(back.repeats, 3);
  EXPECT_EQ(back.warmup, 1);
  ASSERT_EQ(back.ops.size(), plan.ops.size());
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    EXPECT_EQ(back.ops[i].key, plan.ops[i].key);
    EXPECT_EQ(back.ops[i].inputs, plan.ops[i].inputs) << plan.ops[i].key;
    expectSameAttributes(back.ops[i].op, plan.ops[i].op, plan.ops[i].key);
  }
  EXPECT_EQ(formatProbePlan(back), text);
}

TEST(ProbePlan, OneOpPlansRebuildEachLoweredOpWithItsShapes) {
  const ModelDef def = loadModelDef(kSrc + "/configs/models/refnet.yaml");
  const Plan p = lowerStructure(modelGraph(def));
  for (size_t i = 0; i < p.ops.size(); ++i) {
    const Plan one = oneOpPlan(probeOpOf(p, i));
    ASSERT_EQ(one.ops.size(), 1u);
    expectSameAttributes(one.ops[0], p.ops[i], p.ops[i].key);
    EXPECT_EQ(one.ops[0].key, p.ops[i].key);
    EXPECT_EQ(one.tensors[one.ops[0].output].shape, p.tensors[p.ops[i].output].shape) << p.ops[i].key;
    // Deterministic weights, drawn from the key.
    EXPECT_EQ(oneOpPlan(probeOpOf(p, i)).ops[0].weight, one.ops[0].weight);
  }
}

TEST(ProbePlan, OneOpConvComputesWhatTheReferenceDoes) {
  const ProbePlan plan = parseProbePlan(std::string(kHeader) + kConvLine + "end\n", "plan.txt");
  const Plan one = oneOpPlan(plan.ops[0]);
  const PlanOp& op = one.ops[0];
  ASSERT_EQ(op.weight.size(), size_t(8 * 2 * 3 * 3));
  for (float w : op.weight) EXPECT_LE(std::fabs(w), std::sqrt(3.0 / 18.0) + 1e-6);
  std::vector<float> x(4 * 9 * 9);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(std::sin(0.37 * double(i)));
  Executor ex(one);
  const std::vector<float> y = ex.run(x);
  ASSERT_EQ(y.size(), size_t(8 * 5 * 5));
  // Naive grouped convolution with the plan's weights, relu6.
  for (int oc = 0; oc < 8; ++oc)
    for (int oy = 0; oy < 5; ++oy)
      for (int ox = 0; ox < 5; ++ox) {
        const int g = oc / 4;
        double s = op.bias[size_t(oc)];
        for (int ic = 0; ic < 2; ++ic)
          for (int ky = 0; ky < 3; ++ky)
            for (int kx = 0; kx < 3; ++kx) {
              const int iy = oy * 2 - 1 + ky, ix = ox * 2 - 1 + kx;
              if (iy < 0 || iy >= 9 || ix < 0 || ix >= 9) continue;
              s += double(op.weight[size_t(((oc * 2 + ic) * 3 + ky) * 3 + kx)]) *
                   x[size_t(((g * 2 + ic) * 9 + iy) * 9 + ix)];
            }
        const double want = std::min(6.0, std::max(0.0, s));
        EXPECT_NEAR(y[size_t((oc * 5 + oy) * 5 + ox)], want, 1e-5);
      }
}

TEST(ProbePlan, BadPlansAreClearErrorsWithLineNumbers) {
  const std::string ok = std::string(kHeader) + kConvLine + "end\n";
  EXPECT_NO_THROW(parseProbePlan(ok, "plan.txt"));
  // A garbage line in the middle: its line number (10) and the text.
  std::string g = std::string(kHeader) + "# comment\n" + "xyzzy 12 13\n" + kConvLine + "end\n";
  expectPlanError(g, "plan.txt:10: unknown line 'xyzzy 12 13'");
  expectPlanError("hello\n", "plan.txt:1: expected 'format hwnas-probe-plan'");
  expectPlanError("", "empty plan");
  expectPlanError(std::string(kHeader) + kConvLine, "no 'end' line");
  expectPlanError(std::string(kHeader) + "end\n", "the header says ops 1 but 0 op lines follow");
  expectPlanError("format hwnas-probe-plan\nversion 7\n", "plan.txt:2: plan format version 7 is newer");
  expectPlanError(std::string(kHeader) + "op conv2d key=c in=1x4x9x9 out=8 k=3 g=3\nend\n", "plan.txt:9:");
  expectPlanError(std::string(kHeader) + "op conv2d key=c in=1x4x9x9 out=8 k=3 g=3\nend\n", "cannot be built");
  expectPlanError(std::string(kHeader) + "op conv9d key=c in=1x4x9x9\nend\n", "plan.txt:9: unknown op type 'conv9d'");
  expectPlanError(std::string(kHeader) + "op conv2d key=c in=1x4x9x9 out=8 wat=1\nend\n", "unknown field 'wat'");
  expectPlanError(std::string(kHeader) + "op conv2d key=c in=1x4xAx9 out=8\nend\n", "bad shape '1x4xAx9'");
  expectPlanError(std::string(kHeader) + "op conv2d in=1x4x9x9 out=8\nend\n", "no key=");
  expectPlanError(std::string(kHeader) + "op act key=a in=1x4x9x9 act=gelu\nend\n", "unknown activation 'gelu'");
  expectPlanError(std::string(kHeader) + "op act key=a in=2x4x9x9 act=relu\nend\n", "batch 1");
  expectPlanError(ok + "op act key=a in=1x4 act=relu\n", "plan.txt:11: text after 'end'");
  std::string repeats0 = ok;
  repeats0.replace(repeats0.find("repeats 3"), 9, "repeats 0");
  expectPlanError(repeats0, "plan.txt:6: repeats=0 is not an integer >= 1");
  EXPECT_THROW(loadProbePlan("/nonexistent/plan.txt"), ProbePlanError);
}

TEST(ProbeRunner, StatisticsOnKnownValues) {
  EXPECT_DOUBLE_EQ(probeMedian({3, 1, 2}), 2.0);
  EXPECT_DOUBLE_EQ(probeMedian({4, 1, 2, 3}), 2.5);
  EXPECT_DOUBLE_EQ(probePercentile({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.9), 9.0);
  std::vector<double> v = {1.00, 1.01, 0.99, 1.02, 1.00, 9.0, 1.01, 0.98};
  EXPECT_EQ(rejectOutliers(v, 5.0), 1);
  EXPECT_EQ(v.size(), 7u);
  for (double x : v) EXPECT_LT(x, 1.1);
  // Within 5 x 5% of the median nothing is dropped, however tight the rest is.
  std::vector<double> w = {1.0, 1.0, 1.0, 1.2};
  EXPECT_EQ(rejectOutliers(w, 5.0), 0);
  EXPECT_EQ(jsonEscape("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
}

TEST(ProbeRunner, ResultsJsonParsesBackWithEveryOpOnce) {
  ProbePlan plan = refnetPlan();
  plan.ops.resize(5);
  plan.repeats = 6;
  ProbeOptions o;
  o.group = 2;
  size_t lastDone = 0;
  int calls = 0;
  const ProbeResults r = runProbe(plan, o, [&](size_t done, size_t total) {
    EXPECT_EQ(total, 5u);
    EXPECT_GT(done, lastDone);
    lastDone = done;
    ++calls;
  });
  EXPECT_EQ(calls, 3);  // groups of 2, 2, 1
  const Json j = parseJson(probeResultsJson(plan, "plan.txt", r), "results");
  EXPECT_EQ(j["format"], "hwnas-probe-results");
  EXPECT_EQ(j["version"], kProbeResultsVersion);
  EXPECT_EQ(j["tool_version"], kProbeToolVersion);
  EXPECT_EQ(j["threads"], 1);
  EXPECT_EQ(j["repeats"], 6);
  EXPECT_EQ(j["plan"]["space_id"], "refnet-test");
  EXPECT_EQ(j["plan"]["ops"], 5);
  EXPECT_FALSE(j["device"]["cpu"].get<std::string>().empty());
  EXPECT_EQ(j["device"]["isa"], kernels::isaName(kernels::bestIsa()));
  ASSERT_EQ(j["ops"].size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    const Json& e = j["ops"][i];
    EXPECT_EQ(e["key"], plan.ops[i].key);
    EXPECT_EQ(e["samples"].get<int>() + e["rejected"].get<int>(), 6);
    EXPECT_GT(e["min_ms"].get<double>(), 0.0);
    EXPECT_LE(e["min_ms"].get<double>(), e["median_ms"].get<double>());
    EXPECT_LE(e["median_ms"].get<double>(), e["p90_ms"].get<double>());
    EXPECT_EQ(parseProbeOp(e["spec"].get<std::string>(), "spec").key, plan.ops[i].key);
  }
}
