// SearchProblem: a nas-search config (YAML) validated whole and resolved into what a search
// needs: the space, the accuracy source (counted queries), free metrics (latency tables, costs)
// for constraints and extra objectives, and the report source. Invariants: load() either throws
// (ConfigError with file:line:col and key path, IoError for a missing file) or returns a problem
// whose every table, device and budget has been checked; evaluation is a pure function of the
// arch, safe to call from several threads.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "core/yaml_util.h"
#include "latency_luts/latency_model.h"
#include "latency_luts/latency_store.h"
#include "nas/strategy.h"
#include "nas/supernet_source.h"
#include "nas/table.h"
#include "search_spaces/search_space.h"

namespace hwnas {

// How a table row is found for an arch: NB201 `index`, NB201 `arch_str`, or the arch `hash`.
enum class TableKey { Index, ArchStr, Hash };
TableKey parseTableKey(const YamlNode& node);
const char* tableKeyName(TableKey k);
std::string tableKeyText(TableKey k, const ArchConfig& arch);

// A numeric column of a table, read for an arch. Thread-safe (read only).
class TableColumn {
 public:
  TableColumn(std::shared_ptr<const CsvTable> table, TableKey key, const std::string& column,
              const std::string& filterColumn = "", const std::string& filterValue = "");
  std::optional<double> find(const ArchConfig& arch) const;
  // Error (exit 1) naming the table, column and key when the row is missing or not a number.
  double get(const ArchConfig& arch) const;
  const std::string& column() const { return column_; }
  const CsvTable& table() const { return idx_.table(); }
  size_t rows() const { return idx_.size(); }

 private:
  TableIndex idx_;
  TableKey key_;
  std::string column_;
  int col_;
  // key index: the value of NB201 index i at [i] (NaN when missing), so lookups skip text keys.
  std::vector<double> byIndex_;
};

// A metric of an architecture that costs nothing to look up.
struct MetricSpec {
  std::string metric;          // latency | energy | params | macs | peak_memory | fpga_bram36
  std::string device;          // latency, energy, fpga_bram36 (an analytic:fpga device)
  std::string dtype = "fp32";  // latency, energy
  int threads = 1;
  int batch = 1;
  // The name used in results: latency_pixel3_ms, latency_titanx_b32_ms, energy_pixel3_mj,
  // params, macs, peak_memory_bytes.
  std::string label() const;
  // "latency on pixel3 (fp32, 1 thread, batch 1)"
  std::string describe() const;
};

// The `lut` latency source: one device of a LatencyStore (lut.db), predicted by the LUT model
// (sum of fused-op entries + calibrated overhead). The table is read into memory once when
// bound, so it is a frozen snapshot for the run. predict() is thread-safe and cached.
struct LutSource {
  std::string path;        // the db; empty until bound in pipeline mode (DIR/lut.db)
  std::string device;      // e.g. host-cpu
  int threads = 1;
  bool allowFallback = false;  // estimate missing op keys (per-op-type fit), flagged in the report
  std::unique_ptr<LatencyStore> store;
  std::unique_ptr<LatencyModel> model;
  bool bound() const { return model != nullptr; }
  // Opens `dbPath` read-only and loads the device's entries; InputError naming the device.
  void bind(const std::string& dbPath);
  double predict(const SearchSpace& space, const ArchConfig& arch) const;
  // Distinct archs predicted so far, and how many of them needed the fallback estimate.
  int64_t predicted() const;
  int64_t fallbackPredictions() const;

 private:
  mutable std::mutex mutex_;
  mutable int64_t fallbacks_ = 0;
  mutable std::map<uint64_t, double> cache_;
};

// An extra device of the lut source, predicted by an analytic model (latency_luts/
// latency_model.h: analytic:fpga, analytic:gpu) so it needs no table: `latency.devices:
// [{name: zc706, model: analytic:fpga, ...}]`. The FPGA model also gives each layer's on-chip
// buffer in BRAM36 blocks (its per-op note "bram36=N"); `fpga_bram36` is the largest of them,
// the resource an arch asks of the board beside the fixed PE array (whose DSPs are checked
// against the budget when the model is built). predict() is thread-safe and cached.
struct AnalyticSource {
  std::string name;   // the device name in constraints and objectives
  std::string model;  // analytic:fpga | analytic:gpu
  FpgaParams fpga;
  GpuParams gpu;
  std::unique_ptr<LatencyModel> latency;
  struct Value {
    double ms = 0;
    int64_t bram36 = 0;  // FPGA only: the largest layer buffer in BRAM36 blocks
  };
  Value predictGraph(const Graph& g) const;
  Value predict(const SearchSpace& space, const ArchConfig& arch) const;
  Json describe() const;  // the model and its parameters

