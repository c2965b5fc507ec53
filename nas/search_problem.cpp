#include "nas/search_problem.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <regex>
#include <sstream>

#include "core/error.h"
#include "core/fs_util.h"
#include "search_spaces/arch_config.h"
#include "nas/hierarchical.h"
#include "predictors/encoding.h"
#include "search_spaces/nb201_space.h"

namespace hwnas {

namespace fs = std::filesystem;

// ------------------------------------------------------------------ table keys and columns

TableKey parseTableKey(const YamlNode& node) {
  std::string k = node.asEnum({"index", "arch_str", "hash"});
  if (k == "index") return TableKey::Index;
  if (k == "arch_str") return TableKey::ArchStr;
  return TableKey::Hash;
}

const char* tableKeyName(TableKey k) {
  switch (k) {
    case TableKey::Index: return "index";
    case TableKey::ArchStr: return "arch_str";
    default: return "hash";
  }
}

std::string tableKeyText(TableKey k, const ArchConfig& arch) {
  switch (k) {
    case TableKey::Index: return std::to_string(Nb201Space::index(arch));
    case TableKey::ArchStr: return Nb201Space::archStr(arch);
    default: return arch.hashHex();
  }
}

TableColumn::TableColumn(std::shared_ptr<const CsvTable> table, TableKey key, const std::string& column,
                         const std::string& filterColumn, const std::string& filterValue)
    : idx_(table, tableKeyName(key), filterColumn, filterValue), key_(key), column_(column) {
  col_ = table->columnIndex(column);
  if (col_ < 0) throw InputError(table->path() + ": no column '" + column + "'");
  if (key == TableKey::Index) {
    byIndex_.assign(Nb201Space::kArchs, NAN);
    for (int i = 0; i < Nb201Space::kArchs; ++i)
      if (auto r = idx_.find(std::to_string(i))) byIndex_[size_t(i)] = table->number(*r, col_);
  }
}

std::optional<double> TableColumn::find(const ArchConfig& arch) const {
  if (!byIndex_.empty()) {
    double v = byIndex_[size_t(Nb201Space::index(arch))];
    if (std::isnan(v)) return std::nullopt;
    return v;
  }
  auto r = idx_.find(tableKeyText(key_, arch));
  if (!r) return std::nullopt;
  double v = idx_.table().number(*r, col_);
  if (std::isnan(v)) return std::nullopt;
  return v;
}

double TableColumn::get(const ArchConfig& arch) const {
  auto v = find(arch);
  if (!v)
    throw Error(idx_.table().path() + ": no number in column '" + column_ + "' for " + tableKeyName(key_) + " " +
                tableKeyText(key_, arch));
  return *v;
}

// ------------------------------------------------------------------ metrics

std::string MetricSpec::label() const {
  if (metric == "params" || metric == "macs") return metric;
  if (metric == "fpga_bram36") return "fpga_bram36_" + device;
  if (metric == "peak_memory") return "peak_memory_bytes";
  std::string s = metric + "_" + device;
  if (batch != 1) s += "_b" + std::to_string(batch);
  if (threads != 1) s += "_t" + std::to_string(threads);
  if (dtype != "fp32") s += "_" + dtype;
  return s + (metric == "latency" ? "_ms" : "_mj");
}

std::string MetricSpec::describe() const {
  if (metric == "fpga_bram36") return "BRAM36 blocks of the largest layer buffer on " + device;
  if (metric != "latency" && metric != "energy") return metric;
  return metric + " on " + device + " (" + dtype + ", " + std::to_string(threads) + " thread" + (threads == 1 ? "" : "s") +
         ", batch " + std::to_string(batch) + ")";
}

std::string DeviceEntry::describe() const {
  return device + " (" + dtype + ", " + std::to_string(threads) + " thread" + (threads == 1 ? "" : "s") + ", batch " +
         std::to_string(batch) + "; " + fs::path(tablePath).filename().string() + ")";
}

namespace {

std::string resolvePath(const std::string& baseDir, const std::string& p) {
  if (p.empty() || fs::path(p).is_absolute() || baseDir.empty()) return p;
  return (fs::path(baseDir) / p).lexically_normal().string();
}

Json yamlToJson(const YAML::Node& n) {
  if (n.IsMap()) {
    Json j = Json::object();
    for (auto it = n.begin(); it != n.end(); ++it) j[it->first.as<std::string>()] = yamlToJson(it->second);
    return j;
  }
  if (n.IsSequence()) {
    Json j = Json::array();
    for (const auto& v : n) j.push_back(yamlToJson(v));
    return j;
  }
  if (!n.IsDefined() || n.IsNull()) return nullptr;
  std::string s = n.Scalar();
  if (n.Tag() == "!") return s;  // quoted
  if (s == "true" || s == "false") return s == "true";
  char* end = nullptr;
  long long i = std::strtoll(s.c_str(), &end, 10);
  if (!s.empty() && *end == '\0') return int64_t(i);
  double d = std::strtod(s.c_str(), &end);
  if (!s.empty() && *end == '\0') return d;
  return s;
}

const std::vector<std::string> kStrategies = {"random", "evolution", "rea", "nsga2", "local", "guided"};

}  // namespace

// ------------------------------------------------------------------ loading

std::unique_ptr<SearchProblem> SearchProblem::load(const std::string& configPath) {
  YamlNode root = YamlNode::loadFile(configPath);
  std::unique_ptr<SearchProblem> p(new SearchProblem());
  p->parseRoot(root, fs::path(configPath).parent_path().string());
  return p;
}

std::unique_ptr<SearchProblem> SearchProblem::parsePipeline(const YamlNode& root, const std::string& baseDir) {
  std::unique_ptr<SearchProblem> p(new SearchProblem());
  p->pipeline_ = true;
  p->parseRoot(root, baseDir);
  return p;
}

void SearchProblem::bindSupernet(const std::string& folder) {
  if (!supernetSpec_) return;
  const std::string dir = folder.empty() ? supernetSpec_->path : folder;
  if (dir.empty()) throw Error("the supernet source has no folder yet (pipeline supernet stage)");
  auto sn = std::make_shared<SupernetAccuracy>(dir, supernetSpec_->options);
  if (sn->spaceId() != space_->spaceId())
    throw InputError("the supernet in " + dir + " was trained on " + sn->spaceId() + ", not on " + space_->spaceId());
  supernet_ = std::move(sn);
}

void SearchProblem::bindLut(const std::string& dbPath) {
  if (!lut_) return;
  const std::string path = dbPath.empty() ? lut_->path : dbPath;
  if (path.empty()) throw Error("the lut source has no table yet (pipeline latency stage)");
  lut_->bind(path);
}

bool SearchProblem::bound() const { return (!supernetSpec_ || supernet_) && (!lut_ || lut_->bound()); }

std::unique_ptr<SearchProblem> SearchProblem::parse(const std::string& yamlText, const std::string& name,
                                                    const std::string& baseDir) {
  YamlNode root = YamlNode::loadString(yamlText, name);
  std::unique_ptr<SearchProblem> p(new SearchProblem());
  p->parseRoot(root, baseDir);
  return p;
}

std::shared_ptr<TableColumn> SearchProblem::parseAccuracySource(const YamlNode& n, const std::string& baseDir,
                                                                std::string& name) {
  if (!n.isMap()) n.fail("expected a map {source: table, path: ..., column: ..., key: index}");
  std::string source = n.has("source") ? n["source"].asString() : "table";
  if (source == "predictor" && !pipeline_)
    n["source"].fail("source 'predictor' needs the pipeline (kind: pipeline): its predictor stage fits it on supernet samples");
  if (source == "supernet" || source == "predictor") {
    const bool pred = source == "predictor";
    if (pred)
      n.checkKeys({"source", "calibration_images", "val_images", "data_dir", "verify"});
    else
      n.checkKeys({"source", "path", "calibration_images", "val_images", "data_dir"});
    if (pred) {
      predictorSource_ = true;
      predictorVerify_ = n.getInt("verify", predictorVerify_);
      if (predictorVerify_ < 1) n["verify"].fail("must be >= 1 (the top archs re-scored with the supernet)");
    }
    auto spec = std::make_unique<SupernetSourceSpec>();
    if (n.has("path")) spec->path = resolvePath(baseDir, n.getString("path"));
    else if (!pipeline_) n.fail("source supernet needs path: a supernet folder (nas-train --supernet R.yaml --out DIR)");
    spec->options.calibrationImages = n.getInt64("calibration_images", 0);
    spec->options.valImages = n.getInt64("val_images", 0);
    spec->options.dataDir = n.getString("data_dir", "");
    if (spec->options.calibrationImages < 0) n["calibration_images"].fail("must be >= 0 (0: the supernet recipe's)");
    if (spec->options.valImages < 0) n["val_images"].fail("must be >= 0 (0: the whole validation split)");
    if (!spec->path.empty()) {
      const std::string info = spec->path + "/supernet.json";
      if (!fileExists(info))
        n["path"].fail(spec->path + " is not a finished supernet folder (no supernet.json); train one with nas-train --supernet");
      Json j = readJsonFile(info);
      if (j.value("space_id", std::string()) != space_->spaceId())
        n["path"].fail("the supernet in " + spec->path + " was trained on " + j.value("space_id", std::string("?")) +
                       ", not on this config's space " + space_->spaceId());
    }
    supernetSpec_ = std::move(spec);
    name = pred ? "predicted_val_acc" : "supernet_val_acc";
    return nullptr;
  }
  if (source == "train") n["source"].fail("source 'train' is not available yet; use 'table', 'supernet' or 'predictor'");
  if (source != "table") n["source"].fail("unknown source '" + source + "'; known: table, supernet, predictor");
  n.checkKeys({"source", "path", "column", "key"});
  std::string path = resolvePath(baseDir, n.getString("path"));
  if (!fileExists(path)) n["path"].fail("table '" + path + "' does not exist");
  std::shared_ptr<const CsvTable> t;
  try {
    t = tables_.get(path);
  } catch (const IoError& e) {
    n["path"].fail(e.what());
  }
  name = n.getString("column");
  TableKey key = n.has("key") ? parseTableKey(n["key"]) : TableKey::Index;
  if (!t->hasColumn(name)) {
    std::string cols;
    for (const auto& c : t->columns()) cols += (cols.empty() ? "" : ", ") + c;
    n["column"].fail("table '" + path + "' has no column '" + name + "'; it has: " + cols);
  }
  if (!t->hasColumn(tableKeyName(key))) n.fail("table '" + path + "' has no key column '" + tableKeyName(key) + "'");
  if ((key == TableKey::Index || key == TableKey::ArchStr) && space_->kind() != "nb201")
    n["key"].fail(std::string("key '") + tableKeyName(key) + "' needs an nb201 space; use key: hash");
  try {
    return std::make_shared<TableColumn>(t, key, name);
  } catch (const Error& e) {
    n.fail(e.what());
  }
}

void SearchProblem::loadLatencyTables(const YamlNode& lat, const std::string& baseDir) {
  if (!lat.isMap()) lat.fail("expected a map {source: table, tables: [...]}");
  std::string source = lat.has("source") ? lat["source"].asString() : "table";
  if (source == "lut") return parseLut(lat, baseDir);
  lat.checkKeys({"source", "tables"});
  if (source != "table") lat["source"].fail("unknown latency source '" + source + "'; known: table, lut");
  static const std::regex batchSuffix("^(.+)_([0-9]+)$");
  for (const auto& tn : lat["tables"].items()) {
    std::string path, dtype = "fp32";
    int threads = 1;
    TableKey key = TableKey::Index;
    if (tn.isScalar()) {
      path = tn.asString();
    } else {
      tn.checkKeys({"path", "key", "dtype", "threads"});
      path = tn.getString("path");
      if (tn.has("key")) key = parseTableKey(tn["key"]);
      dtype = tn.getString("dtype", "fp32");
      threads = tn.getInt("threads", 1);
      if (threads < 1) tn["threads"].fail("threads must be >= 1");
    }
    YamlNode at = tn.isScalar() ? tn : tn["path"];
    path = resolvePath(baseDir, path);
    if (!fileExists(path)) at.fail("latency table '" + path + "' does not exist");
    std::shared_ptr<const CsvTable> t;
    try {
      t = tables_.get(path);
    } catch (const IoError& e) {
      at.fail(e.what());
    }
    if (!t->hasColumn(tableKeyName(key))) at.fail("table '" + path + "' has no key column '" + tableKeyName(key) + "'");
    auto add = [&](const std::string& metric, const std::string& device, int batch, const std::string& column,
                   const std::string& fcol, const std::string& fval) {
      DeviceEntry e{metric, device, dtype, threads, batch, nullptr, nullptr, path, nullptr};
      for (const auto& d : devices_)
        if (d.metric == metric && d.device == device && d.dtype == dtype && d.threads == threads && d.batch == batch)
          at.fail("device " + e.describe() + " is also in " + d.tablePath);
      try {
        e.column = std::make_shared<TableColumn>(t, key, column, fcol, fval);
      } catch (const Error& err) {
        at.fail(err.what());
      }
      devices_.push_back(std::move(e));
    };
    if (t->hasColumn("device") && t->hasColumn("latency_ms")) {
      // Long format (nn-Meter): one row per (device, arch).
      std::vector<std::string> devs;
      int dc = t->columnIndex("device");
      for (size_t r = 0; r < t->rows(); ++r)
        if (std::find(devs.begin(), devs.end(), t->text(r, dc)) == devs.end()) devs.push_back(t->text(r, dc));
      for (const auto& d : devs) add("latency", d, 1, "latency_ms", "device", d);
      continue;
    }
    for (const auto& c : t->columns()) {
      if (c == "index" || c == "arch_str" || c == "hash") continue;
      std::smatch m;
      const std::string lat_ = "_latency_ms", en = "_energy_mj";
      if (c.size() > lat_.size() && c.compare(c.size() - lat_.size(), lat_.size(), lat_) == 0)
        add("latency", c.substr(0, c.size() - lat_.size()), 1, c, "", "");
      else if (c.size() > en.size() && c.compare(c.size() - en.size(), en.size(), en) == 0)
        add("energy", c.substr(0, c.size() - en.size()), 1, c, "", "");
      else if (std::regex_match(c, m, batchSuffix))
        add("latency", m[1].str(), std::stoi(m[2].str()), c, "", "");  // HELP: <device>_<batch>
      else
        add("latency", c, 1, c, "", "");  // HELP CPU/mobile: one column per device, batch 1
    }
  }
}

void SearchProblem::parseLut(const YamlNode& lat, const std::string& baseDir) {
  lat.checkKeys({"source", "path", "device", "threads", "fallback", "profile", "devices"});
  lut_ = std::make_shared<LutSource>();
  lut_->device = lat.getString("device", "host-cpu");
  lut_->threads = lat.getInt("threads", 1);
  if (lut_->threads < 1) lat["threads"].fail("threads must be >= 1");
  lut_->allowFallback = lat.getBool("fallback", false);
  if (lat.has("path")) {
    const std::string path = resolvePath(baseDir, lat.getString("path"));
    if (!fileExists(path)) lat["path"].fail("latency table '" + path + "' does not exist (profile one with nas-lut profile)");
    try {
      LatencyStore store(path, true);
      store.requireDevice(lut_->device);
    } catch (const Error& e) {
      lat["path"].fail(e.what());
    }
    lut_->path = path;
  } else if (!pipeline_) {
    lat.fail("latency source lut needs path: a latency table (nas-lut profile --device host-cpu --out lut.db)");
  }
  if (auto pr = lat.find("profile")) {
    if (lat.has("path")) (*pr).fail("profile applies only when the pipeline profiles DIR/lut.db (no path)");
    pr->checkKeys({"samples", "candidates", "runs", "warmup", "burst", "group", "seed"});
    auto& p = lutProfile_;
    p.samples = pr->getInt("samples", p.samples);
    p.candidates = pr->getInt("candidates", p.candidates);
    p.runs = pr->getInt("runs", p.runs);
    p.warmup = pr->getInt("warmup", p.warmup);
    p.burst = pr->getInt("burst", p.burst);
    p.groupSize = pr->getInt("group", p.groupSize);
    p.seed = uint64_t(pr->getInt64("seed", int64_t(p.seed)));
    for (const char* k : {"samples", "candidates", "runs", "burst", "group"})
      if (pr->has(k) && pr->getInt(k) < 1) (*pr)[k].fail("must be >= 1");
  }
  if (!lut_->path.empty()) {
    try {
      lut_->bind(lut_->path);  // a given table is frozen from here on
    } catch (const Error& e) {
      lat["path"].fail(e.what());
    }
  }
  DeviceEntry e{"latency", lut_->device, "fp32", lut_->threads, 1, nullptr, lut_, lut_->path.empty() ? "lut.db" : lut_->path, nullptr};
  devices_.push_back(std::move(e));
  if (auto ds = lat.find("devices")) {
    if (!ds->isSequence()) ds->fail("expected a list such as [{name: zc706, model: analytic:fpga}]");
    for (size_t i = 0; i < ds->size(); ++i) {
      YamlNode d = (*ds)[i];
      auto a = std::make_shared<AnalyticSource>();
      a->name = d.getString("name");
      a->model = d["model"].asEnum({"analytic:fpga", "analytic:gpu"});
      if (a->name == lut_->device || a->name.rfind("analytic:", 0) == 0) d["name"].fail("a device name other than the table's and 'analytic:...'");
      for (const auto& o : devices_)
        if (o.device == a->name) d["name"].fail("device '" + a->name + "' is listed twice");
      if (a->model == "analytic:fpga") {
        d.checkKeys({"name", "model", "pe_rows", "pe_cols", "clock_mhz", "dsp", "bram36", "luts", "dsp_per_pe", "lut_per_pe",
                     "bytes_per_value", "bandwidth_gbs", "layer_setup_cycles"});
        FpgaParams& f = a->fpga;
        f.peRows = d.getInt("pe_rows", f.peRows);
        f.peCols = d.getInt("pe_cols", f.peCols);
        f.clockMhz = d.getDouble("clock_mhz", f.clockMhz);
        f.dspBudget = d.getInt("dsp", f.dspBudget);
        f.bram36Budget = d.getInt("bram36", f.bram36Budget);
        f.lutBudget = d.getInt("luts", f.lutBudget);
        f.dspPerPe = d.getInt("dsp_per_pe", f.dspPerPe);
        f.lutPerPe = d.getInt("lut_per_pe", f.lutPerPe);
        f.bytesPerValue = d.getInt("bytes_per_value", f.bytesPerValue);
        f.bandwidthGBs = d.getDouble("bandwidth_gbs", f.bandwidthGBs);
        f.layerSetupCycles = d.getInt("layer_setup_cycles", f.layerSetupCycles);
        for (const char* k : {"pe_rows", "pe_cols", "dsp", "bram36", "luts", "dsp_per_pe", "bytes_per_value"})
          if (d.has(k) && d.getInt(k) < 1) d[k].fail("must be >= 1");
        if (!(f.clockMhz > 0) || !(f.bandwidthGBs > 0)) d.fail("clock_mhz and bandwidth_gbs must be > 0");
        try {
          a->latency = std::make_unique<FpgaLatencyModel>(a->name, f);
        } catch (const InputError& err) {
          d.fail(err.what());  // the PE array needs more DSPs or LUTs than the board has
        }
      } else {
        d.checkKeys({"name", "model", "peak_tflops", "efficiency", "bandwidth_gbs", "launch_us"});
        GpuParams& g = a->gpu;
        g.peakTflops = d.getDouble("peak_tflops", g.peakTflops);
        g.efficiency = d.getDouble("efficiency", g.efficiency);
        g.bandwidthGBs = d.getDouble("bandwidth_gbs", g.bandwidthGBs);
        g.launchUs = d.getDouble("launch_us", g.launchUs);
        if (!(g.peakTflops > 0) || !(g.efficiency > 0) || !(g.bandwidthGBs > 0) || g.launchUs < 0)
          d.fail("peak_tflops, efficiency and bandwidth_gbs must be > 0, launch_us >= 0");
        a->latency = std::make_unique<GpuRooflineModel>(a->name, g);
      }
      DeviceEntry de{"latency", a->name, "fp32", 1, 1, nullptr, nullptr, a->model, nullptr};
      de.analytic = a;
      devices_.push_back(std::move(de));
    }
  }
}

AnalyticSource::Value AnalyticSource::predictGraph(const Graph& g) const {
  const LatencyPrediction p = latency->predict(g);
  Value v;
  v.ms = p.latencyMs;
  for (const auto& op : p.ops) {
    const size_t at = op.note.find("bram36=");
    if (at != std::string::npos) v.bram36 = std::max<int64_t>(v.bram36, std::stoll(op.note.substr(at + 7)));
  }
  return v;
}

AnalyticSource::Value AnalyticSource::predict(const SearchSpace& space, const ArchConfig& arch) const {
  const uint64_t h = arch.hash();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = cache_.find(h);
    if (it != cache_.end()) return it->second;
  }
  const Value v = predictGraph(space.toGraph(arch));
  std::lock_guard<std::mutex> lock(mutex_);
  cache_.emplace(h, v);
  return v;
}

