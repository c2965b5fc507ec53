// Random search, regularized (aging) evolution, NSGA-II and local search.
#include <algorithm>
#include <deque>
#include <limits>
#include <set>

#include "core/error.h"
#include "nas/strategy.h"
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
class Nsga2 : public Strategy {
 public:
  Nsga2(StrategyContext ctx, const Nsga2Options& o) : Strategy(std::move(ctx)), o_(o) {
    if (o_.population < 4) throw InputError("nsga2: population must be >= 4");
    if (o_.offspring <= 0) o_.offspring = o_.population;
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
    if (pending_.empty()) select();
  }
  int generation() const override { return generation_; }
  Json saveState() const override {
    Json pend = Json::array();
    for (const auto& a : pending_) pend.push_back(a.json());
    return {{"strategy", name()},
            {"asks", asks_},
            {"generation", generation_},
            {"population", evalsToJson(pop_)},
            {"offspring", evalsToJson(offspring_)},
            {"pending", pend},
            {"seen", hashesToJson(seen_)}};
  }
  void loadState(const Json& s) override {
    checkKind(s, name());
    asks_ = s.at("asks").get<int>();
    generation_ = s.at("generation").get<int>();
    pop_ = evalsFromJson(s.at("population"));
    offspring_ = evalsFromJson(s.at("offspring"));
    pending_.clear();
    for (const auto& a : s.at("pending")) pending_.push_back(ArchConfig(a));
    seen_ = hashesFromJson(s.at("seen"));
    rank();
  }

 private:
  void makeGeneration(Rng& rng) {
    auto seen = [&](const ArchConfig& a) { return seen_.count(a.hash()) > 0; };
    const int n = pop_.empty() ? o_.population : o_.offspring;
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
