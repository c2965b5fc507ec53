// SupernetAccuracy: the `supernet` accuracy source of nas-search: the inherited validation
// accuracy of a subnet of a trained supernet folder (nas-train --supernet, or the pipeline's
// supernet stage) after BN calibration on training-split images. Invariants: accuracy() is a
// pure function of the arch (same folder, same settings), safe to call from several threads at
// once, and bit-identical at any thread count; the test split is never loaded for selection.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "search_spaces/supernet_recipe.h"
#include "trainer/training.h"

namespace hwnas {

struct SupernetSourceOptions {
  int64_t calibrationImages = 0;  // 0: the folder's recipe value
  int64_t valImages = 0;          // > 0: only the first N validation images (quick runs)
  std::string dataDir;            // empty: the folder's data dir
  int batchSize = 500;
};

class SupernetAccuracy {
 public:
  // Opens the folder (IoError / InputError naming it) and loads its data splits.
  SupernetAccuracy(const std::string& folder, const SupernetSourceOptions& options);
  ~SupernetAccuracy();
  const SearchSpace& space() const { return *folder_.space; }
  std::string spaceId() const;
  int64_t valImages() const { return data_.val.n; }
  int64_t calibrationImages() const { return calibrationImages_; }
  // Inherited validation accuracy in percent (0..100), like the tables' columns.
  double accuracy(const ArchConfig& arch) const;

 private:
  struct Resolution {
    std::vector<Tensor> calibration;
    std::vector<Tensor> val;  // normalised, resized validation batches
  };
  const Resolution& batchesFor(int height, int width) const;

  SupernetFolder folder_;
  DataSplits data_;
  int64_t calibrationImages_ = 0;
  SupernetSourceOptions options_;
  mutable std::mutex mutex_;  // guards byResolution_ and, for non-mbconv supernets, evaluation
  mutable std::map<std::pair<int, int>, std::unique_ptr<Resolution>> byResolution_;
};

}  // namespace hwnas