Json AnalyticSource::describe() const {
  if (model == "analytic:fpga")
    return {{"model", model}, {"pe_rows", fpga.peRows}, {"pe_cols", fpga.peCols}, {"clock_mhz", fpga.clockMhz},
            {"dsp_used", fpga.peRows * fpga.peCols * fpga.dspPerPe}, {"dsp", fpga.dspBudget}, {"bram36", fpga.bram36Budget},
            {"luts", fpga.lutBudget}, {"bandwidth_gbs", fpga.bandwidthGBs}, {"layer_setup_cycles", fpga.layerSetupCycles}};
  return {{"model", model}, {"peak_tflops", gpu.peakTflops}, {"efficiency", gpu.efficiency},
          {"bandwidth_gbs", gpu.bandwidthGBs}, {"launch_us", gpu.launchUs}};
}

std::vector<std::shared_ptr<AnalyticSource>> SearchProblem::analyticDevices() const {
  std::vector<std::shared_ptr<AnalyticSource>> out;
  for (const auto& d : devices_)
    if (d.analytic) out.push_back(d.analytic);
  return out;
}

void LutSource::bind(const std::string& dbPath) {
  std::lock_guard<std::mutex> lock(mutex_);
  path = dbPath;
  store = std::make_unique<LatencyStore>(dbPath, true);
  LutModelOptions o;
  o.threads = threads;
  o.allowFallback = allowFallback;
  model = makeLatencyModel(store.get(), device, o);
  cache_.clear();
  fallbacks_ = 0;
}

