// SearchEngine: runs a Strategy against a SearchProblem: ask a fixed-size batch, look up free
// metrics and screen, query the accuracy of new feasible archs in parallel (TBB, grain 1),
// tell the results in ask order, commit the step with the strategy's state. Invariants: the
// budget counts distinct accuracy queries only (repeats are answered from the run's cache and
// screened-out archs are never queried); given a seed the sequence of proposals and results is
// identical at any thread count and across kill -9 + resume.
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nas/results_store.h"
#include "nas/search_problem.h"

namespace hwnas {

struct SearchRunOptions {
  bool resume = false;   // continue the store's run from its last committed step
  int stepDelayMs = 0;   // test hook: sleep after each committed step (to kill a run mid-way)
  // Set (e.g. by a SIGINT handler) to stop before the next step: the run ends with the steps
  // committed so far and SearchOutcome::interrupted set; --resume continues it.
  const std::atomic<bool>* stop = nullptr;
  // Evaluates a step's new queries (several archs) instead of the local parallel loop, e.g. over
  // MPI ranks (nas/distributed.h); it must return problem.accuracy(arch) for each, in order.
  std::function<std::vector<double>(const std::vector<ArchConfig>&)> evaluate;
  std::function<void(int64_t queries, int64_t budget, double best)> onStep;
  // Phases (hierarchical search, nas/hierarchical.h): the rows and steps are stored under
  // `phase`; resume continues this phase's last step; a new phase's steps follow the store's
  // last step. `queries` > 0 replaces the config's budget, `strategy` the config's strategy
  // (e.g. one over a phase's sub-space). Defaults: "", the config's budget and strategy.
  std::string phase;
  int64_t queries = 0;
  std::function<std::unique_ptr<Strategy>()> strategy;
  // > 0: end the run once this many steps in a row brought no new query (a small sub-space the
  // strategy keeps re-proposing); counted from the stored steps on resume. 0: off (the default).
  int64_t stallSteps = 0;
  bool* stalled = nullptr;  // set to whether the run ended by stallSteps
};

struct SearchOutcome {
  std::vector<QueryRow> rows;  // every proposal, in order
  int64_t queries = 0;         // counted accuracy queries
  int64_t steps = 0;           // steps of this run's phase
  int64_t proposals = 0;
  std::optional<size_t> best;  // index into rows: the best feasible queried arch (earliest on ties)
  bool resumed = false;
  bool interrupted = false;    // stopped by SearchRunOptions::stop before the budget was spent
  Json strategyStats;          // Strategy::stats() at the end
};

class SearchEngine {
 public:
  // `store` may be null (no persistence: tests, benches).
  SearchEngine(const SearchProblem& problem, ResultsStore* store);
  SearchOutcome run(const SearchRunOptions& options = {});

 private:
  const SearchProblem& problem_;
  ResultsStore* store_;
};

// The best feasible queried row (highest accuracy, earliest on ties).
std::optional<size_t> bestRow(const std::vector<QueryRow>& rows);

}  // namespace hwnas
