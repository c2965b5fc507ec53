#include "core/shape.h"

#include "core/error.h"

namespace hwnas {

int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0) throw ShapeError("negative dimension in shape " + shapeToString(s));
    n *= d;
  }
  return n;
}

std::string shapeToString(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace hwnas
