#include "exporter/fold_bn.h"

#include <cmath>

#include "core/error.h"
#include "exporter/pass.h"

namespace hwnas {

FoldBnResult foldBatchNorm(const ExportModel& model) {
  const Graph& g = model.graph;
  FoldBnResult r;
  r.model.name = model.name;
  // bnOf[layer] = the batchnorm folded into it; foldedInto[bn] = its layer.
  std::vector<int> bnOf(g.size(), -1), foldedInto(g.size(), -1);
  for (const Node& n : g.nodes()) {
    if (n.kind != OpKind::BatchNorm) continue;
    const Node& p = g.node(n.inputs[0]);
    if ((p.kind == OpKind::Conv2d || p.kind == OpKind::Linear) && g.consumers(p.id).size() == 1) {
      bnOf[size_t(p.id)] = n.id;
      foldedInto[size_t(n.id)] = p.id;
      ++r.folded;
    } else {
      ++r.kept;
    }
  }
  std::vector<int> remap(g.size(), -1);
  WeightMap& w = r.model.weights;
  for (const Node& n : g.nodes()) {
    if (foldedInto[size_t(n.id)] >= 0) {  // the layer's output now is the BN's output
      remap[size_t(n.id)] = remap[size_t(foldedInto[size_t(n.id)])];
      continue;
    }
    const int bn = bnOf[size_t(n.id)];
    if (bn < 0) {
      remap[size_t(n.id)] = copyNode(r.model.graph, n, remap);
      for (const char* suffix : {".weight", ".bias", ".running_mean", ".running_var", ".reduce.weight",
                                 ".reduce.bias", ".expand.weight", ".expand.bias"}) {
        auto it = model.weights.find(n.name + suffix);
        if (it != model.weights.end()) w[it->first] = it->second;
      }
      continue;
    }
    const Node& b = g.node(bn);
    const int64_t channels = n.attrs.outChannels;
    const WeightTensor& wt = requireWeight(model.weights, "fold_bn", n, ".weight");
    if (channels <= 0 || int64_t(wt.values.size()) % channels != 0)
      throw InputError("fold_bn: weight '" + n.name + ".weight' has " + std::to_string(wt.values.size()) +
                       " values, not a multiple of the " + std::to_string(channels) + " output channels");
    const auto& gamma = requireWeight(model.weights, "fold_bn", b, ".weight", channels).values;
    const auto& beta = requireWeight(model.weights, "fold_bn", b, ".bias", channels).values;
    const auto& mean = requireWeight(model.weights, "fold_bn", b, ".running_mean", channels).values;
    const auto& var = requireWeight(model.weights, "fold_bn", b, ".running_var", channels).values;
    WeightTensor nw = wt;
    WeightTensor nb;
    nb.shape = {channels};
    if (n.attrs.bias) nb.values = requireWeight(model.weights, "fold_bn", n, ".bias", channels).values;
    foldBatchNormInto(nw.values, nb.values, gamma, beta, mean, var, b.attrs.eps, channels);
    Node copy = n;
    copy.attrs.bias = true;
    remap[size_t(n.id)] = copyNode(r.model.graph, copy, remap);
    w[n.name + ".weight"] = std::move(nw);
    w[n.name + ".bias"] = std::move(nb);
  }
  return r;
}

}  // namespace hwnas
