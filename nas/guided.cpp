// Predictor-guided evolution (BANANAS-like, White et al. 2021): after `initial` random archs,
// each ask fits an ensemble predictor on every queried arch (fitSurrogate, shared with the
// surrogate-assisted NSGA-II), mutates the best `parents` into
// `candidates` unseen, screened candidates (plus `random_candidates` uniform ones), predicts
// them in one batch and proposes those with the highest acquisition (independent Thompson
// sampling, UCB or expected improvement).
#include <algorithm>
#include <ctime>
#include <cmath>
#include <set>

#include "core/error.h"
#include "nas/strategy.h"
#include "predictors/encoding.h"
#include "predictors/predictor.h"

namespace hwnas {

double processCpuSeconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

namespace {


class Guided : public Strategy {
 public:
  Guided(StrategyContext ctx, const GuidedOptions& o) : Strategy(std::move(ctx)), o_(o) {
    if (o_.predictor.is_null()) o_.predictor = defaultSurrogatePredictor();
    encoder_ = makeEncoder(*ctx_.space, o_.encoding);
    (void)makePredictor(o_.predictor, "search.guided.predictor");  // validates the spec now
  }
  std::string name() const override { return "guided"; }

  std::vector<ArchConfig> ask(int n) override {
    Rng rng = nextRng();
    auto seen = [&](const ArchConfig& a) { return seen_.count(a.hash()) > 0; };
    std::vector<const Evaluation*> known;
    for (const auto& e : history_)
      if (e.queried) known.push_back(&e);
    std::vector<ArchConfig> out;
    if (int(known.size()) < o_.initial) {
      int m = std::min(n, o_.initial - int(known.size()));
      for (int i = 0; i < m; ++i) {
        ArchConfig a = sampleFresh(rng, seen);
        seen_.insert(a.hash());
        out.push_back(a);
      }
      return out;
    }
    // Fit on everything queried so far.
    SurrogateTarget transform;
    Rng fitRng = rng.split(1);
    double t0 = processCpuSeconds();
    auto predictor = fitSurrogate(o_.predictor, "search.guided.predictor", *encoder_, known, o_.target, fitRng, &transform);
    fitSeconds_ += processCpuSeconds() - t0;
    ++fits_;
    // Candidates: mutations of the best parents, then uniform samples; unseen, screened, distinct.
    std::vector<const Evaluation*> ranked = known;
    std::stable_sort(ranked.begin(), ranked.end(), [](const Evaluation* a, const Evaluation* b) { return betterSingle(*a, *b); });
    int parents = std::min<int>(o_.parents, int(ranked.size()));
    std::vector<ArchConfig> cands;
    std::set<uint64_t> inPool;
    // At most 3 draws per wanted candidate: duplicates and screened-out draws are dropped.
    auto offer = [&](ArchConfig a) {
      uint64_t h = a.hash();
      if (seen_.count(h) || inPool.count(h) || screen(a) > 0.0) return;
      inPool.insert(h);
      cands.push_back(std::move(a));
    };
    const int wantMut = o_.candidates, wantRand = o_.randomCandidates;
    for (int t = 0; t < 3 * wantMut && int(cands.size()) < wantMut; ++t) {
      const ArchConfig& p = ranked[size_t(t % parents)]->arch;
      ArchConfig a = ctx_.space->mutate(p, mutationProb(p, o_.mutationProb), rng);
      if (a != p) offer(std::move(a));
    }
    const size_t afterMut = cands.size();
    for (int t = 0; t < 3 * wantRand && int(cands.size() - afterMut) < wantRand; ++t) offer(ctx_.space->sample(rng));
    candidatesScored_ += int64_t(cands.size());
    if (cands.empty()) {  // neighbourhoods exhausted: fall back to random proposals
      for (int i = 0; i < n; ++i) {
        ArchConfig a = sampleFresh(rng, seen);
        seen_.insert(a.hash());
        out.push_back(a);
      }
      return out;
    }
    double p0 = processCpuSeconds();
    std::vector<Prediction> pred = predictor->predict(encoder_->encodeBatch(cands));
    predictSeconds_ += processCpuSeconds() - p0;
    double best = -INFINITY;
    for (const auto* e : known)
      if (e->feasible()) best = std::max(best, transform(e->accuracy));
    std::vector<double> score(cands.size());
    for (size_t i = 0; i < cands.size(); ++i) {
      double mu = pred[i].mean, sd = std::max(pred[i].stddev, 1e-9);
      if (o_.acquisition == "its") {
        score[i] = mu + sd * rng.normal();
      } else if (o_.acquisition == "ucb") {
        score[i] = mu + o_.ucbBeta * sd;
      } else {
        double z = (mu - best) / sd;
        double phi = std::exp(-0.5 * z * z) / std::sqrt(2.0 * M_PI);
        double Phi = 0.5 * std::erfc(-z / std::sqrt(2.0));
        score[i] = (mu - best) * Phi + sd * phi;
      }
    }
    std::vector<size_t> order(cands.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return score[a] > score[b]; });
    for (size_t i = 0; i < order.size() && int(out.size()) < n; ++i) {
      seen_.insert(cands[order[i]].hash());
      out.push_back(cands[order[i]]);
    }
    return out;
  }

