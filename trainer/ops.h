// The differentiable ops of the trainer: functions from Variables to a Variable. Each runs
// its fast f32 kernel forward and records a backward that uses the fast f32 backward kernel.
// Every op also has a naive reference kernel (templated on the element type, in
// trainer/kernels/*_ref.h) that the tests use for f64 gradient checks and to check the fast kernel.
#pragma once
#include <cstdint>

#include "core/rng.h"
#include "trainer/autograd.h"

namespace hwnas::ops {

struct Conv2dParams {
  int strideH = 1, strideW = 1;
  int padH = 0, padW = 0;
  int dilationH = 1, dilationW = 1;
  int groups = 1;
};

// x [N,Cin,H,W], w [Cout,Cin/groups,KH,KW], bias [Cout] or undefined.
Variable conv2d(const Variable& x, const Variable& w, const Variable& bias, const Conv2dParams& p);
// x [N,In], w [Out,In] (PyTorch layout), bias [Out] or undefined.
Variable linear(const Variable& x, const Variable& w, const Variable& bias);

// Batch norm over [N,C,H,W] (or [N,C]). training: uses batch statistics and updates the running
// ones in place (running = (1-momentum)*running + momentum*batch, unbiased variance as PyTorch).
// eval: uses runningMean/runningVar. gamma/beta [C].
Variable batchNorm(const Variable& x, const Variable& gamma, const Variable& beta, Tensor& runningMean,
                   Tensor& runningVar, bool training, float momentum = 0.1f, float eps = 1e-5f);

enum class Act { Identity, ReLU, ReLU6, HardSwish, HardSigmoid, SiLU, Sigmoid };
const char* actName(Act a);
Act actFromName(const std::string& name);  // throws InputError on an unknown name
Variable activation(const Variable& x, Act a);
inline Variable relu(const Variable& x) { return activation(x, Act::ReLU); }
inline Variable relu6(const Variable& x) { return activation(x, Act::ReLU6); }
inline Variable hardSwish(const Variable& x) { return activation(x, Act::HardSwish); }
inline Variable hardSigmoid(const Variable& x) { return activation(x, Act::HardSigmoid); }
inline Variable silu(const Variable& x) { return activation(x, Act::SiLU); }
inline Variable sigmoid(const Variable& x) { return activation(x, Act::Sigmoid); }

// Elementwise; mul broadcasts b of shape [N,C,1,1] over a [N,C,H,W] (squeeze-excite scaling).
Variable add(const Variable& a, const Variable& b);
Variable mul(const Variable& a, const Variable& b);
// Concatenate along dim 1 (channels).
Variable concat(const std::vector<Variable>& xs);
// [N, ...] -> [N, prod(...)]
Variable flatten(const Variable& x);

struct Pool2dParams {
  int kernelH = 2, kernelW = 2;
  int strideH = 2, strideW = 2;
  int padH = 0, padW = 0;
};
Variable avgPool2d(const Variable& x, const Pool2dParams& p);  // padding counts as zeros (count_include_pad)
Variable maxPool2d(const Variable& x, const Pool2dParams& p);
Variable globalAvgPool(const Variable& x);  // [N,C,H,W] -> [N,C,1,1]

// Inverted dropout: in training zeroes each element with probability p and scales the rest by 1/(1-p).
// The mask is drawn from rng split per sample so it does not depend on thread count.
Variable dropout(const Variable& x, float p, bool training, Rng& rng);

// Mean cross-entropy of logits [N,K] against integer labels, with label smoothing eps
// (target = (1-eps)*onehot + eps/K), as torch.nn.functional.cross_entropy.
Variable crossEntropy(const Variable& logits, const std::vector<int32_t>& labels, float labelSmoothing = 0.f);
// Knowledge distillation: alpha * T^2 * KL(softmax(teacher/T) || softmax(student/T)) (batch mean)
// + (1-alpha) * crossEntropy(student, labels). The teacher gets no gradient.
Variable kdLoss(const Variable& student, const Tensor& teacher, const std::vector<int32_t>& labels, float temperature,
                float alpha);

}  // namespace hwnas::ops
