// Shared wording for strict config readers (YAML and JSON): the message for an unknown key,
// listing the allowed keys and suggesting the closest one when it looks like a typo.
// Invariant: pure functions of their arguments; no I/O.
#pragma once
#include <string>
#include <vector>

namespace hwnas {

// Levenshtein distance (insert, delete, substitute; each cost 1).
size_t editDistance(const std::string& a, const std::string& b);

// The candidate nearest to `word` if it is close enough to be a typo (distance <= 2 and less
// than half the word's length, or equal ignoring case); "" otherwise.
std::string closestMatch(const std::string& word, const std::vector<std::string>& candidates);

// "unknown key 'devcie'; did you mean 'device'? allowed keys: a, b, device"
std::string unknownKeyMessage(const std::string& key, const std::vector<std::string>& allowed);

// "a.b" / "b" when prefix is empty; "a[3]" for indices.
std::string joinKeyPath(const std::string& prefix, const std::string& key);
std::string indexKeyPath(const std::string& prefix, size_t index);

}  // namespace hwnas