double LutSource::predict(const SearchSpace& space, const ArchConfig& arch) const {
  const uint64_t h = arch.hash();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!model) throw Error("the latency table for '" + device + "' is not bound yet (pipeline latency stage)");
    auto it = cache_.find(h);
    if (it != cache_.end()) return it->second;
  }
  // The op sum for every arch (no arch-level rows): the same rule as for the baseline model and
  // the finalists' predictions, so a budget means one thing.
  const LatencyPrediction pr = model->predict(space.toGraph(arch));
  std::lock_guard<std::mutex> lock(mutex_);
  if (cache_.emplace(h, pr.latencyMs).second && pr.fallbackUsed) ++fallbacks_;
  return pr.latencyMs;
}

int64_t LutSource::predicted() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return int64_t(cache_.size());
}

int64_t LutSource::fallbackPredictions() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return fallbacks_;
}

MetricSpec SearchProblem::parseMetric(const YamlNode& n, bool allowMax, bool allowRelative) const {
  if (!n.isMap()) n.fail("expected a map such as {metric: latency, device: pixel3, max: 10}");
  std::vector<std::string> keys = {"metric", "device", "dtype", "threads", "batch"};
  if (allowMax) keys.push_back("max");
  if (allowRelative) keys.push_back("relative_to");
  n.checkKeys(keys);
  MetricSpec m;
  m.metric = n["metric"].asEnum({"latency", "energy", "params", "macs", "peak_memory", "fpga_bram36"});
  bool dev = m.metric == "latency" || m.metric == "energy";
  if (m.metric == "fpga_bram36") {
    for (const char* k : {"dtype", "threads", "batch"})
      if (n.has(k)) n[k].fail(std::string("'") + k + "' does not apply to fpga_bram36");
    m.device = n.getString("device");
    checkMetric(m, n);
  } else if (dev) {
    m.device = n.getString("device");
    m.dtype = n.getString("dtype", "fp32");
    m.threads = n.getInt("threads", 1);
    m.batch = n.getInt("batch", 1);
    if (m.threads < 1) n["threads"].fail("threads must be >= 1");
    if (m.batch < 1) n["batch"].fail("batch must be >= 1");
    checkMetric(m, n);
  } else {
    for (const char* k : {"device", "dtype", "threads", "batch"})
      if (n.has(k)) n[k].fail(std::string("'") + k + "' applies only to latency and energy");
  }
  return m;
}

