// ResultsStore: a search's results in one SQLite file (DIR/search.db; WAL, user_version 1):
// the run (config and its hash), every proposal with its arch, hash, metrics, step and
// generation, and per step the strategy's state. Invariant: a step's rows and the strategy
// state after it are committed in one transaction, so after a crash the file holds whole steps
// and the state that continues exactly after the last one.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "core/sqlite.h"
#include "search_spaces/arch_config.h"

namespace hwnas {

// One proposal as stored.
struct QueryRow {
  int64_t seq = 0;        // 0-based, in the order proposals were told
  int64_t step = 0;
  int64_t generation = 0;
  ArchConfig arch;
  std::string hash;       // arch.hashHex()
  bool counted = false;   // a new accuracy query (counts toward the budget)
  bool queried = false;   // the accuracy is known (counted now or cached from an earlier query)
  double accuracy = 0.0;  // meaningful only when queried
  double violation = 0.0; // 0 = meets every constraint
  Json metrics;           // {"valid_acc": ..., "latency_pixel3_ms": ..., ...}
  // The search phase that proposed it: "" (a joint search, table mode), "macro", "micro:<k>"
  // (hierarchical search), "verify" (the predictor search's finalists re-scored by the supernet).
  std::string phase;
};

// One subnet of the pipeline's predictor stage: evaluated with the supernet to fit the accuracy
// predictor, never a search query (table `predictor_samples`).
struct PredictorSample {
  int64_t seq = 0;
  ArchConfig arch;
  std::string hash;
  double accuracy = 0.0;  // the supernet's inherited validation accuracy (%)
  bool heldOut = false;   // in the seeded held-out part (ranking metrics), not in the first fit
};

struct RunInfo {
  std::string configHash;
  Json config;
  std::string spaceId, strategy, status;  // status: running | done
  uint64_t seed = 0;
  int64_t budget = 0;
};

// One pipeline stage (nas/pipeline.h): done once its output is complete; times and peak RSS.
struct StageRow {
  std::string name;    // supernet | latency | search | finalists | export
  std::string status;  // running | done
  double seconds = 0;  // wall time of the run that completed it (summed over resumed attempts)
  int64_t peakRssBytes = 0;
  int attempts = 0;
  Json output;         // what the stage produced (paths, counts, the winner, budgets)
};

struct StepInfo {
  int64_t step = -1;  // -1: no step committed
  int64_t queries = 0;
  Json state;
};

class ResultsStore {
 public:
  static constexpr int kSchemaVersion = 1;
  // Opens or creates; DbError (exit 2) for a file of another schema version or not SQLite.
  explicit ResultsStore(const std::string& path);

  std::optional<RunInfo> run();
  void startRun(const RunInfo& info);
  void setStatus(const std::string& status);
  // Appends the step's rows and its state in one transaction.
  // The rows carry their phase; the step is recorded under `phase` (QueryRow::phase).
  void commitStep(int64_t step, int64_t queries, const std::vector<QueryRow>& rows, const Json& state,
                  const std::string& phase = "");
  // The last committed step of any phase, or of `phase` only (its `queries` count that phase's).
  StepInfo lastStep();
  StepInfo lastStep(const std::string& phase);
  int64_t nextSeq();                                        // 1 + the largest seq stored (0 when none)
  std::vector<QueryRow> queries();                          // every phase, in seq order
  std::vector<QueryRow> queries(const std::string& phase);  // one phase, in seq order
  // Predictor stage samples (nas/pipeline.h), appended in order, each batch in one transaction.
  void addPredictorSamples(const std::vector<PredictorSample>& samples);
  std::vector<PredictorSample> predictorSamples();
  // Pipeline stages (table `stages`, created on open when missing: an additive table, so the
  // schema version stays 1 and table-mode files are unchanged).
  std::optional<StageRow> stage(const std::string& name);
  std::vector<StageRow> stages();
  void putStage(const StageRow& row);
  Database& db() { return db_; }

 private:
  std::vector<QueryRow> readQueries(const std::string* phase);  // null: every phase
  Database db_;
};

}  // namespace hwnas
