// Naive reference kernels for the box slice (a sub-array at given offsets) and its backward
// (scatter into a zero array of the full shape), templated on the element type so gradient
// checks run in f64. Used only by tests; ops_slice.cpp has the fast form.
#pragma once
#include <cstdint>
#include <vector>

namespace hwnas::kernels {

// y = x[starts[0]:starts[0]+sizes[0], ...] for x of shape `full` (row-major, any rank).
template <class T>
void sliceRef(const T* x, const std::vector<int64_t>& full, const std::vector<int64_t>& starts,
              const std::vector<int64_t>& sizes, T* y) {
  const size_t rank = full.size();
  int64_t n = 1;
  for (int64_t s : sizes) n *= s;
  std::vector<int64_t> idx(rank, 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t rem = i, src = 0;
    for (size_t d = rank; d-- > 0;) {
      idx[d] = rem % sizes[d];
      rem /= sizes[d];
    }
    for (size_t d = 0; d < rank; ++d) src = src * full[d] + starts[d] + idx[d];
    y[i] = x[src];
  }
}

// gx (shape `full`) = 0 everywhere, gy scattered into the box.
template <class T>
void sliceBackwardRef(const T* gy, const std::vector<int64_t>& full, const std::vector<int64_t>& starts,
                      const std::vector<int64_t>& sizes, T* gx) {
  int64_t total = 1, n = 1;
  for (int64_t s : full) total *= s;
  for (int64_t s : sizes) n *= s;
  for (int64_t i = 0; i < total; ++i) gx[i] = T(0);
  const size_t rank = full.size();
  for (int64_t i = 0; i < n; ++i) {
    int64_t rem = i, dst = 0;
    std::vector<int64_t> idx(rank);
    for (size_t d = rank; d-- > 0;) {
      idx[d] = rem % sizes[d];
      rem /= sizes[d];
    }
    for (size_t d = 0; d < rank; ++d) dst = dst * full[d] + starts[d] + idx[d];
    gx[dst] += gy[i];
  }
}

}  // namespace hwnas::kernels
