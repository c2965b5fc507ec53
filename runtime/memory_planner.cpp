#include "runtime/memory_planner.h"

#include <algorithm>
#include <iterator>
#include <map>

namespace hwnas::runtime {

namespace {

int64_t alignUp(int64_t v) { return (v + kArenaAlign - 1) / kArenaAlign * kArenaAlign; }

// Free blocks of the arena, keyed by offset; adjacent blocks are merged on release.
class FreeList {
 public:
  int64_t allocate(int64_t size) {
    auto best = blocks_.end();
    for (auto it = blocks_.begin(); it != blocks_.end(); ++it)
      if (it->second >= size && (best == blocks_.end() || it->second < best->second)) best = it;
    if (best != blocks_.end()) {
      int64_t off = best->first, len = best->second;
      blocks_.erase(best);
      if (len > size) blocks_[off + size] = len - size;
      return off;
    }
    // Nothing fits: grow the arena, reusing a free block at its end.
    int64_t off = end_;
    if (!blocks_.empty()) {
      auto last = std::prev(blocks_.end());
      if (last->first + last->second == end_) {
        off = last->first;
        blocks_.erase(last);
      }
    }
    end_ = off + size;
    return off;
  }
  void release(int64_t off, int64_t size) {
    auto it = blocks_.emplace(off, size).first;
    auto next = std::next(it);
    if (next != blocks_.end() && it->first + it->second == next->first) {
      it->second += next->second;
      blocks_.erase(next);
    }
    if (it != blocks_.begin()) {
      auto prev = std::prev(it);
      if (prev->first + prev->second == it->first) {
        prev->second += it->second;
        blocks_.erase(it);
      }
    }
  }
  int64_t end() const { return end_; }

 private:
  std::map<int64_t, int64_t> blocks_;
  int64_t end_ = 0;
};

}  // namespace

MemoryPlan planMemory(const Plan& plan, int64_t batch) {
  MemoryPlan m;
  m.batch = batch > 0 ? batch : plan.batch();
  const size_t nt = plan.tensors.size();
  const int nops = int(plan.ops.size());
  m.offsets.assign(nt, -1);
  m.bytes.assign(nt, 0);
  m.firstUse.assign(nt, -2);
  m.lastUse.assign(nt, -2);
  for (size_t t = 0; t < nt; ++t) m.bytes[t] = shapeElements(withBatch(plan.tensors[t].shape, m.batch)) * dtypeBytes(plan.tensors[t].dtype);
  for (int32_t id : plan.inputs) m.firstUse[id] = m.lastUse[id] = -1;
  for (int i = 0; i < nops; ++i) {
    for (int32_t id : plan.ops[i].inputs) m.lastUse[id] = std::max(m.lastUse[id], i);
    m.firstUse[plan.ops[i].output] = m.lastUse[plan.ops[i].output] = i;
  }
  for (int32_t id : plan.outputs) m.lastUse[id] = nops;

  FreeList arena;
  for (int32_t id : plan.inputs) m.offsets[id] = arena.allocate(alignUp(m.bytes[id]));
  // Plan inputs nobody reads (and that are not outputs) are released at once.
  for (int32_t id : plan.inputs)
    if (m.lastUse[id] < 0) arena.release(m.offsets[id], alignUp(m.bytes[id]));
  for (int i = 0; i < nops; ++i) {
    const int32_t out = plan.ops[i].output;
    // The output never shares memory with this op's inputs: inputs are released afterwards.
    m.offsets[out] = arena.allocate(alignUp(m.bytes[out]));
    std::vector<int32_t> done;
    for (int32_t id : plan.ops[i].inputs)
      if (m.lastUse[id] == i && std::find(done.begin(), done.end(), id) == done.end()) done.push_back(id);
    if (m.lastUse[out] == i) done.push_back(out);  // written, never read
    for (int32_t id : done) arena.release(m.offsets[id], alignUp(m.bytes[id]));
  }
  m.arenaBytes = arena.end();
  return m;
}

int64_t peakActivationBytes(const Plan& plan, int64_t batch) { return planMemory(plan, batch).arenaBytes; }

}  // namespace hwnas::runtime
