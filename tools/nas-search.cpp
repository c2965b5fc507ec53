// nas-search: the search job. Pipeline mode (`kind: pipeline`, configs/quickstart.yaml):
// supernet -> latency table -> search -> finalists -> export, with report.md (nas/pipeline.h).
// Table mode: the accuracy and latency come from benchmark tables (configs/benchmarks/*.yaml).
// Results go to DIR/search.db and best_arch.json, pareto.{json,csv,svg}. Flags in, hwnas_nas
// calls, files out.
#include <signal.h>
#include <tbb/global_control.h>

#include <atomic>
#include <boost/program_options.hpp>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "core/error.h"
#include "core/fs_util.h"
#include "core/json_util.h"
#include "core/log.h"
#include "nas/distributed.h"
#include "nas/pipeline.h"
#include "nas/results_store.h"
#include "nas/search_engine.h"
#include "nas/search_problem.h"
#include "nas/search_report.h"
#include "tools/tool_main.h"

namespace po = boost::program_options;
namespace fs = std::filesystem;
using namespace hwnas;

static const char* kExamples = R"(Examples:
  nas-search --config configs/quickstart.yaml --out runs/quickstart           # the whole pipeline
  nas-search --config configs/quickstart.yaml --out runs/quickstart --resume  # after a crash: finished stages are skipped
  nas-search --config configs/quickstart.yaml --dry-run                       # validate, print the stages and their time estimate
  mpirun -np 2 nas-search --config configs/quickstart.yaml --out runs/q2 --threads 1   # MPI: workers evaluate, rank 0 writes
  nas-search --config configs/benchmarks/nb201_cifar10_rea.yaml --out runs/rea
  nas-search --config configs/benchmarks/nb201_pixel3_guided.yaml --out runs/pixel3 --seed 3
  nas-search --config configs/benchmarks/nb201_raspi4_fpga_nsga2.yaml --out runs/front --threads 2
  nas-search --config configs/benchmarks/nb201_cifar10_rea.yaml --out runs/rea --resume   # after a crash
  nas-search --config configs/benchmarks/nb201_pixel3_guided.yaml --dry-run

Outputs in --out: search.db (SQLite: runs, queries, steps; pipelines add stages), best_arch.json,
pareto.json, pareto.csv, pareto.svg; pipelines also supernet/, lut.db, finalists/<hash>/,
baseline/, export/ (model.onnx, cpu/ package, the exporter's report.md) and report.md. Relative paths in the config are relative to the config file.
An out dir that holds a run is refused unless --resume (same config) or --force (start over).
SIGINT / SIGTERM stop at the next safe point (between search steps, stages, finalists; in
training after the next checkpoint), print "interrupted; resume with --resume" and exit 130; a
second SIGINT kills at once.
Exit codes: 0 ok, 1 runtime failure, 2 bad input (config errors name file:line:col and key), 130 interrupted.
)";

