// The memory planner: live tensors never overlap, everything fits in the arena, the arena is
// what the executor allocates, and a hand-computed chain pins the greedy best-fit layout.
#include <gtest/gtest.h>

#include "core/lower.h"
#include "runtime_test_util.h"
#include "trainer/model_def.h"

using namespace hwnas;
using namespace hwnas::runtime;

namespace {

int64_t aligned(int64_t b) { return (b + kArenaAlign - 1) / kArenaAlign * kArenaAlign; }

void checkLayout(const Plan& p, const MemoryPlan& m) {
  const size_t nt = p.tensors.size();
  int64_t lowerBound = 0;
  for (int i = -1; i <= int(p.ops.size()); ++i) {
    int64_t live = 0;
    for (size_t t = 0; t < nt; ++t)
      if (m.firstUse[t] <= i && i <= m.lastUse[t] && m.firstUse[t] >= -1) live += aligned(m.bytes[t]);
    lowerBound = std::max(lowerBound, live);
  }
  for (size_t a = 0; a < nt; ++a) {
    ASSERT_GE(m.offsets[a], 0);
    EXPECT_EQ(m.offsets[a] % kArenaAlign, 0);
    EXPECT_LE(m.offsets[a] + m.bytes[a], m.arenaBytes);
    for (size_t b = a + 1; b < nt; ++b) {
      const bool liveTogether = m.firstUse[a] <= m.lastUse[b] && m.firstUse[b] <= m.lastUse[a];
      const bool overlap = m.offsets[a] < m.offsets[b] + m.bytes[b] && m.offsets[b] < m.offsets[a] + m.bytes[a];
      EXPECT_FALSE(liveTogether && overlap) << "tensors " << a << " and " << b << " share memory while both live";
    }
  }
  EXPECT_GE(m.arenaBytes, lowerBound);
}

}  // namespace

TEST(MemoryPlanner, RefnetLayoutIsSoundAndIsWhatTheExecutorAllocates) {
  auto model = buildModel(loadModelDef(std::string(HWNAS_SOURCE_DIR) + "/configs/models/refnet.yaml"), 0);
  for (int64_t batch : {1, 5}) {
    SCOPED_TRACE(batch);
    const Graph g = model->toGraph(batch);
    const Plan p = lowerStructure(g);
    const MemoryPlan m = planMemory(p, 0);
    checkLayout(p, m);
    int64_t total = 0;
    for (size_t t = 0; t < p.tensors.size(); ++t) total += aligned(m.bytes[t]);
    EXPECT_LT(m.arenaBytes, total / 2) << "liveness reuse should at least halve refnet's activations";
    EXPECT_EQ(runtimePeakActivationBytes(g), m.arenaBytes);
    Plan runnable = lower(g, [&] {
      WeightMap w;
      for (const auto& [name, v] : model->namedParameters()) w[name] = {v.value().shape(), v.value().toVector()};
      for (const auto& [name, t] : model->namedBuffers()) w[name] = {t.shape(), t.toVector()};
      return w;
    }());
    ExecutorOptions o;
    o.microBatch = batch;  // the whole batch in one pass: the plan's own layout
    Executor ex(runnable, o);
    EXPECT_EQ(ex.allocatedArenaBytes(), m.arenaBytes);
    EXPECT_EQ(ex.peakActivationBytes(), m.arenaBytes);
    // By default the executor runs micro-batches and allocates what the planner says for them.
    Executor byDefault(runnable);
    EXPECT_EQ(byDefault.allocatedArenaBytes(), planMemory(p, byDefault.microBatch()).arenaBytes);
    // The same plan run at another batch plans (and allocates) for that batch.
    o.microBatch = 0;
    o.batch = 3 * batch;
    Executor ex3(runnable, o);
    EXPECT_EQ(ex3.batch(), 3 * batch);
    EXPECT_GE(ex3.microBatch(), 1);
    EXPECT_LE(ex3.microBatch(), 3 * batch);
    EXPECT_EQ(ex3.allocatedArenaBytes(), planMemory(p, ex3.microBatch()).arenaBytes);
    EXPECT_LE(ex3.allocatedArenaBytes(), std::max(kMicroBatchBytes, planMemory(p, 1).arenaBytes));
    o.microBatch = 3 * batch;  // the whole batch at once
    Executor whole(runnable, o);
    EXPECT_EQ(whole.microBatch(), 3 * batch);
    EXPECT_EQ(whole.allocatedArenaBytes(), planMemory(p, 3 * batch).arenaBytes);
    checkLayout(p, planMemory(p, 3 * batch));
  }
}

TEST(MemoryPlanner, HandComputedChainAndBranch) {
  // in [1,1,8,8] (256 B) -> a: conv 4 ch (1024 B) -> b: conv 4 ch (1024 B) -> c: add(a, b) (1024 B)
  Rng rng(1);
  Plan p;
  p.tensors = {{{1, 1, 8, 8}}, {{1, 4, 8, 8}}, {{1, 4, 8, 8}}, {{1, 4, 8, 8}}};
  p.inputs = {0};
  PlanOp c1;
  c1.type = OpType::Conv2d;
  c1.outChannels = 4;
  c1.inputs = {0};
  c1.output = 1;
  rttest::fillWeights(c1, {{1, 1, 8, 8}}, rng);
  PlanOp c2 = c1;
  c2.inputs = {1};
  c2.output = 2;
  rttest::fillWeights(c2, {{1, 4, 8, 8}}, rng);
  PlanOp add;
  add.type = OpType::Add;
  add.inputs = {1, 2};
  add.output = 3;
  p.ops = {c1, c2, add};
  p.outputs = {3};
  ASSERT_NO_THROW(p.validate());
  const MemoryPlan m = planMemory(p, 0);
  // input @0; a @256 (arena 1280); input freed: [0,256) free; b does not fit there: @1280
  // (arena 2304); c: nothing free fits: @2304 (arena 3328); a and b freed afterwards.
  EXPECT_EQ(m.offsets, (std::vector<int64_t>{0, 256, 1280, 2304}));
  EXPECT_EQ(m.arenaBytes, 3328);
  checkLayout(p, m);
  // A longer chain reuses freed blocks: a 4th op reading c fits into the freed [256, 2304).
  PlanOp c3 = c2;
  c3.inputs = {3};
  c3.output = 4;
  p.tensors.push_back({{1, 4, 8, 8}});
  p.ops.push_back(c3);
  p.outputs = {4};
  const MemoryPlan m2 = planMemory(p, 0);
  EXPECT_EQ(m2.offsets[4], 0);  // best fit: [0, 2304) after merging the freed input, a and b
  EXPECT_EQ(m2.arenaBytes, 3328);
  checkLayout(p, m2);
  EXPECT_EQ(Executor(p).allocatedArenaBytes(), 3328);
}
