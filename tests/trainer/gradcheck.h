// Finite-difference gradient checking in f64 for the naive reference kernels.
// numericGrad returns d(sum(gradOut * f(x)))/dx by central differences for one input.
#pragma once
#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "core/rng.h"

namespace hwnas::testing {

using Vec = std::vector<double>;

inline Vec randomVec(size_t n, Rng& rng, double lo = -1.0, double hi = 1.0) {
  Vec v(n);
  for (auto& x : v) x = rng.uniform(lo, hi);
  return v;
}

// f maps the full list of inputs to the output; we perturb inputs[which].
inline Vec numericGrad(const std::function<Vec(const std::vector<Vec>&)>& f, std::vector<Vec> inputs, size_t which,
                       const Vec& gradOut, double eps = 1e-6) {
  Vec g(inputs[which].size());
  for (size_t i = 0; i < g.size(); ++i) {
    double orig = inputs[which][i];
    inputs[which][i] = orig + eps;
    Vec yp = f(inputs);
    inputs[which][i] = orig - eps;
    Vec ym = f(inputs);
    inputs[which][i] = orig;
    double s = 0;
    for (size_t k = 0; k < yp.size(); ++k) s += gradOut[k] * (yp[k] - ym[k]);
    g[i] = s / (2 * eps);
  }
  return g;
}

// Largest |a-b| / max(1, |a|, |b|) ... relative where values are large, absolute near zero.
inline double maxRelError(const Vec& a, const Vec& b) {
  double e = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    e = std::max(e, std::abs(a[i] - b[i]) / std::max({1.0, std::abs(a[i]), std::abs(b[i])}));
  return a.size() == b.size() ? e : INFINITY;
}

template <class A, class B>
double maxAbsDiff(const A& a, const B& b, size_t n) {
  double e = 0;
  for (size_t i = 0; i < n; ++i) e = std::max(e, std::abs((double)a[i] - (double)b[i]));
  return e;
}

}  // namespace hwnas::testing
