// Pass: one Graph -> Graph compression step of a nas-export recipe (fold_bn, prune, lowrank,
// quantize, finetune). A pass maps an ExportModel to a new one and never changes its input;
// what it needs besides the model (data, seed, the teacher) comes in a PassContext.
// Also the small graph-editing helpers the passes share (copy a node with remapped inputs,
// weight look-up with clear errors).
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/quant_spec.h"
#include "exporter/export_model.h"

namespace hwnas {

// Appends a copy of `n` to `out` reading remap[input] for each of its inputs; returns the new id.
// `name` replaces the node's name when not empty. Attributes are copied as they are.
int copyNode(Graph& out, const Node& n, const std::vector<int>& remap, const std::string& name = "");

// The weight `node.suffix` of `weights`; InputError "<pass>: weight 'x.weight' of node 'x' is
// missing" when absent, or when `expectedCount` >= 0 and its value count differs.
const WeightTensor& requireWeight(const WeightMap& weights, const std::string& pass, const Node& node,
                                  const std::string& suffix, int64_t expectedCount = -1);

// A copy of g whose input batch is `batch` (every node re-added, shapes re-inferred).
Graph withBatch(const Graph& g, int64_t batch);

}  // namespace hwnas
