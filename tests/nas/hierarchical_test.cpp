// nas/hierarchical.h: the macro/micro split of a space's decisions comes from the space itself;
// PhaseSpace's macro phase holds every micro decision at its setting and its micro phase holds
// the fixed arch's macro decisions, under sample, mutate and crossover; an evolution over a
// micro PhaseSpace proposes only archs inside the kept macro candidate.
#include <gtest/gtest.h>

#include <set>

#include "core/rng.h"
#include "nas/hierarchical.h"
#include "nas/results_store.h"
#include "nas/search_engine.h"
#include "nas/search_problem.h"
#include "nas/strategy.h"
#include "search_spaces/search_space.h"

using namespace hwnas;

namespace {

std::unique_ptr<SearchSpace> fmnistSmall() {
  return loadSearchSpace(std::string(HWNAS_SOURCE_DIR) + "/configs/spaces/fmnist_small.yaml");
}

std::string macroOf(const Json& a) {
  std::string k;
  for (const auto& st : a["stages"]) k += std::to_string(st["depth"].get<int>()) + "/" + std::to_string(st["out"].get<int>()) + ";";
  return k;
}

void expectMicroAt(const Json& a, int kernel, int expand, bool se) {
  for (const auto& st : a["stages"]) {
    EXPECT_EQ(st["se"].get<bool>(), se);
    ASSERT_EQ(st["blocks"].size(), st["depth"].get<size_t>());
    for (const auto& b : st["blocks"]) {
      EXPECT_EQ(b["kernel"].get<int>(), kernel);
      EXPECT_EQ(b["expand"].get<int>(), expand);
    }
  }
}

}  // namespace

TEST(Hierarchical, MacroAndMicroSlotsComeFromTheSpace) {
  auto space = fmnistSmall();
  const auto slots = space->decisionSlots();
  const auto micro = microSlots(*space);
  ASSERT_EQ(slots.size(), micro.size());
  // fmnist_small: per stage depth, out (macro), se (shared micro), 3 blocks x kernel, expand.
  ASSERT_EQ(slots.size(), 27u);
  std::vector<std::string> macroPaths;
  for (size_t i = 0; i < slots.size(); ++i)
    if (!micro[i]) macroPaths.push_back(slots[i].path);
  EXPECT_EQ(macroPaths, (std::vector<std::string>{"stages[0].depth", "stages[0].out", "stages[1].depth", "stages[1].out",
                                                  "stages[2].depth", "stages[2].out"}));
  // NB201: every decision is an edge op (micro), so a macro phase has nothing to search.
  auto nb = loadSearchSpace(std::string(HWNAS_SOURCE_DIR) + "/configs/spaces/nb201.yaml");
  for (bool m : microSlots(*nb)) EXPECT_TRUE(m);
  EXPECT_THROW(PhaseSpace::macro(*nb, MicroSetting::Middle), InputError);
}

TEST(Hierarchical, JsonPaths) {
  Json j = parseJson(R"({"stages": [{"depth": 1}, {"depth": 2, "blocks": [{"kernel": 3}, {"kernel": 5}]}]})");
  ASSERT_NE(jsonAtPath(j, "stages[1].blocks[1].kernel"), nullptr);
  EXPECT_EQ(*jsonAtPath(j, "stages[1].blocks[1].kernel"), 5);
  EXPECT_EQ(jsonAtPath(j, "stages[0].blocks[0].kernel"), nullptr);
  EXPECT_EQ(jsonAtPath(j, "stages[3].depth"), nullptr);
  setJsonAtPath(j, "stages[1].blocks[0].kernel", 7);
  EXPECT_EQ(j["stages"][1]["blocks"][0]["kernel"], 7);
}

TEST(Hierarchical, MacroPhaseHoldsMicroAtItsSetting) {
  auto space = fmnistSmall();
  auto mid = PhaseSpace::macro(*space, MicroSetting::Middle);
  auto big = PhaseSpace::macro(*space, MicroSetting::Largest);
  Rng rng(11);
  std::set<std::string> macros;
  for (int i = 0; i < 40; ++i) {
    ArchConfig a = mid->sample(rng);
    space->validate(a);
    expectMicroAt(a.json(), 3, 4, false);  // kernel [3, 5], expand [2, 4, 6], se [false, true]
    macros.insert(macroOf(a.json()));
    ArchConfig m = mid->mutate(a, 0.0 + 1.0 / 27, rng);
    expectMicroAt(m.json(), 3, 4, false);
    ArchConfig c = mid->crossover(a, m, rng);
    expectMicroAt(c.json(), 3, 4, false);
    expectMicroAt(big->sample(rng).json(), 5, 6, true);
  }
  EXPECT_GT(macros.size(), 20u);  // 3^3 depths x 2^3 outs: the macro decisions vary
  EXPECT_EQ(mid->largest().json()["stages"][0]["depth"], 3);
  expectMicroAt(mid->largest().json(), 3, 4, false);
}

