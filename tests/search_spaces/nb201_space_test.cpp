// Nb201Space against the official NAS-Bench-201 table in data/nb201: index <-> arch_str for
// every row, isomorphism classes equal to the table's iso_rep_index, costs equal to the NB201
// paper's extremes, and the sampling operators.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"
#include "search_spaces/nb201_space.h"

using namespace hwnas;

namespace {

const std::string kSpace = std::string(HWNAS_SOURCE_DIR) + "/configs/spaces/nb201.yaml";
const std::string kCsv = std::string(HWNAS_SOURCE_DIR) + "/data/nb201/nb201_test_acc_200ep.csv";

struct Row {
  int index;
  std::string archStr;
  int isoRep;
};

std::vector<Row> readCsv() {
  std::ifstream f(kCsv);
  std::vector<Row> rows;
  std::string line;
  std::getline(f, line);
  EXPECT_EQ(line, "index,arch_str,cifar10_test_acc,cifar100_test_acc,imagenet16_120_test_acc,iso_rep_index");
  while (std::getline(f, line)) {
    std::vector<std::string> cells;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, ',');) cells.push_back(c);
    if (cells.size() != 6) ADD_FAILURE() << "bad row: " << line;
    else rows.push_back({std::stoi(cells[0]), cells[1], std::stoi(cells[5])});
  }
  return rows;
}

}  // namespace

TEST(Nb201Space, LoadsFromYaml) {
  auto s = loadSearchSpace(kSpace);
  EXPECT_EQ(s->kind(), "nb201");
  EXPECT_EQ(s->name(), "nb201");
  EXPECT_EQ(s->cardinality(), "15625");
  EXPECT_TRUE(s->enumerable());
  EXPECT_EQ(s->spaceId().substr(0, 6), "nb201-");
  EXPECT_EQ(s->spaceId(), Nb201Space().spaceId());  // the YAML spells out the defaults
}

TEST(Nb201Space, EnumeratesExactly15625DistinctArchsInIndexOrder) {
  Nb201Space s;
  std::set<uint64_t> hashes;
  int i = 0;
  s.enumerate([&](const ArchConfig& a) {
    s.validate(a);
    EXPECT_EQ(Nb201Space::index(a), i);
    hashes.insert(a.hash());
    ++i;
    return true;
  });
  EXPECT_EQ(i, 15625);
  EXPECT_EQ(hashes.size(), 15625u);
}

TEST(Nb201Space, IndexAndArchStrMatchEveryRowOfTheOfficialTable) {
  std::vector<Row> rows = readCsv();
  ASSERT_EQ(rows.size(), 15625u);
  int mismatches = 0;
  for (const Row& r : rows) {
    ArchConfig a = Nb201Space::fromArchStr(r.archStr);
    if (Nb201Space::archStr(a) != r.archStr || Nb201Space::index(a) != r.index ||
        Nb201Space::archStr(Nb201Space::fromIndex(r.index)) != r.archStr)
      ++mismatches;
  }
  EXPECT_EQ(mismatches, 0);
  // The two architectures NB201's generator asserts, and the README's best CIFAR-10 arch.
  EXPECT_EQ(Nb201Space::archStr(Nb201Space::fromIndex(0)),
            "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|");
  EXPECT_EQ(Nb201Space::archStr(Nb201Space::fromIndex(6111)),
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|");
}

TEST(Nb201Space, IsomorphismClassesMatchIsoRepIndexForEveryRow) {
  std::vector<Row> rows = readCsv();
  ASSERT_EQ(rows.size(), 15625u);
  int mismatches = 0;
  std::set<int> reps;
  for (const Row& r : rows) {
    int rep = Nb201Space::isoRepIndex(Nb201Space::fromIndex(r.index));
    if (rep != r.isoRep) ++mismatches;
    reps.insert(rep);
  }
  EXPECT_EQ(mismatches, 0);
  EXPECT_EQ(reps.size(), 6466u);
  EXPECT_EQ(Nb201Space::numIsoClasses(), 6466);
  // NATS semantics: none edges are "#", skip_connect passes its input string through.
  EXPECT_EQ(Nb201Space::isoKey(Nb201Space::fromEdges({0, 0, 0, 0, 0, 0})), "#+#+#");
  EXPECT_EQ(Nb201Space::isoKey(Nb201Space::fromEdges({3, 0, 0, 1, 0, 0})), "#+#+0");
}

TEST(Nb201Space, ArchStrRejectsMalformedText) {
  EXPECT_THROW(Nb201Space::fromArchStr("|nor_conv_3x3~0|+|none~0|none~1|"), InputError);
  EXPECT_THROW(Nb201Space::fromArchStr("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|"), InputError);
  EXPECT_THROW(Nb201Space::fromArchStr("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|"), InputError);
  EXPECT_THROW(Nb201Space::fromIndex(15625), InputError);
  EXPECT_THROW(Nb201Space::fromIndex(-1), InputError);
}

TEST(Nb201Space, NormalizeAcceptsIdsNamesArchStrAndIndex) {
  Nb201Space s;
  ArchConfig want = Nb201Space::fromIndex(6111);
  EXPECT_EQ(s.normalize(Json{{"index", 6111}}), want);
  EXPECT_EQ(s.normalize(Json{{"arch_str", Nb201Space::archStr(want)}}), want);
  EXPECT_EQ(s.normalize(Json{{"edges", {"nor_conv_3x3", "nor_conv_3x3", "nor_conv_3x3", "skip_connect", "nor_conv_3x3",
                                        "nor_conv_1x1"}}}),
            want);
  EXPECT_EQ(s.normalize(want.json()), want);
  EXPECT_EQ(want.canonical(), R"({"edges":[3,3,3,1,3,2]})");
  try {
    s.validate(ArchConfig(Json{{"edges", {3, 3, 3, 1, 3, 7}}}));
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("edges[5]"), std::string::npos) << e.what();
  }
  try {
    s.validate(ArchConfig(Json{{"edges", {3, 3, 3, 1, 3, 2}}, {"extra", 1}}));
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("extra"), std::string::npos) << e.what();
  }
}