const DeviceEntry* SearchProblem::findDevice(const MetricSpec& m) const {
  if (m.metric == "fpga_bram36") {
    for (const auto& d : devices_)
      if (d.analytic && d.analytic->model == "analytic:fpga" && d.device == m.device) return &d;
    return nullptr;
  }
  for (const auto& d : devices_)
    if (d.metric == m.metric && d.device == m.device && d.dtype == m.dtype && d.threads == m.threads && d.batch == m.batch)
      return &d;
  return nullptr;
}

void SearchProblem::checkMetric(const MetricSpec& m, const YamlNode& n) const {
  if (findDevice(m)) return;
  if (m.metric == "fpga_bram36") {
    std::string list;
    for (const auto& d : devices_)
      if (d.analytic && d.analytic->model == "analytic:fpga") list += (list.empty() ? "" : ", ") + d.device;
    n["device"].fail("fpga_bram36 needs an analytic:fpga device of latency.devices; " +
                     (list.empty() ? std::string("there is none") : "they are: " + list));
  }
  std::vector<std::string> names;
  std::string sameDevice;
  for (const auto& d : devices_) {
    if (d.metric != m.metric) continue;
    if (std::find(names.begin(), names.end(), d.device) == names.end()) names.push_back(d.device);
    if (d.device == m.device) sameDevice += (sameDevice.empty() ? "" : ", ") + d.describe();
  }
  if (names.empty())
    n.fail("no " + m.metric + " table is configured" + (m.metric == "energy" ? " (a table with <device>_energy_mj columns)" : "") +
           "; add one under latency.tables");
  if (!sameDevice.empty())
    n.fail("the " + m.metric + " tables have no entry for " + m.describe() + "; for '" + m.device + "' they have: " + sameDevice);
  std::string list;
  for (const auto& s : names) list += (list.empty() ? "" : ", ") + s;
  (n.has("device") ? n["device"] : n).fail("unknown device '" + m.device + "'; the " + m.metric + " tables have: " + list);
}

