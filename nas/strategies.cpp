// Random search, regularized (aging) evolution, NSGA-II (plain or surrogate-assisted) and local
// search.
#include <algorithm>
#include <ctime>
#include <deque>
#include <limits>
#include <set>

#include "core/error.h"
#include "nas/strategy.h"
#include "predictors/encoding.h"
#include "predictors/predictor.h"
#include "search_spaces/nb201_space.h"

namespace hwnas {

namespace {

Json hashesToJson(const std::set<uint64_t>& s) {
  Json j = Json::array();
  for (uint64_t h : s) j.push_back(hashHex(h));
  return j;
}
std::set<uint64_t> hashesFromJson(const Json& j) {
  std::set<uint64_t> s;
  for (const auto& v : j) s.insert(std::stoull(v.get<std::string>(), nullptr, 16));
  return s;
}
Json evalsToJson(const std::vector<Evaluation>& v) {
  Json j = Json::array();
  for (const auto& e : v) j.push_back(evaluationToJson(e));
  return j;
}
std::vector<Evaluation> evalsFromJson(const Json& j) {
  std::vector<Evaluation> v;
  for (const auto& e : j) v.push_back(evaluationFromJson(e));
  return v;
}
void checkKind(const Json& state, const std::string& name) {
  if (!state.is_object() || state.value("strategy", "") != name)
    throw InputError("strategy state is not a '" + name + "' state (was the config changed?)");
}

// ---------------------------------------------------------------- random search
class RandomSearch : public Strategy {
 public:
  explicit RandomSearch(StrategyContext ctx) : Strategy(std::move(ctx)) {}
  std::string name() const override { return "random"; }
  std::vector<ArchConfig> ask(int n) override {
    Rng rng = nextRng();
    std::vector<ArchConfig> out;
    auto seen = [&](const ArchConfig& a) { return seen_.count(a.hash()) > 0; };
    for (int i = 0; i < n; ++i) {
      ArchConfig a = sampleFresh(rng, seen);
      seen_.insert(a.hash());
      out.push_back(a);
    }
    return out;
  }
  void tell(const std::vector<Evaluation>&) override {}
  Json saveState() const override { return {{"strategy", name()}, {"asks", asks_}, {"seen", hashesToJson(seen_)}}; }
  void loadState(const Json& s) override {
    checkKind(s, name());
    asks_ = s.at("asks").get<int>();
    seen_ = hashesFromJson(s.at("seen"));
  }

 private:
  std::set<uint64_t> seen_;
};

// ---------------------------------------------------------------- regularized evolution
// Real et al. 2019: a population of the most recent `population` evaluations; each child
// mutates the best of `sampleSize` members drawn at random; the oldest member dies.
class Evolution : public Strategy {
 public:
  Evolution(StrategyContext ctx, const EvolutionOptions& o) : Strategy(std::move(ctx)), o_(o) {
    if (o_.population < 2) throw InputError("evolution: population must be >= 2");
    if (o_.sampleSize < 1 || o_.sampleSize > o_.population)
      throw InputError("evolution: sample_size must be between 1 and the population");
  }
  std::string name() const override { return "evolution"; }
  std::vector<ArchConfig> ask(int n) override {
    Rng rng = nextRng();
    std::vector<ArchConfig> out;
    auto seen = [&](const ArchConfig& a) { return seen_.count(a.hash()) > 0; };
    for (int i = 0; i < n; ++i) {
      ArchConfig a;
      if (int(pop_.size()) + i < o_.population) {
        a = sampleFresh(rng, seen);
      } else {
        const Evaluation* parent = nullptr;
        for (int s = 0; s < o_.sampleSize; ++s) {
          const Evaluation& c = pop_[rng.uniformInt(pop_.size())];
          if (!parent || betterSingle(c, *parent)) parent = &c;
        }
        a = mutateFresh(parent->arch, mutationProb(parent->arch, o_.mutationProb), rng, seen);
      }
      seen_.insert(a.hash());
      out.push_back(a);
    }
    return out;
  }
  void tell(const std::vector<Evaluation>& r) override {
    for (const auto& e : r) {
      pop_.push_back(e);
      if (int(pop_.size()) > o_.population) pop_.pop_front();
    }
    ++cycles_;
  }
  int generation() const override { return cycles_; }
  Json saveState() const override {
    return {{"strategy", name()},
            {"asks", asks_},
            {"cycles", cycles_},
            {"population", evalsToJson({pop_.begin(), pop_.end()})},
            {"seen", hashesToJson(seen_)}};
  }
  void loadState(const Json& s) override {
    checkKind(s, name());
    asks_ = s.at("asks").get<int>();
    cycles_ = s.at("cycles").get<int>();
    auto p = evalsFromJson(s.at("population"));
    pop_.assign(p.begin(), p.end());
    seen_ = hashesFromJson(s.at("seen"));
  }

