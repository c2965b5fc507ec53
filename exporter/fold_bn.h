// foldBatchNorm: the Graph -> Graph pass that folds every batchnorm whose producer is a conv2d or
// linear it is the sole consumer of into that layer (weight * gamma / sqrt(var + eps), bias
// beta + (bias - mean) * gamma / sqrt(var + eps); the layer gains a bias). Invariant: the folded
// model computes the same function as the input (in inference mode); batchnorms it cannot fold
// (after an add, a pool, a layer with other consumers) are kept unchanged.
// The arithmetic is core's foldBatchNormInto (core/lower.h), the same call the lowering makes.
#pragma once
#include "exporter/export_model.h"

namespace hwnas {

struct FoldBnResult {
  ExportModel model;
  int folded = 0;  // batchnorm nodes folded away
  int kept = 0;    // batchnorm nodes left (no foldable producer)
};

// InputError naming node and weight when a weight is missing or mis-shaped.
FoldBnResult foldBatchNorm(const ExportModel& model);

}  // namespace hwnas
