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

}  // namespace hwnas
