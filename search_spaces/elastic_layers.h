// Elastic layers of the weight-sharing supernet: weights stored at their largest shape, and a
// subnet's layer taken as the leading channels (width, expansion) and the centre taps, mapped
// by OFA's learned kernel transformation (elastic kernel). Invariant: a forward pass reads
// the shared weights and never writes them or any other shared state (BN statistics are
// either the batch's, or given per subnet in a BnStats).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/rng.h"
#include "trainer/nn.h"

namespace hwnas {

// Per-subnet BN running statistics, keyed by the standalone model's BN name
// ("stem.bn", "blocks.2.depthwise.bn", "head.bn"). `key` is subnetKey() of the subnet.
struct BnStats {
  struct Layer {
    Tensor mean, var;
  };
  std::string key;
  int64_t images = 0;  // how many images the statistics were computed from
  std::map<std::string, Layer> layers;
};

namespace elastic {

enum class BnMode {
  Batch,      // normalise with the batch statistics (training)
  Stats,      // normalise with the given BnStats (evaluation)
  Calibrate,  // normalise with the batch statistics and add them to the accumulator
};

// Per-channel sums of batch means and biased variances, weighted by batch size.
struct BnAccumulator {
  std::vector<double> meanSum, varSum;
  int64_t count = 0;
};

struct ForwardContext {
  BnMode mode = BnMode::Batch;
  const BnStats* stats = nullptr;                       // Stats mode
  std::map<std::string, BnAccumulator>* calib = nullptr;  // Calibrate mode
  std::map<std::string, Tensor>* capture = nullptr;     // when set: the effective weights by standalone name
};

// A convolution (optionally depthwise) followed by BN (no conv bias), with elastic in/out
// channels and elastic kernel. transforms[i] ([k_i^2, k_i^2], identity at start) maps the centre
// kernels[i] x kernels[i] of the next larger kernel to the kernels[i] kernel.
class ElasticConvBn : public nn::Module {
 public:
  ElasticConvBn(int maxIn, int maxOut, std::vector<int> kernels, bool depthwise, Rng& rng);
  Variable forward(const Variable& x) override;  // throws: the shape must be given
  // The [out, in or 1, k, k] weight of a subnet layer (differentiable in the shared weights).
  Variable effectiveWeight(int in, int out, int kernel) const;
  // act(bn(conv(x))) with `out` output channels (depthwise: out == x's channels). `name` is the
  // standalone model's prefix ("blocks.3.depthwise"), used for BnStats and capture.
  Variable forward(const Variable& x, int out, int kernel, int stride, ops::Act act, const std::string& name,
                   ForwardContext& ctx) const;
  // New channel i = old channel perm[i], for the outputs (weight rows, BN) or the inputs.
  void permuteOutputs(const std::vector<int64_t>& perm);
  void permuteInputs(const std::vector<int64_t>& perm);

  Variable weight, gamma, beta;
  std::vector<Variable> transforms;
  std::vector<int> kernels;  // ascending
  bool depthwise;
  int maxIn, maxOut;
  float eps = 1e-5f;
};

// Squeeze-excite over the leading c channels: reduced width makeDivisible(c / 4), as nn::MBConv.
class ElasticSqueezeExcite : public nn::Module {
 public:
  ElasticSqueezeExcite(int maxChannels, Rng& rng);
  Variable forward(const Variable& x) override;  // throws
  Variable forward(const Variable& x, const std::string& name, ForwardContext& ctx) const;
  void permuteChannels(const std::vector<int64_t>& perm);
  Variable reduceWeight, reduceBias, expandWeight, expandBias;
  int maxChannels, maxReduced;
};

// The classifier: Linear over the leading `in` features.
class ElasticLinear : public nn::Module {
 public:
  ElasticLinear(int maxIn, int out, Rng& rng);
  Variable forward(const Variable& x) override;  // uses x's feature count
  Variable forward(const Variable& x, const std::string& name, ForwardContext& ctx) const;
  Variable weight, bias;
};

// BatchNorm alone (+ activation) over the leading `c` channels, in the three BnModes; its
// BnStats entry is `name` itself ("lastact.bn"). Eval mode computes exactly what
// nn::BatchNorm2d::forwardAct does in eval mode.
class ElasticBatchNorm : public nn::Module {
 public:
  explicit ElasticBatchNorm(int maxChannels);
  Variable forward(const Variable& x) override;  // throws
  Variable forward(const Variable& x, ops::Act act, const std::string& name, ForwardContext& ctx) const;
  Variable gamma, beta;
  float eps = 1e-5f;
};

// Reorders the rows (dimension 0) or columns (dimension 1) of a tensor: new i = old perm[i].
void permuteDim(Tensor& t, int dim, const std::vector<int64_t>& perm);

}  // namespace elastic
}  // namespace hwnas
