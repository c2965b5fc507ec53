// Calibration of predictive uncertainty: how often the truth falls inside mean ± z·stddev
// (z = 1.645 is the two-sided 90% interval of a normal), and the stddev scale factor that,
// fitted on a calibration split, makes that fraction reach a target.
// Invariant: pure functions of their inputs; InputError on mismatched sizes or empty input.
#pragma once
#include <vector>

#include "predictors/predictor.h"

namespace hwnas {

constexpr double kZ90 = 1.6448536269514722;  // the standard normal's 95% quantile

struct CoverageReport {
  double coverage = 0;    // fraction of rows with |truth - mean| <= z * stddev
  double meanStddev = 0;  // the average predicted stddev
  double meanAbsError = 0;
  int n = 0;
};

CoverageReport intervalCoverage(const std::vector<Prediction>& pred, const std::vector<double>& truth,
                                double z = kZ90);
// The smallest s > 0 such that scaling every stddev by s gives coverage >= target on these rows:
// the ceil(target * n)-th smallest |truth - mean| / (z * stddev). Rows with stddev 0 count as
// covered only when their error is 0; InputError when they make the target unreachable.
double fitStddevScale(const std::vector<Prediction>& pred, const std::vector<double>& truth, double target = 0.9,
                      double z = kZ90);

// Cross-calibration of a predictor spec on its own training rows: `folds` times, fits the spec
// on the other folds (with rng.split(fold)) and predicts the held-back fold, so every row gets
// an out-of-sample prediction; returns fitStddevScale over all n of them. Costs `folds` fits.
// Fit the final model on all rows and set the scale on it (EnsemblePredictor::setStddevScale).
// InputError unless 2 <= folds <= n.
double crossCalibratedScale(const Json& spec, const FeatureMatrix& x, const std::vector<double>& y, Rng& rng,
                            int folds = 5, double target = 0.9, double z = kZ90);

}  // namespace hwnas
