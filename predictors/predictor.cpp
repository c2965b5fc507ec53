#include "predictors/predictor.h"

#include <cmath>

#include "core/error.h"
#include "core/fs_util.h"
#include "predictors/models.h"

namespace hwnas {

void checkFitInput(const char* kind, const FeatureMatrix& x, const std::vector<double>& y) {
  const std::string k(kind);
  if (x.empty()) throw InputError(k + " fit: no training rows");
  if (x.size() != y.size())
    throw InputError(k + " fit: " + std::to_string(x.size()) + " rows but " + std::to_string(y.size()) + " targets");
  const size_t w = x[0].size();
  if (w == 0) throw InputError(k + " fit: rows have no features");
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i].size() != w)
      throw InputError(k + " fit: row " + std::to_string(i) + " has " + std::to_string(x[i].size()) +
                       " features, row 0 has " + std::to_string(w));
    for (double v : x[i])
      if (!std::isfinite(v)) throw InputError(k + " fit: row " + std::to_string(i) + " has a non-finite feature");
    if (!std::isfinite(y[i])) throw InputError(k + " fit: target " + std::to_string(i) + " is not finite");
  }
}

void checkPredictInput(const char* kind, bool fitted, int width, const FeatureMatrix& x) {
  const std::string k(kind);
  if (!fitted) throw InputError(k + " predict: the predictor has not been fitted (or loaded)");
  for (size_t i = 0; i < x.size(); ++i)
    if ((int)x[i].size() != width)
      throw InputError(k + " predict: row " + std::to_string(i) + " has " + std::to_string(x[i].size()) +
                       " features; the predictor was fitted on " + std::to_string(width));
}

Json predictorFile(const std::string& kind, const Json& params, const Json& state) {
  Json j = Json::object();
  j["format"] = kPredictorFormat;
  j["version"] = kPredictorVersion;
  j["kind"] = kind;
  j["params"] = params;
  j["state"] = state;
  return j;
}

std::unique_ptr<AccuracyPredictor> predictorFromJson(const JsonReader& r) {
  r.checkKeys({"format", "version", "kind", "params", "state"});
  if (r.getString("format") != kPredictorFormat)
    r["format"].fail("not a predictor file (format '" + r.getString("format") + "', expected '" + kPredictorFormat + "')");
  if (r.getInt("version") != kPredictorVersion)
    r["version"].fail("predictor file version " + std::to_string(r.getInt("version")) + " is not supported (this build reads " +
                      std::to_string(kPredictorVersion) + ")");
  const std::string kind = r.getString("kind");
  if (kind == "ridge") return RidgePredictor::fromJson(r);
  if (kind == "xgboost") return XgbPredictor::fromJson(r);
  if (kind == "mlp") return MlpPredictor::fromJson(r);
  if (kind == "ensemble") return EnsemblePredictor::fromJson(r);
  r["kind"].fail("unknown predictor kind '" + kind + "'; known: ridge, xgboost, mlp, ensemble");
}

std::unique_ptr<AccuracyPredictor> loadPredictor(const std::string& path) {
  const Json j = readJsonFile(path);
  try {
    return predictorFromJson(JsonReader(j, path));
  } catch (const ConfigError& e) {
    throw IoError(std::string("corrupt predictor file: ") + e.what());
  }
}

std::unique_ptr<AccuracyPredictor> makePredictor(const Json& spec, const std::string& file) {
  return makePredictorAt(JsonReader(spec, file));
}

std::unique_ptr<AccuracyPredictor> makePredictorAt(const JsonReader& r) {
  if (!r.isObject()) r.fail("a predictor spec must be an object with a 'kind' key, got " + r.typeName());
  const std::string kind = r.getString("kind");
  if (kind == "ridge") return std::make_unique<RidgePredictor>(RidgePredictor::parseParams(r));
  if (kind == "xgboost") return std::make_unique<XgbPredictor>(XgbPredictor::parseParams(r));
  if (kind == "mlp") return std::make_unique<MlpPredictor>(MlpPredictor::parseParams(r));
  if (kind == "ensemble") return std::make_unique<EnsemblePredictor>(EnsemblePredictor::parseParams(r), r.file());
  r["kind"].fail("unknown predictor kind '" + kind + "'; known: ridge, xgboost, mlp, ensemble");
}

}  // namespace hwnas
