// Loss ops: crossEntropy (label smoothing) and kdLoss. The forward kernel also computes the
// gradient of the mean loss (tiny: [N,K]); backward scales it by the incoming gradient.
#include <string>

#include "core/error.h"
#include "trainer/kernels/loss.h"
#include "trainer/ops.h"

namespace hwnas::ops {

namespace {
void checkLogitsAndLabels(const char* op, const Variable& logits, const std::vector<int32_t>& labels) {
  if (!logits.defined()) throw ShapeError(std::string(op) + ": undefined logits");
  const Shape& s = logits.shape();
  if (s.size() != 2 || s[1] < 1)
    throw ShapeError(std::string(op) + ": expected logits [N,K] with K >= 1, got " + shapeToString(s));
  if ((int64_t)labels.size() != s[0])
    throw ShapeError(std::string(op) + ": " + std::to_string(labels.size()) + " labels for logits " +
                     shapeToString(s));
  if (s[0] < 1) throw ShapeError(std::string(op) + ": empty batch, logits " + shapeToString(s));
  for (size_t i = 0; i < labels.size(); ++i)
    if (labels[i] < 0 || labels[i] >= s[1])
      throw InputError(std::string(op) + ": label " + std::to_string(labels[i]) + " at index " + std::to_string(i) +
                       " is outside [0, " + std::to_string(s[1]) + ")");
}

Variable scaledGradOp(const char* op, float loss, Tensor grad, const Variable& logits) {
  return recordOp(op, Tensor::full({1}, loss), {logits}, [logits, grad](const Tensor& g) {
    const float s = g[0];
    Tensor gx = Tensor::empty(grad.shape());
    const float* src = grad.data();
    float* dst = gx.data();
    for (int64_t i = 0; i < gx.numel(); ++i) dst[i] = src[i] * s;
    accumulateGrad(logits, std::move(gx));
  });
}
}  // namespace

Variable crossEntropy(const Variable& logits, const std::vector<int32_t>& labels, float labelSmoothing) {
  checkLogitsAndLabels("crossEntropy", logits, labels);
  if (!(labelSmoothing >= 0.f && labelSmoothing <= 1.f))
    throw InputError("crossEntropy: label smoothing " + std::to_string(labelSmoothing) + " is not in [0, 1]");
  const Shape& s = logits.shape();
  const bool needGrad = logits.requiresGrad() && gradModeEnabled();
  Tensor grad = needGrad ? Tensor::empty(s) : Tensor();
  float loss = kernels::crossEntropyForward(logits.value().data(), s[0], s[1], labels.data(), labelSmoothing,
                                            needGrad ? grad.data() : nullptr);
  return scaledGradOp("crossEntropy", loss, std::move(grad), logits);
}

Variable kdLoss(const Variable& student, const Tensor& teacher, const std::vector<int32_t>& labels, float temperature,
                float alpha) {
  checkLogitsAndLabels("kdLoss", student, labels);
  const Shape& s = student.shape();
  if (!teacher.defined() || teacher.shape() != s)
    throw ShapeError("kdLoss: teacher logits " + (teacher.defined() ? shapeToString(teacher.shape()) : "undefined") +
                     " do not match student logits " + shapeToString(s));
  if (!(temperature > 0.f)) throw InputError("kdLoss: temperature " + std::to_string(temperature) + " must be > 0");
  if (!(alpha >= 0.f && alpha <= 1.f)) throw InputError("kdLoss: alpha " + std::to_string(alpha) + " is not in [0, 1]");
  const bool needGrad = student.requiresGrad() && gradModeEnabled();
  Tensor grad = needGrad ? Tensor::empty(s) : Tensor();
  float loss = kernels::kdLossForward(student.value().data(), teacher.data(), s[0], s[1], labels.data(), temperature,
                                      alpha, needGrad ? grad.data() : nullptr);
  return scaledGradOp("kdLoss", loss, std::move(grad), student);
}

}  // namespace hwnas::ops
