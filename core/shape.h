// Shape: the dimensions of a tensor (NCHW for images, batch first), shared by the Graph IR
// and the trainer's Tensor so both speak of shapes in one vocabulary.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace hwnas {

using Shape = std::vector<int64_t>;
// Product of the dimensions (1 for a scalar shape []). ShapeError on a negative dimension.
int64_t numel(const Shape& s);
inline int64_t shapeNumel(const Shape& s) { return numel(s); }
std::string shapeToString(const Shape& s);  // "[1,24,14,14]"

}  // namespace hwnas
