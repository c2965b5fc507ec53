// weightMapOf: a trainer Module's parameters and buffers as a core WeightMap (copied), keyed
// by the same dotted names as the module's toGraph() node names plus ".weight", ".bias", ...
// so lower(module.toGraph(), weightMapOf(module)) gives a runnable plan.
#pragma once
#include "core/lower.h"
#include "trainer/nn.h"

namespace hwnas {

WeightMap weightMapOf(const nn::Module& module);

}  // namespace hwnas
