// MbconvSpace: a MobileNet-family space from YAML with two levels. Macro: input resolution,
// width multiplier (integer percent), stem, stages (stride, max blocks, depth choices, output
// channel choices), head. Micro: per-block type (mbconv | fused_mbconv | conv | skip), kernel,
// expansion, squeeze-excite, activation; each either shared by a stage or chosen per block.
// Invariant: after construction every choice list is non-empty, ints sorted ascending and
// unique, kernels odd, depths <= blocks, and the stride product fits the smallest resolution.
//
// The YAML (see README.md, "Search space YAML"; configs/spaces/fmnist_small.yaml, ofa_mbv3.yaml):
//
//   kind: mbconv
//   name: fmnist_small
//   input: {channels: 1, classes: 10}
//   macro:
//     resolution: [28]            # square input sizes
//     width: [75, 100]            # width multiplier in percent: channels -> makeDivisible(c * w / 100, 8)
//     stem: {out: 16, kernel: 3, stride: 1, act: relu6}
//     stages:                      # each: stride of its first block, blocks (max), depth, out
//       - {stride: 2, blocks: 3, depth: [1, 2, 3], out: [16, 24]}
//       - {stride: 2, blocks: 3, depth: [1, 2, 3], out: [32, 40], kernel: [5], share: [kernel]}
//     head: {out: 256, act: relu6, dropout: 0.0}   # out 0: no head conv
//   micro:                         # defaults for every stage; a stage may override any key
//     type: [mbconv]               # mbconv | fused_mbconv | conv | skip (skip: block left out)
//     kernel: [3, 5]
//     expand: [2, 4, 6]
//     se: [false, true]
//     act: [relu6]
//     share: [se]                  # dims chosen once per stage; the others are chosen per block
//
// Any choice key takes a scalar (one choice) or a list. Elastic depth keeps the first `depth`
// blocks of a stage. The first block of a stage carries its stride and channel change, so it
// is never a skip; `type` with `skip` must therefore be chosen per block (not shared).
//
// An architecture (ArchConfig) lists only the decisions with more than one choice:
//   {"resolution": 28, "width": 100,
//    "stages": [{"depth": 2, "out": 24, "se": false,
//                "blocks": [{"kernel": 3, "expand": 4}, {"kernel": 5, "expand": 2}]}, ...]}
// "stages" always has one object per stage; "blocks" (present when some per-block dim has
// several choices) has exactly `depth` entries.
#pragma once
#include <array>
#include <string>
#include <vector>

#include "core/yaml_util.h"
#include "search_spaces/big_uint.h"
#include "search_spaces/search_space.h"
#include "trainer/model_def.h"

namespace hwnas {

// The micro-level dimensions, in the order they are drawn and listed.
enum class MicroDim : int { Type = 0, Kernel, Expand, Se, Act, Count };
constexpr int kMicroDims = int(MicroDim::Count);
const char* microDimName(MicroDim d);  // "type", "kernel", "expand", "se", "act"

struct MbconvStage {
  int stride = 1;
  int blocks = 1;                 // max blocks; depth choices are <= blocks
  std::vector<int> depth;         // sorted ascending, unique, each in [1, blocks]
  std::vector<int> out;           // output channels before the width multiplier
  // Choices per micro dim: ints for kernel/expand, booleans for se, strings for type/act (in
  // the YAML's order, taken as smallest to largest).
  std::array<std::vector<Json>, kMicroDims> micro;
  std::array<bool, kMicroDims> shared{};  // chosen once per stage instead of per block
};

class MbconvSpace : public SearchSpace {
 public:
  // Parses a `kind: mbconv` space; ConfigError with file:line:col and key path on any mistake.
  explicit MbconvSpace(const YamlNode& root);

