// SearchSpace::decisionSlots / decisionIndices / cellTopology, which the predictors' encoders
// read: NB201's six edges, fmnist_small's per-stage and per-block decisions with blocks beyond
// the chosen depth marked -1, and the round trip indices -> the arch's own values.
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/rng.h"
#include "search_spaces/mbconv_space.h"
#include "search_spaces/nb201_space.h"

using namespace hwnas;

namespace {
const std::string kDir = std::string(HWNAS_SOURCE_DIR) + "/configs/spaces/";

// The value at a key path like "stages[1].blocks[0].kernel" or "edges[3]".
const Json* at(const Json& root, const std::string& path) {
  const Json* j = &root;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '.') ++i;
    if (path[i] == '[') {
      const size_t close = path.find(']', i);
      const size_t k = std::stoul(path.substr(i + 1, close - i - 1));
      if (!j->is_array() || k >= j->size()) return nullptr;
      j = &(*j)[k];
      i = close + 1;
    } else {
      size_t end = path.find_first_of(".[", i);
      if (end == std::string::npos) end = path.size();
      const std::string key = path.substr(i, end - i);
      if (!j->is_object() || !j->contains(key)) return nullptr;
      j = &(*j)[key];
      i = end;
    }
  }
  return j;
}
}  // namespace

TEST(DecisionSlots, Nb201HasSixEdgesOfFiveOps) {
  Nb201Space s;
  const auto slots = s.decisionSlots();
  ASSERT_EQ(slots.size(), 6u);
  EXPECT_EQ(slots[0].path, "edges[0]");
  EXPECT_EQ(slots[5].path, "edges[5]");
  for (const auto& d : slots) EXPECT_EQ(d.choices.size(), 5u);
  const ArchConfig a = Nb201Space::fromArchStr(
      "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|");
  EXPECT_EQ(s.decisionIndices(a), (std::vector<int>{3, 0, 4, 1, 2, 3}));
  const auto t = s.cellTopology();
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->nodes, 4);
  EXPECT_EQ(t->edges, (std::vector<std::pair<int, int>>{{0, 1}, {0, 2}, {1, 2}, {0, 3}, {1, 3}, {2, 3}}));
  EXPECT_EQ(t->ops[t->noneOp], "none");
  EXPECT_THROW(s.decisionIndices(ArchConfig::parse(R"({"edges":[0,1,2]})")), InputError);
}

TEST(DecisionSlots, FmnistSmallListsStageAndBlockDecisions) {
  auto s = loadSearchSpace(kDir + "fmnist_small.yaml");
  EXPECT_FALSE(s->cellTopology().has_value());
  const auto slots = s->decisionSlots();
  // Per stage: depth (3), out (2), se (2, shared), then 3 blocks x (kernel 2, expand 3).
  ASSERT_EQ(slots.size(), 27u);
  EXPECT_EQ(slots[0].path, "stages[0].depth");
  EXPECT_EQ(slots[1].path, "stages[0].out");
  EXPECT_EQ(slots[2].path, "stages[0].se");
  EXPECT_EQ(slots[3].path, "stages[0].blocks[0].kernel");
  EXPECT_EQ(slots[4].path, "stages[0].blocks[0].expand");
  EXPECT_EQ(slots[8].path, "stages[0].blocks[2].expand");
  EXPECT_EQ(slots[9].path, "stages[1].depth");
  EXPECT_EQ(slots[4].choices, (std::vector<Json>{2, 4, 6}));
  // refnet: depth 2 everywhere, out 24/40/80, kernels 3/5/3, expand 4, no SE.
  const ArchConfig refnet = ArchConfig::parse(
      R"({"stages":[{"depth":2,"out":24,"se":false,"blocks":[{"kernel":3,"expand":4},{"kernel":3,"expand":4}]},)"
      R"({"depth":2,"out":40,"se":false,"blocks":[{"kernel":5,"expand":4},{"kernel":5,"expand":4}]},)"
      R"({"depth":2,"out":80,"se":false,"blocks":[{"kernel":3,"expand":4},{"kernel":3,"expand":4}]}]})");
  EXPECT_EQ(s->decisionIndices(refnet), (std::vector<int>{1, 1, 0, 0, 1, 0, 1, -1, -1,  //
                                                          1, 1, 0, 1, 1, 1, 1, -1, -1,  //
                                                          1, 1, 0, 0, 1, 0, 1, -1, -1}));
}

TEST(DecisionSlots, IndicesPointAtTheArchsOwnValues) {
  for (const char* file : {"fmnist_small.yaml", "ofa_mbv3.yaml", "nb201.yaml"}) {
    auto s = loadSearchSpace(kDir + file);
    const auto slots = s->decisionSlots();
    Rng rng(11);
    for (int rep = 0; rep < 50; ++rep) {
      const ArchConfig a = s->sample(rng);
      const auto idx = s->decisionIndices(a);
      ASSERT_EQ(idx.size(), slots.size()) << file;
      for (size_t i = 0; i < slots.size(); ++i) {
        const Json* v = at(a.json(), slots[i].path);
        if (idx[i] < 0) {
          EXPECT_EQ(v, nullptr) << file << " " << slots[i].path;
        } else {
          ASSERT_NE(v, nullptr) << file << " " << slots[i].path;
          EXPECT_EQ(*v, slots[i].choices.at(idx[i])) << file << " " << slots[i].path;
        }
      }
    }
  }
}
