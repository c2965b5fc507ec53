// Fast f32 losses over logits [N,K]: cross-entropy with label smoothing and distillation.
// Rows run in parallel (fixed grain); per-row losses are summed in row order in double, so the
// result is the same at any thread count. Reference: loss_ref.h (same semantics).
#pragma once
#include <cstdint>

namespace hwnas::kernels {

// Returns the batch-mean loss; grad (may be null) gets d(loss)/d(logits).
float crossEntropyForward(const float* logits, int64_t N, int64_t K, const int32_t* labels, float eps, float* grad);
float kdLossForward(const float* student, const float* teacher, int64_t N, int64_t K, const int32_t* labels,
                    float temperature, float alpha, float* grad);

}  // namespace hwnas::kernels
