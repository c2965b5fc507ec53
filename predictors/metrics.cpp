#include "predictors/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "core/error.h"

namespace hwnas {
namespace {

void checkSizes(const char* fn, size_t a, size_t b, size_t minN) {
  if (a != b)
    throw InputError(std::string(fn) + ": the two vectors differ in length (" + std::to_string(a) + " vs " +
                     std::to_string(b) + ")");
  if (a < minN)
    throw InputError(std::string(fn) + ": needs at least " + std::to_string(minN) + " values, got " +
                     std::to_string(a));
}

// Number of tied pairs, sum over runs of equal values of t*(t-1)/2, in a sorted range.
template <class It, class Eq>
double tiedPairs(It begin, It end, Eq eq) {
  double total = 0;
  for (It i = begin; i != end;) {
    It j = i + 1;
    while (j != end && eq(*i, *j)) ++j;
    double t = double(j - i);
    total += t * (t - 1) / 2;
    i = j;
  }
  return total;
}

// Merge sort of v that counts the inversions (pairs i<j with v[i] > v[j]).
double mergeCount(std::vector<double>& v, std::vector<double>& buf, size_t lo, size_t hi) {
  if (hi - lo < 2) return 0;
  size_t mid = lo + (hi - lo) / 2;
  double inv = mergeCount(v, buf, lo, mid) + mergeCount(v, buf, mid, hi);
  size_t i = lo, j = mid, k = lo;
  while (i < mid && j < hi) {
    if (v[j] < v[i]) {
      inv += double(mid - i);
      buf[k++] = v[j++];
    } else {
      buf[k++] = v[i++];
    }
  }
  while (i < mid) buf[k++] = v[i++];
  while (j < hi) buf[k++] = v[j++];
  std::copy(buf.begin() + lo, buf.begin() + hi, v.begin() + lo);
  return inv;
}

}  // namespace

double kendallTau(const std::vector<double>& a, const std::vector<double>& b) {
  checkSizes("kendallTau", a.size(), b.size(), 2);
  const size_t n = a.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  // Sort by a, then b: pairs tied in a come out ordered by b, so they count no inversions.
  std::sort(order.begin(), order.end(), [&](size_t i, size_t j) {
    if (a[i] != a[j]) return a[i] < a[j];
    return b[i] < b[j];
  });
  const double n0 = double(n) * double(n - 1) / 2;
  auto eqA = [&](size_t i, size_t j) { return a[i] == a[j]; };
  auto eqAB = [&](size_t i, size_t j) { return a[i] == a[j] && b[i] == b[j]; };
  const double n1 = tiedPairs(order.begin(), order.end(), eqA);
  const double n3 = tiedPairs(order.begin(), order.end(), eqAB);  // tied in both
  std::vector<double> bs(n), buf(n);
  for (size_t k = 0; k < n; ++k) bs[k] = b[order[k]];
  const double discordant = mergeCount(bs, buf, 0, n);
  const double n2 = tiedPairs(bs.begin(), bs.end(), [](double x, double y) { return x == y; });
  // concordant - discordant = n0 - n1 - n2 + n3 - 2 * discordant
  const double denom = std::sqrt((n0 - n1) * (n0 - n2));
  if (denom == 0) return 0.0;
  return (n0 - n1 - n2 + n3 - 2 * discordant) / denom;
}

std::vector<double> averageRanks(const std::vector<double>& v) {
  const size_t n = v.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t i, size_t j) { return v[i] < v[j]; });
  std::vector<double> r(n);
  for (size_t i = 0; i < n;) {
    size_t j = i + 1;
    while (j < n && v[order[j]] == v[order[i]]) ++j;
    const double avg = (double(i + 1) + double(j)) / 2;  // ranks i+1 .. j
    for (size_t k = i; k < j; ++k) r[order[k]] = avg;
    i = j;
  }
  return r;
}

double spearmanRho(const std::vector<double>& a, const std::vector<double>& b) {
  checkSizes("spearmanRho", a.size(), b.size(), 2);
  const std::vector<double> ra = averageRanks(a), rb = averageRanks(b);
  const double n = double(a.size());
  const double mean = (n + 1) / 2;  // mean of ranks, also with ties
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double da = ra[i] - mean, db = rb[i] - mean;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  if (saa == 0 || sbb == 0) return 0.0;
  return sab / std::sqrt(saa * sbb);
}

double rmse(const std::vector<double>& pred, const std::vector<double>& truth) {
  checkSizes("rmse", pred.size(), truth.size(), 1);
  double s = 0;
  for (size_t i = 0; i < pred.size(); ++i) s += (pred[i] - truth[i]) * (pred[i] - truth[i]);
  return std::sqrt(s / double(pred.size()));
}

double topKPrecision(const std::vector<double>& pred, const std::vector<double>& truth, int k) {
  checkSizes("topKPrecision", pred.size(), truth.size(), 1);
  if (k < 1 || size_t(k) > pred.size())
    throw InputError("topKPrecision: k must be in [1, " + std::to_string(pred.size()) + "], got " + std::to_string(k));
  auto topK = [k](const std::vector<double>& v) {
    std::vector<size_t> order(v.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t i, size_t j) { return v[i] > v[j]; });
    std::vector<char> in(v.size(), 0);
    for (int i = 0; i < k; ++i) in[order[i]] = 1;
    return in;
  };
  const std::vector<char> p = topK(pred), t = topK(truth);
  int hit = 0;
  for (size_t i = 0; i < p.size(); ++i) hit += (p[i] && t[i]);
  return double(hit) / k;
}

}  // namespace hwnas
