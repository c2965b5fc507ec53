// Helpers shared by the op tests (norm, activation, pool, elementwise, loss): conversions
// between f64 vectors and f32 Tensors, and comparisons with relative-or-absolute tolerance.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "tests/trainer/gradcheck.h"
#include "trainer/tensor.h"

namespace hwnas::testing {

inline Tensor toTensor(const Shape& shape, const Vec& v) {
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = (float)v[i];
  return t;
}

inline Vec toVec(const Tensor& t) {
  Vec v(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = t[i];
  return v;
}

// Rounds through f32 so the f64 reference sees exactly the values the f32 kernel sees.
inline Vec roundToFloat(Vec v) {
  for (auto& x : v) x = (float)x;
  return v;
}

// Every |a-b| <= tol * max(1, |a|, |b|).
inline void expectClose(const Vec& a, const Vec& b, double tol, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  double e = maxRelError(a, b);
  EXPECT_LE(e, tol) << what << ": max relative error " << e;
}

inline bool bitIdentical(const Tensor& a, const Tensor& b) {
  return a.numel() == b.numel() && std::equal(a.data(), a.data() + a.numel(), b.data(), [](float x, float y) {
           return std::memcmp(&x, &y, sizeof(float)) == 0;
         });
}

}  // namespace hwnas::testing
