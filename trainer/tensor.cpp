#include "trainer/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>

#include "core/error.h"

namespace hwnas {

namespace {

// A cache of freed large blocks keyed by exact size. Training allocates the same sizes every
// step; reusing them avoids a page-fault storm from fresh mmap'ed memory on each step. The
// cache is bounded, so at most kMaxCachedBytes sit idle.
class BlockCache {
 public:
  static constexpr size_t kMinBytes = 64 * 1024;
  static constexpr size_t kMaxCachedBytes = size_t(256) << 20;

  void* get(size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(bytes);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cached_ -= bytes;
        return p;
      }
    }
    void* p = std::aligned_alloc(64, bytes);
    if (!p) throw std::bad_alloc();
    return p;
  }
  void put(void* p, size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (cached_ + bytes <= kMaxCachedBytes) {
        free_[bytes].push_back(p);
        cached_ += bytes;
        return;
      }
    }
    std::free(p);
  }
  ~BlockCache() {
    for (auto& [bytes, blocks] : free_)
      for (void* p : blocks) std::free(p);
  }

 private:
  std::mutex mutex_;
  std::map<size_t, std::vector<void*>> free_;
  size_t cached_ = 0;
};

BlockCache& blockCache() {
  static BlockCache* cache = new BlockCache();  // never destroyed: tensors may outlive statics
  return *cache;
}

}  // namespace

static std::shared_ptr<float> allocate(int64_t n) {
  size_t bytes = (size_t)std::max<int64_t>(n, 1) * sizeof(float);
  bytes = (bytes + 63) / 64 * 64;
  if (bytes >= BlockCache::kMinBytes) {
    void* p = blockCache().get(bytes);
    return std::shared_ptr<float>(static_cast<float*>(p), [bytes](float* q) { blockCache().put(q, bytes); });
  }
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
