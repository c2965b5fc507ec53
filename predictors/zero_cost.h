// Zero-cost proxies: scores of an untrained trainer nn::Module from one mini-batch, which rank
// architectures without training them (Abdelfattah et al., "Zero-Cost Proxies for Lightweight
// NAS", 2021; Mellor et al., "Neural Architecture Search without Training", 2021).
// Invariant: every proxy leaves the module as it found it (weights, gradients, BN running
// statistics, train/eval mode) and is deterministic for a given module and batch.
#pragma once
#include <cstdint>
#include <vector>

#include "core/shape.h"
#include "trainer/nn.h"

namespace hwnas {

struct ZeroCostScores {
  int64_t params = 0;   // trainable parameters
  int64_t flops = 0;    // 2 x MACs of module.toGraph() at batch 1
  double gradNorm = 0;  // sum over parameter tensors of ||dL/dW||_2
  double snip = 0;      // sum |W * dL/dW|
  double synflow = 0;   // sum W * dR/dW with |W| weights, all-ones input, R = sum of outputs
  double naswot = 0;    // Jacobian-covariance score (NASWOT v1); higher is better
};

int64_t zcParams(const nn::Module& m);
// `inputShape` without the batch dimension, e.g. {1, 28, 28}.
int64_t zcFlops(const nn::Module& m, const Shape& inputShape);
// L = mean cross-entropy of module(x) (train mode, as the papers) against labels.
double zcGradNorm(nn::Module& m, const Tensor& x, const std::vector<int32_t>& labels);
double zcSnip(nn::Module& m, const Tensor& x, const std::vector<int32_t>& labels);
// Eval mode; every parameter replaced by its absolute value for the computation, then restored.
// In float32, as the trainer computes: very deep nets can overflow (the score is then inf).
double zcSynflow(nn::Module& m, const Shape& inputShape);
// Eval mode: J = d(sum_k f_k(x_i))/dx_i per sample, C = the N x N correlation of the rows of J,
// score = -sum_i [log(l_i + 1e-5) + 1 / (l_i + 1e-5)] over C's eigenvalues l_i. Needs N >= 2.
double zcNaswot(nn::Module& m, const Tensor& x);
ZeroCostScores zeroCostScores(nn::Module& m, const Tensor& x, const std::vector<int32_t>& labels);

}  // namespace hwnas
