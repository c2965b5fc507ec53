// Shared helpers for the fast f32 kernels of the pointwise/normalisation/pool ops: a TBB loop
// over fixed-size chunks (simple_partitioner, fixed grain), so the work split never depends on
// the thread count, and reductions done inside one chunk are bit-identical at any parallelism.
#pragma once
#include <cstdint>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>

namespace hwnas::kernels {

// Elements per task for streaming elementwise loops (64 KiB of floats).
constexpr int64_t kElementwiseGrain = 16384;

// Calls body(begin, end) over [0, n) in chunks of at most `grain`, in parallel.
template <class Body>
inline void parallelChunks(int64_t n, int64_t grain, const Body& body) {
  if (n <= 0) return;
  if (n <= grain) {
    body(int64_t(0), n);
    return;
  }
  tbb::parallel_for(
      tbb::blocked_range<int64_t>(0, n, grain),
      [&](const tbb::blocked_range<int64_t>& r) { body(r.begin(), r.end()); }, tbb::simple_partitioner());
}

}  // namespace hwnas::kernels