 private:
  mutable std::mutex mutex_;
  mutable std::map<uint64_t, Value> cache_;
};

// How the pipeline profiles this CPU when the lut has no table for the device.
struct LutProfileSpec {
  int samples = 60, candidates = 48, runs = 20, warmup = 3, burst = 4, groupSize = 6;
  uint64_t seed = 1;
};

// The `supernet` accuracy source as configured (bound to a folder before the search runs).
struct SupernetSourceSpec {
  std::string path;  // a supernet folder; empty in pipeline mode (DIR/supernet)
  SupernetSourceOptions options;
};

// One device column a latency/energy table provides, with what the table says about it.
struct DeviceEntry {
  std::string metric;  // latency | energy
  std::string device, dtype;
  int threads = 1, batch = 1;
  std::shared_ptr<TableColumn> column;  // table source
  std::shared_ptr<LutSource> lut;       // lut source (column is null)
  std::string tablePath;
  std::shared_ptr<AnalyticSource> analytic;  // an analytic device of the lut source (tablePath: its model)
  std::string describe() const;  // "pixel3 (fp32, 1 thread, batch 1; hwnasbench_...csv)"
};

struct Constraint {
  MetricSpec metric;
  double max = 0.0;
  // > 0: the budget is this fraction of the pipeline's baseline (refnet) on the same metric,
  // resolved by setMax() once the latency table exists; max stays 0 until then.
  double fraction = 0.0;
  const DeviceEntry* device = nullptr;  // resolved entry for latency/energy (nullptr for costs)
};

// search.mode: hierarchical: the macro phase searches the macro decisions (nas/hierarchical.h)
// with the micro ones at `microSetting`, keeps the best `macroKeep` feasible macro candidates,
// then one micro phase per kept candidate searches its micro decisions; the budget left after
// `macroQueries` is split evenly over the micro phases (earlier ones get the remainder).
struct HierarchicalSettings {
  int64_t macroQueries = 0;  // 0: half the budget
  int macroKeep = 2;
  std::string microSetting = "middle";  // middle | largest | smallest
};

struct SearchSettings {
  std::string strategy;  // random | evolution | nsga2 | local | guided
  std::string mode = "joint";  // joint | hierarchical
  int64_t queries = 0;   // accuracy-query budget
  int batch = 1;         // proposals per step (fixed: never depends on the thread count)
  int64_t maxSteps = 0;  // bound on steps (cached and screened proposals cost no query)
  EvolutionOptions evolution;
  Nsga2Options nsga2;
  LocalSearchOptions local;
  GuidedOptions guided;
  HierarchicalSettings hierarchical;
};

// Accuracies of several archs at once (the predictor source), in order; thread-safe.
using BatchAccuracyFn = std::function<std::vector<double>(const std::vector<ArchConfig>&)>;

// The values of the free metrics of one arch.
struct FreeMetrics {
  std::vector<double> constraintValues;  // per constraint
  std::vector<double> costs;             // per extra objective
  double violation = 0.0;
};

class SearchProblem {
 public:
  // Parses and validates `configPath` whole (tables loaded, devices and budgets checked).
  static std::unique_ptr<SearchProblem> load(const std::string& configPath);
  static std::unique_ptr<SearchProblem> parse(const std::string& yamlText, const std::string& name,
                                              const std::string& baseDir);
  // Pipeline mode (nas/pipeline.h): `kind`, `data`, `supernet`, `finalists` and `export` are
  // allowed at the top level (the pipeline parses them), the supernet and lut sources may leave
  // their paths to the pipeline, and constraints may be relative to the baseline.
  static std::unique_ptr<SearchProblem> parsePipeline(const YamlNode& root, const std::string& baseDir);

