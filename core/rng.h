// Rng: an explicit, seeded, splittable random generator (SplitMix64-seeded xoshiro256**).
// Never global: it is passed in. split(k) derives an independent stream from the seed and a
// key, so parallel work item k draws the same numbers whatever thread runs it.
#pragma once
#include <cstdint>
#include <cmath>

namespace hwnas {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) { reseed(seed); }
  void reseed(uint64_t seed) {
    seed_ = seed;
    uint64_t x = seed;
    for (auto& s : s_) s = splitmix(x);
  }
  uint64_t seed() const { return seed_; }

  // An independent generator for work item `key`, a pure function of (this stream's seed, key).
  Rng split(uint64_t key) const {
    uint64_t x = seed_ ^ (0x9E3779B97F4A7C15ull * (key + 1));
    return Rng(splitmix(x) ^ key);
  }

  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, n) without modulo bias (Lemire's method).
  uint64_t uniformInt(uint64_t n) {
    if (n == 0) return 0;
    uint64_t x = next();
    __uint128_t m = (__uint128_t)x * n;
    uint64_t l = (uint64_t)m;
    if (l < n) {
      uint64_t t = -n % n;
      while (l < t) {
        x = next();
        m = (__uint128_t)x * n;
        l = (uint64_t)m;
      }
    }
    return (uint64_t)(m >> 64);
  }
  // Uniform double in [0, 1) with 53 random bits.
  double uniform() { return (next() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Standard normal (Box-Muller, no cached second value so the stream stays simple).
  double normal() {
    double u1 = uniform();
    double u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  bool bernoulli(double p) { return uniform() < p; }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t splitmix(uint64_t& x) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t seed_ = 0;
  uint64_t s_[4];
};

}  // namespace hwnas
