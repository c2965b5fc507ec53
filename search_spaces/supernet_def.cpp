#include "search_spaces/supernet_def.h"

#include <algorithm>
#include <sstream>

#include "core/error.h"

namespace hwnas {

namespace {

void sortUnique(std::vector<int>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

bool contains(const std::vector<int>& v, int x) { return std::find(v.begin(), v.end(), x) != v.end(); }

std::string listText(const std::vector<int>& v) {
  std::string s = "{";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "}";
}

template <class T>
const T& pick(const std::vector<T>& v, Rng& rng) {
  return v[rng.uniformInt(v.size())];
}

}  // namespace

void SupernetDef::normalize() {
  auto check = [&](std::vector<int>& v, const std::string& what, int lo) {
    sortUnique(v);
    if (v.empty()) throw InputError("supernet '" + name + "': " + what + " has no choices");
    if (v.front() < lo)
      throw InputError("supernet '" + name + "': " + what + " choices must be >= " + std::to_string(lo) + ", got " +
                       listText(v));
  };
  if (inChannels <= 0 || numClasses <= 0) throw InputError("supernet '" + name + "': channels and classes must be positive");
  check(resolutionChoices, "resolution", 1);
  check(stemOutChoices, "stem.out", 1);
  check(headOutChoices, "head.out", 0);
  if (headOutChoices.front() == 0 && headOutChoices.size() > 1)
    throw InputError("supernet '" + name + "': head.out cannot mix 0 (no head) with widths");
  if (stemKernel <= 0 || stemKernel % 2 == 0 || stemStride <= 0)
    throw InputError("supernet '" + name + "': stem kernel must be odd and stride positive");
  if (stages.empty()) throw InputError("supernet '" + name + "': no stages");
  for (size_t s = 0; s < stages.size(); ++s) {
    SupernetStage& st = stages[s];
    const std::string where = "stages[" + std::to_string(s) + "]";
    check(st.depthChoices, where + ".depth", 1);
    check(st.outChoices, where + ".out", 1);
    check(st.kernelChoices, where + ".kernel", 1);
    check(st.expandChoices, where + ".expand", 1);
    for (int k : st.kernelChoices)
      if (k % 2 == 0) throw InputError("supernet '" + name + "': " + where + ".kernel choices must be odd, got " + listText(st.kernelChoices));
    if (st.stride <= 0) throw InputError("supernet '" + name + "': " + where + ".stride must be positive");
    std::sort(st.types.begin(), st.types.end());
    st.types.erase(std::unique(st.types.begin(), st.types.end()), st.types.end());
    if (st.types.empty()) throw InputError("supernet '" + name + "': " + where + ".types is empty");
    for (const auto& t : st.types)
      if (t != "mbconv" && t != "fused_mbconv" && t != "conv")
        throw InputError("supernet '" + name + "': " + where + ": unknown block type '" + t +
                         "' (known: mbconv, fused_mbconv, conv)");
  }
}

static ModelDef baseDef(const SupernetDef& d, int res, int stemOut, int headOut) {
  ModelDef m;
  m.name = d.name;
  m.inChannels = d.inChannels;
  m.height = m.width = res;
  m.numClasses = d.numClasses;
  m.stemOut = stemOut;
  m.stemKernel = d.stemKernel;
  m.stemStride = d.stemStride;
  m.stemAct = d.stemAct;
  m.headOut = headOut;
  m.headAct = d.headAct;
  m.dropout = d.dropout;
  return m;
}

// The block type largest()/smallest()/sample() use: mbconv when the stage allows it.
static const std::string& preferredType(const SupernetStage& st) {
  for (const auto& t : st.types)
    if (t == "mbconv") return t;
  return st.types.front();
}

ModelDef SupernetDef::largest() const {
  ModelDef m = baseDef(*this, resolutionChoices.back(), stemOutChoices.back(), headOutChoices.back());
  m.name = name + "-largest";
  for (const auto& st : stages)
    for (int i = 0; i < st.maxDepth(); ++i)
      m.blocks.push_back({preferredType(st), st.maxOut(), st.maxKernel(), i == 0 ? st.stride : 1, st.maxExpand(),
                          st.seAllowed, st.act});
  return m;
}

ModelDef SupernetDef::smallest() const {
  ModelDef m = baseDef(*this, resolutionChoices.front(), stemOutChoices.front(), headOutChoices.front());
  m.name = name + "-smallest";
  for (const auto& st : stages)
    for (int i = 0; i < st.depthChoices.front(); ++i)
      m.blocks.push_back({preferredType(st), st.outChoices.front(), st.kernelChoices.front(), i == 0 ? st.stride : 1,
                          st.expandChoices.front(), /*se*/ false, st.act});
  return m;
}

ModelDef SupernetDef::sample(Rng& rng, ElasticDims dims) const {
  const int res = dims.resolution ? pick(resolutionChoices, rng) : resolutionChoices.back();
  const int stemOut = dims.width ? pick(stemOutChoices, rng) : stemOutChoices.back();
  const int headOut = dims.width ? pick(headOutChoices, rng) : headOutChoices.back();
  ModelDef m = baseDef(*this, res, stemOut, headOut);
  m.name = name + "-subnet";
  for (const auto& st : stages) {
    const int depth = dims.depth ? pick(st.depthChoices, rng) : st.maxDepth();
    const int out = dims.width ? pick(st.outChoices, rng) : st.maxOut();
    for (int i = 0; i < depth; ++i) {
      const int k = dims.kernel ? pick(st.kernelChoices, rng) : st.maxKernel();
      const int e = dims.expand ? pick(st.expandChoices, rng) : st.maxExpand();
      // Micro choices (block type, squeeze-excite) vary with the expand dimension.
      const std::string& type = dims.expand ? pick(st.types, rng) : preferredType(st);
      const bool se = st.seAllowed && type != "conv" && (!dims.expand || rng.bernoulli(0.5));
      m.blocks.push_back({type, out, k, i == 0 ? st.stride : 1, type == "conv" ? 1 : e, se, st.act});
    }
  }
  return m;
}

SupernetDef supernetFromModel(const ModelDef& largest, const ElasticChoices& c) {
  if (largest.blocks.empty()) throw InputError("supernetFromModel: model '" + largest.name + "' has no blocks");
  if (largest.height != largest.width)
    throw InputError("supernetFromModel: model '" + largest.name + "' has a non-square input; resolutions are square");
  SupernetDef d;
  d.name = largest.name;
  d.inChannels = largest.inChannels;
  d.numClasses = largest.numClasses;
  d.resolutionChoices = c.resolutions.empty() ? std::vector<int>{largest.height} : c.resolutions;
  std::vector<double> mults = c.widthMults.empty() ? std::vector<double>{1.0} : c.widthMults;
  auto widths = [&](int out) {
    std::vector<int> v;
    for (double m : mults) v.push_back(m == 1.0 ? out : nn::makeDivisible(out * m));
    return v;
  };
  d.stemOutChoices = widths(largest.stemOut);
  d.stemKernel = largest.stemKernel;
  d.stemStride = largest.stemStride;
  d.stemAct = largest.stemAct;
  d.headOutChoices = largest.headOut > 0 ? widths(largest.headOut) : std::vector<int>{0};
  d.headAct = largest.headAct;
  d.dropout = largest.dropout;
  std::vector<int> reductions = c.depthReductions.empty() ? std::vector<int>{0} : c.depthReductions;
  size_t i = 0;
  while (i < largest.blocks.size()) {
    const nn::BlockSpec& first = largest.blocks[i];
    size_t j = i + 1;
    while (j < largest.blocks.size() && largest.blocks[j].stride == 1 && largest.blocks[j].type == first.type &&
           largest.blocks[j].out == first.out)
      ++j;
    SupernetStage st;
    st.types = {first.type};
    st.stride = first.stride;
    st.act = first.act;
    st.outChoices = widths(first.out);
    int kMax = 0, eMax = 0;
    for (size_t b = i; b < j; ++b) {
      kMax = std::max(kMax, largest.blocks[b].kernel);
      eMax = std::max(eMax, largest.blocks[b].expand);
      st.seAllowed = st.seAllowed || largest.blocks[b].se;
    }
    st.kernelChoices = c.kernels.empty() ? std::vector<int>{kMax} : c.kernels;
    st.expandChoices = c.expands.empty() ? std::vector<int>{eMax} : c.expands;
    const int depth = (int)(j - i);
    st.depthChoices.clear();
    for (int r : reductions) st.depthChoices.push_back(std::max(1, depth - r));
    d.stages.push_back(st);
    i = j;
  }
  d.normalize();
  return d;
}

std::string subnetKey(const ModelDef& s) {
  std::ostringstream o;
  o << "in=" << s.inChannels << "x" << s.height << "x" << s.width << ";classes=" << s.numClasses << ";stem=" << s.stemOut
    << "/" << s.stemKernel << "/" << s.stemStride << "/" << ops::actName(s.stemAct) << ";blocks=";
  for (const auto& b : s.blocks)
    o << b.type << "/" << b.out << "/" << b.kernel << "/" << b.stride << "/" << b.expand << "/" << b.se << "/"
      << ops::actName(b.act) << ",";
  o << ";head=" << s.headOut << "/" << ops::actName(s.headAct);
  return o.str();
}

namespace {

// Why block `b` cannot be block `index` of stage `st` ("" when it can).
std::string blockMismatch(const SupernetStage& st, int index, const nn::BlockSpec& b) {
  const int stride = index == 0 ? st.stride : 1;
  if (std::find(st.types.begin(), st.types.end(), b.type) == st.types.end()) return "type '" + b.type + "' not allowed";
  if (b.stride != stride) return "stride " + std::to_string(b.stride) + " (the stage needs " + std::to_string(stride) + ")";
  if (!contains(st.outChoices, b.out)) return "out " + std::to_string(b.out) + " not in " + listText(st.outChoices);
  if (!contains(st.kernelChoices, b.kernel))
    return "kernel " + std::to_string(b.kernel) + " not in " + listText(st.kernelChoices);
  if (b.type != "conv" && !contains(st.expandChoices, b.expand))
    return "expand " + std::to_string(b.expand) + " not in " + listText(st.expandChoices);
  if (b.se && b.type != "conv" && !st.seAllowed) return "squeeze-excite not allowed";
  return "";
}

bool assign(const SupernetDef& def, const ModelDef& sub, size_t stage, size_t pos, std::vector<int>& depths,
            std::string& deepestWhy, size_t& deepestPos) {
  if (stage == def.stages.size()) return pos == sub.blocks.size();
  const SupernetStage& st = def.stages[stage];
  for (auto it = st.depthChoices.rbegin(); it != st.depthChoices.rend(); ++it) {
    const int d = *it;
    if (pos + d > sub.blocks.size()) continue;
    bool ok = true;
    for (int i = 0; i < d && ok; ++i) {
      std::string why = blockMismatch(st, i, sub.blocks[pos + i]);
      if (!why.empty()) {
        ok = false;
        if (pos + i >= deepestPos) {
          deepestPos = pos + i;
          deepestWhy = "block " + std::to_string(pos + i) + " as block " + std::to_string(i) + " of stage " +
                       std::to_string(stage) + ": " + why;
        }
      }
    }
    if (!ok) continue;
    depths.push_back(d);
    if (assign(def, sub, stage + 1, pos + d, depths, deepestWhy, deepestPos)) return true;
    depths.pop_back();
  }
  return false;
}

}  // namespace

SubnetPlan resolveSubnet(const SupernetDef& def, const ModelDef& sub) {
  const std::string who = "subnet '" + sub.name + "' of supernet '" + def.name + "': ";
  if (sub.inChannels != def.inChannels)
    throw InputError(who + "input channels " + std::to_string(sub.inChannels) + ", the supernet has " +
                     std::to_string(def.inChannels));
  if (sub.numClasses != def.numClasses)
    throw InputError(who + "classes " + std::to_string(sub.numClasses) + ", the supernet has " +
                     std::to_string(def.numClasses));
  if (sub.stemKernel != def.stemKernel || sub.stemStride != def.stemStride)
    throw InputError(who + "the stem kernel and stride are not elastic (supernet: kernel " +
                     std::to_string(def.stemKernel) + ", stride " + std::to_string(def.stemStride) + ")");
  if (!contains(def.stemOutChoices, sub.stemOut))
    throw InputError(who + "stem out " + std::to_string(sub.stemOut) + " not in " + listText(def.stemOutChoices));
  if (!contains(def.headOutChoices, sub.headOut))
    throw InputError(who + "head out " + std::to_string(sub.headOut) + " not in " + listText(def.headOutChoices));
  SubnetPlan plan;
  std::string why = "it has fewer blocks than the stages' smallest depths";
  size_t deepest = 0;
  if (!assign(def, sub, 0, 0, plan.stageDepths, why, deepest))
    throw InputError(who + "its " + std::to_string(sub.blocks.size()) +
                     " blocks cannot be split into the supernet's stages; deepest failure: " + why);
  int cin = sub.stemOut;
  size_t pos = 0;
  for (size_t s = 0; s < plan.stageDepths.size(); ++s)
    for (int i = 0; i < plan.stageDepths[s]; ++i, ++pos) {
      SubnetPlan::Block b;
      b.stage = (int)s;
      b.index = i;
      b.cin = cin;
      b.spec = sub.blocks[pos];
      plan.blocks.push_back(b);
      cin = b.spec.out;
    }
  return plan;
}

}  // namespace hwnas
