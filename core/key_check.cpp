#include "core/key_check.h"

#include <algorithm>
#include <cctype>

namespace hwnas {

size_t editDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

static std::string lower(std::string s) {
  for (auto& c : s) c = char(std::tolower((unsigned char)c));
  return s;
}

std::string closestMatch(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t bestDist = size_t(-1);
  for (const auto& c : candidates) {
    if (lower(c) == lower(word)) return c;
    size_t d = editDistance(word, c);
    if (d < bestDist) {
      bestDist = d;
      best = c;
    }
  }
  if (best.empty()) return "";
  size_t limit = std::min<size_t>(2, std::max<size_t>(1, word.size() / 2));
  return bestDist <= limit ? best : "";
}

std::string unknownKeyMessage(const std::string& key, const std::vector<std::string>& allowed) {
  std::string msg = "unknown key '" + key + "'";
  std::string near = closestMatch(key, allowed);
  if (!near.empty()) msg += "; did you mean '" + near + "'?";
  if (allowed.empty()) {
    msg += "; no keys are allowed here";
  } else {
    msg += near.empty() ? "; allowed keys: " : " allowed keys: ";
    for (size_t i = 0; i < allowed.size(); ++i) msg += (i ? ", " : "") + allowed[i];
  }
  return msg;
}

std::string joinKeyPath(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

std::string indexKeyPath(const std::string& prefix, size_t index) {
  return prefix + "[" + std::to_string(index) + "]";
}

}  // namespace hwnas
