// The concrete accuracy predictors behind makePredictor(): ridge regression (Eigen, closed
// form), gradient-boosted trees (XGBoost C API), an MLP (the project's trainer: nn::Linear,
// autograd, AdamW) and a bootstrap ensemble over any of them. Invariant (as AccuracyPredictor):
// fitted state alone decides predict(); save() stores it exactly (doubles as JSON numbers, which
// round-trip bit for bit; XGBoost's model as hex of its UBJSON buffer), so load() predicts the same bits.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "predictors/predictor.h"

namespace hwnas {

// The JSON file every predictor writes: {"format": "hwnas-predictor", "version": 1, "kind",
// "params": {the makePredictor spec}, "state": {...}}.
constexpr const char* kPredictorFormat = "hwnas-predictor";
constexpr int kPredictorVersion = 1;

// Checks fit() input: non-empty, equal row lengths, one target per row, finite values.
void checkFitInput(const char* kind, const FeatureMatrix& x, const std::vector<double>& y);
// Checks predict() input against the fitted width.
void checkPredictInput(const char* kind, bool fitted, int width, const FeatureMatrix& x);

struct RidgeParams {
  double alpha = 1.0;        // L2 penalty on the (standardized) weights; the intercept is free
  bool standardize = true;   // scale each feature to unit variance before fitting (constant ones: 1)
};

class RidgePredictor : public AccuracyPredictor {
 public:
  explicit RidgePredictor(RidgeParams p = {}) : p_(p) {}
  std::string kind() const override { return "ridge"; }
  void fit(const FeatureMatrix& x, const std::vector<double>& y, Rng& rng) override;
  std::vector<Prediction> predict(const FeatureMatrix& x) const override;
  void save(const std::string& path) const override;
  Json toJson() const;
  static std::unique_ptr<RidgePredictor> fromJson(const JsonReader& r);
  const std::vector<double>& weights() const { return w_; }  // per feature, in input units
  double intercept() const { return b_; }
  static RidgeParams parseParams(const JsonReader& spec);
  static Json paramsJson(const RidgeParams& p);

 private:
  RidgeParams p_;
  std::vector<double> w_;  // folded back to input units: y = b_ + w_ . x
  double b_ = 0;
  bool fitted_ = false;
};

struct XgbParams {
  int rounds = 300;
  int maxDepth = 6;
  double eta = 0.05;
  double subsample = 0.8;
  double colsample = 0.8;    // colsample_bytree
  double minChildWeight = 1;
  double lambda = 1.0;
  int nthread = 1;           // fixed for determinism
  int seed = -1;             // -1: drawn from the fit rng
  // exact | hist | approx. hist (256-bin histograms) fits NB201-sized sets about 3x faster
  // than exact at the same ranking quality (docs/predictors.md).
  std::string treeMethod = "hist";
};

class XgbPredictor : public AccuracyPredictor {
 public:
  explicit XgbPredictor(XgbParams p = {});
  ~XgbPredictor() override;
  XgbPredictor(const XgbPredictor&) = delete;
  XgbPredictor& operator=(const XgbPredictor&) = delete;
  std::string kind() const override { return "xgboost"; }
  void fit(const FeatureMatrix& x, const std::vector<double>& y, Rng& rng) override;
  std::vector<Prediction> predict(const FeatureMatrix& x) const override;
  // One flat row-major float buffer (rows x width), for the batched hot path.
  std::vector<double> predictFlat(const float* data, size_t rows) const;
  void save(const std::string& path) const override;
  Json toJson() const;
  static std::unique_ptr<XgbPredictor> fromJson(const JsonReader& r);
  static XgbParams parseParams(const JsonReader& spec);
  static Json paramsJson(const XgbParams& p);
  int width() const { return width_; }

 private:
  XgbParams p_;
  void* booster_ = nullptr;  // BoosterHandle
  int width_ = 0;
  double yMean_ = 0;  // targets are centred before boosting
  int usedSeed_ = 0;
};

struct MlpParams {
  std::vector<int> hidden = {128, 128};
  int epochs = 300;
  double lr = 0.003;          // AdamW, cosine-decayed to 0 over the epochs
  double weightDecay = 1e-4;
  int batch = 32;
};

// Inputs are standardized per feature, targets to zero mean / unit variance; ReLU hidden layers.
class MlpPredictor : public AccuracyPredictor {
 public:
  explicit MlpPredictor(MlpParams p = {}) : p_(std::move(p)) {}
  std::string kind() const override { return "mlp"; }
  void fit(const FeatureMatrix& x, const std::vector<double>& y, Rng& rng) override;
  std::vector<Prediction> predict(const FeatureMatrix& x) const override;
  void save(const std::string& path) const override;
  Json toJson() const;
  static std::unique_ptr<MlpPredictor> fromJson(const JsonReader& r);
  static MlpParams parseParams(const JsonReader& spec);
  static Json paramsJson(const MlpParams& p);

 private:
  MlpParams p_;
  int width_ = 0;
  std::vector<double> xMean_, xScale_;
  double yMean_ = 0, yScale_ = 1;
  // Per layer: weight [out, in] row-major and bias [out], as fitted (float values).
  std::vector<std::vector<float>> weights_, biases_;
  std::vector<int> dims_;  // width, hidden..., 1
  bool fitted_ = false;
};

struct EnsembleParams {
  int members = 5;
  bool bootstrap = true;     // each member fits on a resample (with replacement) of the rows
  Json member = Json{{"kind", "xgboost"}};
  double stddevScale = 1.0;  // multiplies the members' spread; see fitStddevScale
};

// mean = mean of the members' means; stddev = stddevScale x the sample standard deviation of
// the members' means (members - 1 in the denominator). Members fit in parallel (TBB), member i
// with rng.split(i), so the result does not depend on the thread count.
class EnsemblePredictor : public AccuracyPredictor {
 public:
  explicit EnsemblePredictor(EnsembleParams p, const std::string& file = "<predictor>");
  std::string kind() const override { return "ensemble"; }
  void fit(const FeatureMatrix& x, const std::vector<double>& y, Rng& rng) override;
  std::vector<Prediction> predict(const FeatureMatrix& x) const override;
  void save(const std::string& path) const override;
  Json toJson() const;
  static std::unique_ptr<EnsemblePredictor> fromJson(const JsonReader& r);
  static EnsembleParams parseParams(const JsonReader& spec);
  static Json paramsJson(const EnsembleParams& p);
  double stddevScale() const { return p_.stddevScale; }
  void setStddevScale(double s);
  size_t size() const { return members_.size(); }
  const AccuracyPredictor& member(size_t i) const { return *members_.at(i); }

 private:
  EnsembleParams p_;
  std::string file_;
  std::vector<std::unique_ptr<AccuracyPredictor>> members_;
};

// makePredictor() on a spec that sits inside a larger file: errors name r's file and key path.
std::unique_ptr<AccuracyPredictor> makePredictorAt(const JsonReader& r);

// Helpers shared by the implementations.
Json predictorFile(const std::string& kind, const Json& params, const Json& state);
std::unique_ptr<AccuracyPredictor> predictorFromJson(const JsonReader& r);

}  // namespace hwnas
