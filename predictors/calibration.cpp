#include "predictors/calibration.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/error.h"

namespace hwnas {
namespace {
void checkSizes(const char* fn, size_t a, size_t b) {
  if (a != b)
    throw InputError(std::string(fn) + ": " + std::to_string(a) + " predictions but " + std::to_string(b) + " truths");
  if (a == 0) throw InputError(std::string(fn) + ": no rows");
}
}  // namespace

CoverageReport intervalCoverage(const std::vector<Prediction>& pred, const std::vector<double>& truth, double z) {
  checkSizes("intervalCoverage", pred.size(), truth.size());
  CoverageReport r;
  r.n = int(pred.size());
  int in = 0;
  for (size_t i = 0; i < pred.size(); ++i) {
    const double err = std::abs(truth[i] - pred[i].mean);
    if (err <= z * pred[i].stddev) ++in;
    r.meanStddev += pred[i].stddev;
    r.meanAbsError += err;
  }
  r.coverage = double(in) / r.n;
  r.meanStddev /= r.n;
  r.meanAbsError /= r.n;
  return r;
}

double fitStddevScale(const std::vector<Prediction>& pred, const std::vector<double>& truth, double target, double z) {
  checkSizes("fitStddevScale", pred.size(), truth.size());
  if (!(target > 0 && target <= 1)) throw InputError("fitStddevScale: target coverage must be in (0, 1]");
  std::vector<double> ratio(pred.size());
  for (size_t i = 0; i < pred.size(); ++i) {
    const double err = std::abs(truth[i] - pred[i].mean);
    if (pred[i].stddev > 0)
      ratio[i] = err / (z * pred[i].stddev);
    else
      ratio[i] = err == 0 ? 0.0 : std::numeric_limits<double>::infinity();
  }
  std::sort(ratio.begin(), ratio.end());
  const size_t need = size_t(std::ceil(target * double(ratio.size()) - 1e-9));
  const double s = ratio[std::max<size_t>(need, 1) - 1];
  if (!std::isfinite(s))
    throw InputError("fitStddevScale: too many rows have stddev 0 and an error; no scale reaches the target");
  return std::max(s, 1e-12);
}

double crossCalibratedScale(const Json& spec, const FeatureMatrix& x, const std::vector<double>& y, Rng& rng,
                            int folds, double target, double z) {
  if (x.size() != y.size()) throw InputError("crossCalibratedScale: rows and targets differ in number");
  if (folds < 2 || size_t(folds) > x.size())
    throw InputError("crossCalibratedScale: folds must be in [2, " + std::to_string(x.size()) + "], got " +
                     std::to_string(folds));
  std::vector<Prediction> oos(x.size());
  for (int f = 0; f < folds; ++f) {
    FeatureMatrix tx, vx;
    std::vector<double> ty;
    std::vector<size_t> vi;
    for (size_t i = 0; i < x.size(); ++i) {
      if (int(i % size_t(folds)) == f) {
        vx.push_back(x[i]);
        vi.push_back(i);
      } else {
        tx.push_back(x[i]);
        ty.push_back(y[i]);
      }
    }
    auto p = makePredictor(spec);
    Rng fr = rng.split(uint64_t(f));
    p->fit(tx, ty, fr);
    const std::vector<Prediction> out = p->predict(vx);
    for (size_t k = 0; k < vi.size(); ++k) oos[vi[k]] = out[k];
  }
  return fitStddevScale(oos, y, target, z);
}

}  // namespace hwnas
