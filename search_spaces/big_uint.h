// BigUInt: a tiny arbitrary-precision unsigned integer, just enough to count the architectures
// of a search space exactly (products and sums of choice counts) and print them in decimal.
// Invariant: limbs_ holds base-1e9 digits, least significant first, with no leading zero limb.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace hwnas {

class BigUInt {
 public:
  BigUInt(uint64_t v = 0);
  BigUInt& operator+=(const BigUInt& o);
  BigUInt& operator*=(const BigUInt& o);
  friend BigUInt operator+(BigUInt a, const BigUInt& b) { return a += b; }
  friend BigUInt operator*(BigUInt a, const BigUInt& b) { return a *= b; }
  bool operator==(const BigUInt& o) const { return limbs_ == o.limbs_; }
  bool operator!=(const BigUInt& o) const { return !(*this == o); }
  bool operator<(const BigUInt& o) const;
  bool operator<=(const BigUInt& o) const { return !(o < *this); }
  bool isZero() const { return limbs_.empty(); }
  // Exact decimal text, no separators ("0" for zero).
  std::string toString() const;
  // The value if it fits in 64 bits; `fits` says whether it did.
  uint64_t toUint64(bool* fits = nullptr) const;

 private:
  void trim();
  static constexpr uint32_t kBase = 1000000000u;
  std::vector<uint32_t> limbs_;
};

}  // namespace hwnas
