#include <xgboost/c_api.h>

#include <cmath>
#include <cstdio>
#include <mutex>

#include "core/error.h"
#include "core/json_util.h"
#include "predictors/models.h"

namespace hwnas {
namespace {

void xgbCheck(int rc, const char* what) {
  if (rc != 0) throw Error(std::string("xgboost ") + what + " failed: " + XGBGetLastError());
}

// RAII for a DMatrix handle.
struct DMatrix {
  DMatrixHandle h = nullptr;
  DMatrix(const float* data, size_t rows, size_t cols, int nthread) {
    xgbCheck(XGDMatrixCreateFromMat_omp(data, bst_ulong(rows), bst_ulong(cols), NAN, &h, nthread), "DMatrix create");
  }
  ~DMatrix() {
    if (h) XGDMatrixFree(h);
  }
  DMatrix(const DMatrix&) = delete;
  DMatrix& operator=(const DMatrix&) = delete;
};

std::string toHex(const char* data, size_t n) {
  static const char* kDigits = "0123456789abcdef";
  std::string s(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(data[i]);
    s[2 * i] = kDigits[c >> 4];
    s[2 * i + 1] = kDigits[c & 15];
  }
  return s;
}

std::string fromHex(const JsonReader& r) {
  const std::string s = r.asString();
  if (s.size() % 2) r.fail("odd number of hex digits");
  std::string out(s.size() / 2, '\0');
  auto val = [&](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    r.fail("not a hex digit: '" + std::string(1, c) + "'");
  };
  for (size_t i = 0; i < out.size(); ++i) out[i] = char(val(s[2 * i]) * 16 + val(s[2 * i + 1]));
  return out;
}

// One lock for XGBoost prediction calls on a booster: the C API does not promise that
// concurrent predictions on one handle are safe. Different boosters run in parallel.
std::mutex& predictMutex(const void* booster) {
  static std::mutex locks[64];
  return locks[(reinterpret_cast<uintptr_t>(booster) >> 6) % 64];
}

}  // namespace

XgbPredictor::XgbPredictor(XgbParams p) : p_(p) {}

XgbPredictor::~XgbPredictor() {
  if (booster_) XGBoosterFree(booster_);
}

XgbParams XgbPredictor::parseParams(const JsonReader& spec) {
  spec.checkKeys({"kind", "rounds", "max_depth", "eta", "subsample", "colsample", "min_child_weight", "lambda",
                  "nthread", "seed", "tree_method"});
  XgbParams p;
  p.rounds = spec.getInt("rounds", p.rounds);
  p.maxDepth = spec.getInt("max_depth", p.maxDepth);
  p.eta = spec.getDouble("eta", p.eta);
  p.subsample = spec.getDouble("subsample", p.subsample);
  p.colsample = spec.getDouble("colsample", p.colsample);
  p.minChildWeight = spec.getDouble("min_child_weight", p.minChildWeight);
  p.lambda = spec.getDouble("lambda", p.lambda);
  p.nthread = spec.getInt("nthread", p.nthread);
  p.seed = spec.getInt("seed", p.seed);
  p.treeMethod = spec.getString("tree_method", p.treeMethod);
  if (p.treeMethod != "exact" && p.treeMethod != "hist" && p.treeMethod != "approx")
    spec["tree_method"].fail("unknown tree_method '" + p.treeMethod + "' (known: exact, hist, approx)");
  if (p.rounds < 1) spec["rounds"].fail("rounds must be >= 1");
  if (p.maxDepth < 1) spec["max_depth"].fail("max_depth must be >= 1");
  if (!(p.eta > 0 && p.eta <= 1)) spec["eta"].fail("eta must be in (0, 1]");
  if (!(p.subsample > 0 && p.subsample <= 1)) spec["subsample"].fail("subsample must be in (0, 1]");
  if (!(p.colsample > 0 && p.colsample <= 1)) spec["colsample"].fail("colsample must be in (0, 1]");
  if (p.nthread < 1) spec["nthread"].fail("nthread must be >= 1 (a fixed count keeps results deterministic)");
  return p;
}

Json XgbPredictor::paramsJson(const XgbParams& p) {
  return Json{{"kind", "xgboost"},   {"rounds", p.rounds},
              {"max_depth", p.maxDepth}, {"eta", p.eta},
              {"subsample", p.subsample}, {"colsample", p.colsample},
              {"min_child_weight", p.minChildWeight}, {"lambda", p.lambda},
              {"nthread", p.nthread},    {"seed", p.seed},
              {"tree_method", p.treeMethod}};
}

void XgbPredictor::fit(const FeatureMatrix& x, const std::vector<double>& y, Rng& rng) {
  checkFitInput("xgboost", x, y);
  const size_t n = x.size(), d = x[0].size();
  std::vector<float> flat(n * d);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < d; ++j) flat[i * d + j] = float(x[i][j]);
  // Targets are centred here (the mean kept as a double in our own state) so that the model
  // file holds no base score whose text form could round.
  double mean = 0;
  for (double v : y) mean += v;
  mean /= double(n);
  std::vector<float> label(n);
  for (size_t i = 0; i < n; ++i) label[i] = float(y[i] - mean);
  yMean_ = mean;
  usedSeed_ = p_.seed >= 0 ? p_.seed : int(rng.uniformInt(1u << 30));