void SearchProblem::parseRoot(const YamlNode& root, const std::string& baseDir) {
  if (!root.isMap()) root.fail("a nas-search config must be a map with space, objective and search");
  if (pipeline_)
    root.checkKeys({"kind", "space", "seed", "data", "supernet", "predictor", "objective", "search", "latency", "constraints",
                    "finalists", "export", "report"});
  else if (root.has("kind"))
    root["kind"].fail("kind: " + root["kind"].asString() + " is the pipeline config; only 'kind: pipeline' is known");
  else
    root.checkKeys({"space", "seed", "objective", "search", "latency", "constraints", "report"});
  // space
  std::string spacePath = resolvePath(baseDir, root.getString("space"));
  if (!fileExists(spacePath)) root["space"].fail("search space '" + spacePath + "' does not exist");
  space_ = loadSearchSpace(spacePath);
  seed_ = uint64_t(root.getInt64("seed", 0));
  resolved_["space"] = {{"path", root.getString("space")}, {"space_id", space_->spaceId()}};
  resolved_["seed"] = seed_;
  // latency tables first: constraints and objectives refer to their devices
  if (auto lat = root.find("latency")) {
    loadLatencyTables(*lat, baseDir);
    resolved_["latency"] = yamlToJson(lat->raw());
  }
  // objective
  YamlNode obj = root["objective"];
  if (!obj.isMap()) obj.fail("expected a map {accuracy: {...}, minimize: [...]}");
  obj.checkKeys({"accuracy", "minimize"});
  accuracy_ = parseAccuracySource(obj["accuracy"], baseDir, accuracyName_);
  if (auto mn = obj.find("minimize"))
    for (const auto& m : mn->items()) minimize_.push_back(parseMetric(m, false));
  resolved_["objective"] = yamlToJson(obj.raw());
  // search
  YamlNode s = root["search"];
  if (!s.isMap()) s.fail("expected a map {strategy: ..., queries: ...}");
  s.checkKeys({"strategy", "queries", "batch", "max_steps", "evolution", "nsga2", "local", "guided", "mode", "hierarchical"});
  YamlNode sn = s["strategy"];
  std::string st = sn.asString();
  if (std::find(kStrategies.begin(), kStrategies.end(), st) == kStrategies.end())
    sn.fail("unknown strategy '" + st + "'; known: random, evolution (rea), nsga2, local, guided");
  if (st == "rea") st = "evolution";
  settings_.strategy = st;
  settings_.queries = s.getInt64("queries");
  if (settings_.queries < 1) s["queries"].fail("queries must be >= 1");
  int defBatch = st == "evolution" || st == "local" ? 1 : st == "nsga2" ? 0 : 10;
  settings_.batch = s.getInt("batch", defBatch);
  if (st == "nsga2" && settings_.batch == 0) settings_.batch = -1;  // filled in below from the population
  if (s.has("batch") && settings_.batch < 1) s["batch"].fail("batch must be >= 1");
  settings_.maxSteps = s.getInt64("max_steps", 100 * settings_.queries + 1000);
  if (settings_.maxSteps < 1) s["max_steps"].fail("max_steps must be >= 1");
  if (auto e = s.find("evolution")) {
    e->checkKeys({"population", "sample_size", "mutation_prob"});
    settings_.evolution.population = e->getInt("population", 20);
    settings_.evolution.sampleSize = e->getInt("sample_size", 5);
    settings_.evolution.mutationProb = e->getDouble("mutation_prob", 0.0);
    if (settings_.evolution.population < 2) (*e)["population"].fail("population must be >= 2");
    if (settings_.evolution.sampleSize < 1 || settings_.evolution.sampleSize > settings_.evolution.population)
      (*e)["sample_size"].fail("sample_size must be between 1 and the population");
  }
  if (auto e = s.find("nsga2")) {
    e->checkKeys({"population", "offspring", "crossover_prob", "mutation_prob", "surrogate"});
    settings_.nsga2.population = e->getInt("population", 50);
    settings_.nsga2.offspring = e->getInt("offspring", 0);
    if (settings_.nsga2.offspring < 0) (*e)["offspring"].fail("offspring must be >= 1 (or 0: the population)");
    settings_.nsga2.crossoverProb = e->getDouble("crossover_prob", 0.5);
    settings_.nsga2.mutationProb = e->getDouble("mutation_prob", 0.0);
    if (settings_.nsga2.population < 4) (*e)["population"].fail("population must be >= 4");
    if (auto su = e->find("surrogate")) {
      // Surrogate-assisted NSGA-II (docs/search.md): predictor, encoder checked when the strategy is built.
      if (!su->isMap()) su->fail("expected a map {initial: .., candidates: .., predictor: {...}, ...}");
      su->checkKeys({"initial", "candidates", "random_candidates", "selection", "beta", "encoding", "target", "predictor"});
      auto& g = settings_.nsga2.surrogate;
      g.enabled = true;
      g.initial = su->getInt("initial", 0);
      g.candidates = su->getInt("candidates", g.candidates);
      g.randomCandidates = su->getInt("random_candidates", g.randomCandidates);
      if (su->has("selection")) g.selection = (*su)["selection"].asEnum({"front_gain", "rank_crowding"});
      g.beta = su->getDouble("beta", g.beta);
      g.encoding = su->getString("encoding", g.encoding);
      try {
        (void)makeEncoder(*space_, g.encoding);
      } catch (const InputError& err) {
        (*su)["encoding"].fail(err.what());
      }
      if (su->has("target")) g.target = (*su)["target"].asEnum({"raw", "log_error", "clip"});
      if (auto pr = su->find("predictor")) g.predictor = yamlToJson(pr->raw());
      if (g.initial < 0 || g.initial == 1) (*su)["initial"].fail("initial must be >= 2 (or 0: the population)");
      if (g.candidates < 1) (*su)["candidates"].fail("candidates must be >= 1");
      if (g.randomCandidates < 0) (*su)["random_candidates"].fail("random_candidates must be >= 0");
      if (!std::isfinite(g.beta)) (*su)["beta"].fail("beta must be a finite number");
    }
  }
  if (settings_.nsga2.offspring == 0) settings_.nsga2.offspring = settings_.nsga2.population;
  if (settings_.batch < 0) settings_.batch = settings_.nsga2.offspring;
  if (auto e = s.find("local")) {
    e->checkKeys({"mutation_prob", "neighbours"});
    settings_.local.mutationProb = e->getDouble("mutation_prob", 0.0);
    settings_.local.neighbours = e->getInt("neighbours", 0);
  }
  if (auto e = s.find("guided")) {
    e->checkKeys({"initial", "parents", "candidates", "random_candidates", "mutation_prob", "acquisition", "ucb_beta",
                  "encoding", "predictor", "target"});
    auto& g = settings_.guided;
    g.initial = e->getInt("initial", g.initial);
    g.parents = e->getInt("parents", g.parents);
    g.candidates = e->getInt("candidates", g.candidates);
    g.randomCandidates = e->getInt("random_candidates", g.randomCandidates);
    g.mutationProb = e->getDouble("mutation_prob", 0.0);
    if (e->has("acquisition")) g.acquisition = (*e)["acquisition"].asEnum({"its", "ucb", "ei"});
    g.ucbBeta = e->getDouble("ucb_beta", g.ucbBeta);
    g.encoding = e->getString("encoding", g.encoding);
    if (e->has("target")) g.target = (*e)["target"].asEnum({"raw", "log_error", "clip"});
    if (auto p = e->find("predictor")) g.predictor = yamlToJson(p->raw());
    if (g.initial < 1) (*e)["initial"].fail("initial must be >= 1");
    if (g.parents < 1) (*e)["parents"].fail("parents must be >= 1");
    if (g.candidates + g.randomCandidates < 1) (*e)["candidates"].fail("candidates + random_candidates must be >= 1");
  }
  if (st == "nsga2" && minimize_.empty())
    sn.fail("nsga2 is multi-objective: list the metrics to minimize under objective.minimize");
  if (s.has("mode")) settings_.mode = s["mode"].asEnum({"joint", "hierarchical"});
  if (auto h = s.find("hierarchical")) {
    if (settings_.mode != "hierarchical") h->fail("applies only with search.mode: hierarchical");
    h->checkKeys({"macro_queries", "macro_keep", "micro"});
    auto& hs = settings_.hierarchical;
    hs.macroQueries = h->getInt64("macro_queries", 0);
    hs.macroKeep = h->getInt("macro_keep", hs.macroKeep);
    if (h->has("micro")) hs.microSetting = (*h)["micro"].asEnum({"middle", "largest", "smallest"});
    if (hs.macroQueries < 0) (*h)["macro_queries"].fail("must be >= 1 (or 0: half the budget)");
    if (hs.macroKeep < 1) (*h)["macro_keep"].fail("must be >= 1");
  }
  if (settings_.mode == "hierarchical") {
    if (!pipeline_) s["mode"].fail("hierarchical search runs in the pipeline (kind: pipeline)");
    auto& hs = settings_.hierarchical;
    if (hs.macroQueries == 0) hs.macroQueries = settings_.queries / 2;
    if (hs.macroQueries < 1 || settings_.queries - hs.macroQueries < hs.macroKeep)
      s["queries"].fail("hierarchical search needs queries >= macro_queries + macro_keep (at least one per micro phase); "
                        "queries " + std::to_string(settings_.queries) + ", macro_queries " + std::to_string(hs.macroQueries) +
                        ", macro_keep " + std::to_string(hs.macroKeep));
    try {
      bool macro = false, micro = false;
      for (bool m : microSlots(*space_)) (m ? micro : macro) = true;
      if (!macro || !micro)
        s["mode"].fail("space '" + space_->name() + "' has no " + std::string(macro ? "micro" : "macro") +
                       " decisions to search; use mode: joint");
    } catch (const InputError& e) {
      s["mode"].fail(e.what());
    }
  }
  resolved_["search"] = {{"strategy", st}, {"queries", settings_.queries}, {"batch", settings_.batch},
                         {"max_steps", settings_.maxSteps}};
  if (settings_.mode != "joint")
    resolved_["search"]["hierarchical"] = {{"macro_queries", settings_.hierarchical.macroQueries},
                                           {"macro_keep", settings_.hierarchical.macroKeep},
                                           {"micro", settings_.hierarchical.microSetting}};
  for (const char* k : {"evolution", "nsga2", "local", "guided"})
    if (s.has(k)) resolved_["search"][k] = yamlToJson(s[k].raw());
  // constraints
  if (auto cs = root.find("constraints")) {
    for (const auto& c : cs->items()) {
      Constraint k;
      if (c.isMap() && c.has("relative_to")) {
        if (!pipeline_) c["relative_to"].fail("relative budgets need the pipeline (kind: pipeline) and its baseline");
        c["relative_to"].asEnum({"baseline"});
        k.metric = parseMetric(c, true, true);
        k.fraction = c.getDouble("max");
        if (!(k.fraction > 0.0)) c["max"].fail("max must be > 0 (a fraction of the baseline's value)");
      } else {
        k.metric = parseMetric(c, true);
        k.max = c.getDouble("max");
        if (!(k.max > 0.0)) c["max"].fail("max must be > 0");
      }
      k.device = findDevice(k.metric);
      constraints_.push_back(k);
    }
    resolved_["constraints"] = yamlToJson(cs->raw());
  }
  // report
  if (auto r = root.find("report")) {
    r->checkKeys({"accuracy"});
    report_ = parseAccuracySource((*r)["accuracy"], baseDir, reportName_);
    resolved_["report"] = yamlToJson(r->raw());
  }
  // Strategy options that need the space: build one now so its own checks run before any write.
  try {
    (void)makeStrategy();
  } catch (const ConfigError&) {
    throw;
  } catch (const InputError& e) {
    s.fail(e.what());
  }
  bool absolute = true;
  for (const auto& c : constraints_) absolute = absolute && c.fraction == 0.0 && !(c.device && (c.device->lut || c.device->analytic));
  if (!constraints_.empty() && absolute) {
    YamlNode cs = *root.find("constraints");
    checkFeasible(constraints_.size() == 1 ? cs[size_t(0)]["max"] : cs);
  }
}