 private:
  EvolutionOptions o_;
  std::deque<Evaluation> pop_;
  std::set<uint64_t> seen_;
  int cycles_ = 0;
};

// ---------------------------------------------------------------- NSGA-II
// Deb et al. 2002 with constraint domination: generations of `population` offspring made by
// binary tournaments (rank, then crowding), uniform crossover and mutation; parents and
// offspring are merged and the best `population` by (front, crowding distance) survive.
// With a surrogate (Nsga2SurrogateOptions), each generation's children are the `offspring` best
// of many bred candidates by predicted accuracy and free costs; survival is unchanged.
class Nsga2 : public Strategy {
 public:
  Nsga2(StrategyContext ctx, const Nsga2Options& o) : Strategy(std::move(ctx)), o_(o) {
    if (o_.population < 4) throw InputError("nsga2: population must be >= 4");
    if (o_.offspring <= 0) o_.offspring = o_.population;
    auto& g = o_.surrogate;
    if (g.enabled) {
      if (g.initial <= 0) g.initial = o_.population;
      if (g.initial < 2) throw InputError("nsga2.surrogate: initial must be >= 2");
      if (g.candidates < 1) throw InputError("nsga2.surrogate: candidates must be >= 1");
      if (g.randomCandidates < 0) throw InputError("nsga2.surrogate: random_candidates must be >= 0");
      if (g.selection != "front_gain" && g.selection != "rank_crowding")
        throw InputError("nsga2.surrogate: selection must be front_gain or rank_crowding");
      if (!ctx_.costs) throw InputError("nsga2.surrogate: needs the free costs of candidates (StrategyContext::costs)");
      if (g.predictor.is_null()) g.predictor = defaultSurrogatePredictor();
      encoder_ = makeEncoder(*ctx_.space, g.encoding);
      (void)makePredictor(g.predictor, "search.nsga2.surrogate.predictor");  // validates the spec now
    }
  }
  std::string name() const override { return "nsga2"; }
  std::vector<ArchConfig> ask(int n) override {
    Rng rng = nextRng();
    if (pending_.empty()) makeGeneration(rng);
    std::vector<ArchConfig> out;
    while (int(out.size()) < n && !pending_.empty()) {
      out.push_back(pending_.front());
      pending_.pop_front();
    }
    return out;
  }
  void tell(const std::vector<Evaluation>& r) override {
    offspring_.insert(offspring_.end(), r.begin(), r.end());
    if (o_.surrogate.enabled)
      for (const auto& e : r)
        if (e.queried) archive_.push_back(e);
    if (pending_.empty()) select();
  }
  int generation() const override { return generation_; }
  Json saveState() const override {
    Json pend = Json::array();
    for (const auto& a : pending_) pend.push_back(a.json());
    Json s = {{"strategy", name()},
              {"asks", asks_},
              {"generation", generation_},
              {"population", evalsToJson(pop_)},
              {"offspring", evalsToJson(offspring_)},
              {"pending", pend},
              {"seen", hashesToJson(seen_)}};
    if (o_.surrogate.enabled) {
      s["archive"] = evalsToJson(archive_);
      s["candidates_scored"] = candidatesScored_;
    }
    return s;
  }
  void loadState(const Json& s) override {
    checkKind(s, name());
    if (o_.surrogate.enabled != s.contains("archive"))
      throw InputError(std::string("nsga2 state was saved ") + (o_.surrogate.enabled ? "without" : "with") +
                       " a surrogate (was the config changed?)");
    asks_ = s.at("asks").get<int>();
    generation_ = s.at("generation").get<int>();
    pop_ = evalsFromJson(s.at("population"));
    offspring_ = evalsFromJson(s.at("offspring"));
    pending_.clear();
    for (const auto& a : s.at("pending")) pending_.push_back(ArchConfig(a));
    seen_ = hashesFromJson(s.at("seen"));
    if (o_.surrogate.enabled) {
      archive_ = evalsFromJson(s.at("archive"));
      candidatesScored_ = s.at("candidates_scored").get<int64_t>();
    }
    rank();
  }
  Json stats() const override {
    if (!o_.surrogate.enabled) return Json::object();
    return {{"fits", fits_}, {"fit_seconds", fitSeconds_}, {"predict_seconds", predictSeconds_},
            {"candidates_scored", candidatesScored_}};
  }

