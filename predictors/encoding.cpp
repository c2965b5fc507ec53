#include "predictors/encoding.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <functional>

#include "core/error.h"

namespace hwnas {

FeatureMatrix Encoder::encodeBatch(const std::vector<ArchConfig>& archs) const {
  FeatureMatrix out(archs.size());
  constexpr size_t kGrain = 64;
  tbb::parallel_for(tbb::blocked_range<size_t>(0, archs.size(), kGrain), [&](const tbb::blocked_range<size_t>& r) {
    for (size_t i = r.begin(); i != r.end(); ++i) out[i] = encode(archs[i]);
  }, tbb::simple_partitioner());
  return out;
}

namespace {

std::string choiceText(const Json& j) { return j.is_string() ? j.get<std::string>() : j.dump(); }

// The encoders here are functions of the arch's decision indices; a concatenation asks the
// space for them once per arch.
class IndexedEncoder : public Encoder {
 public:
  explicit IndexedEncoder(const SearchSpace& space) : space_(space) {}
  // Appends width() values for the decision indices `idx` to `out`.
  virtual void append(const std::vector<int>& idx, std::vector<double>& out) const = 0;
  std::vector<double> encode(const ArchConfig& arch) const override {
    std::vector<double> v;
    v.reserve(width());
    append(space_.decisionIndices(arch), v);
    return v;
  }
  const SearchSpace& space() const { return space_; }

 protected:
  const SearchSpace& space_;
};

class OneHotEncoder : public IndexedEncoder {
 public:
  explicit OneHotEncoder(const SearchSpace& space) : IndexedEncoder(space), slots_(space.decisionSlots()) {
    for (const DecisionSlot& s : slots_) {
      offset_.push_back(width_);
      width_ += int(s.choices.size());
    }
  }
  std::string name() const override { return "onehot"; }
  int width() const override { return width_; }
  std::vector<std::string> featureNames() const override {
    std::vector<std::string> names;
    for (const DecisionSlot& s : slots_)
      for (const Json& c : s.choices) names.push_back(s.path + "=" + choiceText(c));
    return names;
  }
  void append(const std::vector<int>& idx, std::vector<double>& v) const override {
    const size_t base = v.size();
    v.resize(base + width_, 0.0);
    for (size_t i = 0; i < idx.size(); ++i)
      if (idx[i] >= 0) v[base + offset_[i] + idx[i]] = 1.0;
  }

 private:
  std::vector<DecisionSlot> slots_;
  std::vector<int> offset_;
  int width_ = 0;
};

// What the cell encoders share: the topology, all input->output paths (as edge lists, in DFS
// order from the input, edges tried in their listed order), and the op per edge of an arch.
class CellEncoder : public IndexedEncoder {
 public:
  CellEncoder(const SearchSpace& space, const std::string& encName) : IndexedEncoder(space) {
    auto t = space.cellTopology();
    if (!t)
      throw InputError("encoder '" + encName + "' needs a cell search space; space '" + space.name() + "' (kind " +
                       space.kind() + ") has no cell DAG; use 'onehot'");
    topo_ = *t;
    for (int o = 0; o < (int)topo_.ops.size(); ++o)
      if (o != topo_.noneOp) liveOps_.push_back(o);
    opRank_.assign(topo_.ops.size(), -1);
    for (int k = 0; k < (int)liveOps_.size(); ++k) opRank_[liveOps_[k]] = k;
    std::vector<int> path;
    std::function<void(int)> dfs = [&](int node) {
      if (node == topo_.nodes - 1) {
        paths_.push_back(path);
        return;
      }
      for (int e = 0; e < (int)topo_.edges.size(); ++e)
        if (topo_.edges[e].first == node) {
          path.push_back(e);
          dfs(topo_.edges[e].second);
          path.pop_back();
        }
    };
    dfs(0);
    for (const auto& p : paths_) maxLen_ = std::max(maxLen_, int(p.size()));
  }

 protected:
  // Op index per edge.
  std::vector<int> edgeOps(const std::vector<int>& idx) const {
    std::vector<int> ops(topo_.edges.size());
    for (size_t e = 0; e < ops.size(); ++e) ops[e] = idx.at(topo_.edgeSlot[e]);
    return ops;
  }
  bool pathLive(const std::vector<int>& path, const std::vector<int>& ops) const {
    for (int e : path)
      if (ops[e] == topo_.noneOp) return false;
    return true;
  }
  // Edges that lie on at least one live input->output path.
  std::vector<char> liveEdges(const std::vector<int>& ops) const {
    std::vector<char> live(topo_.edges.size(), 0);
    for (const auto& p : paths_)
      if (pathLive(p, ops))
        for (int e : p) live[e] = 1;
    return live;
  }

