// Ranking and regression metrics for predictor quality: Kendall tau-b, Spearman rho (ties get
// their average rank), RMSE and top-k precision. Invariant: every function is a pure function of
// its inputs; InputError when the two vectors differ in length or are too short.
#pragma once
#include <vector>

namespace hwnas {

// Kendall's tau-b (ties in either vector handled as in scipy.stats.kendalltau), O(n log n).
// 0 when either vector is constant. InputError if sizes differ or n < 2.
double kendallTau(const std::vector<double>& a, const std::vector<double>& b);
// Spearman's rho: Pearson correlation of the average ranks. 0 when either vector is constant.
double spearmanRho(const std::vector<double>& a, const std::vector<double>& b);
// Average ranks, 1-based: tied values share the mean of the ranks they span.
std::vector<double> averageRanks(const std::vector<double>& v);
// sqrt(mean((pred - truth)^2)). InputError if sizes differ or empty.
double rmse(const std::vector<double>& pred, const std::vector<double>& truth);
// |top-k by pred ∩ top-k by truth| / k, "top" meaning largest. Ties at the cut are broken by
// index (lower index first) on both sides. InputError unless 1 <= k <= n.
double topKPrecision(const std::vector<double>& pred, const std::vector<double>& truth, int k);

}  // namespace hwnas
