#include "exporter/lowrank.h"

#include <Eigen/SVD>
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "exporter/pass.h"

namespace hwnas {
namespace {

using Mat = Eigen::MatrixXd;

struct Candidate {
  int node = -1;
  bool tucker = false;
  int64_t o = 0, c = 0, k = 1;             // out, in channels, kernel (square or kh*kw via kh,kw)
  int kh = 1, kw = 1;
  int64_t inPixels = 1, outPixels = 1;     // H*W of input and output (1 for linear)
  Eigen::VectorXd s0, s1;                  // singular values (svd: s0; tucker: s0 output mode, s1 input mode)
  Mat u0, v0, u1;                          // svd: u0, v0; tucker: u0 (output mode), u1 (input mode)
  int64_t macsBefore = 0;
};

int64_t rankFor(const Eigen::VectorXd& s, double energy) {
  const double total = s.squaredNorm();
  if (total <= 0) return 1;
  double acc = 0;
  for (int64_t i = 0; i < s.size(); ++i) {
    acc += s[i] * s[i];
    if (acc >= energy * total * (1 - 1e-12)) return i + 1;
  }
  return s.size();
}

// MACs per image of the decomposed layer at ranks (r1, r2); svd uses r1 only.
int64_t macsAfter(const Candidate& c, int64_t r1, int64_t r2) {
  if (!c.tucker) return c.outPixels * r1 * (c.c + c.o);
  return c.inPixels * r1 * c.c + c.outPixels * (r2 * r1 * c.kh * c.kw + c.o * r2);
}

struct Choice {
  int64_t r1 = 0, r2 = 0;
  bool apply = false;
  int64_t macs = 0;
};

Choice choose(const Candidate& c, double energy, bool onlyIfFewer) {
  Choice ch;
  if (c.tucker) {
    ch.r2 = rankFor(c.s0, energy);
    ch.r1 = rankFor(c.s1, energy);
  } else {
    ch.r1 = rankFor(c.s0, energy);
  }
  ch.macs = macsAfter(c, ch.r1, ch.r2);
  ch.apply = ch.macs < c.macsBefore || !onlyIfFewer;
  if (!ch.apply) ch.macs = c.macsBefore;
  return ch;
}

}  // namespace

LowRankResult decomposeLowRank(const ExportModel& model, const LowRankOptions& options) {
  if (options.method != "svd" && options.method != "tucker2")
    throw InputError("lowrank: unknown method '" + options.method + "'; use svd or tucker2");
  const bool byEnergy = options.energy > 0, byMacs = options.macReduction > 0;
  if (byEnergy == byMacs) throw InputError("lowrank: give exactly one of energy or mac_reduction");
  if (byEnergy && options.energy > 1) throw InputError("lowrank: energy must be in (0, 1]");
  if (byMacs && options.macReduction <= 1) throw InputError("lowrank: mac_reduction must be > 1");
  const Graph& g = model.graph;
  const bool tucker = options.method == "tucker2";
  std::vector<Candidate> cands;
  for (const Node& n : g.nodes()) {
    if (std::find(options.skip.begin(), options.skip.end(), n.name) != options.skip.end()) continue;
    const OpAttrs& a = n.attrs;
    const bool conv = n.kind == OpKind::Conv2d && a.groups == 1;
    const bool oneByOne = conv && a.kernelH == 1 && a.kernelW == 1;
    if (tucker ? !(conv && !oneByOne) : !(oneByOne || n.kind == OpKind::Linear)) continue;
    Candidate c;
    c.node = n.id;
    c.tucker = tucker;
    const Shape& x = g.node(n.inputs[0]).shape;
    c.o = a.outChannels;
    c.c = x[1];
    c.kh = a.kernelH, c.kw = a.kernelW;
    if (n.kind == OpKind::Conv2d) {
      c.inPixels = x[2] * x[3];
      c.outPixels = n.shape[2] * n.shape[3];
    }
    c.macsBefore = c.outPixels * c.o * c.c * c.kh * c.kw;
    const auto& w = requireWeight(model.weights, "lowrank", n, ".weight", c.o * c.c * c.kh * c.kw).values;
    const int64_t kk = int64_t(c.kh) * c.kw;
    if (!tucker) {
      Mat m(c.o, c.c);
      for (int64_t i = 0; i < c.o; ++i)
        for (int64_t j = 0; j < c.c; ++j) m(i, j) = w[size_t(i * c.c + j)];
      Eigen::JacobiSVD<Mat> svd(m, Eigen::ComputeThinU | Eigen::ComputeThinV);
      c.s0 = svd.singularValues();
      c.u0 = svd.matrixU();
      c.v0 = svd.matrixV();
    } else {
      Mat m0(c.o, c.c * kk), m1(c.c, c.o * kk);
      for (int64_t o = 0; o < c.o; ++o)
        for (int64_t ci = 0; ci < c.c; ++ci)
          for (int64_t t = 0; t < kk; ++t) {
            const double v = w[size_t((o * c.c + ci) * kk + t)];
            m0(o, ci * kk + t) = v;
            m1(ci, o * kk + t) = v;
          }
      Eigen::JacobiSVD<Mat> s0(m0, Eigen::ComputeThinU), s1(m1, Eigen::ComputeThinU);
      c.s0 = s0.singularValues();
      c.u0 = s0.matrixU();
      c.s1 = s1.singularValues();
      c.u1 = s1.matrixU();
    }
    cands.push_back(std::move(c));
  }
  const int64_t baseMacs = g.cost().macs / std::max<int64_t>(1, g.node(g.inputIds().at(0)).shape[0]);
  auto totalAt = [&](double e) {
    int64_t t = baseMacs;
    for (const Candidate& c : cands) t -= c.macsBefore - choose(c, e, options.onlyIfFewerMacs).macs;
    return t;
  };
  double energy = options.energy;
  if (byMacs) {
    const int64_t best = totalAt(0.0);
    if (cands.empty() || double(baseMacs) / double(best) < options.macReduction)
      throw InputError("lowrank: " + options.method + " cannot reach " + std::to_string(options.macReduction) +
                       "x fewer MACs on this model (at most " + std::to_string(double(baseMacs) / double(std::max<int64_t>(1, best))) +
                       "x with rank 1 everywhere, " + std::to_string(cands.size()) + " layers it applies to)");
    double lo = 0, hi = 1;  // invariant: reduction(lo) >= target
    for (int it = 0; it < 60; ++it) {
      const double mid = 0.5 * (lo + hi);
      if (double(baseMacs) / double(totalAt(mid)) >= options.macReduction) lo = mid; else hi = mid;
    }
    energy = lo;
  }
  LowRankResult r;
  r.energy = energy;
  r.model.name = model.name;
  std::vector<const Candidate*> candOf(g.size(), nullptr);
  for (const Candidate& c : cands) candOf[size_t(c.node)] = &c;
  Graph& out = r.model.graph;
  WeightMap& wm = r.model.weights;
  std::vector<int> remap(g.size(), -1);
  auto uniqueName = [&](const std::string& base) {
    std::string n = base;
    for (int i = 2; g.findNode(n) >= 0 || out.findNode(n) >= 0; ++i) n = base + std::to_string(i);
    return n;
  };
  for (const Node& n : g.nodes()) {
    const Candidate* c = candOf[size_t(n.id)];
    const Choice ch = c ? choose(*c, energy, options.onlyIfFewerMacs) : Choice();
    if (!c || !ch.apply) {
      remap[size_t(n.id)] = copyNode(out, n, remap);
      for (const char* sfx : {".weight", ".bias", ".running_mean", ".running_var", ".reduce.weight", ".reduce.bias",
                              ".expand.weight", ".expand.bias"}) {
        auto it = model.weights.find(n.name + sfx);
        if (it != model.weights.end()) wm[it->first] = it->second;
      }
      continue;
    }
    LowRankLayer info;
    info.node = n.name;
    info.macsBefore = c->macsBefore;
    info.macsAfter = ch.macs;
    const bool linear = n.kind == OpKind::Linear;
    const int in = remap[size_t(n.inputs[0])];
    auto addConv = [&](const std::string& name, int input, int64_t outC, const OpAttrs& base, bool keepWindow, bool bias) {
      OpAttrs a = base;
      a.outChannels = outC;
      a.bias = bias;
      if (!keepWindow) {
        a.kernelH = a.kernelW = 1;
        a.strideH = a.strideW = 1;
        a.padH = a.padW = 0;
        a.dilationH = a.dilationW = 1;
      }
      a.groups = 1;
      return out.addNode(name, linear ? OpKind::Linear : OpKind::Conv2d, {input}, a);
    };
    if (!c->tucker) {
      const int64_t rk = ch.r1;
      info.fullRank = c->s0.size();
      info.rank = rk;
      const std::string first = uniqueName(n.name + "_lr");
      const int a = addConv(first, in, rk, n.attrs, true, false);
      remap[size_t(n.id)] = addConv(n.name, a, c->o, n.attrs, false, n.attrs.bias);
      WeightTensor w1, w2;
      w1.shape = linear ? Shape{rk, c->c} : Shape{rk, c->c, 1, 1};
      w2.shape = linear ? Shape{c->o, rk} : Shape{c->o, rk, 1, 1};
      for (int64_t i = 0; i < rk; ++i)
        for (int64_t j = 0; j < c->c; ++j) w1.values.push_back(float(c->s0[i] * c->v0(j, i)));
      for (int64_t o = 0; o < c->o; ++o)
        for (int64_t i = 0; i < rk; ++i) w2.values.push_back(float(c->u0(o, i)));
      wm[first + ".weight"] = std::move(w1);
      wm[n.name + ".weight"] = std::move(w2);
    } else {
      const int64_t r1 = ch.r1, r2 = ch.r2, kk = int64_t(c->kh) * c->kw;
      info.fullRank = std::min(c->s0.size(), c->s1.size());
      info.rank = r1;
      info.rank2 = r2;
      const std::string t1 = uniqueName(n.name + "_t1"), t2 = uniqueName(n.name + "_t2");
      const int a = addConv(t1, in, r1, n.attrs, false, false);
      const int b = addConv(t2, a, r2, n.attrs, true, false);
      remap[size_t(n.id)] = addConv(n.name, b, c->o, n.attrs, false, n.attrs.bias);
      const auto& w = model.weights.at(n.name + ".weight").values;
      WeightTensor w1, wc, w3;
      w1.shape = {r1, c->c, 1, 1};
      for (int64_t i = 0; i < r1; ++i)
        for (int64_t ci = 0; ci < c->c; ++ci) w1.values.push_back(float(c->u1(ci, i)));
      // core[a, b, t] = sum_o sum_c U0[o, a] U1[c, b] W[o, c, t]
      Mat tmp = Mat::Zero(r2, c->c * kk);  // U0^T W(0)
      for (int64_t o = 0; o < c->o; ++o)
        for (int64_t i = 0; i < r2; ++i) {
          const double u = c->u0(o, i);
          if (u == 0) continue;
          for (int64_t j = 0; j < c->c * kk; ++j) tmp(i, j) += u * w[size_t(o * c->c * kk + j)];
        }
      wc.shape = {r2, r1, c->kh, c->kw};
      wc.values.assign(size_t(r2 * r1 * kk), 0.f);
      for (int64_t i = 0; i < r2; ++i)
        for (int64_t j = 0; j < r1; ++j)
          for (int64_t t = 0; t < kk; ++t) {
            double acc = 0;
            for (int64_t ci = 0; ci < c->c; ++ci) acc += c->u1(ci, j) * tmp(i, ci * kk + t);
            wc.values[size_t((i * r1 + j) * kk + t)] = float(acc);
          }
      w3.shape = {c->o, r2, 1, 1};
      for (int64_t o = 0; o < c->o; ++o)
        for (int64_t i = 0; i < r2; ++i) w3.values.push_back(float(c->u0(o, i)));
      wm[t1 + ".weight"] = std::move(w1);
      wm[t2 + ".weight"] = std::move(wc);
      wm[n.name + ".weight"] = std::move(w3);
    }
    if (n.attrs.bias) wm[n.name + ".bias"] = model.weights.at(n.name + ".bias");
    r.layers.push_back(info);
  }
  return r;
}

}  // namespace hwnas
