// Strategy: a search algorithm as an ask/tell loop over ArchConfigs. ask(n) proposes up to n
// architectures, tell() receives their evaluations in ask order; saveState()/loadState() make
// the strategy resumable exactly. Invariants: a strategy draws randomness only from
// Rng(seed).split(k) for its k-th ask call, so (seed, sequence of tells) fixes every proposal;
// loadState(saveState()) continues with the same proposals as the uninterrupted object.
#pragma once
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "core/rng.h"
#include "search_spaces/search_space.h"

namespace hwnas {

// What the engine learned about one proposed architecture.
struct Evaluation {
  ArchConfig arch;
  // true when the accuracy was looked up (a counted query or a cached one); false when a free
  // constraint (latency, params, ...) ruled the arch out before any accuracy query.
  bool queried = false;
  double accuracy = NAN;      // the maximized objective (e.g. valid_acc in %); NaN unless queried
  std::vector<double> costs;  // the extra minimized objectives, in config order (always known)
  double violation = 0.0;     // sum over constraints of max(0, value / max - 1); 0 = feasible

  bool feasible() const { return violation <= 0.0; }
  // Minimized objective vector: {-accuracy, costs...}.
  std::vector<double> objectives() const;
};

// Feasibility first (Deb): feasible beats infeasible, less violation beats more, then higher
// accuracy. Strict: false for ties.
bool betterSingle(const Evaluation& a, const Evaluation& b);
// Constraint domination on objectives(): feasible dominates infeasible; between infeasible,
// less violation dominates; between feasible, Pareto dominance (<= everywhere, < somewhere).
bool constraintDominates(const Evaluation& a, const Evaluation& b);

// Non-dominated sorting by constraintDominates: fronts of indices into `pop`, front 0 first,
// each front in ascending index order.
std::vector<std::vector<int>> nonDominatedSort(const std::vector<Evaluation>& pop);
// Crowding distance of each member of `front` (indices into pop) on objectives(); boundary
// points get +inf. Infeasible members use violation as their single objective.
std::vector<double> crowdingDistance(const std::vector<Evaluation>& pop, const std::vector<int>& front);

// Free screening: the constraint violation computed from free metrics only (latency tables,
// costs), before any accuracy query; 0 = feasible. Strategies use it to redraw infeasible
// proposals. An empty function means "no free constraints".
using ScreenFn = std::function<double(const ArchConfig&)>;
// Free costs: the extra minimized objectives (Evaluation::costs, config order) of an arch from
// free metrics only, before any accuracy query. Surrogate-assisted NSGA-II ranks unevaluated
// candidates with them.
using CostsFn = std::function<std::vector<double>(const ArchConfig&)>;

struct StrategyContext {
  const SearchSpace* space = nullptr;
  uint64_t seed = 0;
  ScreenFn screen;
  CostsFn costs;     // may be empty (then strategies that need it say so)
  int numCosts = 0;  // length of Evaluation::costs
};

class Strategy {
 public:
  virtual ~Strategy() = default;
  virtual std::string name() const = 0;
  // Up to n proposals (n >= 1); may return fewer only when the space is exhausted.
  virtual std::vector<ArchConfig> ask(int n) = 0;
  // Evaluations of the last ask, in ask order (same length).
  virtual void tell(const std::vector<Evaluation>& results) = 0;
  // The strategy's generation (NSGA-II, evolution cycle) or step, for the results store.
  virtual int generation() const { return asks_; }
  virtual Json saveState() const = 0;
  virtual void loadState(const Json& state) = 0;
  // Diagnostics that are not state (timings, counters since construction), for benches.
  virtual Json stats() const { return Json::object(); }

 protected:
  explicit Strategy(StrategyContext ctx) : ctx_(std::move(ctx)) {}
  // The generator for the next ask: Rng(seed).split(asks_++).
  Rng nextRng() { return Rng(ctx_.seed).split(uint64_t(asks_++)); }
  double screen(const ArchConfig& a) const { return ctx_.screen ? ctx_.screen(a) : 0.0; }
  // A random architecture that passes the screen and is not in `seen` when one is found within
  // `tries` draws; otherwise the least-violating unseen draw (or the last draw).
  template <class SeenFn>
  ArchConfig sampleFresh(Rng& rng, const SeenFn& seen, int tries = 200) const;
  // A mutation of `parent` that differs from it, passes the screen and is unseen, within tries.
  template <class SeenFn>
  ArchConfig mutateFresh(const ArchConfig& parent, double prob, Rng& rng, const SeenFn& seen, int tries = 200) const;
  double mutationProb(const ArchConfig& a, double configured) const;

