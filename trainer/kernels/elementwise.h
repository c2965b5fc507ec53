// Fast f32 kernels for add, mul (same shape and per-row broadcast), concat (dim 1) and the
// dropout mask: streaming loops parallel over fixed chunks; per-row sums stay inside one task.
// Reference: elementwise_ref.h.
#pragma once
#include <cstdint>
#include <vector>

namespace hwnas::kernels {

void addForward(const float* a, const float* b, int64_t n, float* y);
void mulForward(const float* a, const float* b, int64_t n, float* y);
// ga = g*b, gb = g*a (either may be null).
void mulBackward(const float* a, const float* b, const float* g, int64_t n, float* ga, float* gb);
// a [P, HW], s [P]: y[p, i] = a[p, i] * s[p].
void mulRowsForward(const float* a, const float* s, int64_t P, int64_t HW, float* y);
// ga[p,i] = g[p,i]*s[p]; gs[p] = sum_i g[p,i]*a[p,i] (either may be null).
void mulRowsBackward(const float* a, const float* s, const float* g, int64_t P, int64_t HW, float* ga, float* gs);
// xs[k] [N, cs[k]*inner] -> y [N, sum(cs)*inner].
void concatForward(const std::vector<const float*>& xs, const std::vector<int64_t>& cs, int64_t N, int64_t inner,
                   float* y);
// Slice of g for the input at channel offset off with cs channels.
void concatBackward(const float* g, int64_t N, int64_t total, int64_t off, int64_t cs, int64_t inner, float* gx);
// Same mask as dropoutMaskRef, samples drawn in parallel.
void dropoutMask(int64_t N, int64_t per, double p, uint64_t seed, float* mask);

}  // namespace hwnas::kernels