  // The supernet source (nullptr for table accuracy) and the lut source (nullptr for tables).
  const SupernetSourceSpec* supernetSource() const { return supernetSpec_.get(); }
  const std::shared_ptr<LutSource>& lutSource() const { return lut_; }
  const LutProfileSpec& lutProfile() const { return lutProfile_; }
  // Binds the sources before a search: the supernet folder (empty: the configured path) and
  // the latency db (empty: the configured path). Loads the supernet and its data splits.
  void bindSupernet(const std::string& folder = "");
  void bindLut(const std::string& dbPath = "");
  bool bound() const;
  const SupernetAccuracy* supernet() const { return supernet_.get(); }
  // The `predictor` accuracy source (pipeline only): the search asks a predictor fitted on
  // supernet samples (the pipeline's predictor stage, bound with bindPredictor), and the top
  // `predictorVerify()` distinct feasible archs are re-scored with the supernet at the end.
  bool predictorSource() const { return predictorSource_; }
  int predictorVerify() const { return predictorVerify_; }
  void bindPredictor(BatchAccuracyFn fn) { predictor_ = std::move(fn); }
  // The supernet's inherited accuracy (the supernet and predictor sources), never the predictor's.
  double supernetAccuracy(const ArchConfig& arch) const;
  // Batched accuracy(): the predictor in one call, else arch by arch.
  std::vector<double> accuracies(const std::vector<ArchConfig>& archs) const;
  // Sets a (relative) constraint's budget once it is known.
  void setMax(size_t constraint, double max) { constraints_[constraint].max = max; }

  const SearchSpace& space() const { return *space_; }
  const SearchSettings& settings() const { return settings_; }
  uint64_t seed() const { return seed_; }
  void setSeed(uint64_t s) {
    seed_ = s;
    resolved_["seed"] = s;
  }
  const std::string& accuracyName() const { return accuracyName_; }  // e.g. valid_acc
  const std::vector<Constraint>& constraints() const { return constraints_; }
  const std::vector<MetricSpec>& minimize() const { return minimize_; }
  bool hasReport() const { return report_ != nullptr; }
  const std::string& reportName() const { return reportName_; }
  // The resolved config (paths absolute-free as written, defaults filled) and its hash: an out
  // dir's run is identified by it.
  const Json& resolved() const { return resolved_; }
  std::string configHash() const;

  // Counted query.
  double accuracy(const ArchConfig& arch) const;
  // Free lookups (latency tables, costs); not counted.
  FreeMetrics freeMetrics(const ArchConfig& arch) const;
  double metric(const MetricSpec& m, const ArchConfig& arch) const;
  std::optional<double> reportAccuracy(const ArchConfig& arch) const;
  ScreenFn screen() const;
  StrategyContext strategyContext() const;
  std::unique_ptr<Strategy> makeStrategy() const;
  // The configured strategy over another context (a hierarchical phase's sub-space and seed).
  std::unique_ptr<Strategy> makeStrategy(const StrategyContext& ctx) const;

  // Enumerable spaces: the number of archs meeting every constraint, and the best of them by
  // accuracy (no query counted: for reports and benches). nullopt when not enumerable.
  std::optional<int64_t> feasibleCount() const;

  // What the latency tables provide, for messages and --dry-run.
  const std::vector<DeviceEntry>& devices() const { return devices_; }
  // The lut source's analytic devices (latency.devices), in config order.
  std::vector<std::shared_ptr<AnalyticSource>> analyticDevices() const;

 private:
  SearchProblem() = default;
  void parseRoot(const YamlNode& root, const std::string& baseDir);
  void parseLut(const YamlNode& lat, const std::string& baseDir);
  bool pipeline_ = false;
  bool predictorSource_ = false;
  int predictorVerify_ = 10;
  BatchAccuracyFn predictor_;
  std::unique_ptr<SupernetSourceSpec> supernetSpec_;
  std::shared_ptr<const SupernetAccuracy> supernet_;
  std::shared_ptr<LutSource> lut_;
  LutProfileSpec lutProfile_;
  MetricSpec parseMetric(const YamlNode& n, bool allowMax, bool allowRelative = false) const;
  void checkMetric(const MetricSpec& m, const YamlNode& at) const;
  const DeviceEntry* findDevice(const MetricSpec& m) const;
  void loadLatencyTables(const YamlNode& lat, const std::string& baseDir);
  std::shared_ptr<TableColumn> parseAccuracySource(const YamlNode& n, const std::string& baseDir, std::string& name);
  void checkFeasible(const YamlNode& at) const;
  ArchCost cost(const ArchConfig& arch) const;

  std::unique_ptr<SearchSpace> space_;
  SearchSettings settings_;
  uint64_t seed_ = 0;
  std::string accuracyName_, reportName_;
  std::shared_ptr<TableColumn> accuracy_, report_;
  std::vector<Constraint> constraints_;
  std::vector<MetricSpec> minimize_;
  std::vector<DeviceEntry> devices_;
  TableCache tables_;
  Json resolved_;
  mutable std::mutex costMutex_;
  mutable std::map<uint64_t, ArchCost> costCache_;
};

}  // namespace hwnas
