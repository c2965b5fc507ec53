// GraphModule: a trainable nn::Module made from any core Graph + WeightMap (a nas-train model,
// an ONNX import, the output of a compression pass), so such models can be fine-tuned, pruned
// (weight masks) and trained quantization-aware (fake quant) with the trainer's autograd ops.
//
// Invariants: parameters and buffers are registered under the WeightMap's names (node name +
// ".weight", ".bias", ".running_mean", ".running_var"; squeeze-excite S: S.reduce.weight/bias,
// S.expand.weight/bias), in node order, so weightMapOf(gm) returns the (updated) weights with
// the same keys and shapes (a shape that differs from the canonical one only by trailing ones
// is accepted and stored canonically). forward() runs the graph for any batch size; the other
// dimensions must match the graph's input. Masked weight entries are zero in the forward and
// get zero gradient, so they stay zero through SGD / AdamW steps (applyMasks() re-zeroes them
// anyway). Weights are the only state in the WeightMap: fake-quant observers are not buffers.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/graph.h"
#include "core/lower.h"
#include "core/quant_spec.h"
#include "trainer/nn.h"

namespace hwnas {

// Fake quantization (quantize -> dequantize in f32) with a straight-through estimator, the
// building blocks of QAT. Rounding is to nearest, ties to even (std::nearbyint), as PyTorch.
namespace qat {

// Symmetric int8 per output channel (dim 0): scale[c] = max|w[c,...]| / 127 (a zero channel
// gets scale 1), q = clamp(round(w / s), -127, 127), out = q * s. Gradient passes unchanged
// (the max-abs scale never clips).
std::vector<float> perChannelScales(const Tensor& w);
Variable fakeQuantWeight(const Variable& w);

// Asymmetric per-tensor int8 for activations: q = clamp(round(x / scale) + zeroPoint, -128, 127),
// out = (q - zeroPoint) * scale. Gradient passes where round(x / scale) + zeroPoint is inside
// [-128, 127] (not clipped) and is zero where it was clipped.
Variable fakeQuantActivation(const Variable& x, float scale, int32_t zeroPoint);

// An EMA min/max observer of one tensor.
struct Observer {
  bool seen = false;
  float min = 0.f, max = 0.f;
  // First batch: min/max of the batch; later: min = (1 - momentum) * min + momentum * batchMin.
  void observe(const Tensor& x, float momentum);
  // The int8 parameters of [min(min, 0), max(max, 0)] mapped onto [-128, 127]:
  // scale = (max - min) / 255 (1 when the range is empty), zeroPoint = clamp(round(-128 - min / scale)).
  float scale() const;
  int32_t zeroPoint() const;
};

}  // namespace qat

struct FakeQuantOptions {
  // conv2d / linear node names to quantize; empty: every conv2d and linear node. A name that
  // is not a conv2d or linear node is an InputError.
  std::vector<std::string> layers;
  float observerMomentum = 0.01f;  // EMA constant of the activation observers (PyTorch's default)
  // Fold a batchnorm that is the sole consumer of a quantized conv/linear into its weights
  // (w * gamma / sqrt(var + eps), bias beta + (b - mean) * gamma / sqrt(var + eps)) and fake-quant
  // the folded weights, as the int8 lowering will quantize them. The BN's running statistics
  // are then frozen (used as in eval mode); gamma and beta still train.
  bool foldBatchNorm = true;
};

class GraphModule : public nn::Module {
 public:
  // Copies the weights. InputError naming node and weight when one is missing or mis-shaped;
  // Error for quant/dequant nodes or a graph without exactly one input and one output.
  GraphModule(const Graph& graph, const WeightMap& weights);

  Variable forward(const Variable& x) override;
  // Appends the graph's nodes (names prefixed by `name`) reading node `input`; returns the output.
  int toGraph(Graph& g, int input, const std::string& name) const override;
  // The graph; batch > 0: the same graph with its input batch set to `batch`.
  Graph toGraph(int64_t batch = 0) const;
  const Graph& graph() const { return graph_; }

  // Unstructured pruning: `mask` (same shape as the parameter `weightName`, entries 0 or 1)
  // zeroes the masked entries now, in every forward and keeps their gradient zero.
  void setWeightMask(const std::string& weightName, const Tensor& mask);
  void clearWeightMasks();
  const std::map<std::string, Tensor>& weightMasks() const { return masks_; }
  void applyMasks();  // re-zeroes masked entries (after an optimizer step)

  // QAT: fake-quant the weights (per output channel) and the input activation (per tensor,
  // EMA observers updated in train mode, frozen in eval) of the chosen conv2d / linear nodes.
  // Observers start empty: the first forward in train mode initialises them (forward in eval
  // mode before that is an Error). Calling it again restarts the observers.
  void enableFakeQuant(const FakeQuantOptions& options = FakeQuantOptions());
  void disableFakeQuant();
  bool fakeQuantEnabled() const { return !fq_.empty(); }
  // The learned QuantSpec (calibration "qat"): per layer the weight scales of the (folded)
  // weights now, the input observer's scale / zero point and the output observer's (the
  // observer on the layer's fused output: after a following BN and act as lower() fuses them;
  // when that tensor is another quantized layer's input, the same observer). Error when fake
  // quant is off or an observer has seen no data.
  QuantSpec quantSpec() const;

 private:
  struct NodeWeights {
    Variable weight, bias;                   // conv2d / linear / batchnorm (gamma, beta) / se reduce
    Variable weight2, bias2;                 // se expand
    Tensor runningMean, runningVar;          // batchnorm
    std::string weightName, biasName, weight2Name, bias2Name;
  };
  struct QuantLayer {
    int bn = -1;          // folded batchnorm node, -1: none
    int outputNode = -1;  // the fused output (observer key)
  };
  Variable maskedParam(const Variable& p, const std::string& name) const;
  Variable convOrLinear(int id, const Variable& in);
  void checkObserved(int id, const std::string& what) const;
  Tensor foldedWeight(int id) const;  // the weight as fake-quant sees it (no grad)

  Graph graph_;
  std::vector<NodeWeights> w_;       // per node
  std::vector<int> lastUse_;         // per node: the last node reading it (release after)
  std::vector<int> bnActFuse_;       // per batchnorm node: its sole act consumer (fused), else -1
  std::map<std::string, Tensor> masks_;
  std::map<int, QuantLayer> fq_;     // quantized conv/linear node -> its plan
  std::map<int, qat::Observer> observers_;  // node id -> observer of that node's output
  std::vector<bool> foldedBn_;       // per node: a batchnorm folded into its producer (pass-through)
  float observerMomentum_ = 0.01f;
  int input_ = -1, output_ = -1;
};

}  // namespace hwnas