 private:
  void makeGeneration(Rng& rng) {
    if (o_.surrogate.enabled && !pop_.empty() && int(archive_.size()) >= 2) {
      surrogateGeneration(rng);
      return;
    }
    auto seen = [&](const ArchConfig& a) { return seen_.count(a.hash()) > 0; };
    const int n = pop_.empty() ? (o_.surrogate.enabled ? o_.surrogate.initial : o_.population) : o_.offspring;
    for (int i = 0; i < n; ++i) {
      ArchConfig a;
      if (pop_.empty()) {
        a = sampleFresh(rng, seen);
      } else {
        const ArchConfig& p1 = tournament(rng).arch;
        ArchConfig base = p1;
        if (rng.bernoulli(o_.crossoverProb)) base = ctx_.space->crossover(p1, tournament(rng).arch, rng);
        a = seen(base) ? mutateFresh(base, mutationProb(base, o_.mutationProb), rng, seen) : base;
        if (ctx_.screen && screen(a) > 0.0) a = mutateFresh(base, mutationProb(base, o_.mutationProb), rng, seen);
      }
      seen_.insert(a.hash());
      pending_.push_back(a);
    }
  }
  // The child the plain generation would make from tournament parents (before the screen and
  // the unseen check): crossover with crossoverProb, else a copy of the first parent.
  ArchConfig breed(Rng& rng) const {
    const ArchConfig& p1 = tournament(rng).arch;
    if (rng.bernoulli(o_.crossoverProb)) return ctx_.space->crossover(p1, tournament(rng).arch, rng);
    return p1;
  }
  void surrogateGeneration(Rng& rng) {
    const auto& g = o_.surrogate;
    auto seen = [&](const ArchConfig& a) { return seen_.count(a.hash()) > 0; };
    // 1. Fit on every queried arch.
    std::vector<const Evaluation*> known;
    for (const auto& e : archive_) known.push_back(&e);
    SurrogateTarget target;
    Rng fitRng = rng.split(1);
    double t0 = processCpuSeconds();
    auto predictor = fitSurrogate(g.predictor, "search.nsga2.surrogate.predictor", *encoder_, known, g.target, fitRng, &target);
    fitSeconds_ += processCpuSeconds() - t0;
    ++fits_;
    // 2. Candidates: bred children (mutated when the crossover/copy is seen or already a
    // candidate), then uniform ones; unseen, screened, distinct; at most 3 draws per wanted one.
    std::vector<ArchConfig> cands;
    std::set<uint64_t> inPool;
    auto taken = [&](const ArchConfig& a) { return seen_.count(a.hash()) > 0 || inPool.count(a.hash()) > 0; };
    auto offer = [&](ArchConfig a) {
      if (taken(a) || screen(a) > 0.0) return;
      inPool.insert(a.hash());
      cands.push_back(std::move(a));
    };
    for (int t = 0; t < 3 * g.candidates && int(cands.size()) < g.candidates; ++t) {
      ArchConfig base = breed(rng);
      if (taken(base)) base = ctx_.space->mutate(base, mutationProb(base, o_.mutationProb), rng);
      offer(std::move(base));
    }
    const size_t bred = cands.size();
    for (int t = 0; t < 3 * g.randomCandidates && int(cands.size() - bred) < g.randomCandidates; ++t)
      offer(ctx_.space->sample(rng));
    candidatesScored_ += int64_t(cands.size());
    // 3. Score and pick.
    std::vector<size_t> picks;
    if (!cands.empty()) {
      double p0 = processCpuSeconds();
      std::vector<Prediction> pred = predictor->predict(encoder_->encodeBatch(cands));
      std::vector<double> score(cands.size());
      std::vector<std::vector<double>> costs(cands.size());
      for (size_t i = 0; i < cands.size(); ++i) {
        score[i] = pred[i].mean + g.beta * pred[i].stddev;
        costs[i] = ctx_.costs(cands[i]);
      }
      predictSeconds_ += processCpuSeconds() - p0;
      // The evaluated archs that count: feasible and queried, with target(accuracy) so they are
      // on the predictor's scale.
      std::vector<std::pair<double, std::vector<double>>> real;
      for (const auto& e : archive_)
        if (e.queried && e.feasible()) real.push_back({target(e.accuracy), e.costs});
      picks = g.selection == "front_gain" ? pickFrontGain(score, costs, real) : pickRankCrowding(score, costs, real);
    }
    for (size_t i : picks) {
      seen_.insert(cands[i].hash());
      pending_.push_back(cands[i]);
    }
    // Too few candidates (a nearly exhausted neighbourhood): plain children fill up.
    while (int(pending_.size()) < o_.offspring) {
      ArchConfig base = breed(rng);
      ArchConfig a = seen(base) ? mutateFresh(base, mutationProb(base, o_.mutationProb), rng, seen) : base;
      if (ctx_.screen && screen(a) > 0.0) a = mutateFresh(base, mutationProb(base, o_.mutationProb), rng, seen);
      if (seen(a)) a = sampleFresh(rng, seen);
      if (seen(a)) break;  // space exhausted
      seen_.insert(a.hash());
      pending_.push_back(a);
    }
  }
  // front_gain: gain(c) = max over cost axes k of score(c) - best score among the curve's
  // points with cost_k <= cost_k(c) (the lowest score on the curve when none is that cheap). Greedy: the best gain is
  // picked (ties: lower index) and joins the curve with its score.
  std::vector<size_t> pickFrontGain(const std::vector<double>& score, const std::vector<std::vector<double>>& costs,
                                    std::vector<std::pair<double, std::vector<double>>> curve) const {
    std::vector<size_t> picks;
    std::vector<bool> used(score.size(), false);
    const size_t k = size_t(ctx_.numCosts);
    // Below the cheapest point the curve is the lowest evaluated score (not -inf: being cheap
    // alone is no gain).
    double floor = INFINITY;
    for (const auto& p : curve) floor = std::min(floor, p.first);
    if (curve.empty()) floor = -INFINITY;
    while (int(picks.size()) < o_.offspring && picks.size() < score.size()) {
      size_t best = score.size();
      double bestGain = -INFINITY;
      for (size_t i = 0; i < score.size(); ++i) {
        if (used[i]) continue;
        double gain = -INFINITY;
        for (size_t d = 0; d < k; ++d) {
          double att = floor;
          for (const auto& p : curve)
            if (p.second[d] <= costs[i][d]) att = std::max(att, p.first);
          gain = std::max(gain, score[i] - att);
        }
        if (k == 0) gain = score[i];
        if (best == score.size() || gain > bestGain) {
          best = i;
          bestGain = gain;
        }
      }
      used[best] = true;
      picks.push_back(best);
      curve.push_back({score[best], costs[best]});
    }
    return picks;
  }
  // rank_crowding: fronts of {-score, costs} over the candidates and the evaluated points;
  // the first front with an unpicked candidate, its candidates by crowding distance on the whole
  // front (ties: lower index). Greedy: a pick becomes an evaluated point and ranks are redone.
  std::vector<size_t> pickRankCrowding(const std::vector<double>& score, const std::vector<std::vector<double>>& costs,
                                       const std::vector<std::pair<double, std::vector<double>>>& real) const {
    // Only the evaluated points' own front can dominate a candidate at rank 0; keep those.
    std::vector<std::vector<double>> pts;  // objective vectors (minimized)
    auto obj = [](double sc, const std::vector<double>& c) {
      std::vector<double> o{-sc};
      o.insert(o.end(), c.begin(), c.end());
      return o;
    };
    for (const auto& p : real) pts.push_back(obj(p.first, p.second));
    auto dominates = [](const std::vector<double>& a, const std::vector<double>& b) {
      bool strict = false;
      for (size_t i = 0; i < a.size(); ++i) {
        if (a[i] > b[i]) return false;
        if (a[i] < b[i]) strict = true;
      }
      return strict;
    };
    std::vector<std::vector<double>> front;
    for (size_t i = 0; i < pts.size(); ++i) {
      bool dom = false;
      for (size_t j = 0; j < pts.size() && !dom; ++j) dom = j != i && dominates(pts[j], pts[i]);
      if (!dom) front.push_back(pts[i]);
    }
    std::vector<std::vector<double>> cobj(score.size());
    for (size_t i = 0; i < score.size(); ++i) cobj[i] = obj(score[i], costs[i]);
    std::vector<bool> used(score.size(), false);
    std::vector<size_t> picks;
    while (int(picks.size()) < o_.offspring && picks.size() < score.size()) {
      // pool: evaluated front (ids < 0 as -1) + unpicked candidates; ranks by peeling.
      std::vector<int> ids;  // -1 - j for front[j], else candidate index
      std::vector<const std::vector<double>*> pv;
      for (size_t j = 0; j < front.size(); ++j) {
        ids.push_back(-1 - int(j));
        pv.push_back(&front[j]);
      }
      for (size_t i = 0; i < score.size(); ++i)
        if (!used[i]) {
          ids.push_back(int(i));
          pv.push_back(&cobj[i]);
        }
      std::vector<bool> removed(pv.size(), false);
      std::vector<size_t> layer;
      while (true) {
        layer.clear();
        for (size_t a = 0; a < pv.size(); ++a) {
          if (removed[a]) continue;
          bool dom = false;
          for (size_t b = 0; b < pv.size() && !dom; ++b) dom = b != a && !removed[b] && dominates(*pv[b], *pv[a]);
          if (!dom) layer.push_back(a);
        }
        bool hasCand = false;
        for (size_t a : layer) hasCand = hasCand || ids[a] >= 0;
        if (hasCand) break;
        for (size_t a : layer) removed[a] = true;
      }
      // crowding distance on the layer
      const size_t m = layer.size(), dims = pv[layer[0]]->size();
      std::vector<double> dist(m, 0.0);
      for (size_t d = 0; d < dims; ++d) {
        std::vector<size_t> order(m);
        for (size_t i = 0; i < m; ++i) order[i] = i;
        std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return (*pv[layer[a]])[d] < (*pv[layer[b]])[d]; });
        double lo = (*pv[layer[order.front()]])[d], hi = (*pv[layer[order.back()]])[d];
        dist[order.front()] = dist[order.back()] = INFINITY;
        if (hi <= lo) continue;
        for (size_t r = 1; r + 1 < m; ++r)
          dist[order[r]] += ((*pv[layer[order[r + 1]]])[d] - (*pv[layer[order[r - 1]]])[d]) / (hi - lo);
      }
      size_t best = 0;
      double bestD = -1.0;
      bool have = false;
      for (size_t i = 0; i < m; ++i) {
        int id = ids[layer[i]];
        if (id < 0) continue;
        if (!have || dist[i] > bestD || (dist[i] == bestD && size_t(id) < best)) {
          best = size_t(id);
          bestD = dist[i];
          have = true;
        }
      }
      used[best] = true;
      picks.push_back(best);
      front.push_back(cobj[best]);
    }
    return picks;
  }
  const Evaluation& tournament(Rng& rng) const {
    size_t a = rng.uniformInt(pop_.size()), b = rng.uniformInt(pop_.size());
    if (rank_[a] != rank_[b]) return rank_[a] < rank_[b] ? pop_[a] : pop_[b];
    if (crowd_[a] != crowd_[b]) return crowd_[a] > crowd_[b] ? pop_[a] : pop_[b];
    return pop_[std::min(a, b)];
  }
  void select() {
    std::vector<Evaluation> all = pop_;
    all.insert(all.end(), offspring_.begin(), offspring_.end());
    offspring_.clear();
    std::vector<Evaluation> next;
    for (const auto& f : nonDominatedSort(all)) {
      if (next.size() + f.size() <= size_t(o_.population)) {
        for (int i : f) next.push_back(all[size_t(i)]);
        continue;
      }
      std::vector<double> d = crowdingDistance(all, f);
      std::vector<size_t> order(f.size());
      for (size_t i = 0; i < f.size(); ++i) order[i] = i;
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return d[a] > d[b]; });
      for (size_t i = 0; next.size() < size_t(o_.population); ++i) next.push_back(all[size_t(f[order[i]])]);
      break;
    }
    pop_ = std::move(next);
    ++generation_;
    rank();
  }
  void rank() {
    rank_.assign(pop_.size(), 0);
    crowd_.assign(pop_.size(), 0.0);
    auto fronts = nonDominatedSort(pop_);
    for (size_t r = 0; r < fronts.size(); ++r) {
      auto d = crowdingDistance(pop_, fronts[r]);
      for (size_t i = 0; i < fronts[r].size(); ++i) {
        rank_[size_t(fronts[r][i])] = int(r);
        crowd_[size_t(fronts[r][i])] = d[i];
      }
    }
  }
  Nsga2Options o_;
  std::vector<Evaluation> pop_, offspring_;
  std::deque<ArchConfig> pending_;
  std::set<uint64_t> seen_;
  std::vector<int> rank_;
  std::vector<double> crowd_;
  int generation_ = 0;
  // surrogate only
  std::unique_ptr<Encoder> encoder_;
  std::vector<Evaluation> archive_;  // every queried evaluation, in tell order
  int64_t candidatesScored_ = 0;
  int fits_ = 0;
  double fitSeconds_ = 0.0, predictSeconds_ = 0.0;  // process CPU time (diagnostics, not state)
};

