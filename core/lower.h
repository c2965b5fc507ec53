// Lowering Graph -> runtime Plan: the one place where BN is folded, activations are fused and
// canonical op keys are made, used by the profiler, the latency model and the exporter alike,
// so a latency table's keys are exactly what runs. Invariant: plan op i's key describes the
// fused op the runtime executes (type, input shape, out channels, kernel, stride, groups,
// fused activation, dtype), e.g. "dwconv2d:in=1x96x14x14:k=5:s=2:act=relu6:f32".
//
// Fusion rules (a node is absorbed only when it is the single consumer of its producer):
//   conv2d [-> batchnorm] [-> act]   one conv op (BN folded into weights and bias)
//   linear [-> batchnorm] [-> act]   one linear op
//   batchnorm (alone, 4-D) [-> act]  a 1x1 depthwise conv (scale, shift)
//   add [-> act]                     one add op
//   flatten -> linear(s)             the linear reads its input as [N, features]; no op
//   act identity                     no op (the tensor is passed through)
// conv2d with groups = in = out channels and dilation 1 becomes "dwconv2d".
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/graph.h"
#include "core/quant_spec.h"
#include "runtime/plan.h"

namespace hwnas {

// A named weight tensor (shape + row-major values), the core-level form of a state dict.
struct WeightTensor {
  Shape shape;
  std::vector<float> values;
};
// Names as the Graph's node names + ".weight", ".bias", ".running_mean", ".running_var";
// a squeeze-excite node S reads S.reduce.weight/bias and S.expand.weight/bias.
using WeightMap = std::map<std::string, WeightTensor>;

// Folds a batch norm (gamma, beta, running mean and var, eps; `channels` entries each) into the
// producing conv/linear's weight (rows of weight.size() / channels values per output channel)
// and bias (resized to `channels` zeros if empty): w' = w s, b' = beta + (b - mean) s with
// s = gamma / sqrt(var + eps), in double. The one copy of this arithmetic: the lowering and the
// exporter's fold_bn pass both call it, so a folded Graph and a lowered plan agree bit for bit.
void foldBatchNormInto(std::vector<float>& weight, std::vector<float>& bias, const std::vector<float>& gamma,
                       const std::vector<float>& beta, const std::vector<float>& mean, const std::vector<float>& var,
                       double eps, int64_t channels);

// The plan for g with weights from `weights`. InputError naming node and weight when one is
// missing or mis-shaped; Error for ops the fp32 runtime cannot run (quant/dequant).
runtime::Plan lower(const Graph& g, const WeightMap& weights);

// The same plan's structure without weights (empty weight vectors): for op keys and memory.
runtime::Plan lowerStructure(const Graph& g);

// The canonical op key of each fused op, in execution order (= lowerStructure(g) op keys).
std::vector<std::string> opKeys(const Graph& g);

// Peak activation bytes as the runtime's memory planner lays them out for g's batch.
int64_t runtimePeakActivationBytes(const Graph& g);

// The Graph node each op of lower(g, ...) starts from (the conv of conv+bn+act), in op order.
std::vector<std::string> opSourceNodes(const Graph& g);

// Symmetric per-output-channel int8 scales max|w| / 127 of a [outChannels, ...] weight
// (1 for an all-zero channel).
std::vector<float> weightScalesOf(const std::vector<float>& weight, int64_t outChannels);

// The int8 plan of g: the fp32 lowering (BN folded, activations fused) first, then every
// conv / linear named in spec becomes an int8 op (weights round(w / scale) in [-127, 127],
// int32 bias round(b / (inputScale * scale)); empty weightScales in the spec: from max|w| of
// the folded weight), reading an i8 tensor with the layer's input scale / zero point and
// writing one with its output scale / zero point (the fused activation applied before
// rounding). Quantize / Dequantize ops go in at every f32 <-> i8 boundary (once per tensor);
// consecutive int8 layers chain without dequantizing; add (both inputs i8), maxpool, global
// avgpool and flatten stay int8 when their inputs are (an add writes the input parameters of
// an int8 layer that reads it, else the sum of its inputs' ranges; a global avgpool those of
// an int8 layer reading it, else its input's). Op keys end in ":i8" for ops that
// run on int8 data. InputError when the spec names a node that is not a conv / linear of g or
// has the wrong number of weight scales.
runtime::Plan lowerQuantized(const Graph& g, const WeightMap& weights, const QuantSpec& spec);

}  // namespace hwnas
