// Fixed-order, vectorised reductions for the fast f32 kernels: a 16-lane float vector (GCC/Clang
// vector extension, lowered to whatever SIMD width the target has) accumulates a row, and the
// lanes are combined into a double in a fixed order. The result depends only on the data, never
// on threads, and keeps near-double accuracy for rows of a few thousand values.
#pragma once
#include <cstdint>
#include <cstring>

namespace hwnas::kernels {

constexpr int kLanes = 16;
typedef float FloatLanes __attribute__((vector_size(kLanes * sizeof(float))));

// Lanes summed in double as a fixed pairwise tree (short dependency chains).
inline double sumLanes(const FloatLanes& v) {
  double t[kLanes / 2];
  for (int j = 0; j < kLanes / 2; ++j) t[j] = (double)v[j] + (double)v[j + kLanes / 2];
  for (int w = kLanes / 4; w >= 1; w /= 2)
    for (int j = 0; j < w; ++j) t[j] += t[j + w];
  return t[0];
}

// sum(x - k) and sum((x - k)^2) over one row.
inline void rowShiftedSums(const float* x, int64_t n, float k, double& s1, double& s2) {
  FloatLanes a = {}, b = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    FloatLanes v;
    std::memcpy(&v, x + i, sizeof v);
    v -= k;
    a += v;
    b += v * v;
  }
  double t1 = sumLanes(a), t2 = sumLanes(b);
  for (; i < n; ++i) {
    double d = (double)x[i] - k;
    t1 += d;
    t2 += d * d;
  }
  s1 = t1;
  s2 = t2;
}

// sum(a) and sum(a * (x - k)) over one row.
inline void rowSumAndShiftedDot(const float* a, const float* x, int64_t n, float k, double& sa, double& sax) {
  FloatLanes p = {}, q = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    FloatLanes av, xv;
    std::memcpy(&av, a + i, sizeof av);
    std::memcpy(&xv, x + i, sizeof xv);
    p += av;
    q += av * (xv - k);
  }
  double t1 = sumLanes(p), t2 = sumLanes(q);
  for (; i < n; ++i) {
    t1 += a[i];
    t2 += (double)a[i] * ((double)x[i] - k);
  }
  sa = t1;
  sax = t2;
}

// Flush float lanes into the double totals after this many values per lane.
constexpr int64_t kLaneFlush = 64;

// sum(x - k) and sum((x - k)^2) over many rows (one channel): full 16-value blocks accumulate in
// float lanes, flushed to double every kLaneFlush blocks; row tails go straight to double.
class ShiftedSums {
 public:
  explicit ShiftedSums(float k) : k_(k) {}
  void addRow(const float* x, int64_t n) {
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
      FloatLanes v;
      std::memcpy(&v, x + i, sizeof v);
      v -= k_;
      a_ += v;
      b_ += v * v;
      if (++pending_ == kLaneFlush) flush();
    }
    for (; i < n; ++i) {
      double d = (double)x[i] - k_;
      t1_ += d;
      t2_ += d * d;
    }
  }
  void finish(double& s1, double& s2) {
    flush();
    s1 = t1_;
    s2 = t2_;
  }

 private:
  void flush() {
    t1_ += sumLanes(a_);
    t2_ += sumLanes(b_);
    a_ = FloatLanes{};
    b_ = FloatLanes{};
    pending_ = 0;
  }
  FloatLanes a_ = {}, b_ = {};
  double t1_ = 0, t2_ = 0;
  int64_t pending_ = 0;
  float k_;
};

// sum(a) and sum(a * (x - k)) over many rows, accumulated like ShiftedSums.
class SumAndShiftedDot {
 public:
  explicit SumAndShiftedDot(float k) : k_(k) {}
  void addRow(const float* a, const float* x, int64_t n) {
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
      FloatLanes av, xv;
      std::memcpy(&av, a + i, sizeof av);
      std::memcpy(&xv, x + i, sizeof xv);
      p_ += av;
      q_ += av * (xv - k_);
      if (++pending_ == kLaneFlush) flush();
    }
    for (; i < n; ++i) {
      t1_ += a[i];
      t2_ += (double)a[i] * ((double)x[i] - k_);
    }
  }
  void finish(double& sa, double& sax) {
    flush();
    sa = t1_;
    sax = t2_;
  }

 private:
  void flush() {
    t1_ += sumLanes(p_);
    t2_ += sumLanes(q_);
    p_ = FloatLanes{};
    q_ = FloatLanes{};
    pending_ = 0;
  }
  FloatLanes p_ = {}, q_ = {};
  double t1_ = 0, t2_ = 0;
  int64_t pending_ = 0;
  float k_;
};

// sum(x[i]) over one row, as a double.
inline double sumRow(const float* x, int64_t n) {
  FloatLanes a = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    FloatLanes v;
    std::memcpy(&v, x + i, sizeof v);
    a += v;
  }
  double t = sumLanes(a);
  for (; i < n; ++i) t += x[i];
  return t;
}

// sum(x[i] * y[i]) over one row, as a double.
inline double dotRow(const float* x, const float* y, int64_t n) {
  FloatLanes a = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    FloatLanes u, v;
    std::memcpy(&u, x + i, sizeof u);
    std::memcpy(&v, y + i, sizeof v);
    a += u * v;
  }
  double t = sumLanes(a);
  for (; i < n; ++i) t += (double)x[i] * y[i];
  return t;
}

}  // namespace hwnas::kernels
