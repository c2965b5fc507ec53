// Optimizers over parameter groups. step(lr) applies one update from the parameters'
// current gradients; state (momentum buffers, Adam moments, step count) can be saved and
// restored as named tensors so an interrupted run resumes bit-exactly.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "trainer/autograd.h"

namespace hwnas::optim {

struct ParamGroup {
  std::vector<std::pair<std::string, Variable>> params;
  float weightDecay = 0.f;
};

// Splits named parameters into two groups: with decay, and without it for BN weights/biases
// and biases (names ending in "bias", or 1-D tensors) when noDecayBnBias is set.
std::vector<ParamGroup> makeParamGroups(const std::vector<std::pair<std::string, Variable>>& named, float weightDecay,
                                        bool noDecayBnBias);

class Optimizer {
 public:
  explicit Optimizer(std::vector<ParamGroup> groups) : groups_(std::move(groups)) {}
  virtual ~Optimizer() = default;
  virtual void step(float lr) = 0;
  void zeroGrad();
  // State as named tensors ("<param name>.<slot>") plus the step count.
  virtual std::map<std::string, Tensor> state() const = 0;
  virtual void loadState(const std::map<std::string, Tensor>& state) = 0;
  int64_t steps() const { return steps_; }
  void setSteps(int64_t s) { steps_ = s; }

 protected:
  std::vector<ParamGroup> groups_;
  int64_t steps_ = 0;
};

// SGD as torch.optim.SGD: g += wd*p; buf = m*buf + g (buf = g at the first step);
// nesterov: g += m*buf, else g = buf; p -= lr*g.
class Sgd : public Optimizer {
 public:
  Sgd(std::vector<ParamGroup> groups, float momentum, bool nesterov);
  void step(float lr) override;
  std::map<std::string, Tensor> state() const override;
  void loadState(const std::map<std::string, Tensor>& state) override;

 private:
  float momentum_;
  bool nesterov_;
  std::vector<std::vector<Tensor>> buf_;
};

// AdamW as torch.optim.AdamW (decoupled weight decay, bias-corrected moments).
class AdamW : public Optimizer {
 public:
  AdamW(std::vector<ParamGroup> groups, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f);
  void step(float lr) override;
  std::map<std::string, Tensor> state() const override;
  void loadState(const std::map<std::string, Tensor>& state) override;

 private:
  float beta1_, beta2_, eps_;
  std::vector<std::vector<Tensor>> m_, v_;
};

}  // namespace hwnas::optim