TEST(Nb201Space, CostsMatchThePublishedExtremes) {
  // NB201 paper / API on CIFAR-10: all nor_conv_3x3 1.531546 M params, 220.11 M FLOPs (MACs);
  // all none 0.073306 M params, 7.78 M MACs.
  Nb201Space s;
  ArchCost big = s.cost(s.largest());
  EXPECT_EQ(big.params, 1531546);
  EXPECT_EQ(big.macs, 220119680);
  ArchCost small = s.cost(s.smallest());
  EXPECT_EQ(small.params, 73306);
  EXPECT_EQ(small.macs, 7783040);
  // Costs are monotone in ops: every other arch lies in between.
  Rng rng(3);
  for (int i = 0; i < 50; ++i) {
    ArchCost c = s.cost(s.sample(rng));
    EXPECT_GE(c.macs, small.macs);
    EXPECT_LE(c.macs, big.macs);
    EXPECT_GT(c.peakActivationBytes, 0);
  }
  Graph g = s.toGraph(s.largest());
  EXPECT_EQ(g.node(0).shape, (Shape{1, 3, 32, 32}));
  EXPECT_EQ(g.nodes().back().shape, (Shape{1, 10}));
}

TEST(Nb201Space, SampleMutateCrossoverAreValidAndDeterministic) {
  Nb201Space s;
  Rng r1(42), r2(42);
  for (int i = 0; i < 200; ++i) {
    ArchConfig a = s.sample(r1), b = s.sample(r1);
    EXPECT_EQ(a, s.sample(r2));
    EXPECT_EQ(b, s.sample(r2));
    ArchConfig m1 = s.mutate(a, 0.3, r1), m2 = s.mutate(a, 0.3, r2);
    EXPECT_EQ(m1, m2);
    s.validate(m1);
    ArchConfig c1 = s.crossover(a, b, r1), c2 = s.crossover(a, b, r2);
    EXPECT_EQ(c1, c2);
    s.validate(c1);
    auto ea = Nb201Space::edges(a), eb = Nb201Space::edges(b), ec = Nb201Space::edges(c1);
    for (int k = 0; k < 6; ++k) EXPECT_TRUE(ec[k] == ea[k] || ec[k] == eb[k]);
  }
  // prob 1 changes every edge; prob 0 none.
  ArchConfig a = s.largest();
  auto e1 = Nb201Space::edges(s.mutate(a, 1.0, r1));
  for (int k = 0; k < 6; ++k) EXPECT_NE(e1[k], 3);
  EXPECT_EQ(s.mutate(a, 0.0, r1), a);
  // Sampling covers every op on every edge.
  std::set<std::pair<int, int>> seen;
  for (int i = 0; i < 500; ++i) {
    auto e = Nb201Space::edges(s.sample(r1));
    for (int k = 0; k < 6; ++k) seen.insert({k, e[k]});
  }
  EXPECT_EQ(seen.size(), 30u);
}

TEST(Nb201Space, BadYamlIsAConfigError) {
  try {
    parseSearchSpace("kind: nb201\nname: x\ncell: {channels: 16, cels_per_stage: 5}\n", "bad.yaml");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.line(), 3);
    EXPECT_NE(std::string(e.what()).find("cels_per_stage"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("cells_per_stage"), std::string::npos) << e.what();
  }
}

TEST(Nb201Space, ResolutionNotAMultipleOfFourIsAConfigError) {
  // 30 px: the first reduction's conv gives 15 x 15, the second's conv 8 x 8 but its pooled
  // shortcut 7 x 7, so the network cannot be built; the space says so when it is loaded.
  try {
    parseSearchSpace("kind: nb201\nname: x\ninput: {channels: 3, classes: 10, resolution: 30}\n", "odd.yaml");
    FAIL() << "resolution 30 accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.line(), 3);
    EXPECT_NE(std::string(e.what()).find("multiple of 4"), std::string::npos) << e.what();
  }
  // A multiple of 4 loads and builds.
  auto space = parseSearchSpace("kind: nb201\nname: x\ninput: {channels: 3, classes: 10, resolution: 28}\n", "ok.yaml");
  Rng rng(1);
  for (int i = 0; i < 5; ++i) EXPECT_NO_THROW(space->toGraph(space->sample(rng)));
}