TEST(Hierarchical, MicroPhaseKeepsTheFixedMacroAndEvolutionStaysInside) {
  auto space = fmnistSmall();
  Rng r0(5);
  const ArchConfig fixed = space->sample(r0);
  auto phase = PhaseSpace::micro(*space, fixed);
  Rng rng(12);
  std::set<std::string> hashes;
  ArchConfig prev = phase->sample(rng);
  for (int i = 0; i < 60; ++i) {
    ArchConfig a = phase->sample(rng);
    ArchConfig m = phase->mutate(a, 1.0 / 27, rng);
    ArchConfig c = phase->crossover(a, prev, rng);
    for (const ArchConfig* x : {&a, &m, &c}) {
      space->validate(*x);
      EXPECT_EQ(macroOf(x->json()), macroOf(fixed.json()));
      EXPECT_EQ(phase->macroKey(*x), phase->macroKey(fixed));
      EXPECT_TRUE(phase->holdsFixed(*x));
      hashes.insert(x->hashHex());
    }
    prev = m;
  }
  EXPECT_GT(hashes.size(), 50u);
  // A mutation changes about one free decision, as one of the whole space would change one.
  int changed = 0;
  const int n = 400;
  for (int i = 0; i < n; ++i) {
    ArchConfig a = phase->sample(rng);
    ArchConfig m = phase->mutate(a, 0.0, rng);  // prob 0: nothing changes
    EXPECT_EQ(a, m);
    ArchConfig m2 = phase->mutate(a, 1.0 / 27, rng);
    changed += a != m2;
  }
  EXPECT_GT(changed, n / 3);
  // Evolution over the phase: every proposal inside the fixed macro, same proposals for a seed.
  auto propose = [&](uint64_t seed) {
    StrategyContext ctx;
    ctx.space = phase.get();
    ctx.seed = seed;
    EvolutionOptions eo;
    eo.population = 4;
    eo.sampleSize = 2;
    auto s = makeEvolution(ctx, eo);
    std::string seq;
    for (int step = 0; step < 12; ++step) {
      std::vector<ArchConfig> c = s->ask(1);
      std::vector<Evaluation> ev(c.size());
      for (size_t i = 0; i < c.size(); ++i) {
        EXPECT_EQ(macroOf(c[i].json()), macroOf(fixed.json()));
        ev[i].arch = c[i];
        ev[i].queried = true;
        ev[i].accuracy = double(c[i].hash() % 1000) / 10.0;
        seq += c[i].hashHex() + ";";
      }
      s->tell(ev);
    }
    return seq;
  };
  EXPECT_EQ(propose(3), propose(3));
  EXPECT_NE(propose(3), propose(4));
}

namespace {

// Proposes the same `n` archs again and again (a sub-space the strategy has exhausted).
class RepeatStrategy : public Strategy {
 public:
  RepeatStrategy(StrategyContext ctx, std::vector<ArchConfig> archs) : Strategy(std::move(ctx)), archs_(std::move(archs)) {}
  std::string name() const override { return "repeat"; }
  std::vector<ArchConfig> ask(int) override { return {archs_[size_t(asks_++) % archs_.size()]}; }
  void tell(const std::vector<Evaluation>&) override {}
  Json saveState() const override { return {{"asks", asks_}}; }
  void loadState(const Json& s) override { asks_ = s.at("asks").get<int>(); }

 private:
  std::vector<ArchConfig> archs_;
};

}  // namespace

TEST(Hierarchical, EnginePhasesShareOneStoreAndAStalledPhaseEnds) {
  const std::string src = HWNAS_SOURCE_DIR, data = src + "/data/nb201/";
  auto p = SearchProblem::parse("space: " + src + "/configs/spaces/nb201.yaml\n"
                                "objective:\n  accuracy: {source: table, path: " + data +
                                    "nb201_cifar10valid_200ep.csv, column: valid_acc, key: index}\n"
                                "search: {strategy: random, queries: 50, batch: 1}\n",
                                "cfg.yaml", "");
  ResultsStore store(":memory:");
  RunInfo ri;
  ri.configHash = p->configHash();
  ri.config = p->resolved();
  ri.spaceId = p->space().spaceId();
  ri.strategy = "random";
  store.startRun(ri);
  Rng rng(3);
  std::vector<ArchConfig> three = {p->space().sample(rng), p->space().sample(rng), p->space().sample(rng)};
  SearchEngine engine(*p, &store);
  // Phase "a": 3 distinct archs, then only repeats: it ends after 5 steps without a new query.
  SearchRunOptions a;
  a.phase = "a";
  a.queries = 10;
  a.stallSteps = 5;
  bool stalled = false;
  a.stalled = &stalled;
  a.strategy = [&] { return std::make_unique<RepeatStrategy>(p->strategyContext(), three); };
  SearchOutcome oa = engine.run(a);
  EXPECT_TRUE(stalled);
  EXPECT_EQ(oa.queries, 3);
  EXPECT_EQ(oa.steps, 3 + 5);
  // Phase "b" (the config's random search, 4 queries) follows in the same store: its seqs and
  // steps continue after a's, its rows carry its phase.
  SearchRunOptions b;
  b.phase = "b";
  b.queries = 4;
  SearchOutcome ob = engine.run(b);
  EXPECT_EQ(ob.queries, 4);
  ASSERT_FALSE(ob.rows.empty());
  EXPECT_EQ(ob.rows.front().seq, 8);
  EXPECT_EQ(ob.rows.front().step, 8);
  EXPECT_EQ(store.queries("a").size(), 8u);
  EXPECT_EQ(store.queries("b").size(), ob.rows.size());
  EXPECT_EQ(store.queries().size(), 8u + ob.rows.size());
  EXPECT_EQ(store.lastStep("a").step, 7);
  EXPECT_EQ(store.lastStep().step, store.lastStep("b").step);
  for (const auto& r : store.queries("b")) EXPECT_EQ(r.phase, "b");
  // Resuming the stalled phase: the trailing stall is counted from the store, nothing new runs.
  stalled = false;
  a.resume = true;
  SearchOutcome again = engine.run(a);
  EXPECT_TRUE(stalled);
  EXPECT_EQ(again.queries, 3);
  EXPECT_EQ(store.queries().size(), 8u + ob.rows.size());
}
