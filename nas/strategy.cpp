#include "nas/strategy.h"

#include <algorithm>
#include <limits>

namespace hwnas {

std::vector<double> Evaluation::objectives() const {
  std::vector<double> o;
  o.reserve(costs.size() + 1);
  o.push_back(-accuracy);
  o.insert(o.end(), costs.begin(), costs.end());
  return o;
}

bool betterSingle(const Evaluation& a, const Evaluation& b) {
  bool fa = a.feasible() && a.queried, fb = b.feasible() && b.queried;
  if (fa != fb) return fa;
  if (!fa) return a.violation < b.violation;
  return a.accuracy > b.accuracy;
}

bool constraintDominates(const Evaluation& a, const Evaluation& b) {
  bool fa = a.feasible() && a.queried, fb = b.feasible() && b.queried;
  if (fa != fb) return fa;
  if (!fa) return a.violation < b.violation;
  std::vector<double> oa = a.objectives(), ob = b.objectives();
  bool strict = false;
  for (size_t i = 0; i < oa.size(); ++i) {
    if (oa[i] > ob[i]) return false;
    if (oa[i] < ob[i]) strict = true;
  }
  return strict;
}

std::vector<std::vector<int>> nonDominatedSort(const std::vector<Evaluation>& pop) {
  const int n = int(pop.size());
  std::vector<std::vector<int>> dominated(n);
  std::vector<int> count(n, 0);
  std::vector<std::vector<int>> fronts;
  std::vector<int> cur;
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) {
      if (i == j) continue;
      if (constraintDominates(pop[i], pop[j]))
        dominated[i].push_back(j);
      else if (constraintDominates(pop[j], pop[i]))
        ++count[i];
    }
    if (count[i] == 0) cur.push_back(i);
  }
  while (!cur.empty()) {
    std::sort(cur.begin(), cur.end());
    fronts.push_back(cur);
    std::vector<int> next;
    for (int i : cur)
      for (int j : dominated[i])
        if (--count[j] == 0) next.push_back(j);
    cur = std::move(next);
  }
  return fronts;
}

std::vector<double> crowdingDistance(const std::vector<Evaluation>& pop, const std::vector<int>& front) {
  const size_t m = front.size();
  std::vector<double> dist(m, 0.0);
  if (m == 0) return dist;
  auto objs = [&](int idx) {
    const Evaluation& e = pop[size_t(idx)];
    if (e.feasible() && e.queried) return e.objectives();
    return std::vector<double>{e.violation};
  };
  std::vector<std::vector<double>> o(m);
  for (size_t i = 0; i < m; ++i) o[i] = objs(front[i]);
  size_t k = o[0].size();
  for (size_t d = 0; d < k; ++d) {
    std::vector<size_t> order(m);
    for (size_t i = 0; i < m; ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      double va = d < o[a].size() ? o[a][d] : 0.0, vb = d < o[b].size() ? o[b][d] : 0.0;
      return va < vb;
    });
    auto val = [&](size_t i) { return d < o[i].size() ? o[i][d] : 0.0; };
    double lo = val(order.front()), hi = val(order.back());
    dist[order.front()] = dist[order.back()] = std::numeric_limits<double>::infinity();
    if (hi <= lo) continue;
    for (size_t r = 1; r + 1 < m; ++r) dist[order[r]] += (val(order[r + 1]) - val(order[r - 1])) / (hi - lo);
  }
  return dist;
}

double Strategy::mutationProb(const ArchConfig& a, double configured) const {
  if (configured > 0.0) return configured;
  int d = numDecisions(a);
  return d > 0 ? 1.0 / d : 1.0;
}

Json evaluationToJson(const Evaluation& e) {
  Json j;
  j["arch"] = e.arch.json();
  j["queried"] = e.queried;
  j["accuracy"] = std::isnan(e.accuracy) ? Json(nullptr) : Json(e.accuracy);
  j["costs"] = e.costs;
  j["violation"] = e.violation;
  return j;
}

Evaluation evaluationFromJson(const Json& j) {
  Evaluation e;
  e.arch = ArchConfig(j.at("arch"));
  e.queried = j.at("queried").get<bool>();
  e.accuracy = j.at("accuracy").is_null() ? NAN : j.at("accuracy").get<double>();
  e.costs = j.at("costs").get<std::vector<double>>();
  e.violation = j.at("violation").get<double>();
  return e;
}

namespace {
int countLeaves(const Json& j) {
  if (j.is_object() || j.is_array()) {
    int n = 0;
    for (const auto& v : j) n += countLeaves(v);
    return n;
  }
  return 1;
}
}  // namespace

int numDecisions(const ArchConfig& a) { return countLeaves(a.json()); }

}  // namespace hwnas
