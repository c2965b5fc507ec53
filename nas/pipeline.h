// Pipeline: nas-search's main job for a config with `kind: pipeline`: supernet (train from a
// recipe into DIR/supernet, or load one) -> latency (profile this CPU into DIR/lut.db, or use a
// given table; frozen for the run) -> predictor (optional: supernet samples, a fitted accuracy
// predictor and its held-out Kendall tau) -> search (the SearchEngine with the supernet's
// inherited accuracy or the predictor's, re-scored by the supernet at the end; joint or
// hierarchical macro -> micro, nas/hierarchical.h; the LUT latency and analytic devices) -> finalists (the top-k trained from scratch with the trainer's
// loop, the winner picked on validation accuracy, then its test accuracy; latency measured with
// the runtime, interleaved, next to the LUT's prediction; the baseline (refnet) trained with the
// same budget) -> export (the winner through the exporter: model.onnx with BN folded and the
// targets' packages, default the CPU one), and report.md. SIGINT/SIGTERM stop at safe points
// (PipelineOptions::stop, Interrupted); under MPI the search's queries and the finalists'
// training spread over ranks (PipelineOptions::pool, nas/distributed.h).
// Invariants: the config is validated whole before anything is written; each stage is recorded
// in search.db's `stages` table when its output is complete and is skipped on --resume when
// that output is still valid; every stage loop is seeded and bounded, and a resumed run ends
// with the same winner as an uninterrupted one (the latency table is never re-measured).
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/json_util.h"
#include "nas/search_problem.h"
#include "search_spaces/supernet_recipe.h"
#include "trainer/model_def.h"
#include "trainer/training.h"

namespace hwnas {

class Transport;
class WorkerPool;

struct FinalistSettings {
  int topK = 3;
  TrainOptions train;         // from-scratch budget, nas-train's default recipe
  std::string baselinePath;   // the baseline model YAML (refnet), trained with the same budget
  ModelDef baseline;
  int measureRuns = 40;       // timed runs per network (interleaved, min statistic as the LUT)
  int measureWarmup = 3;
};

// export: {enabled, targets, recipe, measure_accuracy, measure_latency}: the winner goes through
// the exporter (exporter/export_pipeline.h) with the recipe (default: fold_bn only), then
// model.onnx and each target's package (exporter/backend.h) are written into DIR/export/.
struct ExportSettings {
  bool enabled = true;
  std::vector<std::string> targets = {"cpu"};  // beside model.onnx, which is always written
  std::string recipePath;                      // empty: defaultExportRecipe() (fold_bn)
  bool measureAccuracy = false;                // the exporter's accuracy columns (runtime plan)
  bool measureLatency = false;                 // the exporter's latency columns (this CPU)
};

// predictor: {samples, holdout, spec, encoding}: the predictor stage evaluates `samples` seeded
// random feasible subnets with the supernet (search.db table predictor_samples, not queries),
// fits `spec` (a makePredictor spec) on the `encoding` of the non-held-out part, reports Kendall
// tau / Spearman rho / RMSE on the seeded held-out part, then refits on all samples into
// DIR/predictor/predictor.json: the `predictor` accuracy source of the search.
struct PredictorSettings {
  bool enabled = false;
  int samples = 100;
  double holdout = 0.2;
  Json spec;                     // default: defaultPipelinePredictor()
  std::string encoding = "onehot";
};
// A 5-member bagged ensemble of ridge regressions (alpha 1) on the encoding.
Json defaultPipelinePredictor();

struct PipelineConfig {
  std::string path;
  std::unique_ptr<SearchProblem> problem;
  TrainOptions data;                // dataset, dataDir, valSize shared by every stage
  std::string supernetLoad;         // supernet: {load: DIR}
  std::unique_ptr<SupernetRecipe> recipe;  // supernet: {recipe: R.yaml, ...overrides}
  PredictorSettings predictor;
  FinalistSettings finalists;
  ExportSettings exportSettings;
  Json resolved;                    // problem->resolved() plus the pipeline sections
  std::string configHash() const;
};

// True when the YAML file's top level has `kind: pipeline`.
bool isPipelineConfig(const std::string& path);
// Parses and validates the whole config (ConfigError with file:line:col and key path).
// seed >= 0 overrides the config's seed (the supernet's, the search's and the finalists').
std::unique_ptr<PipelineConfig> loadPipelineConfig(const std::string& path, int64_t seed = -1);
// Removes what a pipeline run wrote into outDir (for --force); a given lut or supernet is kept.
void removePipelineOutputs(const PipelineConfig& config, const std::string& outDir);

// The time each stage would take on this machine: {seconds: {supernet, latency, search,
// finalists, export, total}, measured: {...}, method}. Measures for ~1-2 s (a few training steps
// and forward passes of the space's largest and smallest arch and the baseline on random data).
Json estimateStages(const PipelineConfig& config);

// The stages and what each would do in `outDir` (done / to run), with estimateStages, for --dry-run.
Json pipelinePlan(const PipelineConfig& config, const std::string& outDir);

// A run stopped by PipelineOptions::stop (SIGINT / SIGTERM in nas-search) at a safe point: what
// was finished is recorded, nothing else is; --resume continues. Exit code 130 (128 + SIGINT).
class Interrupted : public Error {
 public:
  Interrupted() : Error("interrupted; resume with --resume", 130) {}
};

struct PipelineOptions {
  bool resume = false;
  bool force = false;
  bool quiet = false;
  int threads = 0;
  int stepDelayMs = 0;  // test hook (search steps)
  // Checked between stages, between search steps, between finalists and, in training, right
  // after each checkpoint (every kCheckpointSteps steps): when set, runPipeline throws
  // Interrupted at that point.
  const std::atomic<bool>* stop = nullptr;
  // MPI (nas/distributed.h): with a pool of > 1 ranks, the search's new queries are spread over
  // the ranks and finalist j is trained by rank j % size; rank 0 writes every file.
  WorkerPool* pool = nullptr;
};

struct PipelineResult {
  std::string reportPath;
  Json winner;           // best_arch-like summary of the winner with measured figures
  bool winnerMeetsBudget = false;
};

PipelineResult runPipeline(PipelineConfig& config, const std::string& outDir, const PipelineOptions& options);

// An MPI worker (rank > 0) of a pipeline run: answers rank 0's requests (supernet files,
// accuracy of archs, training a finalist in a temp folder of its own) until rank 0 says exit.
// Writes nothing in the run's DIR.
void servePipelineWorker(PipelineConfig& config, Transport& transport, const PipelineOptions& options);

// Peak resident set size of this process since the last resetPeakRss() (Linux VmHWM; falls
// back to getrusage's lifetime maximum when /proc/self/clear_refs cannot be written).
void resetPeakRss();
int64_t peakRssBytes();

}  // namespace hwnas
