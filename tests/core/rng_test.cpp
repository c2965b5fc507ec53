// Rng: same seed same stream, split(k) streams differ per k and are pure functions of (seed, k).
#include "core/rng.h"

#include <gtest/gtest.h>

#include <set>

using namespace hwnas;

TEST(Rng, SameSeedSameStream) {
  Rng a(42), b(42), c(43);
  bool differs = false;
  for (int i = 0; i < 1000; ++i) {
    uint64_t x = a.next();
    EXPECT_EQ(x, b.next());
    if (x != c.next()) differs = true;
  }
  EXPECT_TRUE(differs);
  a.reseed(7);
  Rng d(7);
  EXPECT_EQ(a.next(), d.next());
}

TEST(Rng, SplitIsIndependentAndDeterministic) {
  Rng base(123);
  std::set<uint64_t> firsts;
  for (uint64_t k = 0; k < 64; ++k) firsts.insert(base.split(k).next());
  EXPECT_EQ(firsts.size(), 64u);  // every key gives its own stream
  // A pure function of (seed, key): drawing from the parent does not change the children.
  Rng parent(123);
  uint64_t before = parent.split(5).next();
  for (int i = 0; i < 10; ++i) parent.next();
  EXPECT_EQ(parent.split(5).next(), before);
  EXPECT_NE(Rng(124).split(5).next(), before);
  // A child's stream differs from its parent's.
  Rng p(9), child = Rng(9).split(0);
  int same = 0;
  for (int i = 0; i < 100; ++i) same += p.next() == child.next();
  EXPECT_EQ(same, 0);
}

TEST(Rng, DistributionsAreInRangeAndRoughlyRight) {
  Rng r(1);
  double sum = 0, sumSq = 0;
  const int n = 20000;
  std::vector<int> counts(6, 0);
  for (int i = 0; i < n; ++i) {
    double u = r.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    uint64_t k = r.uniformInt(6);
    ASSERT_LT(k, 6u);
    counts[k]++;
    double z = r.normal();
    sum += z;
    sumSq += z * z;
  }
  EXPECT_NEAR(sum / n, 0.0, 0.05);
  EXPECT_NEAR(sumSq / n, 1.0, 0.05);
  for (int c : counts) EXPECT_NEAR(c, n / 6.0, n / 6.0 * 0.1);
  EXPECT_EQ(r.uniformInt(0), 0u);
}