// ---------------------------------------------------------------- local search
// Hill climbing with restarts (White et al. 2020): evaluate the whole neighbourhood of the
// current arch (one decision changed), move to its best member if it beats the current one,
// otherwise restart from a fresh random arch.
class LocalSearch : public Strategy {
 public:
  LocalSearch(StrategyContext ctx, const LocalSearchOptions& o) : Strategy(std::move(ctx)), o_(o) {}
  std::string name() const override { return "local"; }
  std::vector<ArchConfig> ask(int n) override {
    Rng rng = nextRng();
    auto seen = [&](const ArchConfig& a) { return seen_.count(a.hash()) > 0; };
    std::vector<ArchConfig> out;
    while (int(out.size()) < n) {
      if (!hasCurrent_ && !startPending_) {
        ArchConfig a = sampleFresh(rng, seen);
        seen_.insert(a.hash());
        out.push_back(a);
        startPending_ = true;  // its evaluation becomes the current point
        break;
      }
      if (startPending_) break;
      if (queue_.empty()) {
        // Neighbourhood done: move or restart (decided on what has been told so far).
        if (bestNeighbour_.arch.json().empty() || !betterSingle(bestNeighbour_, current_)) {
          hasCurrent_ = false;
        } else {
          current_ = bestNeighbour_;
          fillQueue(rng);
        }
        bestNeighbour_ = Evaluation{};
        if (!hasCurrent_) continue;
        if (queue_.empty()) {
          hasCurrent_ = false;
          continue;
        }
      }
      ArchConfig a = queue_.front();
      queue_.pop_front();
      if (seen(a)) continue;
      seen_.insert(a.hash());
      out.push_back(a);
    }
    return out;
  }
  void tell(const std::vector<Evaluation>& r) override {
    for (const auto& e : r) {
      if (startPending_) {
        startPending_ = false;
        hasCurrent_ = true;
        current_ = e;
        pendingFill_ = true;
        continue;
      }
      if (bestNeighbour_.arch.json().empty() || betterSingle(e, bestNeighbour_)) bestNeighbour_ = e;
    }
    if (pendingFill_) {
      Rng rng = Rng(ctx_.seed ^ 0x5bd1e995ull).split(uint64_t(asks_));
      fillQueue(rng);
      pendingFill_ = false;
    }
  }
  Json saveState() const override {
    Json q = Json::array();
    for (const auto& a : queue_) q.push_back(a.json());
    return {{"strategy", name()},
            {"asks", asks_},
            {"has_current", hasCurrent_},
            {"start_pending", startPending_},
            {"current", evaluationToJson(current_)},
            {"best_neighbour", bestNeighbour_.arch.json().empty() ? Json(nullptr) : evaluationToJson(bestNeighbour_)},
            {"queue", q},
            {"seen", hashesToJson(seen_)}};
  }
  void loadState(const Json& s) override {
    checkKind(s, name());
    asks_ = s.at("asks").get<int>();
    hasCurrent_ = s.at("has_current").get<bool>();
    startPending_ = s.at("start_pending").get<bool>();
    current_ = evaluationFromJson(s.at("current"));
    bestNeighbour_ = s.at("best_neighbour").is_null() ? Evaluation{} : evaluationFromJson(s.at("best_neighbour"));
    queue_.clear();
    for (const auto& a : s.at("queue")) queue_.push_back(ArchConfig(a));
    seen_ = hashesFromJson(s.at("seen"));
  }

