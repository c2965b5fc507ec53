// ops::slice and ops::reshape: box copies with the innermost dimension moved as one contiguous run.
#include "trainer/ops_slice.h"

#include <cstring>
#include <string>

#include "core/error.h"

namespace hwnas::ops {
namespace detail {
namespace {

// Calls fn(srcOffset, dstOffset, runLength) for every contiguous innermost run of the box.
template <class Fn>
void forEachRun(const std::vector<int64_t>& full, const std::vector<int64_t>& starts,
                const std::vector<int64_t>& sizes, Fn fn) {
  const size_t rank = full.size();
  if (rank == 0) {
    fn(0, 0, 1);
    return;
  }
  for (int64_t s : sizes)
    if (s == 0) return;
  const int64_t run = sizes[rank - 1];
  int64_t outer = 1;
  for (size_t d = 0; d + 1 < rank; ++d) outer *= sizes[d];
  std::vector<int64_t> idx(rank, 0);
  for (int64_t o = 0; o < outer; ++o) {
    int64_t rem = o;
    for (size_t d = rank - 1; d-- > 0;) {
      idx[d] = rem % sizes[d];
      rem /= sizes[d];
    }
    int64_t src = 0;
    for (size_t d = 0; d + 1 < rank; ++d) src = src * full[d] + starts[d] + idx[d];
    src = src * full[rank - 1] + starts[rank - 1];
    fn(src, o * run, run);
  }
}

}  // namespace

void sliceForward(const float* x, const std::vector<int64_t>& full, const std::vector<int64_t>& starts,
                  const std::vector<int64_t>& sizes, float* y) {
  forEachRun(full, starts, sizes,
             [&](int64_t src, int64_t dst, int64_t n) { std::memcpy(y + dst, x + src, sizeof(float) * n); });
}

void sliceBackwardAdd(const float* gy, const std::vector<int64_t>& full, const std::vector<int64_t>& starts,
                      const std::vector<int64_t>& sizes, float* gx) {
  forEachRun(full, starts, sizes, [&](int64_t src, int64_t dst, int64_t n) {
    for (int64_t i = 0; i < n; ++i) gx[src + i] += gy[dst + i];
  });
}

}  // namespace detail

Variable slice(const Variable& x, const std::vector<int64_t>& starts, const std::vector<int64_t>& sizes) {
  if (!x.defined()) throw ShapeError("slice: undefined input");
  const Shape full = x.shape();
  auto desc = [&] {
    std::string s = "slice(x " + shapeToString(full) + ", starts [";
    for (size_t i = 0; i < starts.size(); ++i) s += (i ? "," : "") + std::to_string(starts[i]);
    return s + "], sizes " + shapeToString(sizes) + ")";
  };
  if (starts.size() != full.size() || sizes.size() != full.size())
    throw ShapeError(desc() + ": starts and sizes need one entry per dimension");
  bool whole = true;
  for (size_t d = 0; d < full.size(); ++d) {
    if (starts[d] < 0 || sizes[d] < 0 || starts[d] + sizes[d] > full[d])
      throw ShapeError(desc() + ": the box does not fit in dimension " + std::to_string(d));
    whole = whole && starts[d] == 0 && sizes[d] == full[d];
  }
  if (whole) return x;
  Tensor y = Tensor::empty(sizes);
  detail::sliceForward(x.value().data(), full, starts, sizes, y.data());
  return recordOp("slice", std::move(y), {x}, [x, full, starts, sizes](const Tensor& g) {
    Tensor gx = Tensor::zeros(full);
    detail::sliceBackwardAdd(g.data(), full, starts, sizes, gx.data());
    accumulateGrad(x, std::move(gx));
  });
}

Variable sliceLeading(const Variable& x, const std::vector<int64_t>& sizes) {
  if (!x.defined()) throw ShapeError("slice: undefined input");
  return slice(x, std::vector<int64_t>(x.shape().size(), 0), sizes);
}

Variable reshape(const Variable& x, const Shape& shape) {
  if (!x.defined()) throw ShapeError("reshape: undefined input");
  if (numel(shape) != x.value().numel())
    throw ShapeError("reshape: cannot view " + shapeToString(x.shape()) + " as " + shapeToString(shape));
  if (shape == x.shape()) return x;
  const Shape from = x.shape();
  return recordOp("reshape", x.value().view(shape), {x},
                  [x, from](const Tensor& g) { accumulateGrad(x, g.view(from)); });
}

}  // namespace hwnas::ops
