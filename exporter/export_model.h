// ExportModel: what the exporter works on, a network as a core Graph (batch 1) plus its
// weights by node name. Every pass maps an ExportModel to a new one; backends write files.
#pragma once
#include <string>

#include "core/graph.h"
#include "core/lower.h"

namespace hwnas {

struct ExportModel {
  std::string name = "model";
  Graph graph;
  WeightMap weights;
};

}  // namespace hwnas
