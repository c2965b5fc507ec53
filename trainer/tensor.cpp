#include "trainer/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "core/error.h"

namespace hwnas {

static std::shared_ptr<float> allocate(int64_t n) {
  size_t bytes = (size_t)std::max<int64_t>(n, 1) * sizeof(float);
  bytes = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw std::bad_alloc();
  return std::shared_ptr<float>(static_cast<float*>(p), [](float* q) { std::free(q); });
}

Tensor Tensor::empty(Shape shape) {
  Tensor t;
  t.numel_ = shapeNumel(shape);
  t.shape_ = std::move(shape);
  t.storage_ = allocate(t.numel_);
  return t;
}

Tensor::Tensor(Shape shape) {
  *this = empty(std::move(shape));
  std::memset(storage_.get(), 0, numel_ * sizeof(float));
}

Tensor Tensor::full(Shape shape, float v) {
  Tensor t = empty(std::move(shape));
  t.fill(v);
  return t;
}

Tensor Tensor::fromVector(Shape shape, const std::vector<float>& values) {
  Tensor t = empty(std::move(shape));
  if ((int64_t)values.size() != t.numel_)
    throw ShapeError("fromVector: " + std::to_string(values.size()) + " values for shape " + shapeToString(t.shape_));
  std::copy(values.begin(), values.end(), t.data());
  return t;
}

std::vector<float> Tensor::toVector() const { return std::vector<float>(data(), data() + numel_); }

Tensor Tensor::clone() const {
  if (!defined()) return Tensor();
  Tensor t = empty(shape_);
  std::memcpy(t.data(), data(), numel_ * sizeof(float));
  return t;
}

Tensor Tensor::view(Shape shape) const {
  if (shapeNumel(shape) != numel_)
    throw ShapeError("cannot view " + shapeToString(shape_) + " as " + shapeToString(shape));
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

void Tensor::fill(float v) { std::fill(data(), data() + numel_, v); }

void Tensor::addInPlace(const Tensor& other) {
  if (other.numel_ != numel_)
    throw ShapeError("addInPlace: " + shapeToString(shape_) + " += " + shapeToString(other.shape_));
  float* a = data();
  const float* b = other.data();
  for (int64_t i = 0; i < numel_; ++i) a[i] += b[i];
}

}  // namespace hwnas
