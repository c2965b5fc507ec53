// hls_fixed.h: self-made fixed-point numbers for the generated HLS C++ (shipped with every FPGA
// export) and for the exporter's fixed-point reference, so both do the same integer arithmetic.
// fixed<W, I>: W bits in all (2..62), I integer bits including the sign, F = W - I fractional
// bits; value = raw / 2^F, raw held in an int64_t. Every conversion rounds to nearest with ties
// away from zero and saturates to [-2^(W-1), 2^(W-1) - 1] (like ap_fixed<W, I, AP_RND_INF, AP_SAT>).
// Products are exact (fixed<W1 + W2, I1 + I2>); sums saturate to the left operand's type.
// The raw-level functions in namespace hlsfx take widths at run time (the exporter's reference).
#pragma once
#include <cmath>
#include <cstdint>

namespace hlsfx {

constexpr int64_t maxRaw(int w) { return (int64_t(1) << (w - 1)) - 1; }
constexpr int64_t minRaw(int w) { return -(int64_t(1) << (w - 1)); }
constexpr int64_t saturate(int64_t raw, int w) { return raw > maxRaw(w) ? maxRaw(w) : raw < minRaw(w) ? minRaw(w) : raw; }

// a / b rounded to nearest, ties away from zero (b > 0).
constexpr int64_t roundDiv(int64_t a, int64_t b) { return a >= 0 ? (a + b / 2) / b : -((-a + b / 2) / b); }

// A raw value with `fromFrac` fractional bits, re-expressed with `frac` bits, rounded, saturated to w bits.
constexpr int64_t requantize(int64_t raw, int fromFrac, int w, int frac) {
  if (frac >= fromFrac) {
    const int s = frac - fromFrac;
    if (s >= 62) return raw == 0 ? 0 : raw > 0 ? maxRaw(w) : minRaw(w);
    const int64_t lim = int64_t(1) << (62 - s);
    if (raw >= lim) return maxRaw(w);
    if (raw <= -lim) return minRaw(w);
    return saturate(raw * (int64_t(1) << s), w);
  }
  const int s = fromFrac - frac;
  if (s >= 62) return 0;
  const int64_t half = int64_t(1) << (s - 1);
  const int64_t q = raw >= 0 ? (raw + half) >> s : -((-raw + half) >> s);
  return saturate(q, w);
}

// A double as raw (w bits, frac fractional bits), rounded to nearest (ties away), saturated.
inline int64_t quantize(double v, int w, int frac) {
  const double scaled = std::ldexp(v, frac);
  if (!(scaled == scaled)) return 0;  // NaN
  if (scaled >= double(maxRaw(w))) return maxRaw(w);
  if (scaled <= double(minRaw(w))) return minRaw(w);
  return saturate(int64_t(std::llround(scaled)), w);
}

inline double toDouble(int64_t raw, int frac) { return std::ldexp(double(raw), -frac); }

// Activations on a raw value with `frac` fractional bits, result in the same format (w bits).
// Ids are the runtime's Act values: 0 identity, 1 relu, 2 relu6, 3 hswish, 4 hsigmoid, 5 silu, 6 sigmoid.
inline int64_t act(int64_t x, int actId, int w, int frac) {
  const int64_t one = int64_t(1) << frac;
  auto clamp06 = [&](int64_t v) { return v < 0 ? 0 : v > 6 * one ? 6 * one : v; };
  switch (actId) {
    case 0: return x;
    case 1: return x > 0 ? x : 0;
    case 2: return saturate(clamp06(x), w);
    case 3: return saturate(roundDiv(x * clamp06(x + 3 * one), 6 * one), w);  // x * relu6(x + 3) / 6
    case 4: return saturate(roundDiv(clamp06(x + 3 * one), 6), w);           // relu6(x + 3) / 6
    case 5: {
      const double v = toDouble(x, frac);
      return quantize(v / (1.0 + std::exp(-v)), w, frac);
    }
    default: {
      const double v = toDouble(x, frac);
      return quantize(1.0 / (1.0 + std::exp(-v)), w, frac);
    }
  }
}

}  // namespace hlsfx

template <int W, int I>
class fixed {
  static_assert(W >= 2 && W <= 62, "fixed<W, I>: W must be in 2..62");
  static_assert(I <= W, "fixed<W, I>: I must not exceed W");

 public:
  static constexpr int kWidth = W, kInt = I, kFrac = W - I;

  constexpr fixed() : raw_(0) {}
  fixed(double v) : raw_(hlsfx::quantize(v, W, kFrac)) {}  // NOLINT: implicit like ap_fixed
  template <int W2, int I2>
  constexpr fixed(const fixed<W2, I2>& o) : raw_(hlsfx::requantize(o.raw(), W2 - I2, W, kFrac)) {}  // NOLINT

  static constexpr fixed fromRaw(int64_t raw) {
    fixed f;
    f.raw_ = hlsfx::saturate(raw, W);
    return f;
  }
  constexpr int64_t raw() const { return raw_; }
  double toDouble() const { return hlsfx::toDouble(raw_, kFrac); }

  constexpr fixed& operator+=(const fixed& o) {
    raw_ = hlsfx::saturate(raw_ + o.raw_, W);
    return *this;
  }
  friend constexpr fixed operator+(fixed a, const fixed& b) { return a += b; }
  friend constexpr fixed operator-(const fixed& a, const fixed& b) { return fromRaw(a.raw_ - b.raw_); }
  friend constexpr bool operator<(const fixed& a, const fixed& b) { return a.raw_ < b.raw_; }
  friend constexpr bool operator>(const fixed& a, const fixed& b) { return a.raw_ > b.raw_; }
  friend constexpr bool operator==(const fixed& a, const fixed& b) { return a.raw_ == b.raw_; }

 private:
  int64_t raw_;
};

// Exact product.
template <int W1, int I1, int W2, int I2>
constexpr fixed<W1 + W2, I1 + I2> operator*(const fixed<W1, I1>& a, const fixed<W2, I2>& b) {
  return fixed<W1 + W2, I1 + I2>::fromRaw(a.raw() * b.raw());
}

// The runtime's activation `A` (ids as in hlsfx::act) on a fixed value.
template <int A, int W, int I>
inline fixed<W, I> fixed_act(const fixed<W, I>& x) {
  return fixed<W, I>::fromRaw(hlsfx::act(x.raw(), A, W, W - I));
}

// Sum / count, rounded (average pools, channel means).
template <int W, int I>
constexpr fixed<W, I> fixed_div(const fixed<W, I>& sum, int64_t count) {
  return fixed<W, I>::fromRaw(hlsfx::roundDiv(sum.raw(), count));
}