  DMatrix dm(flat.data(), n, d, p_.nthread);
  xgbCheck(XGDMatrixSetFloatInfo(dm.h, "label", label.data(), bst_ulong(n)), "set label");
  if (booster_) {
    XGBoosterFree(booster_);
    booster_ = nullptr;
  }
  xgbCheck(XGBoosterCreate(&dm.h, 1, &booster_), "booster create");
  auto set = [&](const char* k, const std::string& v) { xgbCheck(XGBoosterSetParam(booster_, k, v.c_str()), k); };
  auto num = [](double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return std::string(buf);
  };
  set("objective", "reg:squarederror");
  set("base_score", "0");
  set("tree_method", p_.treeMethod);
  set("verbosity", "0");
  set("max_depth", std::to_string(p_.maxDepth));
  set("eta", num(p_.eta));
  set("subsample", num(p_.subsample));
  set("colsample_bytree", num(p_.colsample));
  set("min_child_weight", num(p_.minChildWeight));
  set("lambda", num(p_.lambda));
  set("nthread", std::to_string(p_.nthread));
  set("seed", std::to_string(usedSeed_));
  for (int it = 0; it < p_.rounds; ++it) xgbCheck(XGBoosterUpdateOneIter(booster_, it, dm.h), "boost");
  width_ = int(d);
}

std::vector<double> XgbPredictor::predictFlat(const float* data, size_t rows) const {
  if (!booster_) throw InputError("xgboost predict: the predictor has not been fitted (or loaded)");
  std::vector<double> out(rows);
  if (rows == 0) return out;
  // In-place prediction from the dense buffer (no DMatrix copy), via its array interface.
  char values[256];
  std::snprintf(values, sizeof values,
                R"({"data": [%llu, true], "shape": [%llu, %d], "typestr": "<f4", "version": 3})",
                static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(data)),
                static_cast<unsigned long long>(rows), width_);
  const char* config = R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false, "cache_id": 0, "missing": NaN})";
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* res = nullptr;
  std::lock_guard<std::mutex> lock(predictMutex(booster_));
  xgbCheck(XGBoosterPredictFromDense(booster_, values, config, nullptr, &shape, &dim, &res), "predict");
  bst_ulong len = 1;
  for (bst_ulong i = 0; i < dim; ++i) len *= shape[i];
  if (len != rows) throw Error("xgboost predict: got " + std::to_string(len) + " values for " + std::to_string(rows) + " rows");
  for (size_t i = 0; i < rows; ++i) out[i] = yMean_ + double(res[i]);
  return out;
}

std::vector<Prediction> XgbPredictor::predict(const FeatureMatrix& x) const {
  checkPredictInput("xgboost", booster_ != nullptr, width_, x);
  std::vector<float> flat(x.size() * size_t(width_));
  for (size_t i = 0; i < x.size(); ++i)
    for (int j = 0; j < width_; ++j) flat[i * width_ + j] = float(x[i][j]);
  const std::vector<double> m = predictFlat(flat.data(), x.size());
  std::vector<Prediction> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i].mean = m[i];
  return out;
}

Json XgbPredictor::toJson() const {
  if (!booster_) throw InputError("xgboost save: the predictor has not been fitted");
  bst_ulong len = 0;
  const char* buf = nullptr;
  xgbCheck(XGBoosterSaveModelToBuffer(booster_, R"({"format": "ubj"})", &len, &buf), "save model");
  return predictorFile("xgboost", paramsJson(p_),
                       Json{{"width", width_}, {"y_mean", yMean_}, {"seed_used", usedSeed_}, {"model_ubj_hex", toHex(buf, len)}});
}

void XgbPredictor::save(const std::string& path) const { writeJsonFile(path, toJson(), -1); }

std::unique_ptr<XgbPredictor> XgbPredictor::fromJson(const JsonReader& r) {
  auto p = std::make_unique<XgbPredictor>(parseParams(r["params"]));
  const JsonReader st = r["state"];
  st.checkKeys({"width", "y_mean", "seed_used", "model_ubj_hex"});
  p->width_ = st.getInt("width");
  p->yMean_ = st.getDouble("y_mean");
  p->usedSeed_ = st.getInt("seed_used");
  const std::string model = fromHex(st["model_ubj_hex"]);
  xgbCheck(XGBoosterCreate(nullptr, 0, &p->booster_), "booster create");
  if (XGBoosterLoadModelFromBuffer(p->booster_, model.data(), bst_ulong(model.size())) != 0)
    st["model_ubj_hex"].fail(std::string("XGBoost could not read the model: ") + XGBGetLastError());
  xgbCheck(XGBoosterSetParam(p->booster_, "nthread", std::to_string(p->p_.nthread).c_str()), "nthread");
  return p;
}

}  // namespace hwnas
