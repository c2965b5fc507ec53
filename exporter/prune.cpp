#include "exporter/prune.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "exporter/pass.h"

namespace hwnas {
namespace {

const char* const kSuffixes[] = {".weight", ".bias", ".running_mean", ".running_var",
                                 ".reduce.weight", ".reduce.bias", ".expand.weight", ".expand.bias"};

void copyWeightsOf(const Node& n, const WeightMap& from, WeightMap& to) {
  for (const char* s : kSuffixes) {
    auto it = from.find(n.name + s);
    if (it != from.end()) to[it->first] = it->second;
  }
}

bool isDepthwise(const Graph& g, const Node& n) {
  if (n.kind != OpKind::Conv2d) return false;
  const int64_t cin = g.node(n.inputs[0]).shape[1];
  return n.attrs.groups == cin && n.attrs.outChannels == cin && n.attrs.groups > 1;
}

// Channel-space analysis: every node's output gets a space (union-find root) and a multiplier
// (features per channel after a flatten).
struct Spaces {
  std::vector<int> parent;
  std::vector<int64_t> channels;
  std::vector<bool> fixed;
  std::vector<std::string> reason;
  std::vector<int> ofNode;       // per node: space id (-1: none)
  std::vector<int64_t> multOf;   // per node
  std::vector<std::vector<int>> producers;  // per space: producer nodes (root-merged in groups())