void SearchProblem::checkFeasible(const YamlNode& at) const {
  if (!space_->enumerable()) return;
  bool any = false;
  double bestViol = std::numeric_limits<double>::infinity();
  ArchConfig closest;
  FreeMetrics closestM;
  space_->enumerate([&](const ArchConfig& a) {
    FreeMetrics m = freeMetrics(a);
    if (m.violation <= 0.0) {
      any = true;
      return false;
    }
    if (m.violation < bestViol) {
      bestViol = m.violation;
      closest = a;
      closestM = m;
    }
    return true;
  });
  if (any) return;
  std::ostringstream msg;
  msg << "infeasible budget: no architecture of '" << space_->name() << "' meets";
  for (size_t i = 0; i < constraints_.size(); ++i)
    msg << (i ? " and " : " ") << constraints_[i].metric.label() << " <= " << constraints_[i].max;
  msg << "; the closest is ";
  if (space_->kind() == "nb201")
    msg << "index " << Nb201Space::index(closest) << " " << Nb201Space::archStr(closest);
  else
    msg << closest.canonical();
  msg << " with";
  for (size_t i = 0; i < constraints_.size(); ++i)
    msg << (i ? ", " : " ") << constraints_[i].metric.label() << " = " << closestM.constraintValues[i];
  at.fail(msg.str());
}

