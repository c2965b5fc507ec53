// Interval coverage and the fitted stddev scale, on hand-made predictions and on an XGBoost
// ensemble over NB201 (calibrated on one split, checked on another).
#include <gtest/gtest.h>

#include "core/error.h"
#include "predictors/calibration.h"
#include "predictors/encoding.h"
#include "predictors/models.h"
#include "tests/predictors/nb201_table.h"

using namespace hwnas;
using namespace hwnas::testing;

TEST(Calibration, CoverageCountsRowsInsideTheInterval) {
  // z = 2: intervals of half-width 2 stddev. Errors 1, 3, 0.5, 5 against half-widths 2, 2, 2, 20.
  const std::vector<Prediction> p = {{10, 1}, {10, 1}, {10, 1}, {10, 10}};
  const std::vector<double> t = {11, 13, 9.5, 15};
  const CoverageReport r = intervalCoverage(p, t, 2.0);
  EXPECT_DOUBLE_EQ(r.coverage, 0.75);
  EXPECT_DOUBLE_EQ(r.meanStddev, 13.0 / 4);
  EXPECT_DOUBLE_EQ(r.meanAbsError, 9.5 / 4);
  EXPECT_EQ(r.n, 4);
  // Ratios err / (z sd): 0.5, 1.5, 0.25, 0.25 -> sorted 0.25, 0.25, 0.5, 1.5; target 0.75 needs 3.
  EXPECT_DOUBLE_EQ(fitStddevScale(p, t, 0.75, 2.0), 0.5);
  EXPECT_DOUBLE_EQ(fitStddevScale(p, t, 1.0, 2.0), 1.5);
  EXPECT_THROW(intervalCoverage({}, {}), InputError);
  EXPECT_THROW(fitStddevScale({{1, 0}}, {2}), InputError);  // no spread and an error
}

TEST(Calibration, ScaledEnsembleCoversAboutNinetyPercentOnHeldOutArchs) {
  Nb201Space space;
  auto enc = makeEncoder(space, "onehot");
  std::vector<int> idx, unused;
  nb201Split(21, 2000, 0, idx, unused);
  const std::vector<int> train(idx.begin(), idx.begin() + 300), calib(idx.begin() + 300, idx.begin() + 1000),
      test(idx.begin() + 1000, idx.end());
  auto e = std::make_unique<EnsemblePredictor>(
      EnsemblePredictor::parseParams(JsonReader(Json{{"kind", "ensemble"}, {"members", 5},
                                                     {"member", {{"kind", "xgboost"}, {"rounds", 100}}}},
                                                "<test>")));
  Rng rng(5);
  e->fit(enc->encodeBatch(nb201Archs(train)), nb201Targets(train), rng);
  const double s = fitStddevScale(e->predict(enc->encodeBatch(nb201Archs(calib))), nb201Targets(calib));
  EXPECT_GT(s, 0.0);
  e->setStddevScale(s);
  const CoverageReport r = intervalCoverage(e->predict(enc->encodeBatch(nb201Archs(test))), nb201Targets(test));
  EXPECT_NEAR(r.coverage, 0.9, 0.04) << "scale " << s;
}

TEST(Calibration, CrossCalibratedScaleUsesOnlyTrainingArchs) {
  Nb201Space space;
  auto enc = makeEncoder(space, "onehot");
  std::vector<int> train, test;
  nb201Split(22, 400, 1500, train, test);
  const Json spec = {{"kind", "ensemble"}, {"members", 5}, {"member", {{"kind", "xgboost"}, {"rounds", 100}}}};
  const FeatureMatrix x = enc->encodeBatch(nb201Archs(train));
  const std::vector<double> y = nb201Targets(train);
  Rng rng(3);
  const double s = crossCalibratedScale(spec, x, y, rng, 4);
  EXPECT_GT(s, 1.0);  // bootstrap tree ensembles are over-confident
  auto e = makePredictor(spec);
  Rng fitRng(4);
  e->fit(x, y, fitRng);
  std::vector<Prediction> p = e->predict(enc->encodeBatch(nb201Archs(test)));
  const double raw = intervalCoverage(p, nb201Targets(test)).coverage;
  for (auto& q : p) q.stddev *= s;
  const double cal = intervalCoverage(p, nb201Targets(test)).coverage;
  EXPECT_GT(cal, raw);
  EXPECT_NEAR(cal, 0.9, 0.05) << "raw " << raw << " scale " << s;
  EXPECT_THROW(crossCalibratedScale(spec, x, y, rng, 1), InputError);
}
