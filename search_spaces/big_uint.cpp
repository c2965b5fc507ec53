#include "search_spaces/big_uint.h"

#include <cstdio>

namespace hwnas {

BigUInt::BigUInt(uint64_t v) {
  while (v > 0) {
    limbs_.push_back(uint32_t(v % kBase));
    v /= kBase;
  }
}

void BigUInt::trim() {
  while (!limbs_.empty() && limbs_.back() == 0) limbs_.pop_back();
}

BigUInt& BigUInt::operator+=(const BigUInt& o) {
  if (limbs_.size() < o.limbs_.size()) limbs_.resize(o.limbs_.size(), 0);
  uint64_t carry = 0;
  for (size_t i = 0; i < limbs_.size(); ++i) {
    uint64_t s = uint64_t(limbs_[i]) + (i < o.limbs_.size() ? o.limbs_[i] : 0) + carry;
    limbs_[i] = uint32_t(s % kBase);
    carry = s / kBase;
  }
  if (carry) limbs_.push_back(uint32_t(carry));
  return *this;
}

BigUInt& BigUInt::operator*=(const BigUInt& o) {
  if (isZero() || o.isZero()) {
    limbs_.clear();
    return *this;
  }
  std::vector<uint64_t> acc(limbs_.size() + o.limbs_.size() + 1, 0);
  for (size_t i = 0; i < limbs_.size(); ++i) {
    uint64_t carry = 0;
    for (size_t j = 0; j < o.limbs_.size(); ++j) {
      uint64_t cur = acc[i + j] + uint64_t(limbs_[i]) * o.limbs_[j] + carry;
      acc[i + j] = cur % kBase;
      carry = cur / kBase;
    }
    size_t k = i + o.limbs_.size();
    while (carry) {
      uint64_t cur = acc[k] + carry;
      acc[k] = cur % kBase;
      carry = cur / kBase;
      ++k;
    }
  }
  limbs_.assign(acc.begin(), acc.end());
  trim();
  return *this;
}

bool BigUInt::operator<(const BigUInt& o) const {
  if (limbs_.size() != o.limbs_.size()) return limbs_.size() < o.limbs_.size();
  for (size_t i = limbs_.size(); i-- > 0;)
    if (limbs_[i] != o.limbs_[i]) return limbs_[i] < o.limbs_[i];
  return false;
}

std::string BigUInt::toString() const {
  if (limbs_.empty()) return "0";
  std::string s = std::to_string(limbs_.back());
  char buf[16];
  for (size_t i = limbs_.size() - 1; i-- > 0;) {
    std::snprintf(buf, sizeof buf, "%09u", limbs_[i]);
    s += buf;
  }
  return s;
}

uint64_t BigUInt::toUint64(bool* fits) const {
  static const BigUInt kMax(UINT64_MAX);
  if (kMax < *this) {
    if (fits) *fits = false;
    return UINT64_MAX;
  }
  if (fits) *fits = true;
  uint64_t v = 0;
  for (size_t i = limbs_.size(); i-- > 0;) v = v * kBase + limbs_[i];
  return v;
}

}  // namespace hwnas