std::string SearchProblem::configHash() const { return hashHex(fnv1a64(canonicalDump(resolved_))); }

// ------------------------------------------------------------------ evaluation

double SearchProblem::accuracy(const ArchConfig& arch) const {
  if (predictorSource_) {
    if (!predictor_) throw Error("the predictor accuracy source is not bound yet (pipeline predictor stage)");
    return predictor_({arch}).at(0);
  }
  return supernetAccuracy(arch);
}

std::vector<double> SearchProblem::accuracies(const std::vector<ArchConfig>& archs) const {
  if (predictorSource_) {
    if (!predictor_) throw Error("the predictor accuracy source is not bound yet (pipeline predictor stage)");
    return predictor_(archs);
  }
  std::vector<double> out;
  for (const auto& a : archs) out.push_back(supernetAccuracy(a));
  return out;
}

double SearchProblem::supernetAccuracy(const ArchConfig& arch) const {
  if (supernetSpec_) {
    if (!supernet_) throw Error("the supernet accuracy source is not bound yet");
    return supernet_->accuracy(arch);
  }
  return accuracy_->get(arch);
}

std::optional<double> SearchProblem::reportAccuracy(const ArchConfig& arch) const {
  if (!report_) return std::nullopt;
  return report_->find(arch);
}

ArchCost SearchProblem::cost(const ArchConfig& arch) const {
  uint64_t h = arch.hash();
  {
    std::lock_guard<std::mutex> lock(costMutex_);
    auto it = costCache_.find(h);
    if (it != costCache_.end()) return it->second;
  }
  ArchCost c = space_->cost(arch);
  std::lock_guard<std::mutex> lock(costMutex_);
  costCache_[h] = c;
  return c;
}

