// Pruning passes. Unstructured magnitude pruning zeroes the smallest-magnitude weights of conv2d
// and linear layers (one threshold for all of them, or the same sparsity in each layer) and
// returns the masks, so fine-tuning keeps them zero (GraphModule::setWeightMask). Structured
// channel pruning removes whole output channels ranked by the L1 norm of their filters or by
// |BN gamma|, dependency-aware: tensors whose channels must agree (joined by residual adds or a
// channel-broadcast mul; passed through BN, activations, depthwise convs, pools, squeeze-excite)
// form one channel group that is pruned by one index set or left alone. Groups touching a graph
// input or output, a concat or a grouped (non-depthwise) conv are left alone.
// Invariant: the result is a smaller, valid Graph with sliced weights; keeping every channel
// reproduces the input exactly.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "exporter/export_model.h"

namespace hwnas {

struct MagnitudePruneOptions {
  double sparsity = 0.5;          // fraction of weights zeroed, in [0, 1)
  bool global = true;             // one threshold over all layers; false: per layer
  bool includeDepthwise = false;  // depthwise filters are tiny; off by default
};

struct MagnitudePruneResult {
  ExportModel model;
  std::map<std::string, std::vector<float>> masks;  // weight name -> 0/1 mask (same size)
  int64_t prunable = 0, zeroed = 0;
};

// InputError for a sparsity outside [0, 1).
MagnitudePruneResult pruneMagnitude(const ExportModel& model, const MagnitudePruneOptions& options);

struct ChannelPruneOptions {
  std::string importance = "l1";  // "l1" (filter L1 norm) | "bn_gamma" (|gamma| of the BN after the producer)
  double sparsity = 0.5;          // fraction of each group's channels removed (at least one kept)
  bool global = false;            // true: one threshold over importances normalised per group
};

// One channel group: the tensors that share a channel index space.
struct ChannelGroup {
  std::vector<std::string> producers;  // conv2d / linear nodes that write its channels
  int64_t channels = 0;
  int64_t kept = 0;
  bool prunable = true;
  std::string reason;  // why it is left alone
};

struct ChannelPruneResult {
  ExportModel model;
  std::vector<ChannelGroup> groups;
  int64_t channelsBefore = 0, channelsAfter = 0;  // over prunable groups
};

// The channel groups of g (analysis only; kept == channels).
std::vector<ChannelGroup> channelGroups(const Graph& g);

// InputError for an unknown importance or a sparsity outside [0, 1).
ChannelPruneResult pruneChannels(const ExportModel& model, const ChannelPruneOptions& options);

}  // namespace hwnas
