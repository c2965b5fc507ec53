#include "nas/hierarchical.h"

#include <algorithm>
#include <set>

#include "core/error.h"

namespace hwnas {

namespace {

void collectKeys(const Json& j, std::set<std::string>& keys) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      keys.insert(it.key());
      collectKeys(it.value(), keys);
    }
  } else if (j.is_array()) {
    for (const auto& v : j) collectKeys(v, keys);
  }
}

// "stages[1].blocks[2].kernel" -> "kernel", "edges[3]" -> "edges".
std::string leafName(const std::string& path) {
  const size_t dot = path.rfind('.');
  std::string leaf = dot == std::string::npos ? path : path.substr(dot + 1);
  const size_t br = leaf.find('[');
  return br == std::string::npos ? leaf : leaf.substr(0, br);
}

// The path as keys and indices: "stages[1].depth" -> {"stages", 1, "depth"}.
std::vector<Json> pathParts(const std::string& path) {
  std::vector<Json> parts;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '.') {
      ++i;
    } else if (path[i] == '[') {
      const size_t e = path.find(']', i);
      if (e == std::string::npos) throw InputError("bad decision path '" + path + "'");
      parts.push_back(Json(int64_t(std::stoll(path.substr(i + 1, e - i - 1)))));
      i = e + 1;
    } else {
      size_t e = i;
      while (e < path.size() && path[e] != '.' && path[e] != '[') ++e;
      parts.push_back(Json(path.substr(i, e - i)));
      i = e;
    }
  }
  return parts;
}

}  // namespace

std::vector<bool> microSlots(const SearchSpace& space) {
  std::set<std::string> microKeys;
  collectKeys(space.choices().value("micro", Json::object()), microKeys);
  std::vector<bool> out;
  for (const auto& s : space.decisionSlots()) out.push_back(microKeys.count(leafName(s.path)) > 0);
  return out;
}

MicroSetting parseMicroSetting(const std::string& s) {
  if (s == "middle") return MicroSetting::Middle;
  if (s == "largest") return MicroSetting::Largest;
  if (s == "smallest") return MicroSetting::Smallest;
  throw InputError("unknown micro setting '" + s + "'; known: middle, largest, smallest");
}

const char* microSettingName(MicroSetting s) {
  switch (s) {
    case MicroSetting::Middle: return "middle";
    case MicroSetting::Largest: return "largest";
    default: return "smallest";
  }
}

const Json* jsonAtPath(const Json& j, const std::string& path) {
  const Json* cur = &j;
  for (const Json& p : pathParts(path)) {
    if (p.is_string()) {
      if (!cur->is_object() || !cur->contains(p.get<std::string>())) return nullptr;
      cur = &(*cur)[p.get<std::string>()];
    } else {
      const size_t i = size_t(p.get<int64_t>());
      if (!cur->is_array() || i >= cur->size()) return nullptr;
      cur = &(*cur)[i];
    }
  }
  return cur;
}

void setJsonAtPath(Json& j, const std::string& path, const Json& value) {
  Json* cur = &j;
  for (const Json& p : pathParts(path)) {
    if (p.is_string())
      cur = &(*cur)[p.get<std::string>()];
    else
      cur = &(*cur)[size_t(p.get<int64_t>())];
  }
  *cur = value;
}

PhaseSpace::PhaseSpace(const SearchSpace& base, Level level)
    : base_(base), level_(level), slots_(base.decisionSlots()), micro_(microSlots(base)) {
  bool anyFree = false;
  for (size_t i = 0; i < slots_.size(); ++i) anyFree = anyFree || isFree(i);
  if (!anyFree)
    throw InputError("search space '" + base.name() + "' has no " + (level == Level::Macro ? "macro" : "micro") +
                     " decisions to search; use search.mode: joint");
}

std::unique_ptr<PhaseSpace> PhaseSpace::macro(const SearchSpace& base, MicroSetting setting) {
  std::unique_ptr<PhaseSpace> p(new PhaseSpace(base, Level::Macro));
  p->setting_ = setting;
  return p;
}

std::unique_ptr<PhaseSpace> PhaseSpace::micro(const SearchSpace& base, const ArchConfig& fixed) {
  base.validate(fixed);
  std::unique_ptr<PhaseSpace> p(new PhaseSpace(base, Level::Micro));
  p->fixed_ = fixed;
  return p;
}

