// Encoders from SearchSpace: widths and names, known encodings of hand-picked NB201 cells
// (a cell whose only live path is one skip edge; the all-conv-3x3 cell), one-hot on an mbconv
// space with absent blocks as zeros, injectivity of one-hot, and batch == row by row.
#include <gtest/gtest.h>

#include <numeric>
#include <set>

#include "core/error.h"
#include "predictors/encoding.h"
#include "search_spaces/nb201_space.h"

using namespace hwnas;

namespace {
const std::string kDir = std::string(HWNAS_SOURCE_DIR) + "/configs/spaces/";

double feature(const Encoder& e, const std::vector<double>& v, const std::string& name) {
  const auto names = e.featureNames();
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return v.at(i);
  ADD_FAILURE() << "no feature " << name;
  return -1;
}
double sum(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0); }
}  // namespace

TEST(Encoding, Nb201Widths) {
  Nb201Space s;
  EXPECT_EQ(makeEncoder(s, "onehot")->width(), 30);
  // Paths of the cell: 0-3, 0-1-3, 0-2-3, 0-1-2-3: lengths 1, 2, 3 with 4 live ops: 4 + 16 + 64.
  EXPECT_EQ(makeEncoder(s, "path")->width(), 84);
  // Op-node links: 3 from the input, e0->{e2,e4}, e1->e5, e2->e5, 3 to the output = 10; 6 x 4 ops.
  EXPECT_EQ(makeEncoder(s, "adjacency")->width(), 34);
  EXPECT_EQ(makeEncoder(s, "cellstats")->width(), 3 * 4 + 3 + 1);
  auto cat = makeEncoder(s, "onehot+path");
  EXPECT_EQ(cat->width(), 114);
  EXPECT_EQ(cat->name(), "onehot+path");
  EXPECT_EQ(cat->featureNames().size(), 114u);
  EXPECT_THROW(makeEncoder(s, "graph"), InputError);
  EXPECT_THROW(makeEncoder(s, "onehot+"), InputError);
}

TEST(Encoding, Nb201CellWithOneLiveSkipEdge) {
  Nb201Space s;
  // Edge 0 (1<-0) is a conv, but node 1 feeds nothing live: the only live path is 3<-0 skip.
  const ArchConfig a =
      Nb201Space::fromArchStr("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|");
  auto onehot = makeEncoder(s, "onehot");
  const auto oh = onehot->encode(a);
  EXPECT_EQ(sum(oh), 6.0);
  EXPECT_EQ(feature(*onehot, oh, "edges[0]=3"), 1.0);
  EXPECT_EQ(feature(*onehot, oh, "edges[3]=1"), 1.0);

  auto path = makeEncoder(s, "path");
  const auto p = path->encode(a);
  EXPECT_EQ(sum(p), 1.0);
  EXPECT_EQ(feature(*path, p, "path:skip_connect"), 1.0);

  auto adj = makeEncoder(s, "adjacency");
  const auto j = adj->encode(a);
  EXPECT_EQ(sum(j), 3.0);  // input->e3, e3->output, e3 = skip
  EXPECT_EQ(feature(*adj, j, "link:io>e3"), 1.0);
  EXPECT_EQ(feature(*adj, j, "link:e3>io"), 1.0);
  EXPECT_EQ(feature(*adj, j, "e3=skip_connect"), 1.0);
  EXPECT_EQ(feature(*adj, j, "e0=nor_conv_3x3"), 0.0);  // dead edge

  auto st = makeEncoder(s, "cellstats");
  const auto c = st->encode(a);
  EXPECT_EQ(c, (std::vector<double>{1, 0, 0, 0, /*paths through*/ 1, 0, 0, 0, /*max on path*/ 1, 0, 0, 0,
                                    /*live paths by length*/ 1, 0, 0, /*connected*/ 1}));
}

TEST(Encoding, Nb201AllConv3x3AndDisconnected) {
  Nb201Space s;
  auto path = makeEncoder(s, "path");
  const auto p = path->encode(s.largest());
  EXPECT_EQ(sum(p), 4.0);
  EXPECT_EQ(feature(*path, p, "path:nor_conv_3x3"), 1.0);
  EXPECT_EQ(feature(*path, p, "path:nor_conv_3x3>nor_conv_3x3"), 2.0);  // 0-1-3 and 0-2-3
  EXPECT_EQ(feature(*path, p, "path:nor_conv_3x3>nor_conv_3x3>nor_conv_3x3"), 1.0);
  auto st = makeEncoder(s, "cellstats");
  EXPECT_EQ(st->encode(s.largest()), (std::vector<double>{0, 0, 6, 0, 0, 0, 4, 0, 0, 0, 3, 0, 1, 2, 1, 1}));
  // All none: nothing live anywhere.
  EXPECT_EQ(sum(path->encode(s.smallest())), 0.0);
  EXPECT_EQ(sum(makeEncoder(s, "adjacency")->encode(s.smallest())), 0.0);
  EXPECT_EQ(sum(st->encode(s.smallest())), 0.0);
}

TEST(Encoding, OneHotIsInjectiveOnNb201AndBatchEqualsRows) {
  Nb201Space s;
  auto e = makeEncoder(s, "onehot");
  std::set<std::vector<double>> seen;
  std::vector<ArchConfig> archs;
  for (int i = 0; i < Nb201Space::kArchs; i += 7) archs.push_back(Nb201Space::fromIndex(i));
  const FeatureMatrix m = e->encodeBatch(archs);
  ASSERT_EQ(m.size(), archs.size());
  for (size_t i = 0; i < archs.size(); ++i) {
    EXPECT_EQ(m[i], e->encode(archs[i]));
    seen.insert(m[i]);
  }
  EXPECT_EQ(seen.size(), archs.size());
}

TEST(Encoding, OneHotOnMbconvMarksAbsentBlocksAsZeros) {
  auto s = loadSearchSpace(kDir + "fmnist_small.yaml");
  auto e = makeEncoder(*s, "onehot");
  EXPECT_EQ(e->width(), 3 * (3 + 2 + 2 + 3 * (2 + 3)));
  EXPECT_THROW(makeEncoder(*s, "path"), InputError);  // not a cell space
  Rng rng(3);
  for (int rep = 0; rep < 30; ++rep) {
    const ArchConfig a = s->sample(rng);
    const auto v = e->encode(a);
    // One 1 per taken decision: 3 stage-level ones per stage plus 2 per present block.
    double expect = 0;
    for (const auto& st : a.json()["stages"]) expect += 3 + 2 * st["depth"].get<int>();
    EXPECT_EQ(sum(v), expect);
  }
}
