// Low-rank decomposition passes. SVD splits a linear layer or a dense 1x1 conv (O x C) into two
// (C -> r, then r -> O with the original bias; the second keeps the layer's name so a following
// BN and activation still fuse). Tucker-2 splits a dense k x k conv into 1x1 C -> r1, k x k
// r1 -> r2 (the original stride, padding, dilation) and 1x1 r2 -> O, initialised by HOSVD of
// the weight's output and input modes. Depthwise and grouped convs are skipped. Ranks come from
// an energy fraction (sum of the kept squared singular values over all of them) or from a target
// whole-model MAC reduction (one energy for all layers, found by bisection). A layer whose
// decomposition would not save MACs is left as it is. Full rank reproduces the layer exactly.
#pragma once
#include <string>
#include <vector>

#include "exporter/export_model.h"

namespace hwnas {

struct LowRankOptions {
  std::string method = "svd";   // "svd" (linear, 1x1 conv) | "tucker2" (k x k conv, k > 1)
  double energy = 0;            // > 0: rank by this energy fraction in (0, 1]
  double macReduction = 0;      // > 0: whole-model MACs before / after >= this (> 1)
  std::vector<std::string> skip;  // node names left alone (e.g. the classifier)
  bool onlyIfFewerMacs = true;    // false: decompose even when it costs MACs (tests: full rank)
};

struct LowRankLayer {
  std::string node;
  int64_t fullRank = 0;
  int64_t rank = 0, rank2 = 0;  // svd: rank; tucker2: r1 (input mode), r2 (output mode)
  int64_t macsBefore = 0, macsAfter = 0;
};

struct LowRankResult {
  ExportModel model;
  std::vector<LowRankLayer> layers;  // the decomposed layers
  double energy = 0;                 // the energy used
};

// InputError for an unknown method, neither or both of energy / macReduction, or a target the
// model cannot reach (naming the best reduction possible).
LowRankResult decomposeLowRank(const ExportModel& model, const LowRankOptions& options);

}  // namespace hwnas
