// SupernetDef: the largest network of an MBConv-family space as stages of elastic blocks
// (depth, kernel, expansion and width choices per stage), and SubnetPlan, a subnet ModelDef
// resolved against it. Invariant: every choice list is non-empty, sorted ascending and
// unique; a subnet resolves only when each of its blocks fits the stage it is assigned to.
#pragma once
#include <string>
#include <vector>

#include "core/rng.h"
#include "trainer/model_def.h"

namespace hwnas {

struct SupernetStage {
  std::vector<std::string> types = {"mbconv"};  // block types the stage allows (mbconv | fused_mbconv | conv)
  int stride = 1;                               // of the first block; the others have stride 1
  std::vector<int> depthChoices = {1};          // active blocks: the first d of the stage
  std::vector<int> outChoices = {16};           // per-block output channels (elastic width)
  std::vector<int> kernelChoices = {3};         // weights kept at the largest; smaller = transformed centre
  std::vector<int> expandChoices = {1};         // hidden channels = input channels x expand
  bool seAllowed = false;                       // blocks may switch squeeze-excite on
  ops::Act act = ops::Act::ReLU6;               // what largest()/smallest()/sample() use

  int maxDepth() const { return depthChoices.back(); }
  int maxOut() const { return outChoices.back(); }
  int maxKernel() const { return kernelChoices.back(); }
  int maxExpand() const { return expandChoices.back(); }
};

// Which dimensions sample() varies; the others stay at their maximum (progressive shrinking).
struct ElasticDims {
  bool kernel = true, depth = true, expand = true, width = true, resolution = true;
  static ElasticDims none() { return {false, false, false, false, false}; }
};

struct SupernetDef {
  std::string name = "supernet";
  int inChannels = 1, numClasses = 10;
  std::vector<int> resolutionChoices = {28};  // square inputs; the largest is the default
  std::vector<int> stemOutChoices = {16};
  int stemKernel = 3, stemStride = 1;
  ops::Act stemAct = ops::Act::ReLU6;
  std::vector<SupernetStage> stages;
  std::vector<int> headOutChoices = {0};  // {0}: no head conv
  ops::Act headAct = ops::Act::ReLU6;
  double dropout = 0.0;

  // Sorts and de-duplicates every choice list, then checks the invariant; InputError naming
  // the stage and field otherwise.
  void normalize();
  ModelDef largest() const;
  ModelDef smallest() const;  // every choice at its least, squeeze-excite off
  // A uniformly random subnet over the dimensions in `dims`: per-stage depth and width (all
  // blocks of a stage share the out channels), per-block kernel, expand, and with expand also
  // block type and squeeze-excite on/off; one resolution.
  ModelDef sample(Rng& rng, ElasticDims dims = {}) const;
};

// OFA-style choice sets applied to every stage of a largest model.
struct ElasticChoices {
  std::vector<int> kernels;          // empty: each stage keeps its largest block's kernel only
  std::vector<int> expands;          // empty: each stage keeps its own expand only
  std::vector<int> depthReductions;  // e.g. {0, 1, 2}: depths max, max-1, max-2 (at least 1); empty: {0}
  std::vector<double> widthMults;    // out choices makeDivisible(out * m); empty: {1.0}
  std::vector<int> resolutions;      // empty: the largest's height (width must equal height)
};

// Splits `largest`'s blocks into stages (a stage starts at a block with stride > 1, another
// type, or other out channels than the block before) and attaches the choice sets.
SupernetDef supernetFromModel(const ModelDef& largest, const ElasticChoices& choices);

// A subnet ModelDef resolved against a SupernetDef: which stage each block belongs to.
struct SubnetPlan {
  struct Block {
    int stage = 0, index = 0;  // index within the stage
    int cin = 0;               // input channels (the previous block's out, or the stem's)
    nn::BlockSpec spec;
  };
  std::vector<Block> blocks;
  std::vector<int> stageDepths;
};

// Assigns the subnet's blocks to stages: stages in order, each taking d consecutive blocks for
// a d in its depth choices (tried largest first; the first full assignment wins). InputError
// saying which block does not fit when no assignment exists, or when the stem, head, classes
// or input channels are not among the supernet's choices.
SubnetPlan resolveSubnet(const SupernetDef& def, const ModelDef& subnet);

// The structural text of a subnet (everything but its name and dropout): BnStats are keyed by it.
std::string subnetKey(const ModelDef& subnet);

}  // namespace hwnas
