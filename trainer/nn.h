// nn::Module and the layers the model builder uses. A Module owns named parameters
// (Variables that require a gradient), named buffers (e.g. BN running statistics) and named
// child modules; names are dotted paths ("blocks.0.expand.conv.weight") in registration order.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/graph.h"
#include "core/rng.h"
#include "trainer/autograd.h"
#include "trainer/ops.h"

namespace hwnas::nn {

class Module {
 public:
  virtual ~Module() = default;
  virtual Variable forward(const Variable& x) = 0;
  // Appends this module's ops to g, reading node `input`; returns the output node. Node names
  // are `name` + the module's own parts, so they match parameter names. Error if unsupported.
  virtual int toGraph(Graph& g, int input, const std::string& name) const;

  std::vector<std::pair<std::string, Variable>> namedParameters() const;
  std::vector<std::pair<std::string, Tensor>> namedBuffers() const;  // share storage with the module
  std::vector<Variable> parameters() const;
  int64_t numParameters() const;

  void train(bool on = true);
  void eval() { train(false); }
  bool isTraining() const { return training_; }

 protected:
  Variable registerParameter(const std::string& name, Tensor init);
  Tensor registerBuffer(const std::string& name, Tensor init);
  template <class M>
  std::shared_ptr<M> registerModule(const std::string& name, std::shared_ptr<M> m) {
    children_.emplace_back(name, m);
    return m;
  }

 private:
  void collect(const std::string& prefix, std::vector<std::pair<std::string, Variable>>* params,
               std::vector<std::pair<std::string, Tensor>>* buffers) const;
  std::vector<std::pair<std::string, Variable>> params_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;

 protected:
  static std::string join(const std::string& prefix, const std::string& part) {
    return prefix.empty() ? part : prefix + "." + part;
  }
};

using ModulePtr = std::shared_ptr<Module>;

// Weights initialised as PyTorch's defaults: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
class Conv2d : public Module {
 public:
  Conv2d(int cin, int cout, int kernel, int stride, int groups, bool bias, Rng& rng, int dilation = 1);
  Variable forward(const Variable& x) override;
  int toGraph(Graph& g, int input, const std::string& name) const override;
  const ops::Conv2dParams& params() const { return p_; }
  Variable weight, bias;

 private:
  ops::Conv2dParams p_;
};

class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int channels, float momentum = 0.1f, float eps = 1e-5f);
  Variable forward(const Variable& x) override;
  // BN followed by an activation (one fused kernel when available).
  Variable forwardAct(const Variable& x, ops::Act act);
  int toGraph(Graph& g, int input, const std::string& name) const override;
  Variable gamma, beta;
  Tensor runningMean, runningVar;
  float momentum, eps;
};

class Linear : public Module {
 public:
  Linear(int in, int out, bool bias, Rng& rng);
  Variable forward(const Variable& x) override;
  int toGraph(Graph& g, int input, const std::string& name) const override;
  Variable weight, bias;
};

// conv -> BN -> activation, the unit every block is made of.
class ConvBnAct : public Module {
 public:
  ConvBnAct(int cin, int cout, int kernel, int stride, int groups, ops::Act act, Rng& rng);
  Variable forward(const Variable& x) override;
  int toGraph(Graph& g, int input, const std::string& name) const override;
  std::shared_ptr<Conv2d> conv;
  std::shared_ptr<BatchNorm2d> bn;
  ops::Act act;
};

// Squeeze-excite: global pool -> 1x1 reduce (bias) -> ReLU -> 1x1 expand (bias) -> hard-sigmoid -> scale.
class SqueezeExcite : public Module {
 public:
  SqueezeExcite(int channels, int reduced, Rng& rng);
  Variable forward(const Variable& x) override;
  int toGraph(Graph& g, int input, const std::string& name) const override;
  std::shared_ptr<Conv2d> reduce, expand;
};

// Inverted residual (MobileNetV2/V3): [1x1 expand] -> kxk depthwise -> [SE] -> 1x1 project,
// with a residual when stride is 1 and cin == cout. fused: kxk expand conv replaces 1x1 + depthwise.
struct BlockSpec {
  std::string type = "mbconv";  // mbconv | fused_mbconv | conv
  int out = 0, kernel = 3, stride = 1, expand = 1;
  bool se = false;
  ops::Act act = ops::Act::ReLU6;
};
class MBConv : public Module {
 public:
  MBConv(int cin, const BlockSpec& spec, Rng& rng);
  Variable forward(const Variable& x) override;
  int toGraph(Graph& g, int input, const std::string& name) const override;
  std::shared_ptr<ConvBnAct> plain;  // type conv: one conv-BN-act, nothing else
  std::shared_ptr<ConvBnAct> expandConv, depthwise, project;
  std::shared_ptr<SqueezeExcite> se;
  bool residual;
};

class Sequential : public Module {
 public:
  void add(const std::string& name, ModulePtr m);
  Variable forward(const Variable& x) override;
  int toGraph(Graph& g, int input, const std::string& name) const override;
  size_t size() const { return layers_.size(); }

 private:
  std::vector<ModulePtr> layers_;
};

class GlobalAvgPoolFlatten : public Module {
 public:
  Variable forward(const Variable& x) override { return ops::flatten(ops::globalAvgPool(x)); }
  int toGraph(Graph& g, int input, const std::string& name) const override;
};

class Dropout : public Module {
 public:
  Dropout(float p, uint64_t seed) : p_(p), rng_(seed) {}
  Variable forward(const Variable& x) override { return ops::dropout(x, p_, isTraining(), rng_); }
  int toGraph(Graph&, int input, const std::string&) const override { return input; }  // identity at inference

 private:
  float p_;
  Rng rng_;
};

// The Graph IR's activation kind for a trainer activation (the two enums list the same kinds).
ActKind toActKind(ops::Act a);

// Rounds v to a multiple of divisor, not going below 90% of v (MobileNet's make_divisible).
int makeDivisible(double v, int divisor = 8);

}  // namespace hwnas::nn
