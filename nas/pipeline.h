// Pipeline: nas-search's main job for a config with `kind: pipeline`: supernet (train from a
// recipe into DIR/supernet, or load one) -> latency (profile this CPU into DIR/lut.db, or use a
// given table; frozen for the run) -> search (the SearchEngine with the supernet's inherited
// accuracy and the LUT latency) -> finalists (the top-k trained from scratch with the trainer's
// loop, the winner picked on validation accuracy, then its test accuracy; latency measured with
// the runtime, interleaved, next to the LUT's prediction; the baseline (refnet) trained with the
// same budget) -> export (the winner's model.yaml + model.safetensors), and report.md.
// Invariants: the config is validated whole before anything is written; each stage is recorded
// in search.db's `stages` table when its output is complete and is skipped on --resume when
// that output is still valid; every stage loop is seeded and bounded, and a resumed run ends
// with the same winner as an uninterrupted one (the latency table is never re-measured).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "nas/search_problem.h"
#include "search_spaces/supernet_recipe.h"
#include "trainer/model_def.h"
#include "trainer/training.h"

namespace hwnas {

struct FinalistSettings {
  int topK = 3;
  TrainOptions train;         // from-scratch budget, nas-train's default recipe
  std::string baselinePath;   // the baseline model YAML (refnet), trained with the same budget
  ModelDef baseline;
  int measureRuns = 40;       // timed runs per network (interleaved, min statistic as the LUT)
  int measureWarmup = 3;
};

struct PipelineConfig {
  std::string path;
  std::unique_ptr<SearchProblem> problem;
  TrainOptions data;                // dataset, dataDir, valSize shared by every stage
  std::string supernetLoad;         // supernet: {load: DIR}
  std::unique_ptr<SupernetRecipe> recipe;  // supernet: {recipe: R.yaml, ...overrides}
  FinalistSettings finalists;
  bool exportWinner = true;
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

// The stages and what each would do in `outDir` (done / to run), for --dry-run.
Json pipelinePlan(const PipelineConfig& config, const std::string& outDir);

struct PipelineOptions {
  bool resume = false;
  bool force = false;
  bool quiet = false;
  int threads = 0;
  int stepDelayMs = 0;  // test hook (search steps)
};

struct PipelineResult {
  std::string reportPath;
  Json winner;           // best_arch-like summary of the winner with measured figures
  bool winnerMeetsBudget = false;
};

PipelineResult runPipeline(PipelineConfig& config, const std::string& outDir, const PipelineOptions& options);

// Peak resident set size of this process since the last resetPeakRss() (Linux VmHWM; falls
// back to getrusage's lifetime maximum when /proc/self/clear_refs cannot be written).
void resetPeakRss();
int64_t peakRssBytes();

}  // namespace hwnas