  int make(int64_t c) {
    parent.push_back(int(parent.size()));
    channels.push_back(c);
    fixed.push_back(false);
    reason.emplace_back();
    producers.emplace_back();
    return parent.back();
  }
  int find(int s) {
    while (parent[size_t(s)] != s) s = parent[size_t(s)] = parent[size_t(parent[size_t(s)])];
    return s;
  }
  void fix(int s, const std::string& why) {
    s = find(s);
    if (!fixed[size_t(s)]) reason[size_t(s)] = why;
    fixed[size_t(s)] = true;
  }
  void unite(int a, int b, const std::string& where) {
    a = find(a), b = find(b);
    if (a == b) return;
    if (channels[size_t(a)] != channels[size_t(b)]) {
      fix(a, "joins tensors of different channel counts at " + where);
      fix(b, "joins tensors of different channel counts at " + where);
      return;
    }
    parent[size_t(b)] = a;
    if (fixed[size_t(b)]) fix(a, reason[size_t(b)]);
  }
};

Spaces analyse(const Graph& g) {
  Spaces s;
  s.ofNode.assign(g.size(), -1);
  s.multOf.assign(g.size(), 1);
  for (const Node& n : g.nodes()) {
    const size_t id = size_t(n.id);
    auto inSpace = [&](int k) { return s.ofNode[size_t(n.inputs[size_t(k)])]; };
    auto passThrough = [&] {
      s.ofNode[id] = inSpace(0);
      s.multOf[id] = s.multOf[size_t(n.inputs[0])];
    };
    switch (n.kind) {
      case OpKind::Input:
        s.ofNode[id] = s.make(n.shape.size() >= 2 ? n.shape[1] : 1);
        s.fix(s.ofNode[id], "graph input");
        break;
      case OpKind::Conv2d:
        if (isDepthwise(g, n)) {
          passThrough();
        } else {
          s.ofNode[id] = s.make(n.attrs.outChannels);
          if (n.attrs.groups != 1) {
            s.fix(s.ofNode[id], "grouped conv '" + n.name + "'");
            s.fix(inSpace(0), "grouped conv '" + n.name + "'");
          } else {
            s.producers[size_t(s.ofNode[id])].push_back(n.id);
          }
        }
        break;
      case OpKind::Linear:
        s.ofNode[id] = s.make(n.attrs.outChannels);
        s.producers[size_t(s.ofNode[id])].push_back(n.id);
        break;
      case OpKind::Add:
      case OpKind::Mul:
        passThrough();
        if (s.multOf[size_t(n.inputs[0])] != s.multOf[size_t(n.inputs[1])])
          s.fix(inSpace(0), "mixed layouts at '" + n.name + "'"), s.fix(inSpace(1), "mixed layouts at '" + n.name + "'");
        s.unite(inSpace(0), inSpace(1), opKindName(n.kind) + std::string(" '") + n.name + "'");
        break;
      case OpKind::Concat:
        s.ofNode[id] = s.make(n.shape[1]);
        s.fix(s.ofNode[id], "concat '" + n.name + "'");
        for (size_t k = 0; k < n.inputs.size(); ++k) s.fix(inSpace(int(k)), "concat '" + n.name + "'");
        break;
      case OpKind::Flatten: {
        const Shape& x = g.node(n.inputs[0]).shape;
        passThrough();
        int64_t m = 1;
        for (size_t d = 2; d < x.size(); ++d) m *= x[d];
        s.multOf[id] = s.multOf[size_t(n.inputs[0])] * m;
        break;
      }
      default:  // batchnorm, act, pools, gap, squeeze-excite, quant, dequant: channel-wise
        passThrough();
        if (n.kind == OpKind::GlobalAvgPool) s.multOf[id] = 1;
        break;
    }
  }
  for (int out : g.outputIds()) s.fix(s.ofNode[size_t(out)], "graph output");
  return s;
}

// values laid out [rows][cols][per]; keeps the given rows and columns (empty: all).
std::vector<float> slice(const std::vector<float>& v, int64_t rows, int64_t cols, int64_t per,
                         const std::vector<int64_t>& keepRows, const std::vector<int64_t>& keepCols) {
  std::vector<float> out;
  out.reserve(keepRows.size() * keepCols.size() * size_t(per));
  for (int64_t r : keepRows)
    for (int64_t c : keepCols)
      for (int64_t i = 0; i < per; ++i) out.push_back(v[size_t((r * cols + c) * per + i)]);
  (void)rows;
  return out;
}

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

std::vector<int64_t> expand(const std::vector<int64_t>& channels, int64_t mult) {
  std::vector<int64_t> out;
  for (int64_t c : channels)
    for (int64_t j = 0; j < mult; ++j) out.push_back(c * mult + j);
  return out;
}

}  // namespace

MagnitudePruneResult pruneMagnitude(const ExportModel& model, const MagnitudePruneOptions& options) {
  if (!(options.sparsity >= 0 && options.sparsity < 1))
    throw InputError("prune: sparsity " + std::to_string(options.sparsity) + " is outside [0, 1)");
  MagnitudePruneResult r;
  r.model = model;
  std::vector<const Node*> layers;
  for (const Node& n : model.graph.nodes()) {
    if (n.kind == OpKind::Linear || (n.kind == OpKind::Conv2d && (options.includeDepthwise || !isDepthwise(model.graph, n))))
      layers.push_back(&n);
  }
  auto thresholdOf = [&](std::vector<float> mags) {
    const size_t k = size_t(std::floor(double(mags.size()) * options.sparsity));
    if (k == 0) return -1.f;
    std::nth_element(mags.begin(), mags.begin() + long(k - 1), mags.end());
    return mags[k - 1];
  };
  // Ties at the threshold: prune in index order until the exact count is reached.
  auto applyLayer = [&](const Node& n, float thr, int64_t* budget) {
    WeightTensor& w = r.model.weights.at(n.name + ".weight");
    std::vector<float> mask(w.values.size(), 1.f);
    for (size_t i = 0; i < w.values.size(); ++i) {
      const float a = std::fabs(w.values[i]);
      if (a < thr || (a == thr && *budget > 0)) {
        if (a == thr) --*budget;
        mask[i] = 0.f;
        w.values[i] = 0.f;
        ++r.zeroed;
      }
    }
    r.masks[n.name + ".weight"] = std::move(mask);
  };
  auto tieBudget = [&](const std::vector<float>& mags, float thr) {
    const int64_t k = int64_t(std::floor(double(mags.size()) * options.sparsity));
    int64_t below = 0;
    for (float m : mags) below += m < thr;
    return k - below;
  };
  if (options.global) {
    std::vector<float> all;
    for (const Node* n : layers)
      for (float v : requireWeight(model.weights, "prune", *n, ".weight").values) all.push_back(std::fabs(v));
    r.prunable = int64_t(all.size());
    const float thr = thresholdOf(all);
    int64_t budget = thr < 0 ? 0 : tieBudget(all, thr);
    for (const Node* n : layers) applyLayer(*n, thr, &budget);
  } else {
    for (const Node* n : layers) {
      std::vector<float> mags;
      for (float v : requireWeight(model.weights, "prune", *n, ".weight").values) mags.push_back(std::fabs(v));
      r.prunable += int64_t(mags.size());
      const float thr = thresholdOf(mags);
      int64_t budget = thr < 0 ? 0 : tieBudget(mags, thr);
      applyLayer(*n, thr, &budget);
    }
  }
  return r;
}

std::vector<ChannelGroup> channelGroups(const Graph& g) {
  Spaces s = analyse(g);
  std::map<int, ChannelGroup> byRoot;
  for (size_t i = 0; i < s.parent.size(); ++i) {
    const int root = s.find(int(i));
    ChannelGroup& grp = byRoot[root];
    grp.channels = grp.kept = s.channels[size_t(root)];
    grp.prunable = !s.fixed[size_t(root)];
    grp.reason = s.reason[size_t(root)];
    for (int p : s.producers[i]) grp.producers.push_back(g.node(p).name);
  }
  std::vector<ChannelGroup> out;
  for (auto& kv : byRoot)
    if (!kv.second.producers.empty() || !kv.second.prunable) out.push_back(kv.second);
  return out;
}

ChannelPruneResult pruneChannels(const ExportModel& model, const ChannelPruneOptions& options) {
  if (!(options.sparsity >= 0 && options.sparsity < 1))
    throw InputError("prune: sparsity " + std::to_string(options.sparsity) + " is outside [0, 1)");
  if (options.importance != "l1" && options.importance != "bn_gamma")
    throw InputError("prune: unknown channel importance '" + options.importance + "'; use l1 or bn_gamma");
  const Graph& g = model.graph;
  Spaces s = analyse(g);
  const size_t nSpaces = s.parent.size();
  // Importance per root space.
  std::map<int, std::vector<double>> importance;
  std::map<int, std::vector<int>> producersOf;
  for (size_t i = 0; i < nSpaces; ++i)
    for (int p : s.producers[i]) producersOf[s.find(int(i))].push_back(p);
  for (auto& [root, prods] : producersOf) {
    if (s.fixed[size_t(root)]) continue;
    const int64_t c = s.channels[size_t(root)];
    std::vector<double> l1(size_t(c), 0.0), gamma(size_t(c), 0.0);
    bool haveGamma = false;
    for (int p : prods) {
      const Node& n = g.node(p);
      const auto& w = requireWeight(model.weights, "prune", n, ".weight").values;
      const int64_t per = int64_t(w.size()) / c;
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t i = 0; i < per; ++i) l1[size_t(ch)] += std::fabs(w[size_t(ch * per + i)]);
      for (int cons : g.consumers(p)) {
        if (g.node(cons).kind != OpKind::BatchNorm) continue;
        const auto& gm = requireWeight(model.weights, "prune", g.node(cons), ".weight", c).values;
        for (int64_t ch = 0; ch < c; ++ch) gamma[size_t(ch)] += std::fabs(gm[size_t(ch)]);
        haveGamma = true;
      }
    }
    importance[root] = options.importance == "bn_gamma" && haveGamma ? gamma : l1;
  }
  // Kept channel indices per root space.
  std::map<int, std::vector<int64_t>> kept;
  if (options.global) {
    std::vector<double> all;
    std::map<int, std::vector<double>> norm;
    for (auto& [root, imp] : importance) {
      const double mx = std::max(1e-30, *std::max_element(imp.begin(), imp.end()));
      auto& v = norm[root];
      for (double x : imp) v.push_back(x / mx), all.push_back(x / mx);
    }
    std::sort(all.begin(), all.end());
    const size_t k = size_t(std::floor(double(all.size()) * options.sparsity));
    const double thr = k == 0 ? -1.0 : all[k - 1];
    for (auto& [root, v] : norm) {
      std::vector<int64_t> keep;
      for (size_t c = 0; c < v.size(); ++c)
        if (v[c] > thr) keep.push_back(int64_t(c));
      if (keep.empty()) keep.push_back(int64_t(std::max_element(v.begin(), v.end()) - v.begin()));
      kept[root] = keep;
    }
  } else {
    for (auto& [root, imp] : importance) {
      const int64_t c = int64_t(imp.size());
      const int64_t keepN = std::max<int64_t>(1, c - int64_t(std::llround(double(c) * options.sparsity)));
      std::vector<int64_t> order = iota(c);
      std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return imp[size_t(a)] > imp[size_t(b)]; });
      order.resize(size_t(keepN));
      std::sort(order.begin(), order.end());
      kept[root] = order;
    }
  }
  auto keptOf = [&](int space) -> std::vector<int64_t> {
    const int root = s.find(space);
    auto it = kept.find(root);
    return it != kept.end() ? it->second : iota(s.channels[size_t(root)]);
  };

  ChannelPruneResult r;
  r.model.name = model.name;
  Graph& out = r.model.graph;
  WeightMap& w = r.model.weights;
  std::vector<int> remap(g.size(), -1);
  for (const Node& n : g.nodes()) {
    const size_t id = size_t(n.id);
    Node copy = n;
    if (n.kind == OpKind::Conv2d && n.attrs.groups == 1) {
      const auto ko = keptOf(s.ofNode[id]);
      const auto ki = keptOf(s.ofNode[size_t(n.inputs[0])]);
      const int64_t cin = g.node(n.inputs[0]).shape[1];
      copy.attrs.outChannels = int64_t(ko.size());
      remap[id] = copyNode(out, copy, remap);
      const auto& wt = requireWeight(model.weights, "prune", n, ".weight", n.attrs.outChannels * cin * n.attrs.kernelH * n.attrs.kernelW);
      w[n.name + ".weight"] = {{int64_t(ko.size()), int64_t(ki.size()), n.attrs.kernelH, n.attrs.kernelW},
                               slice(wt.values, n.attrs.outChannels, cin, n.attrs.kernelH * n.attrs.kernelW, ko, ki)};
      if (n.attrs.bias)
        w[n.name + ".bias"] = {{int64_t(ko.size())}, slice(requireWeight(model.weights, "prune", n, ".bias", n.attrs.outChannels).values,
                                                          n.attrs.outChannels, 1, 1, ko, {0})};
    } else if (isDepthwise(g, n)) {
      const auto k = keptOf(s.ofNode[id]);
      copy.attrs.outChannels = copy.attrs.groups = int64_t(k.size());
      remap[id] = copyNode(out, copy, remap);
      const int64_t per = n.attrs.kernelH * n.attrs.kernelW;
      const auto& wt = requireWeight(model.weights, "prune", n, ".weight", n.attrs.outChannels * per);
      w[n.name + ".weight"] = {{int64_t(k.size()), 1, n.attrs.kernelH, n.attrs.kernelW}, slice(wt.values, n.attrs.outChannels, 1, per, k, {0})};
      if (n.attrs.bias)
        w[n.name + ".bias"] = {{int64_t(k.size())}, slice(requireWeight(model.weights, "prune", n, ".bias", n.attrs.outChannels).values,
                                                         n.attrs.outChannels, 1, 1, k, {0})};
    } else if (n.kind == OpKind::Linear) {
      const auto ko = keptOf(s.ofNode[id]);
      const auto ki = expand(keptOf(s.ofNode[size_t(n.inputs[0])]), s.multOf[size_t(n.inputs[0])]);
      const int64_t in = g.node(n.inputs[0]).shape[1];
      copy.attrs.outChannels = int64_t(ko.size());
      remap[id] = copyNode(out, copy, remap);
      const auto& wt = requireWeight(model.weights, "prune", n, ".weight", n.attrs.outChannels * in);
      w[n.name + ".weight"] = {{int64_t(ko.size()), int64_t(ki.size())}, slice(wt.values, n.attrs.outChannels, in, 1, ko, ki)};
      if (n.attrs.bias)
        w[n.name + ".bias"] = {{int64_t(ko.size())}, slice(requireWeight(model.weights, "prune", n, ".bias", n.attrs.outChannels).values,
                                                          n.attrs.outChannels, 1, 1, ko, {0})};
    } else if (n.kind == OpKind::BatchNorm) {
      const auto k = keptOf(s.ofNode[id]);
      const int64_t c = g.node(n.inputs[0]).shape[1];
      remap[id] = copyNode(out, copy, remap);
      for (const char* sfx : {".weight", ".bias", ".running_mean", ".running_var"})
        w[n.name + sfx] = {{int64_t(k.size())}, slice(requireWeight(model.weights, "prune", n, sfx, c).values, c, 1, 1, k, {0})};
    } else if (n.kind == OpKind::SqueezeExcite) {
      const auto k = keptOf(s.ofNode[id]);
      const int64_t c = g.node(n.inputs[0]).shape[1], red = n.attrs.outChannels;
      remap[id] = copyNode(out, copy, remap);
      w[n.name + ".reduce.weight"] = {{red, int64_t(k.size()), 1, 1},
                                      slice(requireWeight(model.weights, "prune", n, ".reduce.weight", red * c).values, red, c, 1, iota(red), k)};
      w[n.name + ".reduce.bias"] = requireWeight(model.weights, "prune", n, ".reduce.bias", red);
      w[n.name + ".expand.weight"] = {{int64_t(k.size()), red, 1, 1},
                                      slice(requireWeight(model.weights, "prune", n, ".expand.weight", red * c).values, c, red, 1, k, iota(red))};
      w[n.name + ".expand.bias"] = {{int64_t(k.size())}, slice(requireWeight(model.weights, "prune", n, ".expand.bias", c).values, c, 1, 1, k, {0})};
    } else {
      remap[id] = copyNode(out, copy, remap);
      copyWeightsOf(n, model.weights, w);
    }
  }
  r.groups = channelGroups(g);
  for (ChannelGroup& grp : r.groups) {
    if (!grp.prunable) continue;
    // find this group's kept count through its first producer
    const int p = g.findNode(grp.producers.at(0));
    grp.kept = int64_t(keptOf(s.ofNode[size_t(p)]).size());
    r.channelsBefore += grp.channels;
    r.channelsAfter += grp.kept;
  }
  return r;
}

}  // namespace hwnas
