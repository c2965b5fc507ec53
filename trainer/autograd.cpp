#include "trainer/autograd.h"

#include <unordered_set>

#include "core/error.h"

namespace hwnas {

static thread_local bool t_gradMode = true;

bool gradModeEnabled() { return t_gradMode; }
NoGradGuard::NoGradGuard() : prev_(t_gradMode) { t_gradMode = false; }
NoGradGuard::~NoGradGuard() { t_gradMode = prev_; }

Variable::Variable(Tensor value, bool requiresGrad) : impl_(std::make_shared<VariableImpl>()) {
  impl_->value = std::move(value);
  impl_->requiresGrad = requiresGrad;
}

void accumulateGrad(const Variable& v, Tensor g) {
  if (!v.requiresGrad()) return;
  VariableImpl* impl = v.impl();
  if (g.numel() != impl->value.numel())
    throw ShapeError("gradient of shape " + shapeToString(g.shape()) + " for a value of shape " +
                     shapeToString(impl->value.shape()));
  if (!impl->grad.defined()) {
    impl->grad = g.shape() == impl->value.shape() ? std::move(g) : g.view(impl->value.shape());
    return;
  }
  if (!impl->grad.unique()) impl->grad = impl->grad.clone();
  impl->grad.addInPlace(g);
}

Variable recordOp(const char* name, Tensor result, std::vector<Variable> inputs,
                  std::function<void(const Tensor& gradOut)> backwardFn) {
  bool needs = false;
  if (t_gradMode)
    for (const auto& in : inputs) needs = needs || in.requiresGrad();
  Variable out(std::move(result), needs);
  if (needs) {
    auto node = std::make_shared<GradNode>();
    node->name = name;
    node->inputs = std::move(inputs);
    node->backwardFn = std::move(backwardFn);
    out.impl()->creator = std::move(node);
  }
  return out;
}

void Variable::backward() {
  if (!impl_) throw Error("backward() on an undefined Variable");
  if (impl_->value.numel() != 1)
    throw ShapeError("backward() without a seed needs a single-element value, got " +
                     shapeToString(impl_->value.shape()));
  backward(Tensor::full(impl_->value.shape(), 1.f));
}

void Variable::backward(const Tensor& seed) {
  if (!impl_) throw Error("backward() on an undefined Variable");
  if (!impl_->requiresGrad) throw Error("backward() on a Variable that does not require a gradient");
  // Iterative post-order DFS over the graph gives a topological order.
  std::vector<VariableImpl*> order;
  std::unordered_set<VariableImpl*> seen;
  std::vector<std::pair<VariableImpl*, size_t>> stack;
  stack.push_back({impl_.get(), 0});
  seen.insert(impl_.get());
  while (!stack.empty()) {
    auto& [v, i] = stack.back();
    if (v->creator && i < v->creator->inputs.size()) {
      VariableImpl* in = v->creator->inputs[i++].impl();
      if (in && in->requiresGrad && seen.insert(in).second) stack.push_back({in, 0});
      continue;
    }
    order.push_back(v);
    stack.pop_back();
  }
  // Nodes stay alive (and with them every impl in `order`) until the walk ends; what each
  // node saved for backward and each intermediate gradient are freed as soon as used.
  std::vector<std::shared_ptr<GradNode>> keepAlive;
  for (VariableImpl* v : order)
    if (v->creator) keepAlive.push_back(v->creator);
  accumulateGrad(*this, seed.clone());
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    VariableImpl* v = *it;
    if (!v->creator) continue;
    std::shared_ptr<GradNode> node = std::move(v->creator);
    if (v->grad.defined()) node->backwardFn(v->grad);
    node->backwardFn = nullptr;
    v->grad = Tensor();
  }
}

}  // namespace hwnas
