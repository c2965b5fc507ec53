// AccuracyPredictor: a regression model from an architecture's encoding (a fixed-length
// feature vector, see encoding.h) to a scalar metric (e.g. validation accuracy in %), with an
// uncertainty where the model has one. Invariant: after fit(), predict() is a pure function of
// the fitted state and its input, deterministic at any thread count; save() then load() gives
// bit-identical predictions.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/json_util.h"
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

// Restores a predictor written by save(), of any kind. IoError if missing or corrupt.
std::unique_ptr<AccuracyPredictor> loadPredictor(const std::string& path);

// Builds an unfitted predictor from a spec (e.g. a YAML block converted to JSON). Keys other
// than those listed are ConfigErrors naming the key path; every key but "kind" is optional.
//   {"kind": "ridge", "alpha": 1.0, "standardize": true}
//   {"kind": "xgboost", "rounds": 300, "max_depth": 6, "eta": 0.05, "subsample": 0.8,
//    "colsample": 0.8, "min_child_weight": 1, "lambda": 1.0, "nthread": 1, "seed": 0}
//   {"kind": "mlp", "hidden": [128, 128], "epochs": 300, "lr": 0.003, "weight_decay": 1e-4,
//    "batch": 32}
//   {"kind": "ensemble", "members": 5, "bootstrap": true, "member": {<any spec but ensemble>},
//    "stddev_scale": 1.0}
// `file` names the source in messages.
std::unique_ptr<AccuracyPredictor> makePredictor(const Json& spec, const std::string& file = "<predictor>");

}  // namespace hwnas