double SearchProblem::metric(const MetricSpec& m, const ArchConfig& arch) const {
  if (m.metric == "params") return double(cost(arch).params);
  if (m.metric == "macs") return double(cost(arch).macs);
  if (m.metric == "peak_memory") return double(cost(arch).peakActivationBytes);
  const DeviceEntry* d = findDevice(m);
  if (!d) throw Error("no table entry for " + m.describe());
  if (d->analytic) {
    const AnalyticSource::Value v = d->analytic->predict(*space_, arch);
    return m.metric == "fpga_bram36" ? double(v.bram36) : v.ms;
  }
  if (d->lut) return d->lut->predict(*space_, arch);
  auto v = d->column->find(arch);
  if (!v)
    throw Error("no " + m.metric + " for " + (space_->kind() == "nb201" ? "index " + std::to_string(Nb201Space::index(arch)) : arch.hashHex()) +
                " on device '" + m.device + "' (" + d->tablePath + ")");
  return *v;
}

FreeMetrics SearchProblem::freeMetrics(const ArchConfig& arch) const {
  FreeMetrics f;
  for (const auto& c : constraints_) {
    double v = metric(c.metric, arch);
    f.constraintValues.push_back(v);
    if (v > c.max) f.violation += v / c.max - 1.0;
  }
  for (const auto& m : minimize_) f.costs.push_back(metric(m, arch));
  return f;
}

ScreenFn SearchProblem::screen() const {
  if (constraints_.empty()) return {};
  return [this](const ArchConfig& a) {
    double v = 0.0;
    for (const auto& c : constraints_) {
      std::optional<double> fast = c.device && c.device->column ? c.device->column->find(a) : std::nullopt;
      double x = fast ? *fast : metric(c.metric, a);
      if (x > c.max) v += x / c.max - 1.0;
    }
    return v;
  };
}

StrategyContext SearchProblem::strategyContext() const {
  StrategyContext c;
  c.space = space_.get();
  c.seed = seed_;
  c.screen = screen();
  c.costs = [this](const ArchConfig& a) {
    std::vector<double> v;
    for (const auto& m : minimize_) v.push_back(metric(m, a));
    return v;
  };
  c.numCosts = int(minimize_.size());
  return c;
}

std::unique_ptr<Strategy> SearchProblem::makeStrategy() const { return makeStrategy(strategyContext()); }

std::unique_ptr<Strategy> SearchProblem::makeStrategy(const StrategyContext& ctx) const {
  const auto& s = settings_;
  if (s.strategy == "random") return makeRandomSearch(ctx);
  if (s.strategy == "evolution") return makeEvolution(ctx, s.evolution);
  if (s.strategy == "nsga2") return makeNsga2(ctx, s.nsga2);
  if (s.strategy == "local") return makeLocalSearch(ctx, s.local);
  return makeGuided(ctx, s.guided);
}

std::optional<int64_t> SearchProblem::feasibleCount() const {
  if (!space_->enumerable()) return std::nullopt;
  int64_t n = 0;
  space_->enumerate([&](const ArchConfig& a) {
    if (freeMetrics(a).violation <= 0.0) ++n;
    return true;
  });
  return n;
}

}  // namespace hwnas
