// Executor: runs a Plan (fp32 and int8 ops; plan inputs and outputs are f32) on float32 inputs (NCHW, batch first) with the runtime's kernels, its
// own thread pool and one activation arena laid out by the memory planner. A batch runs in
// micro-batches (every op is per image) so activations stay in cache. Invariants: the arena it
// allocates is exactly memoryPlan().arenaBytes (planned for the micro-batch); work is split
// into tasks by shapes only, so outputs are bit-identical at any thread count and micro-batch.
// On the VNNI int8 path, i8 activations are held channels-last as q + 128 (an internal layout,
// converted at Quantize / Dequantize / Flatten; docs/int8.md), with the same output bits.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "runtime/kernels.h"
#include "runtime/kernels_int8.h"
#include "runtime/memory_planner.h"
#include "runtime/plan.h"
#include "runtime/thread_pool.h"

namespace hwnas::runtime {

struct ExecutorOptions {
  int threads = 1;
  int64_t batch = 0;     // 0: the plan's own batch
  int isa = -1;          // -1: the best the CPU supports; else a kernels::Isa value (tests)
  int64_t microBatch = 0;  // images per pass through the plan; 0: as many as fit kMicroBatchBytes
  int int8Isa = -1;        // int8 ops: -1 int8::bestInt8Isa() (HWNAS_INT8_ISA may force one); else an Int8Isa value
  // Layout of i8 activations inside the executor: -1 channels-last u8 on the VNNI path, planar
  // (NCHW int8) on the others; 0 planar on every path (the earlier VNNI kernels, for comparison).
  int int8ChannelsLast = -1;
};

// Activation arena budget that picks the micro-batch (about one core's L2).
constexpr int64_t kMicroBatchBytes = int64_t(1) << 20;

class Executor {
 public:
  explicit Executor(Plan plan, const ExecutorOptions& options = ExecutorOptions());
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // One pointer per plan input / output, each holding batch() x the tensor's per-image size.
  void run(const std::vector<const float*>& inputs, const std::vector<float*>& outputs);
  // Single input, single output.
  std::vector<float> run(const std::vector<float>& input);

  // Per-op timing for profilers: while set, every run() overwrites (*opNanoseconds)[i] with the
  // steady-clock nanoseconds op i took in that call (summed over micro-batches), resizing the
  // vector to the op count. nullptr (the default) turns it off; then run() reads no clock.
  void setOpTimer(std::vector<int64_t>* opNanoseconds) { opNs_ = opNanoseconds; }

  const Plan& plan() const { return plan_; }
  int64_t batch() const { return batch_; }
  int64_t microBatch() const { return memory_.batch; }
  int threads() const { return pool_.threads(); }
  kernels::Isa isa() const { return isa_; }
  int8::Int8Isa int8Isa() const { return int8Isa_; }
  bool int8ChannelsLast() const { return cl_; }  // i8 tensors held channels-last as q + 128
  std::vector<int64_t> inputShape(size_t i = 0) const;   // at batch()
  std::vector<int64_t> outputShape(size_t i = 0) const;
  const MemoryPlan& memoryPlan() const { return memory_; }
  int64_t peakActivationBytes() const { return memory_.arenaBytes; }
  int64_t allocatedArenaBytes() const { return arenaBytes_; }  // what was actually allocated
  int64_t scratchBytes() const { return scratchBytes_; }       // im2col / padding / SE buffers

 private:
  struct Prepared;
  void runOp(size_t index, int64_t n);
  void runInt8Op(size_t index, int64_t n);
  void runInt8OpCl(size_t index, int64_t n);   // the channels-last layout (docs/int8.md)
  int64_t prepareInt8Cl(size_t index);          // returns per-thread scratch bytes
  char* raw(int32_t id) { return arena_ + memory_.offsets[id]; }
  float* tensor(int32_t id) { return reinterpret_cast<float*>(arena_ + memory_.offsets[id]); }
  std::vector<int64_t> shapeOf(int32_t id, int64_t n = 0) const {
    return withBatch(plan_.tensors[id].shape, n ? n : memory_.batch);
  }

  Plan plan_;
  int64_t batch_ = 0;
  MemoryPlan memory_;
  kernels::Isa isa_;
  int8::Int8Isa int8Isa_;
  bool cl_ = false;
  ThreadPool pool_;
  std::vector<Prepared> prepared_;
  std::unique_ptr<char[]> arenaStorage_, scratchStorage_;
  char* arena_ = nullptr;
  float* scratch_ = nullptr;  // threads x perThreadScratch_ floats, then shared floats
  int64_t arenaBytes_ = 0, scratchBytes_ = 0, perThreadScratch_ = 0;
  std::vector<int64_t>* opNs_ = nullptr;
};

}  // namespace hwnas::runtime