  StrategyContext ctx_;
  int asks_ = 0;
};

// Json <-> Evaluation (accuracy NaN is stored as null).
Json evaluationToJson(const Evaluation& e);
Evaluation evaluationFromJson(const Json& j);

// The number of scalar decisions in an arch (leaves of its JSON): NB201 has 6.
int numDecisions(const ArchConfig& a);

template <class SeenFn>
ArchConfig Strategy::sampleFresh(Rng& rng, const SeenFn& seen, int tries) const {
  ArchConfig best;
  double bestViol = INFINITY;
  bool have = false;
  for (int t = 0; t < tries; ++t) {
    ArchConfig a = ctx_.space->sample(rng);
    if (seen(a)) {
      if (!have) best = a;
      continue;
    }
    double v = screen(a);
    if (v <= 0.0) return a;
    if (v < bestViol) {
      bestViol = v;
      best = a;
      have = true;
    }
  }
  return best;
}

template <class SeenFn>
ArchConfig Strategy::mutateFresh(const ArchConfig& parent, double prob, Rng& rng, const SeenFn& seen, int tries) const {
  ArchConfig best = parent;
  double bestViol = INFINITY;
  bool have = false;
  for (int t = 0; t < tries; ++t) {
    ArchConfig a = ctx_.space->mutate(parent, prob, rng);
    if (a == parent) continue;
    if (seen(a)) {
      if (!have) best = a;
      continue;
    }
    double v = screen(a);
    if (v <= 0.0) return a;
    if (v < bestViol) {
      bestViol = v;
      best = a;
      have = true;
    }
  }
  return best;
}

// --- the strategies ---

struct RandomSearchOptions {};
struct EvolutionOptions {
  int population = 20;
  int sampleSize = 5;          // tournament size
  double mutationProb = 0.0;   // per decision; 0 = 1 / number of decisions
};
// Surrogate-assisted NSGA-II (NSGANetV2 / MSuNAS style): after `initial` random archs, each
// generation fits the predictor on every queried arch, breeds `candidates` unseen, screened
// children with the usual operators, scores them (mean + beta * stddev of the prediction) and
// evaluates the `offspring` best by `selection`:
//  - rank_crowding: non-dominated rank of (score, free costs) among the candidates and the
//    evaluated archs' front, then crowding distance on that front; greedy, each pick joins the
//    front with its score so the next picks spread out;
//  - front_gain: the largest gain of the score over the evaluated archs' attainment curve
//    (best accuracy at or below the candidate's cost) on any one cost axis (greedy the same way).
// Survival of the real population stays NSGA-II on the real accuracies.
struct Nsga2SurrogateOptions {
  bool enabled = false;
  int initial = 0;                 // random archs before the first fit (0: the population)
  int candidates = 500;            // bred (unseen, screened, distinct) and predicted per generation
  int randomCandidates = 0;        // plus uniform random ones
  // Defaults: the settings tuned on the two-device NB201 bench (docs/search.md).
  std::string selection = "rank_crowding";  // rank_crowding | front_gain
  double beta = 1.0;               // score = mean + beta * stddev
  std::string encoding = "onehot+path+cellstats";
  std::string target = "clip";     // as GuidedOptions::target
  Json predictor;                  // a makePredictor spec; default: defaultSurrogatePredictor()
};
struct Nsga2Options {
  int population = 50;  // survivors kept (the parent pool)
  int offspring = 0;    // children per generation (0: the population, as in Deb et al.)
  double crossoverProb = 0.5;
  double mutationProb = 0.0;
  Nsga2SurrogateOptions surrogate;
};
struct LocalSearchOptions {
  double mutationProb = 0.0;   // for spaces without exact neighbourhoods
  int neighbours = 0;          // 0 = the full one-edit neighbourhood (NB201) or 4 x decisions
};
struct GuidedOptions {
  int initial = 10;            // random (feasible) archs before the predictor is used
  int parents = 10;            // top archs mutated into candidates
  int candidates = 200;        // mutated candidates per ask
  int randomCandidates = 0;    // plus uniform random candidates per ask
  double mutationProb = 0.0;
  std::string acquisition = "its";  // its | ucb | ei
  double ucbBeta = 1.0;
  std::string encoding = "onehot";  // an encoder from predictors/
  // What the predictor is fitted on: raw accuracy, log_error = -log(100.5 - acc) (stretches
  // the top, squashes the collapsed archs), or clip = max(acc, median of what was queried).
  std::string target = "raw";
  Json predictor;              // a makePredictor spec; default: 5-member XGBoost ensemble
};

// --- accuracy surrogates shared by the guided strategy and surrogate-assisted NSGA-II ---
class Encoder;
class AccuracyPredictor;

// What a surrogate is fitted on (GuidedOptions::target): raw accuracy, log_error =
// -log(100.5 - acc), or clip = max(acc, floor) with floor the median of what was queried.
struct SurrogateTarget {
  std::string kind = "raw";
  double floor = -INFINITY;
  double operator()(double acc) const;
};
// The default predictor spec: a 5-member bootstrap ensemble of XGBoost (200 rounds, depth 6,
// eta 0.1, nthread 1).
Json defaultSurrogatePredictor();
// Process CPU seconds (all threads), for the surrogate strategies' fit-time diagnostics; never state.
double processCpuSeconds();
// Builds a predictor from `spec` (errors name `where`) and fits it on the encoded archs of
// `known` (all queried) against target(accuracy); `target` gets the floor of `kind`.
std::unique_ptr<AccuracyPredictor> fitSurrogate(const Json& spec, const std::string& where, const Encoder& encoder,
                                                const std::vector<const Evaluation*>& known, const std::string& kind,
                                                Rng& rng, SurrogateTarget* target);

std::unique_ptr<Strategy> makeRandomSearch(StrategyContext ctx, const RandomSearchOptions& o = {});
std::unique_ptr<Strategy> makeEvolution(StrategyContext ctx, const EvolutionOptions& o);
std::unique_ptr<Strategy> makeNsga2(StrategyContext ctx, const Nsga2Options& o);
std::unique_ptr<Strategy> makeLocalSearch(StrategyContext ctx, const LocalSearchOptions& o);
std::unique_ptr<Strategy> makeGuided(StrategyContext ctx, const GuidedOptions& o);

}  // namespace hwnas
