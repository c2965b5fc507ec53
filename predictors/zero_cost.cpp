#include "predictors/zero_cost.h"

#include <Eigen/Dense>
#include <cmath>
#include <string>

#include "core/error.h"
#include "core/graph.h"
#include "trainer/ops.h"

namespace hwnas {
namespace {

// Saves what a proxy may change (grads, buffers, parameter values, mode) and puts it back.
class ModuleState {
 public:
  explicit ModuleState(nn::Module& m) : m_(m), training_(m.isTraining()) {
    for (auto& [name, p] : m.namedParameters()) {
      params_.push_back(p);
      values_.push_back(p.value().clone());
      grads_.push_back(p.grad().defined() ? p.grad().clone() : Tensor());
    }
    for (auto& [name, b] : m.namedBuffers()) {
      buffers_.push_back(b);
      bufferValues_.push_back(b.clone());
    }
  }
  ~ModuleState() {
    for (size_t i = 0; i < params_.size(); ++i) {
      Variable p = params_[i];
      std::copy(values_[i].data(), values_[i].data() + values_[i].numel(), p.value().data());
      p.grad() = grads_[i];
    }
    for (size_t i = 0; i < buffers_.size(); ++i)
      std::copy(bufferValues_[i].data(), bufferValues_[i].data() + bufferValues_[i].numel(), buffers_[i].data());
    m_.train(training_);
  }
  ModuleState(const ModuleState&) = delete;
  ModuleState& operator=(const ModuleState&) = delete;

 private:
  nn::Module& m_;
  bool training_;
  std::vector<Variable> params_;
  std::vector<Tensor> values_, grads_;
  std::vector<Tensor> buffers_, bufferValues_;
};

void zeroGrads(nn::Module& m) {
  for (auto& p : m.parameters()) {
    Variable v = p;
    v.zeroGrad();
  }
}

void checkBatch(const char* fn, const Tensor& x, size_t labels) {
  if (!x.defined() || x.dim() < 2) throw InputError(std::string(fn) + ": expected a batch [N, ...] of inputs");
  if (labels != size_t(x.size(0)))
    throw InputError(std::string(fn) + ": " + std::to_string(x.size(0)) + " inputs but " + std::to_string(labels) + " labels");
}

// Runs forward + cross-entropy + backward in train mode; gradients stay on the parameters.
void lossGradients(nn::Module& m, const Tensor& x, const std::vector<int32_t>& labels) {
  checkBatch("zero-cost proxy", x, labels.size());
  m.train(true);
  zeroGrads(m);
  Variable out = m.forward(Variable(x));
  ops::crossEntropy(out, labels).backward();
}

}  // namespace

int64_t zcParams(const nn::Module& m) { return m.numParameters(); }

int64_t zcFlops(const nn::Module& m, const Shape& inputShape) {
  Graph g;
  Shape s = {1};
  s.insert(s.end(), inputShape.begin(), inputShape.end());
  const int in = g.addInput("input", s);
  m.toGraph(g, in, "");
  return g.cost().flops();
}

double zcGradNorm(nn::Module& m, const Tensor& x, const std::vector<int32_t>& labels) {
  ModuleState keep(m);
  lossGradients(m, x, labels);
  double total = 0;
  for (auto& p : m.parameters()) {
    if (!p.grad().defined()) continue;
    double s = 0;
    const float* g = p.grad().data();
    for (int64_t i = 0; i < p.grad().numel(); ++i) s += double(g[i]) * g[i];
    total += std::sqrt(s);
  }
  return total;
}

double zcSnip(nn::Module& m, const Tensor& x, const std::vector<int32_t>& labels) {
  ModuleState keep(m);
  lossGradients(m, x, labels);
  double total = 0;
  for (auto& p : m.parameters()) {
    if (!p.grad().defined()) continue;
    const float* g = p.grad().data();
    const float* w = p.value().data();
    for (int64_t i = 0; i < p.grad().numel(); ++i) total += std::abs(double(w[i]) * g[i]);
  }
  return total;
}

double zcSynflow(nn::Module& m, const Shape& inputShape) {
  ModuleState keep(m);
  m.eval();
  zeroGrads(m);
  for (auto& p : m.parameters()) {
    Variable v = p;
    float* w = v.value().data();
    for (int64_t i = 0; i < v.value().numel(); ++i) w[i] = std::abs(w[i]);
  }
  Shape s = {1};
  s.insert(s.end(), inputShape.begin(), inputShape.end());
  Variable out = m.forward(Variable(Tensor::full(s, 1.f)));
  out.backward(Tensor::full(out.shape(), 1.f));  // R = sum of the outputs
  double total = 0;
  for (auto& p : m.parameters()) {
    if (!p.grad().defined()) continue;
    const float* g = p.grad().data();
    const float* w = p.value().data();
    for (int64_t i = 0; i < p.grad().numel(); ++i) total += double(w[i]) * g[i];
  }
  return total;
}

double zcNaswot(nn::Module& m, const Tensor& x) {
  if (!x.defined() || x.dim() < 2 || x.size(0) < 2) throw InputError("zcNaswot: needs a batch of at least 2 inputs");
  ModuleState keep(m);
  m.eval();
  zeroGrads(m);
  Variable xv(x.clone(), true);
  Variable out = m.forward(xv);
  out.backward(Tensor::full(out.shape(), 1.f));
  const int64_t n = x.size(0), d = x.numel() / n;
  Eigen::MatrixXd j(n, d);
  const float* g = xv.grad().data();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < d; ++k) j(i, k) = g[i * d + k];
  // Correlation of the rows (numpy.corrcoef): centre each row, normalise, inner products.
  for (int64_t i = 0; i < n; ++i) {
    j.row(i).array() -= j.row(i).mean();
    const double norm = j.row(i).norm();
    if (norm > 0) j.row(i) /= norm;
  }
  const Eigen::MatrixXd c = j * j.transpose();
  const Eigen::VectorXd ev = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(c, Eigen::EigenvaluesOnly).eigenvalues();
  constexpr double k = 1e-5;
  double score = 0;
  for (int64_t i = 0; i < ev.size(); ++i) {
    const double l = std::max(ev(i), 0.0) + k;  // eigenvalues of a PSD matrix; clamp rounding below 0
    score -= std::log(l) + 1.0 / l;
  }
  return score;
}

ZeroCostScores zeroCostScores(nn::Module& m, const Tensor& x, const std::vector<int32_t>& labels) {
  checkBatch("zeroCostScores", x, labels.size());
  const Shape inputShape(x.shape().begin() + 1, x.shape().end());
  ZeroCostScores s;
  s.params = zcParams(m);
  s.flops = zcFlops(m, inputShape);
  s.gradNorm = zcGradNorm(m, x, labels);
  s.snip = zcSnip(m, x, labels);
  s.synflow = zcSynflow(m, inputShape);
  s.naswot = zcNaswot(m, x);
  return s;
}

}  // namespace hwnas