  CellTopology topo_;
  std::vector<int> liveOps_;  // op indices other than none
  std::vector<int> opRank_;   // op index -> position in liveOps_, -1 for none
  std::vector<std::vector<int>> paths_;
  int maxLen_ = 0;
};

class AdjacencyEncoder : public CellEncoder {
 public:
  explicit AdjacencyEncoder(const SearchSpace& space) : CellEncoder(space, "adjacency") {
    // Op-node DAG: node 0 the cell input, node 1+e edge e, node E+1 the cell output.
    const int E = int(topo_.edges.size());
    for (int e = 0; e < E; ++e)
      if (topo_.edges[e].first == 0) links_.push_back({-1, e});
    for (int e = 0; e < E; ++e)
      for (int f = 0; f < E; ++f)
        if (topo_.edges[e].second == topo_.edges[f].first) links_.push_back({e, f});
    for (int e = 0; e < E; ++e)
      if (topo_.edges[e].second == topo_.nodes - 1) links_.push_back({e, -1});
  }
  std::string name() const override { return "adjacency"; }
  int width() const override { return int(links_.size() + topo_.edges.size() * liveOps_.size()); }
  std::vector<std::string> featureNames() const override {
    std::vector<std::string> n;
    auto node = [](int e) { return e < 0 ? std::string("io") : "e" + std::to_string(e); };
    for (const auto& l : links_) n.push_back("link:" + node(l.first) + ">" + node(l.second));
    for (size_t e = 0; e < topo_.edges.size(); ++e)
      for (int o : liveOps_) n.push_back("e" + std::to_string(e) + "=" + topo_.ops[o]);
    return n;
  }
  void append(const std::vector<int>& idx, std::vector<double>& v) const override {
    const std::vector<int> ops = edgeOps(idx);
    const std::vector<char> live = liveEdges(ops);
    auto on = [&](int e) { return e < 0 || live[e]; };
    for (const auto& l : links_) v.push_back(on(l.first) && on(l.second) ? 1.0 : 0.0);
    for (size_t e = 0; e < topo_.edges.size(); ++e)
      for (int o : liveOps_) v.push_back(live[e] && ops[e] == o ? 1.0 : 0.0);
  }

 private:
  std::vector<std::pair<int, int>> links_;  // (from edge, to edge), -1 = cell input / output
};

class PathEncoder : public CellEncoder {
 public:
  explicit PathEncoder(const SearchSpace& space) : CellEncoder(space, "path") {
    // Features for every op sequence of each path length that occurs.
    const int K = int(liveOps_.size());
    std::vector<char> hasLen(maxLen_ + 1, 0);
    for (const auto& p : paths_) hasLen[p.size()] = 1;
    lenOffset_.assign(maxLen_ + 1, -1);
    for (int L = 1; L <= maxLen_; ++L) {
      if (!hasLen[L]) continue;
      lenOffset_[L] = width_;
      int count = 1;
      for (int i = 0; i < L; ++i) count *= K;
      width_ += count;
    }
  }
  std::string name() const override { return "path"; }
  int width() const override { return width_; }
  std::vector<std::string> featureNames() const override {
    std::vector<std::string> n(width_);
    const int K = int(liveOps_.size());
    for (int L = 1; L <= maxLen_; ++L) {
      if (lenOffset_[L] < 0) continue;
      int count = 1;
      for (int i = 0; i < L; ++i) count *= K;
      for (int code = 0; code < count; ++code) {
        std::string s = "path:";
        std::vector<int> digits(L);
        int c = code;
        for (int i = L - 1; i >= 0; --i, c /= K) digits[i] = c % K;
        for (int i = 0; i < L; ++i) s += (i ? ">" : "") + topo_.ops[liveOps_[digits[i]]];
        n[lenOffset_[L] + code] = s;
      }
    }
    return n;
  }
  void append(const std::vector<int>& idx, std::vector<double>& v) const override {
    const std::vector<int> ops = edgeOps(idx);
    const int K = int(liveOps_.size());
    const size_t base = v.size();
    v.resize(base + width_, 0.0);
    for (const auto& p : paths_) {
      if (!pathLive(p, ops)) continue;
      int code = 0;
      for (int e : p) code = code * K + opRank_[ops[e]];
      v[base + lenOffset_[p.size()] + code] += 1.0;
    }
  }

