#include "nas/search_engine.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <chrono>
#include <cmath>
#include <map>
#include <set>
#include <thread>

#include "core/error.h"
#include "search_spaces/nb201_space.h"

namespace hwnas {

std::optional<size_t> bestRow(const std::vector<QueryRow>& rows) {
  std::optional<size_t> best;
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    if (!r.queried || r.violation > 0.0) continue;
    if (!best || r.accuracy > rows[*best].accuracy) best = i;
  }
  return best;
}

SearchEngine::SearchEngine(const SearchProblem& problem, ResultsStore* store) : problem_(problem), store_(store) {}

SearchOutcome SearchEngine::run(const SearchRunOptions& options) {
  const auto& set = problem_.settings();
  std::unique_ptr<Strategy> strategy = options.strategy ? options.strategy() : problem_.makeStrategy();
  const int64_t budget = options.queries > 0 ? options.queries : set.queries;
  SearchOutcome out;
  std::map<uint64_t, double> cache;  // arch hash -> accuracy of every queried arch
  int64_t step = 0, phaseSteps = 0, stall = 0;
  if (store_) step = store_->lastStep().step + 1;  // a new phase follows every stored step
  if (options.resume && store_) {
    StepInfo last = store_->lastStep(options.phase);
    if (last.step >= 0) {
      strategy->loadState(last.state);
      out.rows = store_->queries(options.phase);
      out.queries = last.queries;
      step = last.step + 1;
      out.resumed = true;
      std::map<int64_t, int64_t> counted;  // step -> its new queries
      for (const auto& r : out.rows) {
        if (r.queried) cache[r.arch.hash()] = r.accuracy;
        counted[r.step] += r.counted;
      }
      phaseSteps = int64_t(counted.size());
      for (auto it = counted.rbegin(); it != counted.rend() && it->second == 0; ++it) ++stall;
    }
  }
  int64_t seq = store_ ? store_->nextSeq() : int64_t(out.rows.size());  // phases share one sequence
  const std::string accName = problem_.accuracyName();
  const auto& cons = problem_.constraints();
  const auto& mins = problem_.minimize();
  if (options.stalled) *options.stalled = false;
  while (out.queries < budget && phaseSteps < set.maxSteps) {
    if (options.stallSteps > 0 && stall >= options.stallSteps) {
      if (options.stalled) *options.stalled = true;
      break;
    }
    if (options.stop && options.stop->load()) {
      out.interrupted = true;
      break;
    }
    int n = int(std::min<int64_t>(set.batch, budget - out.queries));
    std::vector<ArchConfig> cands = strategy->ask(n);
    if (cands.empty()) break;  // the space is exhausted
    const int generation = strategy->generation();
    const size_t m = cands.size();
    std::vector<FreeMetrics> fm(m);
    tbb::parallel_for(tbb::blocked_range<size_t>(0, m, 1), [&](const tbb::blocked_range<size_t>& r) {
      for (size_t i = r.begin(); i != r.end(); ++i) fm[i] = problem_.freeMetrics(cands[i]);
    });
    // Which proposals are new queries: decided in ask order, so the count is thread-independent.
    std::vector<int> kind(m, 0);  // 0 screened, 1 cached, 2 new query
    std::vector<size_t> fresh;
    std::set<uint64_t> inBatch;
    for (size_t i = 0; i < m; ++i) {
      if (fm[i].violation > 0.0) continue;
      uint64_t h = cands[i].hash();
      if (cache.count(h) || inBatch.count(h)) {
        kind[i] = 1;
      } else {
        kind[i] = 2;
        inBatch.insert(h);
        fresh.push_back(i);
      }
    }
    std::vector<double> acc(m, NAN);
    if (options.evaluate && !fresh.empty()) {
      std::vector<ArchConfig> archs;
      for (size_t i : fresh) archs.push_back(cands[i]);
      const std::vector<double> a = options.evaluate(archs);
      if (a.size() != archs.size()) throw Error("search: the evaluator returned " + std::to_string(a.size()) + " accuracies for " +
                                                std::to_string(archs.size()) + " archs");
      for (size_t k = 0; k < fresh.size(); ++k) acc[fresh[k]] = a[k];
    } else {
      tbb::parallel_for(tbb::blocked_range<size_t>(0, fresh.size(), 1), [&](const tbb::blocked_range<size_t>& r) {
        for (size_t k = r.begin(); k != r.end(); ++k) acc[fresh[k]] = problem_.accuracy(cands[fresh[k]]);
      });
    }
    for (size_t i : fresh) cache[cands[i].hash()] = acc[i];
    std::vector<Evaluation> evals(m);
    std::vector<QueryRow> rows(m);
    for (size_t i = 0; i < m; ++i) {
      Evaluation& e = evals[i];
      e.arch = cands[i];
      e.queried = kind[i] != 0;
      e.accuracy = e.queried ? cache[cands[i].hash()] : NAN;
      e.costs = fm[i].costs;
      e.violation = fm[i].violation;
      QueryRow& q = rows[i];
      q.seq = seq + int64_t(i);
      q.step = step;
      q.generation = generation;
      q.arch = cands[i];
      q.hash = cands[i].hashHex();
      q.counted = kind[i] == 2;
      q.queried = e.queried;
      q.accuracy = e.queried ? e.accuracy : 0.0;
      q.violation = e.violation;
      Json mj = Json::object();
      if (e.queried) mj[accName] = e.accuracy;
      for (size_t c = 0; c < cons.size(); ++c) mj[cons[c].metric.label()] = fm[i].constraintValues[c];
      for (size_t c = 0; c < mins.size(); ++c) mj[mins[c].label()] = fm[i].costs[c];
      q.metrics = std::move(mj);
      q.phase = options.phase;
    }
    out.queries += int64_t(fresh.size());
    stall = fresh.empty() ? stall + 1 : 0;
    strategy->tell(evals);
    if (store_) store_->commitStep(step, out.queries, rows, strategy->saveState(), options.phase);
    for (auto& r : rows) out.rows.push_back(std::move(r));
    seq += int64_t(m);
    ++step;
    ++phaseSteps;
    if (options.onStep) {
      auto b = bestRow(out.rows);
      options.onStep(out.queries, budget, b ? out.rows[*b].accuracy : NAN);
    }
    if (options.stepDelayMs > 0) std::this_thread::sleep_for(std::chrono::milliseconds(options.stepDelayMs));
  }
  out.steps = phaseSteps;
  out.proposals = int64_t(out.rows.size());
  out.best = bestRow(out.rows);
  out.strategyStats = strategy->stats();
  return out;
}

}  // namespace hwnas
