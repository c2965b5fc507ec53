// cuda_host_shim.h: compiles CUDA kernel code as plain host C++17 (g++/clang++), so generated .cu
// files can be tested on machines without a GPU. Shipped with every CUDA export.
//
// What it defines: __global__/__device__/__host__/__forceinline__/__restrict__ (empty), __shared__
// (static: one copy shared by the block's threads, blocks run one after another), dim3/uint3,
// threadIdx/blockIdx/blockDim/gridDim, __syncthreads, __dp4a, and the cuda* memory calls the
// generated host code uses (host memory behind them). A launch runs the grid's blocks in order.
// Kernels that call __syncthreads are launched with launch(..., barriers = true): each thread of a
// block is then a fiber (ucontext) with its own stack, and __syncthreads switches to the next
// thread until every thread of the block has reached it, which is the CUDA barrier's meaning for
// barrier-uniform code. Without barriers threads run one after another, in threadIdx order.
// Invariant: single host thread; a kernel's locals must fit the fiber stack (kFiberStackBytes).
#pragma once
#include <ucontext.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <math.h>
#include <memory>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__
#define __shared__ static

struct uint3 {
  unsigned x = 0, y = 0, z = 0;
};
struct dim3 {
  unsigned x, y, z;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

inline uint3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;

// Four signed bytes of a times four of b, summed, plus c (CUDA's __dp4a for int arguments).
inline int __dp4a(int a, int b, int c) {
  for (int i = 0; i < 4; ++i) c += int(int8_t(uint32_t(a) >> (8 * i))) * int(int8_t(uint32_t(b) >> (8 * i)));
  return c;
}

namespace hwnas_shim {

constexpr size_t kFiberStackBytes = 64 * 1024;

struct Fiber {
  ucontext_t context;
  std::unique_ptr<char[]> stack;
  uint3 index;
  bool done = false;
};

struct State {
  ucontext_t scheduler;
  Fiber* current = nullptr;
  const std::function<void()>* body = nullptr;
};
inline State state;

inline void fiberEntry() {
  (*state.body)();
  state.current->done = true;
  // returning resumes uc_link (the scheduler)
}

}  // namespace hwnas_shim

inline void __syncthreads() {
  using namespace hwnas_shim;
  if (!state.current) {
    std::fprintf(stderr, "cuda_host_shim: __syncthreads in a kernel launched without barriers\n");
    std::abort();
  }
  swapcontext(&state.current->context, &state.scheduler);
}

namespace hwnas_shim {

inline void launch(dim3 grid, dim3 block, bool barriers, const std::function<void()>& body) {
  gridDim = grid;
  blockDim = block;
  const unsigned threads = block.x * block.y * block.z;
  std::vector<Fiber> fibers(barriers ? threads : 0);
  for (auto& f : fibers) f.stack.reset(new char[kFiberStackBytes]);
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        blockIdx.x = bx;
        blockIdx.y = by;
        blockIdx.z = bz;
        if (!barriers) {
          for (unsigned tz = 0; tz < block.z; ++tz)
            for (unsigned ty = 0; ty < block.y; ++ty)
              for (unsigned tx = 0; tx < block.x; ++tx) {
                threadIdx.x = tx;
                threadIdx.y = ty;
                threadIdx.z = tz;
                body();
              }
          continue;
        }
        state.body = &body;
        for (unsigned t = 0; t < threads; ++t) {
          Fiber& f = fibers[t];
          f.index.x = t % block.x;
          f.index.y = (t / block.x) % block.y;
          f.index.z = t / (block.x * block.y);
          f.done = false;
          getcontext(&f.context);
          f.context.uc_stack.ss_sp = f.stack.get();
          f.context.uc_stack.ss_size = kFiberStackBytes;
          f.context.uc_link = &state.scheduler;
          makecontext(&f.context, fiberEntry, 0);
        }
        // Rounds: every live thread runs to its next barrier (or its end), in thread order.
        for (bool live = true; live;) {
          live = false;
          for (Fiber& f : fibers) {
            if (f.done) continue;
            threadIdx = f.index;
            state.current = &f;
            swapcontext(&state.scheduler, &f.context);
            state.current = nullptr;
            live = live || !f.done;
          }
        }
      }
}

}  // namespace hwnas_shim

// ---- the runtime API subset generated host code uses, on host memory
enum cudaError_t { cudaSuccess = 0, cudaErrorMemoryAllocation = 2 };
enum cudaMemcpyKind { cudaMemcpyHostToHost, cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
inline cudaError_t cudaMalloc(void** p, size_t bytes) {
  *p = std::malloc(bytes ? bytes : 1);
  return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
template <typename T>
inline cudaError_t cudaMalloc(T** p, size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(p), bytes);
}
inline cudaError_t cudaFree(void* p) {
  std::free(p);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind) {
  std::memcpy(dst, src, bytes);
  return cudaSuccess;
}
inline cudaError_t cudaMemset(void* p, int v, size_t bytes) {
  std::memset(p, v, bytes);
  return cudaSuccess;
}
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline const char* cudaGetErrorString(cudaError_t e) { return e == cudaSuccess ? "no error" : "out of memory"; }