 private:
  std::vector<int> lenOffset_;
  int width_ = 0;
};

class CellStatsEncoder : public CellEncoder {
 public:
  explicit CellStatsEncoder(const SearchSpace& space) : CellEncoder(space, "cellstats") {}
  std::string name() const override { return "cellstats"; }
  // Per live op: live edges, live paths through it, most on one live path; live paths per length
  // 1..maxLen; output connected.
  int width() const override { return int(3 * liveOps_.size()) + maxLen_ + 1; }
  std::vector<std::string> featureNames() const override {
    std::vector<std::string> n;
    for (int o : liveOps_) n.push_back("edges:" + topo_.ops[o]);
    for (int o : liveOps_) n.push_back("paths_through:" + topo_.ops[o]);
    for (int o : liveOps_) n.push_back("max_on_path:" + topo_.ops[o]);
    for (int L = 1; L <= maxLen_; ++L) n.push_back("live_paths_len" + std::to_string(L));
    n.push_back("connected");
    return n;
  }
  void append(const std::vector<int>& idx, std::vector<double>& out) const override {
    const std::vector<int> ops = edgeOps(idx);
    const std::vector<char> live = liveEdges(ops);
    const size_t K = liveOps_.size();
    const size_t base = out.size();
    out.resize(base + width(), 0.0);
    double* v = out.data() + base;
    for (size_t e = 0; e < ops.size(); ++e)
      if (live[e]) v[opRank_[ops[e]]] += 1.0;
    double anyLive = 0;
    std::vector<int> onPath(K);
    for (const auto& p : paths_) {
      if (!pathLive(p, ops)) continue;
      anyLive = 1;
      std::fill(onPath.begin(), onPath.end(), 0);
      for (int e : p) onPath[opRank_[ops[e]]]++;
      for (size_t k = 0; k < K; ++k) {
        if (onPath[k] > 0) v[K + k] += 1.0;
        v[2 * K + k] = std::max(v[2 * K + k], double(onPath[k]));
      }
      v[3 * K + p.size() - 1] += 1.0;
    }
    v[width() - 1] = anyLive;
  }
};

class ConcatEncoder : public Encoder {
 public:
  explicit ConcatEncoder(std::vector<std::unique_ptr<IndexedEncoder>> parts) : parts_(std::move(parts)) {
    for (const auto& p : parts_) width_ += p->width();
  }
  std::string name() const override {
    std::string n;
    for (const auto& p : parts_) n += (n.empty() ? "" : "+") + p->name();
    return n;
  }
  int width() const override { return width_; }
  std::vector<std::string> featureNames() const override {
    std::vector<std::string> n;
    for (const auto& p : parts_) {
      auto f = p->featureNames();
      n.insert(n.end(), f.begin(), f.end());
    }
    return n;
  }
  std::vector<double> encode(const ArchConfig& arch) const override {
    std::vector<double> v;
    v.reserve(width_);
    // Every part here is an IndexedEncoder of the same space: one decisionIndices() per arch.
    const std::vector<int> idx = parts_[0]->space().decisionIndices(arch);
    for (const auto& p : parts_) p->append(idx, v);
    return v;
  }

 private:
  std::vector<std::unique_ptr<IndexedEncoder>> parts_;
  int width_ = 0;
};

std::unique_ptr<IndexedEncoder> makeOne(const SearchSpace& space, const std::string& name) {
  if (name == "onehot") return std::make_unique<OneHotEncoder>(space);
  if (name == "adjacency") return std::make_unique<AdjacencyEncoder>(space);
  if (name == "path") return std::make_unique<PathEncoder>(space);
  if (name == "cellstats") return std::make_unique<CellStatsEncoder>(space);
  throw InputError("unknown encoder '" + name + "'; known: onehot, adjacency, path, cellstats (join with '+')");
}

}  // namespace

std::unique_ptr<Encoder> makeEncoder(const SearchSpace& space, const std::string& name) {
  if (name.find('+') == std::string::npos) return makeOne(space, name);
  std::vector<std::unique_ptr<IndexedEncoder>> parts;
  size_t start = 0;
  while (true) {
    const size_t plus = name.find('+', start);
    parts.push_back(makeOne(space, name.substr(start, plus == std::string::npos ? std::string::npos : plus - start)));
    if (plus == std::string::npos) break;
    start = plus + 1;
  }
  return std::make_unique<ConcatEncoder>(std::move(parts));
}

}  // namespace hwnas
