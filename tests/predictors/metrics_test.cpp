// Ranking metrics against hand-computed answers (with ties) and, for Kendall tau-b, against a
// direct O(n^2) count of concordant / discordant / tied pairs on random data with many ties.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "core/rng.h"
#include "predictors/metrics.h"

using namespace hwnas;

namespace {

double kendallNaive(const std::vector<double>& a, const std::vector<double>& b) {
  double c = 0, d = 0, ta = 0, tb = 0;
  for (size_t i = 0; i < a.size(); ++i)
    for (size_t j = i + 1; j < a.size(); ++j) {
      const double da = a[i] - a[j], db = b[i] - b[j];
      if (da == 0 && db == 0) continue;
      if (da == 0) ta += 1;
      else if (db == 0) tb += 1;
      else if ((da > 0) == (db > 0)) c += 1;
      else d += 1;
    }
  return (c - d) / std::sqrt((c + d + ta) * (c + d + tb));
}

}  // namespace

TEST(Metrics, KendallNoTies) {
  // Two discordant pairs out of 10: (10 - 2*2) / 10.
  EXPECT_DOUBLE_EQ(kendallTau({1, 2, 3, 4, 5}, {2, 1, 4, 3, 5}), 0.6);
  EXPECT_DOUBLE_EQ(kendallTau({1, 2, 3}, {3, 2, 1}), -1.0);
}

TEST(Metrics, KendallTauBWithTies) {
  // Pairs: 3 concordant, 1 discordant, 1 tied in a only, 1 tied in b only:
  // tau-b = (3 - 1) / sqrt((6 - 1) * (6 - 1)) = 0.4 (scipy.stats.kendalltau gives 0.4).
  EXPECT_NEAR(kendallTau({1, 2, 2, 3}, {1, 3, 2, 2}), 0.4, 1e-15);
  // Tied in both: the pair counts in neither n1 - n3 nor n2 - n3.
  // a = {1,1,2}, b = {5,5,6}: n0 = 3, n1 = n2 = n3 = 1, C = 2: tau = 2 / sqrt(2*2) = 1.
  EXPECT_NEAR(kendallTau({1, 1, 2}, {5, 5, 6}), 1.0, 1e-15);
  EXPECT_EQ(kendallTau({1, 1, 1}, {1, 2, 3}), 0.0);  // constant input
}

TEST(Metrics, KendallMatchesPairCountOnRandomTies) {
  Rng rng(7);
  for (int rep = 0; rep < 5; ++rep) {
    std::vector<double> a(300), b(300);
    for (size_t i = 0; i < a.size(); ++i) {
      a[i] = double(rng.uniformInt(12));
      b[i] = double(rng.uniformInt(8)) + 0.1 * a[i];
    }
    EXPECT_NEAR(kendallTau(a, b), kendallNaive(a, b), 1e-12);
  }
}

TEST(Metrics, SpearmanAverageRanks) {
  EXPECT_EQ(averageRanks({10, 30, 20, 20}), (std::vector<double>{1, 4, 2.5, 2.5}));
  // Sum of d^2 = 4: rho = 1 - 6 * 4 / (5 * 24) = 0.8.
  EXPECT_NEAR(spearmanRho({1, 2, 3, 4, 5}, {2, 1, 4, 3, 5}), 0.8, 1e-15);
  // Ranks {1, 2.5, 2.5, 4} and {1, 4, 2.5, 2.5}: Pearson = 2.25 / 4.5 = 0.5.
  EXPECT_NEAR(spearmanRho({1, 2, 2, 3}, {1, 3, 2, 2}), 0.5, 1e-15);
  EXPECT_EQ(spearmanRho({2, 2, 2}, {1, 2, 3}), 0.0);
}

TEST(Metrics, RmseAndTopK) {
  EXPECT_NEAR(rmse({1, 2, 3}, {1, 4, 1}), std::sqrt(8.0 / 3.0), 1e-15);
  // Top-2 by pred {0, 1}, by truth {0, 3}: one in common.
  EXPECT_DOUBLE_EQ(topKPrecision({0.9, 0.8, 0.1, 0.7}, {1, 0, 0.5, 0.9}, 2), 0.5);
  EXPECT_DOUBLE_EQ(topKPrecision({0.9, 0.8, 0.1, 0.7}, {1, 0, 0.5, 0.9}, 4), 1.0);
  // Ties at the cut go to the lower index on both sides: {0, 1} vs {0, 1}.
  EXPECT_DOUBLE_EQ(topKPrecision({1, 1, 1}, {3, 2, 2}, 2), 1.0);
}

TEST(Metrics, Errors) {
  EXPECT_THROW(kendallTau({1, 2}, {1}), InputError);
  EXPECT_THROW(kendallTau({1}, {1}), InputError);
  EXPECT_THROW(spearmanRho({1, 2}, {1, 2, 3}), InputError);
  EXPECT_THROW(rmse({}, {}), InputError);
  EXPECT_THROW(topKPrecision({1, 2}, {1, 2}, 3), InputError);
  EXPECT_THROW(topKPrecision({1, 2}, {1, 2}, 0), InputError);
}
