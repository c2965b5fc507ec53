// Naive reference execution of a Plan: the plainest loops, accumulating in double, one op at
// a time with a fresh buffer per tensor. The fast kernels are tested against it, and
// hwnas-probe can use it to check a board's results. Slow by design; never used to time.
#pragma once
#include <vector>

#include "runtime/plan.h"

namespace hwnas::runtime {

// int8 tensors are held as their integer values in floats; int8 ops accumulate in int64 and
// apply the quantized maths of kernels_int8.h (the fast kernels must match them exactly).
// One vector per plan input (batch x per-image size); returns one vector per plan output.
// batch 0: the plan's own.
std::vector<std::vector<float>> referenceRun(const Plan& plan, const std::vector<std::vector<float>>& inputs,
                                             int64_t batch = 0);

// The activation functions in double, as the trainer defines them.
double referenceAct(double x, Act act);

}  // namespace hwnas::runtime
