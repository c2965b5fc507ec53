// AccuracyPredictor: a regression model from an architecture's encoding (a fixed-length
// feature vector, see encoding.h) to a scalar metric (e.g. validation accuracy in %), with an
// uncertainty where the model has one. Invariant: after fit(), predict() is a pure function of
// the fitted state and its input, deterministic at any thread count; save() then load() gives
// bit-identical predictions.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/rng.h"

namespace hwnas {

// One row per architecture, all rows the same length.
using FeatureMatrix = std::vector<std::vector<double>>;

struct Prediction {
  double mean = 0.0;
  double stddev = 0.0;  // 0 for models without an uncertainty estimate
};

class AccuracyPredictor {
 public:
  virtual ~AccuracyPredictor() = default;
  virtual std::string kind() const = 0;  // "ridge" | "mlp" | "xgboost" | "ensemble"
  // Replaces any earlier fit. `rng` seeds whatever the model draws (bootstrap, init).
  // InputError on empty input or rows of different lengths.
  virtual void fit(const FeatureMatrix& x, const std::vector<double>& y, Rng& rng) = 0;
  // Batched: one Prediction per row. Error if called before fit or with the wrong width.
  virtual std::vector<Prediction> predict(const FeatureMatrix& x) const = 0;
  // A self-describing file (kind inside); loadPredictor() restores any kind.
  virtual void save(const std::string& path) const = 0;
};

std::unique_ptr<AccuracyPredictor> loadPredictor(const std::string& path);

}  // namespace hwnas