  void tell(const std::vector<Evaluation>& r) override { history_.insert(history_.end(), r.begin(), r.end()); }

  Json saveState() const override {
    Json h = Json::array();
    for (const auto& e : history_) h.push_back(evaluationToJson(e));
    Json s = Json::array();
    for (uint64_t x : seen_) s.push_back(hashHex(x));
    return {{"strategy", name()}, {"asks", asks_}, {"history", h}, {"seen", s}, {"candidates_scored", candidatesScored_}};
  }
  Json stats() const override {
    return {{"fits", fits_}, {"fit_seconds", fitSeconds_}, {"predict_seconds", predictSeconds_},
            {"candidates_scored", candidatesScored_}};
  }
  void loadState(const Json& st) override {
    if (!st.is_object() || st.value("strategy", "") != name())
      throw InputError("strategy state is not a 'guided' state (was the config changed?)");
    asks_ = st.at("asks").get<int>();
    history_.clear();
    for (const auto& e : st.at("history")) history_.push_back(evaluationFromJson(e));
    seen_.clear();
    for (const auto& x : st.at("seen")) seen_.insert(std::stoull(x.get<std::string>(), nullptr, 16));
    candidatesScored_ = st.at("candidates_scored").get<int64_t>();
  }

 private:
  GuidedOptions o_;
  std::unique_ptr<Encoder> encoder_;
  std::vector<Evaluation> history_;
  std::set<uint64_t> seen_;
  int64_t candidatesScored_ = 0;
  int fits_ = 0;
  double fitSeconds_ = 0.0, predictSeconds_ = 0.0;  // process CPU time in fit / encode+predict (diagnostics)
};

}  // namespace

double SurrogateTarget::operator()(double acc) const {
  if (kind == "log_error") return -std::log(std::max(100.5 - acc, 1e-6));
  return std::max(acc, floor);
}

Json defaultSurrogatePredictor() {
  return {{"kind", "ensemble"},
          {"members", 5},
          {"bootstrap", true},
          {"member", {{"kind", "xgboost"}, {"rounds", 200}, {"max_depth", 6}, {"eta", 0.1}, {"nthread", 1}}}};
}

std::unique_ptr<AccuracyPredictor> fitSurrogate(const Json& spec, const std::string& where, const Encoder& encoder,
                                                const std::vector<const Evaluation*>& known, const std::string& kind,
                                                Rng& rng, SurrogateTarget* target) {
  std::vector<ArchConfig> xa;
  std::vector<double> y;
  for (const auto* e : known) {
    xa.push_back(e->arch);
    y.push_back(e->accuracy);
  }
  SurrogateTarget t;
  t.kind = kind;
  if (kind == "clip" && !y.empty()) {
    std::vector<double> s = y;
    std::nth_element(s.begin(), s.begin() + long(s.size() / 2), s.end());
    t.floor = s[s.size() / 2];
  }
  for (double& v : y) v = t(v);
  auto predictor = makePredictor(spec, where);
  predictor->fit(encoder.encodeBatch(xa), y, rng);
  if (target) *target = t;
  return predictor;
}

std::unique_ptr<Strategy> makeGuided(StrategyContext ctx, const GuidedOptions& o) {
  return std::make_unique<Guided>(std::move(ctx), o);
}

}  // namespace hwnas
