#include "exporter/pass.h"

#include "core/error.h"

namespace hwnas {

int copyNode(Graph& out, const Node& n, const std::vector<int>& remap, const std::string& name) {
  std::vector<int> inputs;
  inputs.reserve(n.inputs.size());
  for (int i : n.inputs) {
    if (i < 0 || size_t(i) >= remap.size() || remap[size_t(i)] < 0)
      throw Error("copyNode: input " + std::to_string(i) + " of node '" + n.name + "' has no copy yet");
    inputs.push_back(remap[size_t(i)]);
  }
  return out.addNode(name.empty() ? n.name : name, n.kind, inputs, n.attrs);
}

const WeightTensor& requireWeight(const WeightMap& weights, const std::string& pass, const Node& node,
                                  const std::string& suffix, int64_t expectedCount) {
  const std::string key = node.name + suffix;
  auto it = weights.find(key);
  if (it == weights.end())
    throw InputError(pass + ": weight '" + key + "' of " + opKindName(node.kind) + " node '" + node.name +
                     "' is missing; check that the weights belong to this graph");
  if (expectedCount >= 0 && int64_t(it->second.values.size()) != expectedCount)
    throw InputError(pass + ": weight '" + key + "' has " + std::to_string(it->second.values.size()) +
                     " values, node '" + node.name + "' needs " + std::to_string(expectedCount));
  return it->second;
}

Graph withBatch(const Graph& g, int64_t batch) {
  Graph out;
  std::vector<int> remap(g.size(), -1);
  for (const Node& n : g.nodes()) {
    if (n.kind == OpKind::Input) {
      Shape s = n.attrs.shape;
      if (!s.empty()) s[0] = batch;
      remap[size_t(n.id)] = out.addInput(n.name, s);
    } else {
      remap[size_t(n.id)] = copyNode(out, n, remap);
    }
  }
  return out;
}

}  // namespace hwnas
