#include <Eigen/Dense>
#include <cmath>

#include "core/error.h"
#include "core/json_util.h"
#include "predictors/models.h"

namespace hwnas {

RidgeParams RidgePredictor::parseParams(const JsonReader& spec) {
  spec.checkKeys({"kind", "alpha", "standardize"});
  RidgeParams p;
  p.alpha = spec.getDouble("alpha", p.alpha);
  if (!(p.alpha >= 0)) spec["alpha"].fail("alpha must be >= 0");
  p.standardize = spec.getBool("standardize", p.standardize);
  return p;
}

Json RidgePredictor::paramsJson(const RidgeParams& p) {
  return Json{{"kind", "ridge"}, {"alpha", p.alpha}, {"standardize", p.standardize}};
}

void RidgePredictor::fit(const FeatureMatrix& x, const std::vector<double>& y, Rng&) {
  checkFitInput("ridge", x, y);
  const int n = int(x.size()), d = int(x[0].size());
  Eigen::MatrixXd z(n, d);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < d; ++j) z(i, j) = x[i][j];
  Eigen::VectorXd yv = Eigen::Map<const Eigen::VectorXd>(y.data(), n);
  const Eigen::RowVectorXd mean = z.colwise().mean();
  z.rowwise() -= mean;
  Eigen::VectorXd scale = Eigen::VectorXd::Ones(d);
  if (p_.standardize)
    for (int j = 0; j < d; ++j) {
      const double sd = std::sqrt(z.col(j).squaredNorm() / n);
      if (sd > 1e-12) scale(j) = sd;
    }
  for (int j = 0; j < d; ++j) z.col(j) /= scale(j);
  const double ymean = yv.mean();
  const Eigen::VectorXd yc = yv.array() - ymean;
  Eigen::MatrixXd a = z.transpose() * z;
  a.diagonal().array() += p_.alpha;
  // alpha = 0 with collinear columns: a tiny jitter keeps the system solvable (minimum-norm-ish).
  if (p_.alpha == 0) a.diagonal().array() += 1e-10;
  const Eigen::VectorXd beta = a.ldlt().solve(z.transpose() * yc);
  w_.assign(d, 0.0);
  b_ = ymean;
  for (int j = 0; j < d; ++j) {
    w_[j] = beta(j) / scale(j);
    b_ -= w_[j] * mean(j);
  }
  fitted_ = true;
}

std::vector<Prediction> RidgePredictor::predict(const FeatureMatrix& x) const {
  checkPredictInput("ridge", fitted_, int(w_.size()), x);
  std::vector<Prediction> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    double s = b_;
    for (size_t j = 0; j < w_.size(); ++j) s += w_[j] * x[i][j];
    out[i].mean = s;
  }
  return out;
}

Json RidgePredictor::toJson() const {
  if (!fitted_) throw InputError("ridge save: the predictor has not been fitted");
  return predictorFile("ridge", paramsJson(p_), Json{{"weights", w_}, {"intercept", b_}});
}

void RidgePredictor::save(const std::string& path) const { writeJsonFile(path, toJson(), -1); }

std::unique_ptr<RidgePredictor> RidgePredictor::fromJson(const JsonReader& r) {
  auto p = std::make_unique<RidgePredictor>(parseParams(r["params"]));
  const JsonReader st = r["state"];
  st.checkKeys({"weights", "intercept"});
  p->w_ = st["weights"].asDoubleList();
  p->b_ = st.getDouble("intercept");
  if (p->w_.empty()) st["weights"].fail("no weights");
  p->fitted_ = true;
  return p;
}

}  // namespace hwnas
