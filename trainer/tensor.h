// Tensor: a dense float32 array with a shape (NCHW for images), 64-byte aligned storage.
// Copies share storage (like torch); clone() makes a deep copy. An undefined Tensor has no
// storage; defined() tells. Invariant: storage holds at least numel() floats.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/shape.h"

namespace hwnas {


class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(Shape shape);  // zero-filled
  static Tensor empty(Shape shape);  // uninitialised
  static Tensor zeros(Shape shape) { return Tensor(std::move(shape)); }
  static Tensor full(Shape shape, float v);
  static Tensor fromVector(Shape shape, const std::vector<float>& values);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int dim() const { return (int)shape_.size(); }
  int64_t size(int d) const { return shape_[d < 0 ? d + dim() : d]; }
  int64_t numel() const { return numel_; }
  float* data() { return storage_.get(); }
  const float* data() const { return storage_.get(); }
  float& operator[](int64_t i) { return storage_.get()[i]; }
  float operator[](int64_t i) const { return storage_.get()[i]; }
  std::vector<float> toVector() const;

  Tensor clone() const;
  // Same storage, new shape with the same numel; throws ShapeError otherwise.
  Tensor view(Shape shape) const;
  void fill(float v);
  void zero() { fill(0.f); }
  // True when no other Tensor shares this storage (in-place updates are then safe).
  bool unique() const { return storage_.use_count() == 1; }
  // In-place this += other (same numel).
  void addInPlace(const Tensor& other);

 private:
  std::shared_ptr<float> storage_;
  Shape shape_;
  int64_t numel_ = 0;
};

}  // namespace hwnas