  std::string kind() const override { return "mbconv"; }
  const std::string& name() const override { return name_; }
  Json definition() const override;
  Json choices() const override;
  void validate(const ArchConfig& arch) const override;
  ArchConfig sample(Rng& rng) const override;
  ArchConfig mutate(const ArchConfig& arch, double prob, Rng& rng) const override;
  ArchConfig crossover(const ArchConfig& a, const ArchConfig& b, Rng& rng) const override;
  std::string cardinality() const override { return (cardinality_ * BigUInt(resolution_.size())).toString(); }
  // The number of distinct networks, not counting the input-resolution choice (OFA's
  // "more than 10^19 sub-networks" counts these).
  std::string cardinalityPerResolution() const { return cardinality_.toString(); }
  void enumerate(const std::function<bool(const ArchConfig&)>& fn) const override;
  ArchConfig largest() const override;
  ArchConfig smallest() const override;
  // In the order buildArch draws them: resolution, width, then per stage depth, out, the
  // shared micro dims, and per block (all `blocks` of the stage, not only `depth`) its dims.
  std::vector<DecisionSlot> decisionSlots() const override;
  std::vector<int> decisionIndices(const ArchConfig& arch) const override;
  Graph toGraph(const ArchConfig& arch) const override;
  // A block's op keys depend only on the input resolution, the width, its stage's and the
  // previous stage's output channels and its own micro choices (incl. its stage's shared ones);
  // the head's on the last stage's out. So the cover is: every resolution x width x a set of
  // stage-out vectors holding every adjacent pair of stages' outs (all of them when there are
  // at most 512, else a greedy pairwise cover) x T networks at full depth in which block i of
  // stage s takes micro combination t mod (its count), so every block meets each of its own.
  std::vector<ArchConfig> keyCoveringArchs() const override;

  // The standalone network of `arch` (validated first): skip blocks are left out, elastic depth
  // keeps the first `depth` blocks of each stage, the width multiplier scales stem, stage and
  // head channels with makeDivisible(c * width / 100, 8). The bridge to the trainer and supernet.
  ModelDef toModelDef(const ArchConfig& arch) const;

  // The parsed definition, for the supernet and encoders.
  int inChannels() const { return inChannels_; }
  int numClasses() const { return numClasses_; }
  const std::vector<int>& resolutions() const { return resolution_; }
  const std::vector<int>& widths() const { return width_; }
  const std::vector<MbconvStage>& stages() const { return stages_; }
  int stemOut() const { return stemOut_; }
  int stemKernel() const { return stemKernel_; }
  int stemStride() const { return stemStride_; }
  ops::Act stemAct() const { return stemAct_; }
  int headOut() const { return headOut_; }
  ops::Act headAct() const { return headAct_; }
  double dropout() const { return dropout_; }
  // Choices of micro dim `d` for block `index` of `stage` (the first block never offers skip).
  const std::vector<Json>& blockChoices(int stage, MicroDim d, int index) const;
  // makeDivisible(channels * width / 100, 8), or channels itself at width 100.
  static int scaleChannels(int channels, int widthPercent);

 private:
  using Chooser = std::function<Json(const std::vector<Json>& choices)>;
  Json buildArch(const Chooser& choose) const;
  Json buildBlock(int stage, int index, const Chooser& choose) const;
  bool stageHasBlocks(int stage) const;
  std::vector<MicroDim> blockDims(int stage, int index) const;  // per-block dims with > 1 choice
  std::vector<Json> stageVariants(int stage) const;
  BigUInt computeCardinality() const;

  std::string name_;
  int inChannels_ = 3, numClasses_ = 10;
  std::vector<int> resolution_, width_;
  int stemOut_ = 16, stemKernel_ = 3, stemStride_ = 1;
  ops::Act stemAct_ = ops::Act::ReLU6;
  std::vector<MbconvStage> stages_;
  std::vector<std::vector<Json>> firstTypeChoices_;  // per stage: type choices without skip
  int headOut_ = 0;
  ops::Act headAct_ = ops::Act::ReLU6;
  double dropout_ = 0.0;
  BigUInt cardinality_;  // without the resolution factor
};

}  // namespace hwnas
