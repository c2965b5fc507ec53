// MemoryPlan: where each activation tensor of a plan lives in one arena, assigned by liveness
// (greedy best-fit over op order). Invariant: two tensors that are live at the same op never
// overlap, every tensor lies within [0, arenaBytes), offsets are multiples of kArenaAlign.
// Plan inputs are written into the arena before the first op; outputs stay live to the end.
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/plan.h"

namespace hwnas::runtime {

constexpr int64_t kArenaAlign = 64;

struct MemoryPlan {
  int64_t batch = 0;
  std::vector<int64_t> offsets;  // bytes, per tensor
  std::vector<int64_t> bytes;    // bytes, per tensor (unaligned size; f32 4, i8 1 byte per element)
  std::vector<int> firstUse;     // op index that writes it (-1 for plan inputs)
  std::vector<int> lastUse;      // last op index that reads it (ops.size() for outputs)
  int64_t arenaBytes = 0;        // = peak activation bytes of the runtime
};

MemoryPlan planMemory(const Plan& plan, int64_t batch);

// Convenience: planMemory(plan, batch).arenaBytes; batch <= 0 means the plan's own.
int64_t peakActivationBytes(const Plan& plan, int64_t batch = 0);

}  // namespace hwnas::runtime
