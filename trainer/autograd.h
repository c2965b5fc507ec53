// Reverse-mode automatic differentiation. A Variable wraps a Tensor value; when an op runs
// with grad mode on and any input requires a gradient, the result records a GradNode whose
// backward() turns the result's gradient into gradients of the inputs. Variable::backward()
// walks the recorded graph once in reverse topological order and then releases it.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "trainer/tensor.h"

namespace hwnas {

struct GradNode;

struct VariableImpl {
  Tensor value;
  Tensor grad;  // undefined until a gradient arrives
  bool requiresGrad = false;
  std::shared_ptr<GradNode> creator;  // null for leaves (inputs, parameters)
};

class Variable {
 public:
  Variable() = default;
  explicit Variable(Tensor value, bool requiresGrad = false);

  bool defined() const { return impl_ != nullptr; }
  const Tensor& value() const { return impl_->value; }
  Tensor& value() { return impl_->value; }
  const Shape& shape() const { return impl_->value.shape(); }
  Tensor& grad() { return impl_->grad; }
  const Tensor& grad() const { return impl_->grad; }
  bool requiresGrad() const { return impl_ && impl_->requiresGrad; }
  void setRequiresGrad(bool r) { impl_->requiresGrad = r; }
  bool isLeaf() const { return !impl_->creator; }
  void zeroGrad() { impl_->grad = Tensor(); }
  VariableImpl* impl() const { return impl_.get(); }

  // Backpropagate from this variable. With no seed the value must have one element and the
  // seed is 1. The recorded graph is released afterwards; leaf gradients accumulate.
  void backward();
  void backward(const Tensor& seed);

 private:
  std::shared_ptr<VariableImpl> impl_;
};

struct GradNode {
  std::string name;
  std::vector<Variable> inputs;
  std::function<void(const Tensor& gradOut)> backwardFn;
};

// Adds g to v's gradient (no-op when v does not require one). Copies on write when g's
// storage is shared, so passing gradOut straight through is always safe.
void accumulateGrad(const Variable& v, Tensor g);

// Wraps an op's result: records a GradNode when grad mode is on and an input requires a grad.
// backwardFn receives the result's gradient and calls accumulateGrad on the inputs.
Variable recordOp(const char* name, Tensor result, std::vector<Variable> inputs,
                  std::function<void(const Tensor& gradOut)> backwardFn);

// Grad mode is per thread. NoGradGuard turns it off for a scope (evaluation, inference).
bool gradModeEnabled();
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

}  // namespace hwnas
