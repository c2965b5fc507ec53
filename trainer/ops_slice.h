// Shape ops for weight sharing: slice (a box of a tensor, e.g. a weight's leading output and
// input channels or its centre kxk taps) and reshape. Both are differentiable; slice's
// backward scatters into a zero gradient of the full shape, so shared weights train in place.
#pragma once
#include <cstdint>
#include <vector>

#include "trainer/autograd.h"

namespace hwnas::ops {

// y = x[starts[d] : starts[d] + sizes[d]] along every dimension d (rank of x == starts.size()
// == sizes.size()). Returns x itself when the box is the whole tensor. ShapeError when the box
// does not fit.
Variable slice(const Variable& x, const std::vector<int64_t>& starts, const std::vector<int64_t>& sizes);
// The leading `sizes` of every dimension (starts all zero).
Variable sliceLeading(const Variable& x, const std::vector<int64_t>& sizes);
// Same values, new shape with the same number of elements; the gradient is reshaped back.
Variable reshape(const Variable& x, const Shape& shape);

namespace detail {
// The fast f32 kernels behind slice (exposed for the tests against kernels/slice_ref.h).
void sliceForward(const float* x, const std::vector<int64_t>& full, const std::vector<int64_t>& starts,
                  const std::vector<int64_t>& sizes, float* y);
// Adds gy into the box of gx (gx must be zeroed by the caller for a plain scatter).
void sliceBackwardAdd(const float* gy, const std::vector<int64_t>& full, const std::vector<int64_t>& starts,
                      const std::vector<int64_t>& sizes, float* gx);
}  // namespace detail

}  // namespace hwnas::ops