namespace {

// The MPI transport under mpirun with > 1 rank (nas/distributed.h), else null.
Transport* gMpi = nullptr;
bool isWorker() { return gMpi && gMpi->size() > 1 && gMpi->rank() > 0; }

// Set by the SIGINT / SIGTERM handler; the search engine and the pipeline poll it.
std::atomic<bool> gStop{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the signal handler needs a lock-free flag");

extern "C" void onStopSignal(int) { gStop.store(true); }

// SA_RESETHAND: the first signal asks for a clean stop, a second one gets the default action.
void installStopHandlers() {
  struct sigaction sa {};
  sa.sa_handler = onStopSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

void removeRun(const std::string& dir) {
  for (const char* f : {"search.db", "search.db-wal", "search.db-shm", "best_arch.json", "pareto.json", "pareto.csv", "pareto.svg"})
    fs::remove(fs::path(dir) / f);
}

// What --resume / --force allow when `out` may already hold a run: InputError for a run of another
// config or an existing run without --resume or --force; a note when --resume finds nothing.
// True when out holds a search.db.
bool checkExistingRun(const std::string& out, const std::string& hash, bool resume, bool force) {
  const std::string dbPath = (fs::path(out) / "search.db").string();
  if (!fileExists(dbPath)) {
    if (resume) logInfo("no run in ", out, " to resume; starting a new one");
    return false;
  }
  std::optional<RunInfo> info;
  {
    ResultsStore existing(dbPath);
    info = existing.run();
  }
  if (info && !force) {
    if (info->configHash != hash)
      throw InputError(out + " holds a run of another config (config hash " + info->configHash + ", this one " + hash +
                       "); choose another --out or pass --force to replace it");
    if (!resume)
      throw InputError(out + " already holds this run (" + info->status + "); pass --resume to continue it or --force to start over");
  }
  return true;
}

int runPipelineMode(const std::string& config, const std::string& out, int64_t seed, bool dryRun, bool resume, bool force,
                    bool quiet, int threads, int stepDelayMs) {
  // The whole config is validated before anything is written.
  auto cfg = loadPipelineConfig(config, seed);
  const std::string hash = cfg->configHash();
  if (dryRun) {
    if (!isWorker()) std::cout << pipelinePlan(*cfg, out).dump(2) << std::endl;
    return 0;
  }
  PipelineOptions po;
  po.resume = resume;
  po.force = force;
  po.quiet = quiet;
  po.threads = threads;
  po.stepDelayMs = stepDelayMs;
  po.stop = &gStop;
  if (isWorker()) {  // ranks > 0 evaluate for rank 0 and write nothing in --out
    servePipelineWorker(*cfg, *gMpi, po);
    return 0;
  }
  checkExistingRun(out, hash, resume, force);
  if (force) removePipelineOutputs(*cfg, out);
  std::unique_ptr<WorkerPool> pool;
  if (gMpi && gMpi->size() > 1) {
    pool = std::make_unique<WorkerPool>(*gMpi);
    po.pool = pool.get();
    logInfo("MPI: ", gMpi->size(), " ranks; rank 0 owns ", out, ", the others evaluate");
  }
  PipelineResult r = runPipeline(*cfg, out, po);
  if (pool) pool->shutdown();
  if (!quiet) {
    const Json& t = r.winner["trained"];
    std::cerr << "nas-search: winner " << r.winner["hash"].get<std::string>() << " val " << t.value("val_accuracy", -1.0)
              << " test " << t.value("test_accuracy", -1.0) << " latency " << t.value("measured_latency_ms", -1.0)
              << " ms measured, " << t.value("predicted_latency_ms", -1.0) << " ms predicted\n";
  }
  std::cout << "nas-search: report in " << r.reportPath << std::endl;
  return 0;
}

int run(int argc, char** argv) {
  Logger::instance().setProgramName("nas-search");
  std::string config, out;
  int threads = 0, stepDelayMs = 0;
  int64_t seed = -1;
  po::options_description desc(
      "nas-search: hardware-aware architecture search\n\nUsage: nas-search --config X.yaml --out DIR [options]\n\nOptions");
  // clang-format off
  desc.add_options()
    ("help,h", "show this help")
    ("config", po::value(&config), "search config YAML (configs/benchmarks/*.yaml)")
    ("out", po::value(&out), "output directory")
    ("resume", "continue the run in --out from its last committed step")
    ("force", "replace a run already in --out")
    ("dry-run", "validate the config, print the resolved config and plan, write nothing")
    ("seed", po::value(&seed), "override the config's seed")
    ("threads", po::value(&threads)->default_value(0), "worker threads (0: all cores); results do not depend on it")
    ("quiet", "no progress bar or info messages");
  // clang-format on
  po::options_description hidden;
  hidden.add_options()("step-delay-ms", po::value(&stepDelayMs)->default_value(0), "test hook: sleep after each step");
  po::options_description all;
  all.add(desc).add(hidden);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw InputError(std::string(e.what()) + " (see nas-search --help)");
  }
  if (vm.count("help")) {
    std::cout << desc << "\n" << kExamples;
    return 0;
  }
  const bool quiet = vm.count("quiet") > 0 || isWorker(), dryRun = vm.count("dry-run") > 0, resume = vm.count("resume") > 0,
             force = vm.count("force") > 0;
  Logger::instance().setQuiet(quiet);
  if (config.empty()) throw InputError("--config is required (see nas-search --help)");
  if (out.empty() && !dryRun) throw InputError("--out is required (see nas-search --help)");
  if (resume && force) throw InputError("--resume and --force contradict each other");
  if (threads < 0) throw InputError("--threads must be >= 0");
  std::unique_ptr<tbb::global_control> tc;
  if (threads > 0) tc = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism, size_t(threads));

  if (!fileExists(config)) throw InputError("config " + config + " does not exist");
  installStopHandlers();
  if (isPipelineConfig(config)) return runPipelineMode(config, out, seed, dryRun, resume, force, quiet, threads, stepDelayMs);
  // The whole config is validated before anything is written.
  auto problem = SearchProblem::load(config);
  if (seed >= 0) problem->setSeed(uint64_t(seed));
  if (isWorker()) return 0;  // table mode runs on rank 0 alone (a table lookup is not worth a message)
  const Json resolved = problem->resolved();
  const std::string hash = problem->configHash();
  if (dryRun) {
    Json plan;
    plan["config"] = resolved;
    plan["config_hash"] = hash;
    plan["space_id"] = problem->space().spaceId();
    plan["space_cardinality"] = problem->space().cardinality();
    if (auto n = problem->feasibleCount()) plan["feasible_archs"] = *n;
    Json devs = Json::array();
    for (const auto& d : problem->devices()) devs.push_back(d.metric + ": " + d.describe());
    plan["table_devices"] = devs;
    plan["stages"] = {"search (table accuracy, free table latency)", "report (best_arch.json, pareto.json/csv/svg)"};
    std::cout << plan.dump(2) << std::endl;
    return 0;
  }
  if (checkExistingRun(out, hash, resume, force) && force) removeRun(out);
  fs::create_directories(out);
  ResultsStore store((fs::path(out) / "search.db").string());
  bool resuming = false;
  if (auto info = store.run(); info && resume) {
    resuming = true;
  } else {
    RunInfo ri;
    ri.configHash = hash;
    ri.config = resolved;
    ri.spaceId = problem->space().spaceId();
    ri.strategy = problem->settings().strategy;
    ri.seed = problem->seed();
    ri.budget = problem->settings().queries;
    store.startRun(ri);
  }
  problem->bindSupernet();  // the supernet accuracy source (a no-op for tables)
  SearchEngine engine(*problem, &store);
  SearchRunOptions opt;
  opt.resume = resuming;
  opt.stepDelayMs = stepDelayMs;
  opt.stop = &gStop;
  Progress bar("search", problem->settings().queries, quiet);
  opt.onStep = [&](int64_t q, int64_t, double best) {
    bar.update(q, std::isnan(best) ? std::string("no feasible arch yet") : "best " + problem->accuracyName() + " " + std::to_string(best));
  };
  SearchOutcome o = engine.run(opt);
  bar.finish();
  if (o.interrupted) throw Interrupted();  // the committed steps stay in search.db; no outputs yet
  writeSearchOutputs(out, *problem, o);
  store.setStatus("done");
  Json best = bestArchJson(*problem, o);
  if (!quiet) {
    std::cerr << "nas-search: " << o.queries << " queries, " << o.proposals << " proposals in " << o.steps << " steps"
              << (o.resumed ? " (resumed)" : "") << "\n";
    if (o.best) {
      std::cerr << "nas-search: best " << best["hash"].get<std::string>();
      if (best.contains("index")) std::cerr << " (index " << best["index"] << ")";
      for (auto it = best["metrics"].begin(); it != best["metrics"].end(); ++it) std::cerr << " " << it.key() << " " << it.value();
      if (best.contains("report"))
        for (auto it = best["report"].begin(); it != best["report"].end(); ++it) std::cerr << " " << it.key() << " " << it.value();
      std::cerr << "\n";
    }
    std::cerr << "nas-search: results in " << out << "/\n";
  }
  if (!o.best) {
    std::cerr << "nas-search: no feasible architecture was found within the budget" << std::endl;
    return 1;
  }
  return 0;
}

// Under mpirun with several ranks an error on any rank ends them all (MPI_Abort with its exit
// code) after its one line, so no rank waits for a message that will not come.
int runRanks(int argc, char** argv) {
  std::unique_ptr<Transport> mpi = makeMpiTransport(&argc, &argv);
  gMpi = mpi.get();
  if (!mpi || mpi->size() == 1) return run(argc, argv);
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    const auto* err = dynamic_cast<const Error*>(&e);
    std::cerr << "nas-search: " << (mpi->rank() > 0 ? "rank " + std::to_string(mpi->rank()) + ": " : "") << e.what() << std::endl;
    mpi->abort(err ? err->exitCode() : 1);
  }
  return 1;  // not reached: abort() ends the process
}

}  // namespace

int main(int argc, char** argv) { return hwnas::toolMain("nas-search", runRanks, argc, argv); }