 private:
  void fillQueue(Rng& rng) {
    queue_.clear();
    std::vector<ArchConfig> nb;
    if (ctx_.space->kind() == "nb201") {
      auto e = Nb201Space::edges(current_.arch.json().empty() ? ArchConfig() : current_.arch);
      for (int i = 0; i < Nb201Space::kEdges; ++i)
        for (int op = 0; op < Nb201Space::kOps; ++op) {
          if (op == e[size_t(i)]) continue;
          auto f = e;
          f[size_t(i)] = op;
          nb.push_back(Nb201Space::fromEdges(f));
        }
    } else {
      int d = numDecisions(current_.arch);
      int want = o_.neighbours > 0 ? o_.neighbours : 4 * d;
      std::set<uint64_t> got;
      for (int t = 0; t < 20 * want && int(nb.size()) < want; ++t) {
        ArchConfig a = ctx_.space->mutate(current_.arch, mutationProb(current_.arch, o_.mutationProb), rng);
        if (a == current_.arch || !got.insert(a.hash()).second) continue;
        nb.push_back(a);
      }
    }
    // Shuffle (Fisher-Yates with our Rng), drop screened-out and seen neighbours.
    for (size_t i = nb.size(); i > 1; --i) std::swap(nb[i - 1], nb[rng.uniformInt(i)]);
    for (auto& a : nb)
      if (!seen_.count(a.hash()) && screen(a) <= 0.0) queue_.push_back(a);
  }
  LocalSearchOptions o_;
  bool hasCurrent_ = false, startPending_ = false, pendingFill_ = false;
  Evaluation current_, bestNeighbour_;
  std::deque<ArchConfig> queue_;
  std::set<uint64_t> seen_;
};

}  // namespace

std::unique_ptr<Strategy> makeRandomSearch(StrategyContext ctx, const RandomSearchOptions&) {
  return std::make_unique<RandomSearch>(std::move(ctx));
}
std::unique_ptr<Strategy> makeEvolution(StrategyContext ctx, const EvolutionOptions& o) {
  return std::make_unique<Evolution>(std::move(ctx), o);
}
std::unique_ptr<Strategy> makeNsga2(StrategyContext ctx, const Nsga2Options& o) {
  return std::make_unique<Nsga2>(std::move(ctx), o);
}
std::unique_ptr<Strategy> makeLocalSearch(StrategyContext ctx, const LocalSearchOptions& o) {
  return std::make_unique<LocalSearch>(std::move(ctx), o);
}

}  // namespace hwnas
