#include "trainer/optim.h"

#include <cmath>

#include "core/error.h"

namespace hwnas::optim {

static bool endsWith(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

std::vector<ParamGroup> makeParamGroups(const std::vector<std::pair<std::string, Variable>>& named, float weightDecay,
                                        bool noDecayBnBias) {
  ParamGroup decay, noDecay;
  decay.weightDecay = weightDecay;
  for (const auto& p : named) {
    bool exempt = noDecayBnBias && (endsWith(p.first, "bias") || p.second.value().dim() <= 1);
    (exempt ? noDecay : decay).params.push_back(p);
  }
  std::vector<ParamGroup> groups;
  if (!decay.params.empty()) groups.push_back(std::move(decay));
  if (!noDecay.params.empty()) groups.push_back(std::move(noDecay));
  return groups;
}

void Optimizer::zeroGrad() {
  for (auto& g : groups_)
    for (auto& [n, p] : g.params) p.zeroGrad();
}

static std::vector<std::vector<Tensor>> zeroSlots(const std::vector<ParamGroup>& groups) {
  std::vector<std::vector<Tensor>> s;
  for (const auto& g : groups) {
    s.emplace_back();
    for (const auto& [n, p] : g.params) s.back().push_back(Tensor::zeros(p.shape()));
  }
  return s;
}

static void saveSlots(const std::vector<ParamGroup>& groups, const std::vector<std::vector<Tensor>>& slots,
                      const std::string& slot, std::map<std::string, Tensor>& out) {
  for (size_t gi = 0; gi < groups.size(); ++gi)
    for (size_t i = 0; i < groups[gi].params.size(); ++i)
      out[groups[gi].params[i].first + "." + slot] = slots[gi][i].clone();
}

static void loadSlots(const std::vector<ParamGroup>& groups, std::vector<std::vector<Tensor>>& slots,
                      const std::string& slot, const std::map<std::string, Tensor>& in) {
  for (size_t gi = 0; gi < groups.size(); ++gi)
    for (size_t i = 0; i < groups[gi].params.size(); ++i) {
      const std::string key = groups[gi].params[i].first + "." + slot;
      auto it = in.find(key);
      if (it == in.end()) throw IoError("optimizer state has no entry '" + key + "'; the checkpoint does not match this model");
      if (it->second.numel() != slots[gi][i].numel())
        throw IoError("optimizer state '" + key + "' has shape " + shapeToString(it->second.shape()) + ", expected " +
                      shapeToString(slots[gi][i].shape()));
      slots[gi][i] = it->second.clone().view(slots[gi][i].shape());
    }
}

Sgd::Sgd(std::vector<ParamGroup> groups, float momentum, bool nesterov)
    : Optimizer(std::move(groups)), momentum_(momentum), nesterov_(nesterov) {
  buf_ = zeroSlots(groups_);
}

void Sgd::step(float lr) {
  const bool first = steps_ == 0;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const float wd = groups_[gi].weightDecay;
    for (size_t i = 0; i < groups_[gi].params.size(); ++i) {
      Variable& p = groups_[gi].params[i].second;
      if (!p.grad().defined()) continue;
      float* w = p.value().data();
      const float* g = p.grad().data();
      float* b = buf_[gi][i].data();
      const int64_t n = p.value().numel();
      const float m = momentum_;
      for (int64_t k = 0; k < n; ++k) {
        float d = g[k] + wd * w[k];
        if (m != 0.f) {
          b[k] = first ? d : m * b[k] + d;
          d = nesterov_ ? d + m * b[k] : b[k];
        }
        w[k] -= lr * d;
      }
    }
  }
  ++steps_;
}

std::map<std::string, Tensor> Sgd::state() const {
  std::map<std::string, Tensor> s;
  saveSlots(groups_, buf_, "momentum", s);
  return s;
}

void Sgd::loadState(const std::map<std::string, Tensor>& s) { loadSlots(groups_, buf_, "momentum", s); }

AdamW::AdamW(std::vector<ParamGroup> groups, float beta1, float beta2, float eps)
    : Optimizer(std::move(groups)), beta1_(beta1), beta2_(beta2), eps_(eps) {
  m_ = zeroSlots(groups_);
  v_ = zeroSlots(groups_);
}

void AdamW::step(float lr) {
  const int64_t t = steps_ + 1;
  const double bc1 = 1.0 - std::pow((double)beta1_, (double)t);
  const double bc2 = 1.0 - std::pow((double)beta2_, (double)t);
  const float stepSize = (float)(lr / bc1);
  const float sqrtBc2 = (float)std::sqrt(bc2);
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const float decay = 1.f - lr * groups_[gi].weightDecay;
    for (size_t i = 0; i < groups_[gi].params.size(); ++i) {
      Variable& p = groups_[gi].params[i].second;
      if (!p.grad().defined()) continue;
      float* w = p.value().data();
      const float* g = p.grad().data();
      float* m = m_[gi][i].data();
      float* v = v_[gi][i].data();
      const int64_t n = p.value().numel();
      for (int64_t k = 0; k < n; ++k) {
        w[k] *= decay;
        m[k] = beta1_ * m[k] + (1.f - beta1_) * g[k];
        v[k] = beta2_ * v[k] + (1.f - beta2_) * g[k] * g[k];
        w[k] -= stepSize * m[k] / (std::sqrt(v[k]) / sqrtBc2 + eps_);
      }
    }
  }
  ++steps_;
}

std::map<std::string, Tensor> AdamW::state() const {
  std::map<std::string, Tensor> s;
  saveSlots(groups_, m_, "exp_avg", s);
  saveSlots(groups_, v_, "exp_avg_sq", s);
  return s;
}

void AdamW::loadState(const std::map<std::string, Tensor>& s) {
  loadSlots(groups_, m_, "exp_avg", s);
  loadSlots(groups_, v_, "exp_avg_sq", s);
}

}  // namespace hwnas::optim
