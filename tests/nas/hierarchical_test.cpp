// nas/hierarchical.h: the macro/micro split of a space's decisions comes from the space itself;
// PhaseSpace's macro phase holds every micro decision at its setting and its micro phase holds
// the fixed arch's macro decisions, under sample, mutate and crossover; an evolution over a
// micro PhaseSpace proposes only archs inside the kept macro candidate.
#include <gtest/gtest.h>

#include <set>

#include "core/rng.h"
#include "nas/hierarchical.h"
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