ArchConfig PhaseSpace::impose(const ArchConfig& arch) const {
  if (level_ == Level::Micro) {
    // fixed's macro decisions with arch's micro ones where fixed takes them (same blocks), else
    // fixed's own: start from fixed and copy arch's micro values over.
    Json j = fixed_.json();
    const std::vector<int> ai = base_.decisionIndices(arch), fi = base_.decisionIndices(fixed_);
    for (size_t s = 0; s < slots_.size(); ++s)
      if (micro_[s] && fi[s] >= 0 && ai[s] >= 0) setJsonAtPath(j, slots_[s].path, slots_[s].choices[size_t(ai[s])]);
    ArchConfig out(std::move(j));
    base_.validate(out);
    return out;
  }
  Json j = arch.json();
  const std::vector<int> ai = base_.decisionIndices(arch);
  for (size_t s = 0; s < slots_.size(); ++s) {
    if (!micro_[s] || ai[s] < 0) continue;
    const size_t n = slots_[s].choices.size();
    const size_t k = setting_ == MicroSetting::Middle ? (n - 1) / 2 : setting_ == MicroSetting::Largest ? n - 1 : 0;
    setJsonAtPath(j, slots_[s].path, slots_[s].choices[k]);
  }
  ArchConfig out(std::move(j));
  base_.validate(out);
  return out;
}

bool PhaseSpace::holdsFixed(const ArchConfig& arch) const { return impose(arch) == arch; }

std::string PhaseSpace::macroKey(const ArchConfig& arch) const {
  const std::vector<int> ai = base_.decisionIndices(arch);
  std::string k;
  for (size_t s = 0; s < slots_.size(); ++s)
    if (!micro_[s] && ai[s] >= 0) k += slots_[s].path + "=" + slots_[s].choices[size_t(ai[s])].dump() + ";";
  return k;
}

ArchConfig PhaseSpace::sample(Rng& rng) const {
  if (level_ == Level::Macro) return impose(base_.sample(rng));
  // Each micro decision the fixed arch takes, drawn uniformly.
  Json j = fixed_.json();
  const std::vector<int> fi = base_.decisionIndices(fixed_);
  for (size_t s = 0; s < slots_.size(); ++s)
    if (micro_[s] && fi[s] >= 0) setJsonAtPath(j, slots_[s].path, slots_[s].choices[rng.uniformInt(slots_[s].choices.size())]);
  ArchConfig out(std::move(j));
  base_.validate(out);
  return out;
}

ArchConfig PhaseSpace::mutate(const ArchConfig& arch, double prob, Rng& rng) const {
  const std::vector<int> ai = base_.decisionIndices(arch);
  size_t taken = 0, free = 0;
  for (size_t s = 0; s < slots_.size(); ++s)
    if (ai[s] >= 0) {
      ++taken;
      free += isFree(s);
    }
  const double p = free == 0 ? prob : std::min(1.0, prob * double(taken) / double(free));
  if (level_ == Level::Macro) return impose(base_.mutate(arch, p, rng));
  Json j = arch.json();
  for (size_t s = 0; s < slots_.size(); ++s) {
    if (!micro_[s] || ai[s] < 0 || !rng.bernoulli(p)) continue;
    const size_t n = slots_[s].choices.size();
    size_t k = size_t(rng.uniformInt(n - 1));
    if (k >= size_t(ai[s])) ++k;  // a different choice
    setJsonAtPath(j, slots_[s].path, slots_[s].choices[k]);
  }
  ArchConfig out(std::move(j));
  base_.validate(out);
  return out;
}

ArchConfig PhaseSpace::crossover(const ArchConfig& a, const ArchConfig& b, Rng& rng) const {
  if (level_ == Level::Macro) return impose(base_.crossover(a, b, rng));
  const std::vector<int> ai = base_.decisionIndices(a), bi = base_.decisionIndices(b);
  Json j = a.json();
  for (size_t s = 0; s < slots_.size(); ++s)
    if (micro_[s] && ai[s] >= 0 && bi[s] >= 0 && rng.bernoulli(0.5))
      setJsonAtPath(j, slots_[s].path, slots_[s].choices[size_t(bi[s])]);
  ArchConfig out(std::move(j));
  base_.validate(out);
  return out;
}

void PhaseSpace::enumerate(const std::function<bool(const ArchConfig&)>& fn) const {
  base_.enumerate([&](const ArchConfig& a) { return holdsFixed(a) ? fn(a) : true; });
}

}  // namespace hwnas
