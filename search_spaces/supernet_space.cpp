#include "search_spaces/supernet_space.h"

#include <algorithm>
#include <set>

#include "core/error.h"

namespace hwnas {

namespace {

bool offers(const std::vector<Json>& choices, const Json& v) {
  return std::find(choices.begin(), choices.end(), v) != choices.end();
}

std::vector<int> ints(const std::vector<Json>& choices) {
  std::vector<int> v;
  for (const Json& c : choices) v.push_back(c.get<int>());
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

std::vector<int> scaled(int channels, const std::vector<int>& widths) {
  std::set<int> s;
  for (int w : widths) s.insert(MbconvSpace::scaleChannels(channels, w));
  return {s.begin(), s.end()};
}

}  // namespace

SupernetDef supernetFromSpace(const MbconvSpace& space) {
  SupernetDef d;
  d.name = space.name();
  d.inChannels = space.inChannels();
  d.numClasses = space.numClasses();
  d.resolutionChoices = space.resolutions();
  d.stemOutChoices = scaled(space.stemOut(), space.widths());
  d.stemKernel = space.stemKernel();
  d.stemStride = space.stemStride();
  d.stemAct = space.stemAct();
  d.headOutChoices = space.headOut() > 0 ? scaled(space.headOut(), space.widths()) : std::vector<int>{0};
  d.headAct = space.headAct();
  d.dropout = space.dropout();
  const auto& stages = space.stages();
  for (int si = 0; si < (int)stages.size(); ++si) {
    const MbconvStage& s = stages[si];
    SupernetStage st;
    st.stride = s.stride;
    std::set<int> outs;
    for (int o : s.out)
      for (int c : scaled(o, space.widths())) outs.insert(c);
    st.outChoices.assign(outs.begin(), outs.end());
    st.kernelChoices = ints(s.micro[int(MicroDim::Kernel)]);
    st.expandChoices = ints(s.micro[int(MicroDim::Expand)]);
    st.seAllowed = offers(s.micro[int(MicroDim::Se)], true);
    st.act = ops::actFromName(s.micro[int(MicroDim::Act)].back().get<std::string>());
    st.types.clear();
    bool skip = false;
    for (const Json& t : s.micro[int(MicroDim::Type)]) {
      if (t == "skip")
        skip = true;
      else
        st.types.push_back(t.get<std::string>());
    }
    if (skip) {
      st.depthChoices.clear();
      for (int k = 1; k <= s.depth.back(); ++k) st.depthChoices.push_back(k);
    } else {
      st.depthChoices = s.depth;
    }
    d.stages.push_back(st);
  }
  d.normalize();
  return d;
}

SubnetSampler spaceSampler(const MbconvSpace& space) {
  SubnetSampler s;
  s.largest = space.toModelDef(space.largest());
  s.largest.name = space.name() + "-largest";
  s.smallest = space.toModelDef(space.smallest());
  s.smallest.name = space.name() + "-smallest";
  const MbconvSpace* sp = &space;  // the space outlives the sampler (documented in the header)
  s.sample = [sp](Rng& rng) { return sp->toModelDef(sp->sample(rng)); };
  return s;
}

std::vector<int> keptBlocksPerStage(const MbconvSpace& space, const ArchConfig& arch) {
  space.validate(arch);
  const Json& a = arch.json();
  std::vector<int> kept;
  const auto& stages = space.stages();
  for (int si = 0; si < (int)stages.size(); ++si) {
    const MbconvStage& s = stages[si];
    const Json& o = a["stages"][si];
    const int depth = s.depth.size() > 1 ? o["depth"].get<int>() : s.depth.front();
    const auto& typeChoices = s.micro[int(MicroDim::Type)];
    int n = 0;
    for (int i = 0; i < depth; ++i) {
      Json type;
      if (s.shared[int(MicroDim::Type)])
        type = typeChoices.size() > 1 ? o["type"] : typeChoices.front();
      else {
        const auto& c = space.blockChoices(si, MicroDim::Type, i);
        type = c.size() > 1 ? o["blocks"][i]["type"] : c.front();
      }
      n += type != "skip";
    }
    kept.push_back(n);
  }
  return kept;
}

}  // namespace hwnas
