#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <cmath>

#include "core/error.h"
#include "core/json_util.h"
#include "predictors/models.h"

namespace hwnas {

EnsembleParams EnsemblePredictor::parseParams(const JsonReader& spec) {
  spec.checkKeys({"kind", "members", "bootstrap", "member", "stddev_scale"});
  EnsembleParams p;
  p.members = spec.getInt("members", p.members);
  if (p.members < 2) spec["members"].fail("an ensemble needs at least 2 members");
  p.bootstrap = spec.getBool("bootstrap", p.bootstrap);
  if (spec.has("member")) {
    const JsonReader m = spec["member"];
    if (!m.isObject()) m.fail("expected a predictor spec object");
    if (m.getString("kind") == "ensemble") m["kind"].fail("an ensemble's members cannot be ensembles");
    makePredictorAt(m);  // checks the member spec now, with its key path
    p.member = m.raw();
  }
  p.stddevScale = spec.getDouble("stddev_scale", p.stddevScale);
  if (!(p.stddevScale > 0)) spec["stddev_scale"].fail("stddev_scale must be > 0");
  return p;
}

Json EnsemblePredictor::paramsJson(const EnsembleParams& p) {
  return Json{{"kind", "ensemble"}, {"members", p.members}, {"bootstrap", p.bootstrap},
              {"member", p.member}, {"stddev_scale", p.stddevScale}};
}

EnsemblePredictor::EnsemblePredictor(EnsembleParams p, const std::string& file) : p_(std::move(p)), file_(file) {}

void EnsemblePredictor::setStddevScale(double s) {
  if (!(s > 0) || !std::isfinite(s)) throw InputError("ensemble: stddev scale must be finite and > 0");
  p_.stddevScale = s;
}

void EnsemblePredictor::fit(const FeatureMatrix& x, const std::vector<double>& y, Rng& rng) {
  checkFitInput("ensemble", x, y);
  std::vector<std::unique_ptr<AccuracyPredictor>> members(p_.members);
  tbb::parallel_for(tbb::blocked_range<int>(0, p_.members, 1), [&](const tbb::blocked_range<int>& r) {
    for (int i = r.begin(); i != r.end(); ++i) {
      Rng mr = rng.split(uint64_t(i));
      auto m = makePredictor(p_.member, file_);
      if (p_.bootstrap) {
        const size_t n = x.size();
        FeatureMatrix bx(n);
        std::vector<double> by(n);
        for (size_t k = 0; k < n; ++k) {
          const size_t j = mr.uniformInt(n);
          bx[k] = x[j];
          by[k] = y[j];
        }
        m->fit(bx, by, mr);
      } else {
        m->fit(x, y, mr);
      }
      members[i] = std::move(m);
    }
  }, tbb::simple_partitioner());
  members_ = std::move(members);
}

std::vector<Prediction> EnsemblePredictor::predict(const FeatureMatrix& x) const {
  if (members_.empty()) throw InputError("ensemble predict: the predictor has not been fitted (or loaded)");
  std::vector<std::vector<Prediction>> each(members_.size());
  // All-XGBoost ensembles (the search's hot path): convert the rows to floats once.
  bool allXgb = true;
  for (const auto& m : members_) allXgb = allXgb && dynamic_cast<const XgbPredictor*>(m.get()) != nullptr;
  std::vector<float> flat;
  int width = 0;
  if (allXgb) {
    width = static_cast<const XgbPredictor&>(*members_[0]).width();
    checkPredictInput("ensemble", true, width, x);
    flat.resize(x.size() * size_t(width));
    for (size_t i = 0; i < x.size(); ++i)
      for (int j = 0; j < width; ++j) flat[i * width + j] = float(x[i][j]);
  }
  tbb::parallel_for(tbb::blocked_range<size_t>(0, members_.size(), 1), [&](const tbb::blocked_range<size_t>& r) {
    for (size_t i = r.begin(); i != r.end(); ++i) {
      if (allXgb) {
        const auto& g = static_cast<const XgbPredictor&>(*members_[i]);
        if (g.width() != width) throw InputError("ensemble predict: members were fitted on different widths");
        const std::vector<double> m = g.predictFlat(flat.data(), x.size());
        each[i].resize(x.size());
        for (size_t k = 0; k < x.size(); ++k) each[i][k].mean = m[k];
      } else {
        each[i] = members_[i]->predict(x);
      }
    }
  }, tbb::simple_partitioner());
  const double m = double(members_.size());
  std::vector<Prediction> out(x.size());
  for (size_t k = 0; k < x.size(); ++k) {
    double s = 0;
    for (const auto& e : each) s += e[k].mean;
    const double mean = s / m;
    double v = 0;
    for (const auto& e : each) v += (e[k].mean - mean) * (e[k].mean - mean);
    out[k].mean = mean;
    out[k].stddev = p_.stddevScale * std::sqrt(v / (m - 1));
  }
  return out;
}

Json EnsemblePredictor::toJson() const {
  if (members_.empty()) throw InputError("ensemble save: the predictor has not been fitted");
  Json ms = Json::array();
  for (const auto& m : members_) {
    if (auto* r = dynamic_cast<const RidgePredictor*>(m.get())) ms.push_back(r->toJson());
    else if (auto* g = dynamic_cast<const XgbPredictor*>(m.get())) ms.push_back(g->toJson());
    else if (auto* p = dynamic_cast<const MlpPredictor*>(m.get())) ms.push_back(p->toJson());
    else throw Error("ensemble save: member kind '" + m->kind() + "' cannot be saved inside an ensemble");
  }
  return predictorFile("ensemble", paramsJson(p_), Json{{"members", ms}});
}

void EnsemblePredictor::save(const std::string& path) const { writeJsonFile(path, toJson(), -1); }

std::unique_ptr<EnsemblePredictor> EnsemblePredictor::fromJson(const JsonReader& r) {
  auto p = std::make_unique<EnsemblePredictor>(parseParams(r["params"]), r.file());
  const JsonReader st = r["state"];
  st.checkKeys({"members"});
  const JsonReader ms = st["members"];
  if (ms.size() != size_t(p->p_.members)) ms.fail("expected " + std::to_string(p->p_.members) + " members");
  for (size_t i = 0; i < ms.size(); ++i) {
    auto m = predictorFromJson(ms[i]);
    if (m->kind() == "ensemble") ms[i].fail("an ensemble's members cannot be ensembles");
    p->members_.push_back(std::move(m));
  }
  return p;
}

}  // namespace hwnas
