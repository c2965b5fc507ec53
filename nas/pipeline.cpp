#include "nas/pipeline.h"

#include <sys/resource.h>
#include <tbb/blocked_range.h>
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <set>
#include <sstream>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "core/fs_util.h"
#include "core/log.h"
#include "core/lower.h"
#include "exporter/backend.h"
#include "exporter/export_pipeline.h"
#include "exporter/model_io.h"
#include "exporter/onnx_export.h"
#include "exporter/recipe.h"
#include "latency_luts/profiler.h"
#include "nas/distributed.h"
#include "nas/results_store.h"
#include "nas/search_engine.h"
#include "nas/hierarchical.h"
#include "nas/search_report.h"
#include "predictors/encoding.h"
#include "predictors/metrics.h"
#include "predictors/predictor.h"
#include "search_spaces/mbconv_space.h"
#include "trainer/autograd.h"
#include "trainer/ops.h"
#include "trainer/safetensors.h"
#include "trainer/weight_map.h"

namespace fs = std::filesystem;

namespace hwnas {

// ------------------------------------------------------------------ peak RSS

void resetPeakRss() {
  std::ofstream f("/proc/self/clear_refs");
  if (f) f << "5";  // Linux >= 4.0: resets VmHWM to the current RSS
}

int64_t peakRssBytes() {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("VmHWM:", 0) == 0) return int64_t(std::stoll(line.substr(6))) * 1024;
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return int64_t(ru.ru_maxrss) * 1024;
}

// ------------------------------------------------------------------ config

namespace {

std::string resolvePath(const std::string& baseDir, const std::string& p) {
  if (p.empty() || fs::path(p).is_absolute() || baseDir.empty()) return p;
  return (fs::path(baseDir) / p).lexically_normal().string();
}

// The YAML text of a section, for the resolved config (and so the config hash).
Json yamlText(const YamlNode& n) { return YAML::Dump(n.raw()); }

const std::vector<std::string> kStages = {"supernet", "latency", "predictor", "search", "finalists", "export"};

// A YAML node as JSON (numbers as numbers, booleans as booleans), for the predictor spec.
Json yamlJson(const YamlNode& n) {
  const YAML::Node& y = n.raw();
  std::function<Json(const YAML::Node&)> conv = [&](const YAML::Node& x) -> Json {
    if (x.IsMap()) {
      Json j = Json::object();
      for (auto it = x.begin(); it != x.end(); ++it) j[it->first.as<std::string>()] = conv(it->second);
      return j;
    }
    if (x.IsSequence()) {
      Json j = Json::array();
      for (const auto& v : x) j.push_back(conv(v));
      return j;
    }
    if (!x.IsDefined() || x.IsNull()) return nullptr;
    const std::string t = x.Scalar();
    if (x.Tag() == "!") return t;
    if (t == "true" || t == "false") return t == "true";
    char* end = nullptr;
    const long long i = std::strtoll(t.c_str(), &end, 10);
    if (!t.empty() && *end == '\0') return int64_t(i);
    const double d = std::strtod(t.c_str(), &end);
    if (!t.empty() && *end == '\0') return d;
    return t;
  };
  return conv(y);
}

int heldOutCount(const PredictorSettings& ps) { return int(std::lround(ps.holdout * ps.samples)); }

// Training in the pipeline checkpoints every this many steps (and at epoch ends), so a stop
// request waits at most this many steps and loses none.
constexpr int kCheckpointSteps = 10;

}  // namespace

Json defaultPipelinePredictor() {
  return {{"kind", "ensemble"}, {"members", 5}, {"bootstrap", true}, {"member", {{"kind", "ridge"}, {"alpha", 1.0}}}};
}

std::string PipelineConfig::configHash() const { return hashHex(fnv1a64(canonicalDump(resolved))); }

bool isPipelineConfig(const std::string& path) {
  YamlNode root = YamlNode::loadFile(path);
  return root.isMap() && root.has("kind") && root["kind"].isScalar() && root["kind"].asString() == "pipeline";
}

std::unique_ptr<PipelineConfig> loadPipelineConfig(const std::string& path, int64_t seedOverride) {
  YamlNode root = YamlNode::loadFile(path);
  const std::string base = fs::path(path).parent_path().string();
  auto cfg = std::make_unique<PipelineConfig>();
  cfg->path = path;
  root["kind"].asEnum({"pipeline"});
  cfg->problem = SearchProblem::parsePipeline(root, base);
  SearchProblem& p = *cfg->problem;
  if (seedOverride >= 0) p.setSeed(uint64_t(seedOverride));
  const uint64_t seed = p.seed();

  // data: shared by the supernet, the search's validation split and the finalists
  TrainOptions& d = cfg->data;
  if (auto dn = root.find("data")) {
    dn->checkKeys({"dataset", "data_dir", "val_size"});
    if (dn->has("dataset")) d.dataset = (*dn)["dataset"].asEnum({"fashion-mnist", "mnist", "cifar10", "cifar100"});
    d.dataDir = dn->getString("data_dir", "");
    d.valSize = dn->getInt64("val_size", -1);
    if (d.valSize == 0) (*dn)["val_size"].fail("the pipeline selects on a validation split: val_size must be -1 or > 0");
    if (d.valSize < -1) (*dn)["val_size"].fail("must be -1 (the dataset's default) or a count");
  }

  // objective and latency must be the pipeline's sources
  const SupernetSourceSpec* sns = p.supernetSource();
  YamlNode acc = root["objective"]["accuracy"];
  if (!sns) acc.fail("a pipeline searches with source: supernet (inherited accuracy of the supernet stage's weights)");
  if (!sns->path.empty()) acc["path"].fail("the pipeline's supernet comes from its supernet stage; leave out path (use supernet: {load: DIR})");
  if (!p.lutSource()) {
    if (auto l = root.find("latency")) l->fail("a pipeline uses latency source: lut (this CPU's table, profiled when missing)");
    root.fail("a pipeline needs latency: {source: lut, device: host-cpu}");
  }

  // supernet
  YamlNode sn = root["supernet"];
  if (!sn.isMap()) sn.fail("expected {recipe: R.yaml, ...} or {load: DIR}");
  if (sn.has("load")) {
    sn.checkKeys({"load"});
    cfg->supernetLoad = resolvePath(base, sn.getString("load"));
    const std::string info = cfg->supernetLoad + "/supernet.json";
    if (!fileExists(info)) sn["load"].fail(cfg->supernetLoad + " is not a finished supernet folder (no supernet.json)");
    Json j = readJsonFile(info);
    if (j.value("space_id", std::string()) != p.space().spaceId())
      sn["load"].fail("the supernet in " + cfg->supernetLoad + " was trained on " + j.value("space_id", std::string("?")) +
                      ", not on this config's space " + p.space().spaceId());
  } else {
    sn.checkKeys({"recipe", "epochs", "max_steps", "train_limit", "batch_size", "subnets_per_step", "lr"});
    const std::string rp = resolvePath(base, sn.getString("recipe"));
    if (!fileExists(rp)) sn["recipe"].fail("supernet recipe '" + rp + "' does not exist");
    cfg->recipe = std::make_unique<SupernetRecipe>(loadSupernetRecipe(rp));
    auto& so = cfg->recipe->options;
    if (!fileExists(cfg->recipe->spacePath)) sn["recipe"].fail(rp + ": its space " + cfg->recipe->spacePath + " does not exist");
    if (loadSearchSpace(cfg->recipe->spacePath)->spaceId() != p.space().spaceId())
      sn["recipe"].fail(rp + " trains a supernet of " + cfg->recipe->spacePath + ", another space than this config's " +
                        p.space().spaceId());
    TrainOptions& b = so.base;
    b.epochs = sn.getInt("epochs", b.epochs);
    b.maxSteps = sn.getInt64("max_steps", b.maxSteps);
    b.trainLimit = sn.getInt64("train_limit", 0);
    b.batchSize = sn.getInt("batch_size", b.batchSize);
    b.lr = sn.getDouble("lr", b.lr);
    so.randomSubnets = sn.getInt("subnets_per_step", so.randomSubnets);
    if (b.trainLimit < 0) sn["train_limit"].fail("must be >= 0 (0: the whole training split)");
    b.dataset = d.dataset;
    b.dataDir = d.dataDir;
    b.valSize = d.valSize;
    b.seed = seed;
    so.evalEachEpoch = false;  // the search stage evaluates the largest and smallest once
    try {
      checkSupernetTrainOptions(so);
    } catch (const InputError& e) {
      sn.fail(e.what());
    }
  }

  // predictor
  if (auto pn = root.find("predictor")) {
    PredictorSettings& ps = cfg->predictor;
    if (pn->isScalar()) {
      ps.enabled = pn->asBool();  // predictor: true (the defaults) or false
    } else {
      pn->checkKeys({"enabled", "samples", "holdout", "spec", "encoding"});
      ps.enabled = pn->getBool("enabled", true);
      ps.samples = pn->getInt("samples", ps.samples);
      ps.holdout = pn->getDouble("holdout", ps.holdout);
      ps.encoding = pn->getString("encoding", ps.encoding);
      if (auto sp = pn->find("spec")) ps.spec = parseJson(yamlJson(*sp).dump(), path);
      if (!(ps.holdout > 0.0 && ps.holdout < 1.0)) (*pn)["holdout"].fail("must be in (0, 1): the held-out fraction");
      const int held = heldOutCount(ps);
      if (held < 2 || ps.samples - held < 2)
        (*pn)["samples"].fail("samples x holdout and the rest must each be >= 2 (samples " + std::to_string(ps.samples) +
                              ", held out " + std::to_string(held) + ")");
      try {
        (void)makeEncoder(p.space(), ps.encoding);
      } catch (const InputError& e) {
        (*pn)["encoding"].fail(e.what());
      }
      if (ps.spec.is_null()) ps.spec = defaultPipelinePredictor();
      try {
        (void)makePredictor(ps.spec, path + ": predictor.spec");
      } catch (const ConfigError&) {
        throw;
      } catch (const InputError& e) {
        (*pn)["spec"].fail(e.what());
      }
    }
    if (ps.spec.is_null()) ps.spec = defaultPipelinePredictor();
  }
  if (p.predictorSource() && !cfg->predictor.enabled)
    acc["source"].fail("source predictor needs the predictor stage: add predictor: {samples: 100, holdout: 0.2}");

  // finalists
  FinalistSettings& f = cfg->finalists;
  TrainOptions& t = f.train;
  t.dataset = d.dataset;
  t.dataDir = d.dataDir;
  t.valSize = d.valSize;
  t.seed = seed;
  t.epochs = 3;
  t.labelSmoothing = 0.1;  // nas-train's default recipe: flips, no random crop (the crop costs
  t.padCrop = 0;           // refnet 0.7 points at 10 epochs; short budgets underfit more)
  t.hflip = true;
  if (auto fn = root.find("finalists")) {
    fn->checkKeys({"top_k", "epochs", "max_steps", "train_limit", "eval_limit", "batch_size", "lr", "baseline", "measure_runs"});
    f.topK = fn->getInt("top_k", f.topK);
    if (f.topK < 1) (*fn)["top_k"].fail("must be >= 1");
    t.epochs = fn->getInt("epochs", t.epochs);
    t.maxSteps = fn->getInt64("max_steps", -1);
    t.trainLimit = fn->getInt64("train_limit", 0);
    t.evalLimit = fn->getInt64("eval_limit", 0);
    t.batchSize = fn->getInt("batch_size", t.batchSize);
    t.lr = fn->getDouble("lr", t.lr);
    f.measureRuns = fn->getInt("measure_runs", f.measureRuns);
    if (f.measureRuns < 1) (*fn)["measure_runs"].fail("must be >= 1");
    if (fn->has("baseline")) {
      f.baselinePath = resolvePath(base, fn->getString("baseline"));
      if (!fileExists(f.baselinePath)) (*fn)["baseline"].fail("baseline model '" + f.baselinePath + "' does not exist");
      f.baseline = loadModelDef(f.baselinePath);
    }
    try {
      checkTrainOptions(t);
    } catch (const InputError& e) {
      fn->fail(e.what());
    }
  }
  if (auto cs = root.find("constraints")) {
    for (size_t i = 0; i < p.constraints().size(); ++i) {
      const Constraint& c = p.constraints()[i];
      if (c.fraction > 0.0 && f.baselinePath.empty())
        (*cs)[i]["relative_to"].fail("a budget relative to the baseline needs finalists.baseline (a model YAML such as refnet.yaml)");
      if (c.fraction > 0.0 && c.metric.metric != "latency" && c.metric.metric != "params" && c.metric.metric != "macs")
        (*cs)[i]["relative_to"].fail("relative budgets apply to latency, params and macs");
    }
  }
  if (auto e = root.find("export")) {
    ExportSettings& x = cfg->exportSettings;
    if (e->isScalar()) {
      x.enabled = e->asBool();  // export: false (or true: the defaults)
    } else {
      e->checkKeys({"enabled", "targets", "recipe", "measure_accuracy", "measure_latency"});
      x.enabled = e->getBool("enabled", true);
      if (auto t = e->find("targets")) {
        if (!t->isSequence()) t->fail("expected a list of targets, e.g. [cpu] (model.onnx is always written)");
        x.targets.clear();
        for (size_t i = 0; i < t->size(); ++i) {
          const std::string name = (*t)[i].asEnum({"cpu", "cuda", "fpga"});
          if (std::find(x.targets.begin(), x.targets.end(), name) != x.targets.end()) (*t)[i].fail("listed twice");
          x.targets.push_back(name);
        }
      }
      if (e->has("recipe")) {
        x.recipePath = resolvePath(base, e->getString("recipe"));
        if (!fileExists(x.recipePath)) (*e)["recipe"].fail("export recipe '" + x.recipePath + "' does not exist");
        loadExportRecipe(x.recipePath);  // checked whole now (ConfigError with the recipe's file:line:col)
      }
      x.measureAccuracy = e->getBool("measure_accuracy", false);
      x.measureLatency = e->getBool("measure_latency", false);
    }
  }

  cfg->resolved = p.resolved();
  cfg->resolved["kind"] = "pipeline";
  for (const char* k : {"data", "supernet", "finalists", "export"})
    if (auto n = root.find(k)) cfg->resolved[k] = yamlText(*n);
  if (cfg->predictor.enabled)
    cfg->resolved["predictor"] = {{"samples", cfg->predictor.samples}, {"holdout", cfg->predictor.holdout},
                                  {"spec", cfg->predictor.spec}, {"encoding", cfg->predictor.encoding}};
  return cfg;
}

// ------------------------------------------------------------------ stages

namespace {

struct Ctx {
  PipelineConfig& cfg;
  SearchProblem& problem;
  std::string out;
  const PipelineOptions& opt;
  ResultsStore& store;
  std::string supernetDir() const { return cfg.supernetLoad.empty() ? out + "/supernet" : cfg.supernetLoad; }
  std::string lutPath() const {
    const auto& l = problem.lutSource();
    return l->path.empty() || l->path == out + "/lut.db" ? out + "/lut.db" : l->path;
  }
  bool lutGiven() const { return !problem.lutSource()->path.empty(); }
  bool stopRequested() const { return opt.stop && opt.stop->load(); }
  void checkStop() const {
    if (stopRequested()) throw Interrupted();
  }
};

// Progress callback of a training loop: after a checkpoint was written (epoch end, every
// kCheckpointSteps steps, the last step) a stop request ends the loop by Interrupted.
bool justCheckpointed(const TrainProgress& p) {
  return p.epochEnd || p.step == p.totalSteps || p.step % kCheckpointSteps == 0;
}

bool supernetValid(const std::string& dir, const std::string& spaceId) {
  if (!fileExists(dir + "/supernet.json") || !fileExists(dir + "/supernet.safetensors") || !fileExists(dir + "/space.yaml"))
    return false;
  try {
    return readJsonFile(dir + "/supernet.json").value("space_id", std::string()) == spaceId;
  } catch (const Error&) {
    return false;
  }
}

bool lutValid(const std::string& db, const std::string& device) {
  if (!fileExists(db)) return false;
  try {
    LatencyStore s(db, true);
    return s.device(device).has_value() && s.count(device, KeyLevel::Op) > 0;
  } catch (const Error&) {
    return false;
  }
}

// Runs a stage unless search.db says it is done and `valid` still holds for its output.
Json runStage(Ctx& c, const std::string& name, const std::function<bool(const Json&)>& valid,
              const std::function<Json()>& fn, bool* skipped = nullptr) {
  std::optional<StageRow> prev = c.store.stage(name);
  if (prev && prev->status == "done" && valid(prev->output)) {
    logInfo("stage ", name, ": done earlier (", std::fixed, std::setprecision(1), prev->seconds, " s), skipped");
    if (skipped) *skipped = true;
    return prev->output;
  }
  if (skipped) *skipped = false;
  c.checkStop();
  StageRow r;
  r.name = name;
  r.status = "running";
  r.attempts = prev ? prev->attempts + 1 : 1;
  r.output = Json::object();
  c.store.putStage(r);
  logInfo("stage ", name, (r.attempts > 1 ? ": resuming" : ": running"));
  resetPeakRss();
  const auto t0 = std::chrono::steady_clock::now();
  Json out = fn();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.peakRssBytes = peakRssBytes();
  r.status = "done";
  r.output = out;
  c.store.putStage(r);
  logInfo("stage ", name, ": done in ", std::fixed, std::setprecision(1), r.seconds, " s, peak RSS ",
          r.peakRssBytes / (1024 * 1024), " MiB");
  return out;
}

Json trainSupernetStage(Ctx& c) {
  const SupernetRecipe& recipe = *c.cfg.recipe;
  const SupernetTrainOptions& so = recipe.options;
  const std::string dir = c.out + "/supernet", ckpt = dir + "/checkpoint";
  std::shared_ptr<const SearchSpace> space(loadSearchSpace(recipe.spacePath));
  DataSplits data = loadDataSplits(so.base);
  data.test = ImageDataset();
  SpaceSupernet net(space, so.base.seed);
  fs::create_directories(ckpt);
  writeFileAtomic(dir + "/space.yaml", readFile(recipe.spacePath));
  writeFileAtomic(dir + "/recipe.yaml", readFile(recipe.path));
  const bool resume = fileExists(ckpt + "/state.safetensors");
  Progress bar("supernet", 0, c.opt.quiet);
  SupernetTrainOptions sto = so;
  sto.base.checkpointEverySteps = kCheckpointSteps;
  SupernetTrainResult r = net.train(data, sto, ckpt, resume, [&](const TrainProgress& p) {
    bar.setTotal(p.totalSteps);
    std::ostringstream st;
    st << "epoch " << p.epoch + 1 << " loss " << std::fixed << std::setprecision(4) << p.loss;
    bar.update(p.step, st.str());
    if (justCheckpointed(p)) c.checkStop();
  });
  bar.finish();
  net.saveWeights(dir + "/supernet.safetensors");
  writeSupernetCurve(dir, r);
  // supernet.json last: it marks the folder finished (openSupernetFolder). Same fields as
  // nas-train --supernet writes, without the largest/smallest evaluation (the search stage
  // records those).
  Json m = supernetFolderInfo(*space, so, r);
  writeJsonFile(dir + "/supernet.json", m);
  return {{"folder", dir}, {"trained", true}, {"steps", r.steps}, {"train_images", data.train.n}, {"seconds", r.seconds}};
}

Json latencyStage(Ctx& c) {
  const auto& lut = c.problem.lutSource();
  if (c.lutGiven()) {
    LatencyStore s(lut->path, true);
    return {{"db", lut->path}, {"device", lut->device}, {"given", true}, {"op_entries", s.count(lut->device, KeyLevel::Op)}};
  }
  const std::string db = c.out + "/lut.db";
  LatencyStore store(db);
  if (!store.device(lut->device)) store.addDevice({lut->device, "cpu", "this machine's CPU, profiled by nas-search"});
  const LutProfileSpec& ps = c.problem.lutProfile();
  ProfileOptions po;
  po.device = lut->device;
  po.threads = lut->threads;
  po.samples = ps.samples;
  po.candidates = ps.candidates;
  po.runs = ps.runs;
  po.warmup = ps.warmup;
  po.burst = ps.burst;
  po.groupSize = ps.groupSize;
  po.seed = ps.seed;
  po.quiet = c.opt.quiet;
  ProfileReport rep = profileSpace(c.problem.space(), store, po);
  return {{"db", db},
          {"device", lut->device},
          {"given", false},
          {"networks", rep.networks},
          {"keys_written", rep.keysWritten},
          {"keys_skipped", rep.keysSkipped},
          {"op_entries", store.count(lut->device, KeyLevel::Op)},
          {"overhead_ms", rep.overheadMs},
          {"probe_ms", rep.probeMs},
          {"seconds", rep.seconds}};
}

double baselineMetric(const Ctx& c, const MetricSpec& m) {
  const Graph g = modelGraph(c.cfg.finalists.baseline);
  for (const auto& a : c.problem.analyticDevices())
    if (m.device == a->name) return m.metric == "fpga_bram36" ? double(a->predictGraph(g).bram36) : a->predictGraph(g).ms;
  if (m.metric == "latency") return c.problem.lutSource()->model->predict(g).latencyMs;
  if (m.metric == "params") return double(g.cost().params);
  return double(g.cost().macs);
}

// Relative budgets from the frozen table, then a reachability check on the smallest arch.
Json resolveBudgets(Ctx& c) {
  Json budgets = Json::array();
  for (size_t i = 0; i < c.problem.constraints().size(); ++i) {
    const Constraint& k = c.problem.constraints()[i];
    Json b = {{"metric", k.metric.label()}};
    if (k.fraction > 0.0) {
      const double base = baselineMetric(c, k.metric);
      c.problem.setMax(i, k.fraction * base);
      b["fraction_of_baseline"] = k.fraction;
      b["baseline_value"] = base;
    }
    b["max"] = c.problem.constraints()[i].max;
    budgets.push_back(b);
  }
  const ArchConfig smallest = c.problem.space().smallest();
  FreeMetrics fm = c.problem.freeMetrics(smallest);
  if (fm.violation > 0.0) {
    std::ostringstream msg;
    msg << "infeasible budget: even the smallest architecture of '" << c.problem.space().name() << "' has";
    for (size_t i = 0; i < c.problem.constraints().size(); ++i)
      msg << (i ? "," : "") << " " << c.problem.constraints()[i].metric.label() << " = " << fm.constraintValues[i]
          << " (max " << c.problem.constraints()[i].max << ")";
    msg << "; raise the budget";
    throw InputError(msg.str());
  }
  return budgets;
}

struct Trained {
  std::string name, dir, hash;
  ModelDef def;
  std::shared_ptr<Model> model;
  Json metrics;
};

bool trainedIn(const std::string& dir) { return fileExists(dir + "/metrics.json") && fileExists(dir + "/model.safetensors"); }

// Trains def from scratch into dir (resuming from dir/checkpoint) and writes model.yaml,
// model.safetensors and, last (it marks the model finished), metrics.json. The test split is not
// given to the training loop. Used by rank 0 in DIR and by MPI workers in a folder of their own.
void trainInto(const TrainOptions& base, const PipelineOptions& opt, const std::string& name, const std::string& dir,
               const ModelDef& def, const DataSplits& data, Json extra) {
  TrainOptions o = base;
  o.checkpointEverySteps = kCheckpointSteps;
  std::shared_ptr<Model> model = buildModel(def, o.seed);
  const std::string ckpt = dir + "/checkpoint";
  fs::create_directories(ckpt);
  const bool resume = fileExists(ckpt + "/state.safetensors");
  auto checkStop = [&] {
    if (opt.stop && opt.stop->load()) throw Interrupted();
  };
  checkStop();
  Progress bar("train " + name, 0, opt.quiet);
  TrainResult r = trainModel(*model, data, o, ckpt, resume, [&](const TrainProgress& p) {
    bar.setTotal(p.totalSteps);
    std::ostringstream st;
    st << "epoch " << p.epoch + 1 << " loss " << std::fixed << std::setprecision(4) << p.loss;
    bar.update(p.step, st.str());
    if (justCheckpointed(p)) checkStop();
  });
  bar.finish();
  writeFileAtomic(dir + "/model.yaml", def.toYaml());
  saveSafetensors(dir + "/model.safetensors", stateDict(*model), {{"format", "pt"}, {"model", def.name}});
  Json m = std::move(extra);
  m["name"] = name;
  m["val_accuracy"] = r.valAccuracy;
  m["params"] = model->numParameters();
  m["macs"] = model->toGraph(1).cost().macs;
  m["epochs"] = r.epochs;
  m["steps"] = r.steps;
  m["seconds"] = r.seconds;
  m["train_images"] = data.train.n;
  m["val_images"] = data.val.n;
  m["seed"] = o.seed;
  writeJsonFile(dir + "/metrics.json", m);
  logInfo("finalist ", name, ": val ", r.valAccuracy);
}

// A finished model folder (trainedIn) loaded back.
Trained loadTrained(const std::string& name, const std::string& dir, const ModelDef& def, uint64_t seed) {
  Trained t;
  t.name = name;
  t.dir = dir;
  t.def = def;
  t.model = buildModel(def, seed);
  loadStateDict(*t.model, loadSafetensors(dir + "/model.safetensors").tensors, dir + "/model.safetensors");
  t.model->eval();
  t.metrics = readJsonFile(dir + "/metrics.json");
  return t;
}

// Trains def into dir unless dir/metrics.json says it is finished, then loads it.
Trained trainOrLoad(Ctx& c, const std::string& name, const std::string& dir, const ModelDef& def, const DataSplits& data,
                    Json extra) {
  if (trainedIn(dir))
    logInfo("finalist ", name, ": trained earlier, val ", readJsonFile(dir + "/metrics.json").value("val_accuracy", -1.0));
  else
    trainInto(c.cfg.finalists.train, c.opt, name, dir, def, data, std::move(extra));
  return loadTrained(name, dir, def, c.cfg.finalists.train.seed);
}

Json finalistsStage(Ctx& c, const SearchOutcome& o) {
  // The top-k distinct feasible archs by supernet accuracy (earliest first on ties).
  std::vector<size_t> idx;
  for (size_t i = 0; i < o.rows.size(); ++i)
    if (o.rows[i].queried && o.rows[i].violation <= 0.0) idx.push_back(i);
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return o.rows[a].accuracy > o.rows[b].accuracy; });
  std::vector<size_t> top;
  std::set<std::string> seen;
  for (size_t i : idx)
    if (seen.insert(o.rows[i].hash).second && int(top.size()) < c.cfg.finalists.topK) top.push_back(i);
  if (top.empty()) throw Error("no feasible architecture was found within the search budget; nothing to train");

  DataSplits full = loadDataSplits(c.cfg.finalists.train);
  DataSplits noTest = full;
  noTest.test = ImageDataset();
  const auto& space = dynamic_cast<const MbconvSpace&>(c.problem.space());
  struct Job {
    std::string name, dir;
    ModelDef def;
    Json extra;
  };
  std::vector<Job> jobs;
  for (size_t k = 0; k < top.size(); ++k) {
    const QueryRow& row = o.rows[top[k]];
    jobs.push_back({row.hash, c.out + "/finalists/" + row.hash, space.toModelDef(row.arch),
                    {{"hash", row.hash}, {"arch", row.arch.json()}, {"rank", k}, {"search", row.metrics}}});
  }
  const bool hasBaseline = !c.cfg.finalists.baselinePath.empty();
  if (hasBaseline) jobs.push_back({"baseline", c.out + "/baseline", c.cfg.finalists.baseline, {{"model", c.cfg.finalists.baselinePath}}});
  // Under MPI model j is trained by rank j % size: the others' are sent first, rank 0 trains its
  // own, then writes what came back into DIR (the same files, bit for bit, as training here).
  WorkerPool* pool = c.opt.pool && c.opt.pool->size() > 1 ? c.opt.pool : nullptr;
  std::vector<int> owner(jobs.size(), 0);
  if (pool)
    for (size_t j = 0; j < jobs.size(); ++j) {
      if (trainedIn(jobs[j].dir)) continue;
      owner[j] = int(j % size_t(pool->size()));
      if (owner[j] == 0) continue;
      Message m;
      m.head = {{"op", "train"}, {"name", jobs[j].name}, {"model_yaml", jobs[j].def.toYaml()}, {"extra", jobs[j].extra}};
      pool->request(owner[j], m);
      logInfo("finalist ", jobs[j].name, ": training on rank ", owner[j]);
    }
  std::vector<std::optional<Trained>> trained(jobs.size());
  for (size_t j = 0; j < jobs.size(); ++j)
    if (owner[j] == 0) trained[j] = trainOrLoad(c, jobs[j].name, jobs[j].dir, jobs[j].def, noTest, jobs[j].extra);
  for (size_t j = 0; j < jobs.size(); ++j) {
    if (owner[j] == 0) continue;
    Message r = pool->reply(owner[j]);
    if (r.blobs.size() != 3) throw Error("rank " + std::to_string(owner[j]) + ": a trained model needs 3 files");
    fs::create_directories(jobs[j].dir);
    writeFileAtomic(jobs[j].dir + "/model.yaml", r.blobs[0]);
    writeFileAtomic(jobs[j].dir + "/model.safetensors", r.blobs[1]);
    writeFileAtomic(jobs[j].dir + "/metrics.json", r.blobs[2]);  // last: marks it finished
    logInfo("finalist ", jobs[j].name, ": trained on rank ", owner[j], ", val ",
            readJsonFile(jobs[j].dir + "/metrics.json").value("val_accuracy", -1.0));
    trained[j] = loadTrained(jobs[j].name, jobs[j].dir, jobs[j].def, c.cfg.finalists.train.seed);
  }
  std::vector<Trained> models;
  for (size_t k = 0; k < top.size(); ++k) models.push_back(std::move(*trained[k]));
  std::optional<Trained> baseline;
  if (hasBaseline) baseline = std::move(*trained.back());
  // The winner on validation accuracy (earlier rank on ties); only then the test split.
  size_t win = 0;
  for (size_t k = 1; k < models.size(); ++k)
    if (models[k].metrics["val_accuracy"].get<double>() > models[win].metrics["val_accuracy"].get<double>()) win = k;
  const auto& tr = c.cfg.finalists.train;
  auto testOf = [&](Trained& t) { return evaluateAccuracy(*t.model, full.test, full.mean, full.std, tr.evalBatchSize); };
  models[win].metrics["test_accuracy"] = testOf(models[win]);
  if (baseline) baseline->metrics["test_accuracy"] = testOf(*baseline);

  c.checkStop();
  // Latency with the runtime: every finalist and the baseline, interleaved run by run.
  std::vector<Trained*> all;
  for (auto& m : models) all.push_back(&m);
  if (baseline) all.push_back(&*baseline);
  std::vector<runtime::Plan> plans;
  const auto& lut = c.problem.lutSource();
  for (Trained* t : all) {
    Graph g = t->model->toGraph(1);
    t->metrics["predicted_latency_ms"] = lut->model->predict(g).latencyMs;
    for (const auto& a : c.problem.analyticDevices()) {  // the other devices: their models' prediction
      const AnalyticSource::Value v = a->predictGraph(g);
      t->metrics["predicted_latency_" + a->name + "_ms"] = v.ms;
      if (a->model == "analytic:fpga") t->metrics["fpga_bram36_" + a->name] = v.bram36;
    }
    plans.push_back(lower(g, weightMapOf(*t->model)));
  }
  TimingOptions to;
  to.threads = lut->threads;
  to.runs = c.cfg.finalists.measureRuns;
  to.warmup = c.cfg.finalists.measureWarmup;
  to.perOp = false;
  logInfo("measuring ", plans.size(), " networks with the runtime (", to.runs, " runs each, interleaved)");
  std::vector<NetworkTimes> times = timeInterleaved(plans, to);
  for (size_t i = 0; i < all.size(); ++i) {
    Trained& t = *all[i];
    t.metrics["measured_latency_ms"] = statistic(times[i].totalMs, "min");
    t.metrics["measured_latency_median_ms"] = statistic(times[i].totalMs, "median");
    t.metrics["latency_runs"] = times[i].totalMs.size();
    writeJsonFile(t.dir + "/metrics.json", t.metrics);
  }
  Json out;
  out["winner"] = models[win].name;
  Json fl = Json::array();
  for (auto& m : models) fl.push_back(m.metrics);
  out["finalists"] = fl;
  if (baseline) out["baseline"] = baseline->metrics;
  out["winner_metrics"] = models[win].metrics;
  return out;
}

// The winner through the exporter: its finalist folder as an ExportModel, the recipe's passes
// (fold_bn by default), then model.onnx and each target's package, staged beside DIR/export and
// renamed into place at the end (complete or absent). The trained model.yaml/.safetensors and
// metrics.json are copied too.
Json exportStage(Ctx& c, const Json& fin) {
  const ExportSettings& xs = c.cfg.exportSettings;
  const std::string hash = fin["winner"].get<std::string>();
  const std::string src = c.out + "/finalists/" + hash, dst = c.out + "/export";
  ExportRecipe recipe = xs.recipePath.empty() ? defaultExportRecipe() : loadExportRecipe(xs.recipePath);
  if (xs.recipePath.empty()) {
    recipe.dataset = c.cfg.data.dataset;  // the pipeline's data (used only when measuring accuracy)
    recipe.dataDir = c.cfg.data.dataDir;
  }
  ExportPipelineOptions po;
  po.seed = c.problem.seed();
  po.threads = std::max(1, c.problem.lutSource()->threads);
  po.measureAccuracy = xs.measureAccuracy;
  po.measureLatency = xs.measureLatency;
  if (!c.opt.quiet) po.progress = [](const std::string& s) { logInfo("export: ", s); };
  ExportPipelineResult r = runExportPipeline(loadExportModel(src), recipe, po);

  fs::remove_all(dst);  // a half-written earlier attempt (the stage was not recorded as done)
  TempDir stage = TempDir::stagingFor(dst);
  const std::string tmp = stage.path();
  ExportReport& rep = r.report;
  rep.model = "finalists/" + hash;
  rep.target = "onnx";
  for (const auto& t : xs.targets) rep.target += "+" + t;
  for (const char* f : {"model.yaml", "model.safetensors"}) {
    writeFileAtomic(tmp + "/" + f, readFile(src + "/" + f));
    rep.artifacts.push_back(f);
  }
  writeJsonFile(tmp + "/metrics.json", fin["winner_metrics"]);
  rep.artifacts.push_back("metrics.json");
  const QuantSpec* q = r.quant ? &*r.quant : nullptr;
  OnnxExportOptions oo;
  oo.quant = q;
  exportOnnx(r.model, tmp + "/model.onnx", oo);
  rep.artifacts.push_back("model.onnx");
  if (q) {
    writeFileAtomic(tmp + "/quant_spec.json", q->toJson().dump(2) + "\n");
    rep.artifacts.push_back("quant_spec.json");
  }
  Json notes = Json::array();
  for (const auto& t : xs.targets) {
    c.checkStop();
    BackendOptions bo;
    bo.quant = q;
    BackendResult br = makeBackend(t)->write(r.model, tmp + "/" + t, bo);
    for (const auto& f : br.files) rep.artifacts.push_back(t + "/" + f);
    for (const auto& n : br.notes) notes.push_back(t + ": " + n);
  }
  rep.artifacts.push_back("report.json");
  rep.artifacts.push_back("report.md");
  writeFileAtomic(tmp + "/report.json", rep.toJson().dump(2) + "\n");
  writeFileAtomic(tmp + "/report.md", rep.toMarkdown());
  stage.commit(dst, true);
  Json steps = Json::array();
  for (const auto& st : rep.steps) steps.push_back(st.name);
  return {{"dir", dst},
          {"hash", hash},
          {"recipe", recipe.name},
          {"passes", steps},
          {"targets", xs.targets},
          {"onnx_bytes", int64_t(fs::file_size(dst + "/model.onnx"))},
          {"files", rep.artifacts},
          {"notes", notes}};
}

bool exportValid(const std::string& out, const Json& j) {
  if (!j.contains("files") || !j["files"].is_array()) return false;
  for (const auto& f : j["files"])
    if (!fileExists(out + "/export/" + f.get<std::string>())) return false;
  return true;
}

std::string fmt(double v, int prec) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(prec) << v;
  return s.str();
}

std::string pct(const Json& j, const char* key) {
  if (!j.contains(key) || !j[key].is_number() || j[key].get<double>() < 0) return "-";
  return fmt(100.0 * j[key].get<double>(), 2) + "%";
}
std::string ms(const Json& j, const char* key) {
  if (!j.contains(key) || !j[key].is_number()) return "-";
  return fmt(j[key].get<double>(), 3);
}

std::string reportMd(Ctx& c, const SearchOutcome& o, const Json& budgets, const Json& fin, const Json& search,
                     const Json& exported, const Json& predictor) {
  std::ostringstream r;
  const auto& p = c.problem;
  r << "# nas-search report\n\n";
  r << "Config: `" << c.cfg.path << "` (hash " << c.cfg.configHash() << "), space `" << p.space().spaceId()
    << "`, seed " << p.seed() << ", device `" << p.lutSource()->device << "` (" << p.lutSource()->threads
    << " thread" << (p.lutSource()->threads == 1 ? "" : "s") << ").\n\n";
  r << "## Budget\n\n| metric | max | how |\n|---|---|---|\n";
  for (const auto& b : budgets) {
    r << "| " << b["metric"].get<std::string>() << " | " << fmt(b["max"].get<double>(), 4) << " | ";
    if (b.contains("fraction_of_baseline"))
      r << fmt(b["fraction_of_baseline"].get<double>(), 3) << " x the baseline's " << fmt(b["baseline_value"].get<double>(), 4)
        << (b["metric"].get<std::string>().rfind("latency_" + p.lutSource()->device + "_", 0) == 0
                ? " (latency: the LUT's prediction)"
                : " (the device model's prediction)");
    else
      r << "as configured";
    r << " |\n";
  }
  {
    const auto& lut = p.lutSource();
    r << "\nLatency table: `" << lut->path << "`, device `" << lut->device << "`, frozen for the run (LUT sum of fused-op entries"
      << " + calibrated overhead). This process predicted " << lut->predicted() << " distinct archs";
    if (lut->allowFallback)
      r << "; " << lut->fallbackPredictions() << " of them used the fallback estimate for op keys the table lacks";
    r << ".\n";
  }
  const Json& w = fin["winner_metrics"];
  const double maxLat = p.constraints().empty() ? INFINITY : p.constraints()[0].max;
  r << "\n## Winner vs baseline\n\n";
  r << "Both trained from scratch with the same budget (" << c.cfg.finalists.train.epochs << " epochs";
  if (c.cfg.finalists.train.maxSteps > 0) r << ", at most " << c.cfg.finalists.train.maxSteps << " steps";
  r << ", " << w.value("train_images", int64_t(0)) << " training images); the winner was picked on validation accuracy"
    << " among the finalists before any test accuracy was computed. Latency: the runtime, "
    << c.cfg.finalists.measureRuns << " runs per network interleaved with the others, minimum (median in metrics.json).\n\n";
  r << "| model | params | MACs | val acc | test acc | LUT latency (ms) | measured latency (ms) | measured / budget |\n";
  r << "|---|---|---|---|---|---|---|---|\n";
  auto rowOf = [&](const std::string& name, const Json& m) {
    r << "| " << name << " | " << m.value("params", int64_t(0)) << " | " << m.value("macs", int64_t(0)) << " | "
      << pct(m, "val_accuracy") << " | " << pct(m, "test_accuracy") << " | " << ms(m, "predicted_latency_ms") << " | "
      << ms(m, "measured_latency_ms") << " | ";
    if (std::isfinite(maxLat) && m.contains("measured_latency_ms"))
      r << fmt(m["measured_latency_ms"].get<double>() / maxLat, 3);
    else
      r << "-";
    r << " |\n";
  };
  rowOf("winner `" + fin["winner"].get<std::string>() + "`", w);
  if (fin.contains("baseline")) rowOf("baseline (`" + fs::path(c.cfg.finalists.baselinePath).filename().string() + "`)", fin["baseline"]);
  if (fin.contains("baseline") && w.contains("measured_latency_ms")) {
    const Json& b = fin["baseline"];
    r << "\nWinner / baseline measured latency: "
      << fmt(w["measured_latency_ms"].get<double>() / b["measured_latency_ms"].get<double>(), 3)
      << "; test accuracy difference: "
      << fmt(100.0 * (w["test_accuracy"].get<double>() - b["test_accuracy"].get<double>()), 2) << " points.\n";
  }
 if (!p.analyticDevices().empty()) {
    r << "\nOn the analytic devices (their models' prediction of the trained networks):\n\n| model |";
    for (const auto& a : p.analyticDevices()) {
      r << " latency " << a->name << " (ms) |";
      if (a->model == "analytic:fpga") r << " BRAM36 " << a->name << " |";
    }
    r << "\n|---|";
    for (const auto& a : p.analyticDevices()) r << (a->model == "analytic:fpga" ? "---|---|" : "---|");
    r << "\n";
    auto devRow = [&](const std::string& name, const Json& m) {
      r << "| " << name << " |";
      for (const auto& a : p.analyticDevices()) {
        r << " " << ms(m, ("predicted_latency_" + a->name + "_ms").c_str()) << " |";
        if (a->model == "analytic:fpga") r << " " << m.value("fpga_bram36_" + a->name, int64_t(-1)) << " |";
      }
      r << "\n";
    };
    devRow("winner", w);
    if (fin.contains("baseline")) devRow("baseline", fin["baseline"]);
  }
  r << "\nWinner within budget per the LUT: " << (w.value("predicted_latency_ms", INFINITY) <= maxLat ? "yes" : "no")
    << "; per the measurement: " << (w.value("measured_latency_ms", INFINITY) <= maxLat ? "yes" : "no") << ".\n";
  r << "\n## Finalists\n\n| rank | hash | supernet val acc | trained val acc | LUT latency (ms) | measured (ms) | predicted / measured |\n";
  r << "|---|---|---|---|---|---|---|\n";
  for (const auto& f : fin["finalists"]) {
    const double pr = f.value("predicted_latency_ms", NAN), me = f.value("measured_latency_ms", NAN);
    r << "| " << f.value("rank", 0) << " | `" << f.value("hash", std::string()) << "` | "
      << fmt(f["search"].value("supernet_val_acc", NAN), 2) << "% | " << pct(f, "val_accuracy") << " | " << fmt(pr, 3) << " | "
      << fmt(me, 3) << " | " << fmt(pr / me, 3) << " |\n";
  }
  if (predictor.is_object() && predictor.contains("kendall_tau")) {
    r << "\n## Predictor\n\n" << predictor.value("samples", int64_t(0))
      << " random feasible subnets (seeded) evaluated with the supernet (search.db table `predictor_samples`); `"
      << predictor["spec"].dump() << "` on the `" << predictor.value("encoding", std::string()) << "` encoding, fitted on "
      << predictor.value("train", int64_t(0)) << " of them. On the seeded held-out " << predictor.value("held_out", int64_t(0))
      << ": **Kendall tau " << fmt(predictor["kendall_tau"].get<double>(), 3) << "**, Spearman rho "
      << fmt(predictor["spearman"].get<double>(), 3) << ", RMSE " << fmt(predictor["rmse"].get<double>(), 3)
      << " points (samples' inherited accuracy " << fmt(predictor.value("accuracy_min", NAN), 2) << "-"
      << fmt(predictor.value("accuracy_max", NAN), 2) << "%). The search's predictor is refitted on all samples (`"
      << predictor.value("path", std::string()) << "`).\n";
  }
  const bool byPredictor = p.predictorSource();
  r << "\n## Search\n\n" << o.queries << (byPredictor ? " predictor queries (" : " supernet evaluations (")
    << p.settings().strategy << (p.settings().mode == "hierarchical" ? ", hierarchical" : "") << "), " << o.proposals
    << " proposals in " << o.steps << " steps; inherited accuracy on " << search.value("val_images", int64_t(0))
    << " validation images after BN calibration on " << search.value("calibration_images", int64_t(0))
    << " training images. Largest subnet " << fmt(search.value("largest_val_acc", NAN), 2) << "%, smallest "
    << fmt(search.value("smallest_val_acc", NAN), 2) << "%.\n\n";
  if (search.contains("phases") && search["phases"].size() > 1) {
    r << "Phases (macro: macro decisions searched with every micro decision at its `"
      << p.settings().hierarchical.microSetting << "` choice; micro: the micro decisions inside a kept macro candidate):\n\n"
      << "| phase | queries | budget | best | best accuracy | macro of |\n|---|---|---|---|---|---|\n";
    for (const auto& ph : search["phases"])
      r << "| " << ph.value("phase", std::string()) << " | " << ph.value("queries", int64_t(0)) << " | "
        << ph.value("budget", int64_t(0)) << " | `" << ph.value("best", std::string("-")) << "` | "
        << fmt(ph.value("best_accuracy", NAN), 2) << " | " << ph.value("macro", std::string("-")) << " |\n";
    r << "\n";
  }
  if (search.contains("verified")) {
    r << "The predictor's top " << search["verified"].size()
      << " distinct feasible archs re-scored with the supernet (the finalists are the best of these by supernet accuracy)";
    if (search.contains("verified_kendall_tau"))
      r << "; Kendall tau predicted vs supernet among them " << fmt(search["verified_kendall_tau"].get<double>(), 3);
    r << ":\n\n| hash | predicted | supernet |\n|---|---|---|\n";
    for (const auto& v : search["verified"])
      r << "| `" << v.value("hash", std::string()) << "` | " << fmt(v.value("predicted_val_acc", NAN), 2) << " | "
        << fmt(v.value("supernet_val_acc", NAN), 2) << " |\n";
    r << "\n";
  }
  const auto axes = paretoAxes(p);
  auto frontTable = [&](const std::vector<size_t>& front) {  // a Markdown table of front rows
    r << "| hash | " << p.accuracyName();
    for (const auto& a : axes) r << " | " << a;
    r << " |\n|---|---";
    for (size_t i = 0; i < axes.size(); ++i) r << "|---";
    r << "|\n";
    for (size_t i : front) {
      r << "| `" << o.rows[i].hash << "` | " << fmt(o.rows[i].accuracy, 2);
      for (const auto& a : axes) r << " | " << fmt(o.rows[i].metrics.value(a, NAN), 4);
      r << " |\n";
    }
  };
  // Several devices: one accuracy-vs-latency front per device (2-D), beside the joint one.
  std::vector<std::string> latAxes;
  for (const auto& a : axes)
    if (a.rfind("latency_", 0) == 0) latAxes.push_back(a);
  if (!p.analyticDevices().empty()) {
    r << "Devices: `" << p.lutSource()->device << "` (the LUT, measured for the finalists)";
    for (const auto& a : p.analyticDevices()) r << ", `" << a->name << "` (" << a->describe().dump() << ")";
    r << ".\n\n";
    if (latAxes.size() > 1 || (latAxes.size() == 1 && axes.size() > 1))
      for (const auto& ax : latAxes) {
        auto front = paretoFront(o.rows, {ax});
        r << "Pareto front on `" << ax << "` alone (" << front.size() << " archs):\n\n";
        frontTable(front);
        r << "\n";
      }
  }
  if (!axes.empty()) {
    auto front = paretoFront(o.rows, axes);
    r << "Pareto front (" << front.size() << " archs; `pareto.svg`, `pareto.csv`):\n\n";
    frontTable(front);
  }
  if (exported.is_object() && exported.contains("files")) {
    r << "\n## Export\n\nThe winner through the exporter (recipe `" << exported.value("recipe", std::string()) << "`: ";
    bool first = true;
    for (const auto& p : exported["passes"]) {
      if (p.get<std::string>() == "input") continue;  // step 0 is the model as trained
      r << (first ? "" : ", ") << p.get<std::string>();
      first = false;
    }
    r << ") into `" << exported.value("dir", std::string()) << "` (`report.md` there has the exporter's figures):\n\n";
    // Top-level files one by one, each target's folder as one line.
    std::map<std::string, std::vector<std::string>> folders;
    for (const auto& f : exported["files"]) {
      const std::string name = f.get<std::string>();
      const size_t slash = name.find('/');
      if (slash == std::string::npos)
        r << "- `" << name << "`\n";
      else
        folders[name.substr(0, slash)].push_back(name.substr(slash + 1));
    }
    for (const auto& [dir, files] : folders) {
      r << "- `" << dir << "/`: " << files.size() << " files (";
      int shown = 0;
      for (const auto& f : files)
        if (f.find('/') == std::string::npos) r << (shown++ ? ", " : "") << "`" << f << "`";
      r << (shown < int(files.size()) ? ", ..." : "") << ")\n";
    }
    for (const auto& n : exported["notes"]) r << "\nNote: " << n.get<std::string>() << "\n";
  }
  r << "\n## Stages\n\n| stage | time (s) | peak RSS (MiB) | attempts |\n|---|---|---|---|\n";
  double total = 0;
  for (const auto& s : c.store.stages()) {
    r << "| " << s.name << " | " << fmt(s.seconds, 1) << " | " << fmt(double(s.peakRssBytes) / (1024.0 * 1024.0), 1) << " | "
      << s.attempts << " |\n";
    total += s.seconds;
  }
  r << "\nTotal " << fmt(total, 1) << " s (stages only; a stage's time is that of the attempt that finished it).\n";
  return r.str();
}

}  // namespace

namespace {

// The accuracy of each arch in this process, in parallel (TBB, grain 1) as the engine's loop.
std::vector<double> accuraciesHere(const SearchProblem& problem, const std::vector<ArchConfig>& archs) {
  std::vector<double> acc(archs.size(), 0.0);
  tbb::parallel_for(tbb::blocked_range<size_t>(0, archs.size(), 1), [&](const tbb::blocked_range<size_t>& r) {
    for (size_t i = r.begin(); i != r.end(); ++i) acc[i] = problem.supernetAccuracy(archs[i]);
  });
  return acc;
}

}  // namespace

void servePipelineWorker(PipelineConfig& cfg, Transport& transport, const PipelineOptions& opt) {
  SearchProblem& problem = *cfg.problem;
  // Everything a worker writes lives here (removed at exit): never in DIR, which is rank 0's.
  TempDir work("hwnas-rank" + std::to_string(transport.rank()) + "-");
  std::optional<DataSplits> data;  // the finalists' splits without the test split, loaded once
  int models = 0;
  PipelineOptions wo = opt;
  wo.stop = nullptr;  // a worker stops when rank 0 (or mpirun) ends it
  serveRequests(transport, [&](const Message& m) -> Message {
    const std::string op = m.head.value("op", std::string());
    Message r;
    if (op == "supernet") {
      const std::string dir = work.file("supernet");
      fs::remove_all(dir);
      fs::create_directories(dir);
      const Json& names = m.head.at("files");
      if (names.size() != m.blobs.size()) throw Error("supernet: " + std::to_string(names.size()) + " names for " +
                                                      std::to_string(m.blobs.size()) + " files");
      for (size_t i = 0; i < m.blobs.size(); ++i) writeFileAtomic(dir + "/" + names[i].get<std::string>(), m.blobs[i]);
      problem.bindSupernet(dir);
      r.head["ok"] = true;
    } else if (op == "accuracy") {
      std::vector<ArchConfig> archs;
      for (const auto& a : m.head.at("archs")) archs.push_back(ArchConfig(a));
      r.head["accuracies"] = accuraciesHere(problem, archs);
    } else if (op == "train") {
      if (!data) {
        data = loadDataSplits(cfg.finalists.train);
        data->test = ImageDataset();
      }
      const std::string dir = work.file("model" + std::to_string(models++));
      const ModelDef def = parseModelDef(m.head.at("model_yaml").get<std::string>(), "model from rank 0");
      trainInto(cfg.finalists.train, wo, m.head.at("name").get<std::string>(), dir, def, *data, m.head.at("extra"));
      for (const char* f : {"model.yaml", "model.safetensors", "metrics.json"}) r.blobs.push_back(readFile(dir + "/" + f));
      fs::remove_all(dir);
    } else {
      throw Error("unknown request '" + op + "'");
    }
    return r;
  });
}

void removePipelineOutputs(const PipelineConfig& cfg, const std::string& out) {
  for (const char* f : {"search.db", "search.db-wal", "search.db-shm", "best_arch.json", "pareto.json", "pareto.csv",
                        "pareto.svg", "report.md", "predictor", "finalists", "baseline", "export"})
    fs::remove_all(fs::path(out) / f);
  if (cfg.supernetLoad.empty()) fs::remove_all(fs::path(out) / "supernet");
  if (cfg.problem->lutSource() && cfg.problem->lutSource()->path.empty())
    for (const char* f : {"lut.db", "lut.db-wal", "lut.db-shm"}) fs::remove_all(fs::path(out) / f);
}

namespace {

// The training split's size for these options (the datasets' sizes are fixed: Fashion-MNIST
// and MNIST 60,000 training images, CIFAR 50,000; the default validation split as the trainer's).
int64_t trainSplitImages(const TrainOptions& t) {
  const bool cifar = t.dataset.rfind("cifar", 0) == 0;
  const int64_t val = t.valSize < 0 ? (cifar ? 5000 : 10000) : t.valSize;
  int64_t n = (cifar ? 50000 : 60000) - val;
  if (t.trainLimit > 0) n = std::min(n, t.trainLimit);
  return n;
}
int64_t valSplitImages(const TrainOptions& t) {
  const bool cifar = t.dataset.rfind("cifar", 0) == 0;
  int64_t n = t.valSize < 0 ? (cifar ? 5000 : 10000) : t.valSize;
  if (t.evalLimit > 0) n = std::min(n, t.evalLimit);
  return n;
}

// This machine's speed on one network, measured now with random inputs and weights.
struct NetSpeed {
  double trainImageS = 0;    // forward + backward of a batch (64 at 28x28), per image
  double forwardImageS = 0;  // forward in eval mode, no autograd, per image
  double runtimeMs = 0;      // the runtime plan at batch 1 (minimum of 5 runs)
  Json json() const {
    return {{"train_ms_per_image", 1e3 * trainImageS}, {"forward_ms_per_image", 1e3 * forwardImageS}, {"runtime_ms", runtimeMs}};
  }
};

NetSpeed measureSpeed(const ModelDef& def, int threads) {
  using Clock = std::chrono::steady_clock;
  // 64 images of 28x28, fewer of larger inputs (at least 4): per-image times are near linear.
  const int64_t b = std::clamp<int64_t>(64 * 28 * 28 / (int64_t(def.height) * def.width), 4, 64);
  std::shared_ptr<Model> model = buildModel(def, 0);
  std::vector<float> v(static_cast<size_t>(b * def.inChannels * def.height * def.width));
  for (size_t i = 0; i < v.size(); ++i) v[i] = float(int64_t(i * 2654435761u % 2001) - 1000) * 1e-3f;
  const Tensor x = Tensor::fromVector({b, def.inChannels, def.height, def.width}, v);
  std::vector<int32_t> labels(static_cast<size_t>(b));
  for (int64_t i = 0; i < b; ++i) labels[size_t(i)] = int32_t(i % def.numClasses);
  NetSpeed s;
  double best = INFINITY;
  model->train();
  for (int i = 0; i < 3; ++i) {  // one untimed, then the faster of two
    const auto t0 = Clock::now();
    Variable loss = ops::crossEntropy(model->forward(Variable(x)), labels);
    loss.backward();
    if (i > 0) best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  s.trainImageS = best / double(b);
  model->eval();
  best = INFINITY;
  {
    NoGradGuard noGrad;
    for (int i = 0; i < 3; ++i) {
      const auto t0 = Clock::now();
      model->forward(Variable(x));
      if (i > 0) best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
    }
  }
  s.forwardImageS = best / double(b);
  TimingOptions to;
  to.threads = std::max(1, threads);
  to.runs = 5;
  to.warmup = 2;
  to.perOp = false;
  std::vector<runtime::Plan> plans;
  plans.push_back(lower(model->toGraph(1), weightMapOf(*model)));
  s.runtimeMs = statistic(timeInterleaved(plans, to)[0].totalMs, "min");
  return s;
}

}  // namespace

Json estimateStages(const PipelineConfig& cfg) {
  const SearchProblem& p = *cfg.problem;
  const auto* space = dynamic_cast<const MbconvSpace*>(&p.space());
  if (!space) return {{"method", "none: the estimate needs an mbconv space"}, {"seconds", Json::object()}};
  const int lutThreads = p.lutSource() ? p.lutSource()->threads : 1;
  const NetSpeed large = measureSpeed(space->toModelDef(space->largest()), lutThreads);
  const NetSpeed small = measureSpeed(space->toModelDef(space->smallest()), lutThreads);
  // A typical subnet / finalist: halfway between the smallest and the largest.
  NetSpeed mid;
  mid.trainImageS = 0.5 * (large.trainImageS + small.trainImageS);
  mid.forwardImageS = 0.5 * (large.forwardImageS + small.forwardImageS);
  mid.runtimeMs = 0.5 * (large.runtimeMs + small.runtimeMs);
  std::optional<NetSpeed> base;
  if (!cfg.finalists.baselinePath.empty()) base = measureSpeed(cfg.finalists.baseline, lutThreads);
  const double kLoad = 1.0;  // reading and decoding the dataset, per stage that loads it
  Json sec;

  // supernet: steps x (largest + smallest + random subnets at the midpoint) per image x batch
  if (cfg.recipe) {
    const SupernetTrainOptions& so = cfg.recipe->options;
    const TrainOptions& t = so.base;
    int64_t steps = int64_t(t.epochs) * (trainSplitImages(t) / t.batchSize);
    if (t.maxSteps > 0) steps = std::min(steps, t.maxSteps);
    double perImage = so.randomSubnets * mid.trainImageS;
    if (so.method != "uniform") perImage += large.trainImageS + small.trainImageS;
    sec["supernet"] = kLoad + double(steps) * double(t.batchSize) * perImage;
  } else {
    sec["supernet"] = 0.0;
  }
  // latency: each profiled network timed whole and op by op, warmup + runs each, at the
  // midpoint's runtime latency, plus lowering and storing (~20 ms a network)
  const bool profile = p.lutSource() && p.lutSource()->path.empty();
  const LutProfileSpec& ps = p.lutProfile();
  sec["latency"] = profile ? double(ps.samples) * (2.0 * (ps.warmup + ps.runs) * mid.runtimeMs * 1e-3 + 0.02) : 0.0;
  // search: every evaluation calibrates BN on the calibration images and classifies the
  // validation images at the midpoint's forward speed
  {
    const SupernetSourceSpec* sns = p.supernetSource();
    int64_t calib = sns && sns->options.calibrationImages > 0 ? sns->options.calibrationImages
                                                              : (cfg.recipe ? cfg.recipe->options.calibrationImages : 2000);
    int64_t val = valSplitImages(cfg.data);
    if (sns && sns->options.valImages > 0) val = std::min(val, sns->options.valImages);
    const double perEval = double(calib + val) * mid.forwardImageS;
    const int64_t evals = p.predictorSource() ? p.predictorVerify() : p.settings().queries;
    sec["search"] = kLoad + double(evals) * perEval;
    sec["predictor"] = cfg.predictor.enabled ? double(cfg.predictor.samples) * perEval : 0.0;
  }
  // finalists: the top k at the midpoint and the baseline at its own speed: training steps, a
  // validation pass per epoch, the test pass of two models, the interleaved timing
  {
    const TrainOptions& t = cfg.finalists.train;
    int64_t steps = int64_t(t.epochs) * (trainSplitImages(t) / t.batchSize);
    if (t.maxSteps > 0) steps = std::min(steps, t.maxSteps);
    const double val = double(valSplitImages(t)), test = 10000.0;  // every dataset's test split
    const double evalPasses = double(t.epochs + 1);  // each epoch's end and the final one
    auto model = [&](const NetSpeed& sp) {
      return double(steps) * double(t.batchSize) * sp.trainImageS + evalPasses * val * sp.forwardImageS +
             (cfg.finalists.measureRuns + cfg.finalists.measureWarmup) * sp.runtimeMs * 1e-3;
    };
    // The finalists meet the latency budget: with a baseline and a latency constraint they are
    // taken as the baseline scaled by budget / baseline latency (at most the midpoint).
    NetSpeed fin = mid;
    if (base) {
      double ratio = INFINITY;
      for (const Constraint& k : p.constraints())
        if (k.metric.metric == "latency")
          ratio = std::min(ratio, k.fraction > 0.0 ? k.fraction : k.max / std::max(base->runtimeMs, 1e-9));
      if (std::isfinite(ratio) && ratio * base->trainImageS < mid.trainImageS) {
        fin.trainImageS = ratio * base->trainImageS;
        fin.forwardImageS = ratio * base->forwardImageS;
        fin.runtimeMs = ratio * base->runtimeMs;
      }
    }
    double f = kLoad + cfg.finalists.topK * model(fin) + test * fin.forwardImageS;
    if (base) f += model(*base) + test * base->forwardImageS;
    sec["finalists"] = f;
  }
  // export: BN folding, the ONNX file and the packages: about a second (nominal, not measured)
  sec["export"] = cfg.exportSettings.enabled ? 1.0 : 0.0;
  double total = 0;
  for (auto it = sec.begin(); it != sec.end(); ++it) total += it.value().get<double>();
  sec["total"] = total;
  Json measured = {{"largest", large.json()}, {"smallest", small.json()}};
  if (base) measured["baseline"] = base->json();
  return {{"seconds", sec},
          {"measured", measured},
          {"method",
           "this machine's speed measured now on random data (largest and smallest arch, the baseline): per-image "
           "training and forward time, runtime latency; stage time = its work (steps x batch, evaluations x images, "
           "profiled networks x runs, models x steps) x the speed of the network doing it (subnets: halfway between "
           "smallest and largest; finalists: the baseline scaled by the latency budget's fraction of it, at most "
           "the midpoint) + 1 s per dataset load; export 1 s nominal"}};
}

Json pipelinePlan(const PipelineConfig& cfg, const std::string& outDir) {
  Json plan;
  plan["config"] = cfg.resolved;
  plan["config_hash"] = cfg.configHash();
  plan["space_id"] = cfg.problem->space().spaceId();
  plan["space_cardinality"] = cfg.problem->space().cardinality();
  const auto& lut = cfg.problem->lutSource();
  Json st = Json::array();
  if (!cfg.supernetLoad.empty())
    st.push_back("supernet: load " + cfg.supernetLoad);
  else {
    const auto& b = cfg.recipe->options.base;
    st.push_back("supernet: train " + cfg.recipe->options.method + " from " + cfg.recipe->path + " for " +
                 std::to_string(b.epochs) + " epochs" + (b.trainLimit > 0 ? " on " + std::to_string(b.trainLimit) + " images" : "") +
                 " into " + (outDir.empty() ? "DIR" : outDir) + "/supernet");
  }
  if (!lut->path.empty())
    st.push_back("latency: use " + lut->path + " device " + lut->device + " (frozen)");
  else
    st.push_back("latency: profile this CPU as '" + lut->device + "' into " + (outDir.empty() ? "DIR" : outDir) +
                 "/lut.db unless it is there (" + std::to_string(cfg.problem->lutProfile().samples) + " networks at most)");
  if (cfg.predictor.enabled)
    st.push_back("predictor: evaluate " + std::to_string(cfg.predictor.samples) +
                 " random feasible subnets with the supernet, fit " + cfg.predictor.spec.value("kind", std::string("?")) +
                 " on the " + cfg.predictor.encoding + " encoding (" + std::to_string(heldOutCount(cfg.predictor)) +
                 " held out for Kendall tau)");
  {
    const SearchSettings& ss = cfg.problem->settings();
    std::string t = "search: " + ss.strategy + ", " + std::to_string(ss.queries) +
                    (cfg.problem->predictorSource() ? " predictor queries, then the top " +
                                                          std::to_string(cfg.problem->predictorVerify()) + " re-scored by the supernet"
                                                    : " supernet evaluations");
    if (ss.mode == "hierarchical")
      t += "; hierarchical: macro " + std::to_string(ss.hierarchical.macroQueries) + " (micro at " +
           ss.hierarchical.microSetting + "), then micro inside the best " + std::to_string(ss.hierarchical.macroKeep);
    st.push_back(t);
  }
  st.push_back("finalists: train the top " + std::to_string(cfg.finalists.topK) + " from scratch for " +
               std::to_string(cfg.finalists.train.epochs) + " epochs" +
               (cfg.finalists.baselinePath.empty() ? "" : ", and the baseline " + cfg.finalists.baselinePath) +
               "; measure latency with the runtime");
  if (cfg.exportSettings.enabled) {
    std::string t = "export: the winner through the exporter (" +
                    (cfg.exportSettings.recipePath.empty() ? std::string("fold_bn") : "recipe " + cfg.exportSettings.recipePath) +
                    ") into DIR/export: model.onnx";
    for (const auto& x : cfg.exportSettings.targets) t += ", " + x + "/";
    st.push_back(t + ", report.md");
  }
  st.push_back("report: report.md");
  plan["stages"] = st;
  // The work each stage does, in steps, and the time that takes on this machine now
  // (estimateStages; method in docs/pipeline.md).
  auto stepsOf = [](const TrainOptions& t) -> int64_t {
    int64_t s = int64_t(t.epochs) * (trainSplitImages(t) / t.batchSize);  // the loader drops a last partial batch
    if (t.maxSteps > 0) s = std::min(s, t.maxSteps);
    return s;
  };
  Json work;
  if (cfg.recipe) work["supernet_steps"] = stepsOf(cfg.recipe->options.base);
  work["supernet_evaluations"] = (cfg.problem->predictorSource() ? int64_t(cfg.problem->predictorVerify())
                                                                  : cfg.problem->settings().queries) +
                                 (cfg.predictor.enabled ? cfg.predictor.samples : 0);
  work["trained_models"] = cfg.finalists.topK + (cfg.finalists.baselinePath.empty() ? 0 : 1);
  work["training_steps_per_model"] = stepsOf(cfg.finalists.train);
  plan["work"] = work;
  Json est = estimateStages(cfg);
  plan["estimate_seconds"] = est["seconds"];
  plan["estimate"] = est;
  if (!outDir.empty() && fileExists(outDir + "/search.db")) {
    ResultsStore s(outDir + "/search.db");
    Json done = Json::array();
    for (const auto& r : s.stages())
      if (r.status == "done") done.push_back(r.name);
    plan["done_in_out_dir"] = done;
  }
  return plan;
}

namespace {

// Supernet accuracies of archs: over the MPI ranks when there is a pool, else here (TBB).
std::vector<double> supernetAccuracies(Ctx& c, const std::vector<ArchConfig>& archs) {
  if (c.opt.pool && c.opt.pool->size() > 1)
    return c.opt.pool->accuracies(archs, [&](const std::vector<ArchConfig>& mine) { return accuraciesHere(c.problem, mine); });
  return accuraciesHere(c.problem, archs);
}

// The predictor stage's subnets: `samples` distinct archs drawn from Rng(seed).split(0x70726564)
// that meet every constraint (free metrics), at most 200 draws per sample; the held-out ones are
// the first round(holdout x n) of a seeded shuffle (Rng(seed).split(0x686f6c64)).
std::vector<PredictorSample> predictorSampleArchs(const SearchProblem& problem, const PredictorSettings& ps) {
  Rng rng = Rng(problem.seed()).split(0x70726564);
  std::vector<PredictorSample> out;
  std::set<uint64_t> seen;
  const int64_t maxDraws = int64_t(ps.samples) * 200;
  for (int64_t d = 0; d < maxDraws && int(out.size()) < ps.samples; ++d) {
    ArchConfig a = problem.space().sample(rng);
    if (seen.count(a.hash()) || problem.freeMetrics(a).violation > 0.0) continue;
    seen.insert(a.hash());
    PredictorSample p;
    p.seq = int64_t(out.size());
    p.hash = a.hashHex();
    p.arch = std::move(a);
    out.push_back(std::move(p));
  }
  if (int(out.size()) < ps.samples)
    throw InputError("predictor: only " + std::to_string(out.size()) + " distinct feasible subnets in " +
                     std::to_string(maxDraws) + " draws; lower predictor.samples or raise the budget");
  std::vector<size_t> order(out.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  Rng sh = Rng(problem.seed()).split(0x686f6c64);
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[size_t(sh.uniformInt(i))]);
  const int held = heldOutCount(ps);
  for (int k = 0; k < held; ++k) out[order[size_t(k)]].heldOut = true;
  return out;
}

std::string predictorPath(const Ctx& c) { return c.out + "/predictor/predictor.json"; }

// Fits a fresh predictor of the configured spec on (archs, y) with Rng(seed).split(0x666974).
std::unique_ptr<AccuracyPredictor> fitPredictor(const Ctx& c, const Encoder& enc, const std::vector<ArchConfig>& archs,
                                                const std::vector<double>& y) {
  auto pred = makePredictor(c.cfg.predictor.spec, c.cfg.path + ": predictor.spec");
  Rng rng = Rng(c.problem.seed()).split(0x666974);
  pred->fit(enc.encodeBatch(archs), y, rng);
  return pred;
}

Json predictorStage(Ctx& c, const std::string& snDir) {
  const PredictorSettings& ps = c.cfg.predictor;
  c.problem.bindSupernet(snDir);
  if (c.opt.pool && c.opt.pool->size() > 1) c.opt.pool->bindSupernet(snDir);
  std::vector<PredictorSample> samples = predictorSampleArchs(c.problem, ps);
  // Samples stored by an earlier attempt are kept (they must be this run's draws, in order).
  const std::vector<PredictorSample> stored = c.store.predictorSamples();
  if (stored.size() > samples.size()) throw Error("search.db holds more predictor samples than the config draws");
  for (size_t i = 0; i < stored.size(); ++i) {
    if (stored[i].hash != samples[i].hash) throw Error("search.db's predictor sample " + std::to_string(i) + " is another arch");
    samples[i].accuracy = stored[i].accuracy;
  }
  const auto t0 = std::chrono::steady_clock::now();
  {
    Progress bar("predictor samples", int64_t(samples.size()), c.opt.quiet);
    bar.update(int64_t(stored.size()), "supernet evaluations");
    const size_t chunk = 4;  // committed together: a kill loses at most one chunk
    for (size_t i = stored.size(); i < samples.size(); i += chunk) {
      c.checkStop();
      const size_t e = std::min(samples.size(), i + chunk);
      std::vector<ArchConfig> archs;
      for (size_t k = i; k < e; ++k) archs.push_back(samples[k].arch);
      const std::vector<double> acc = supernetAccuracies(c, archs);
      std::vector<PredictorSample> done;
      for (size_t k = i; k < e; ++k) {
        samples[k].accuracy = acc[k - i];
        done.push_back(samples[k]);
      }
      c.store.addPredictorSamples(done);
      bar.update(int64_t(e), "supernet evaluations");
      if (c.opt.stepDelayMs > 0) std::this_thread::sleep_for(std::chrono::milliseconds(c.opt.stepDelayMs));
    }
    bar.finish();
  }
  const double evalSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto enc = makeEncoder(c.problem.space(), ps.encoding);
  std::vector<ArchConfig> trainA, testA, allA;
  std::vector<double> trainY, testY, allY;
  for (const auto& s : samples) {
    (s.heldOut ? testA : trainA).push_back(s.arch);
    (s.heldOut ? testY : trainY).push_back(s.accuracy);
    allA.push_back(s.arch);
    allY.push_back(s.accuracy);
  }
  auto heldFit = fitPredictor(c, *enc, trainA, trainY);
  std::vector<double> testP;
  for (const auto& p : heldFit->predict(enc->encodeBatch(testA))) testP.push_back(p.mean);
  Json heldOut = Json::array();
  for (size_t i = 0, k = 0; i < samples.size(); ++i)
    if (samples[i].heldOut) {
      heldOut.push_back({{"hash", samples[i].hash}, {"predicted", testP[k]}, {"supernet", samples[i].accuracy}});
      ++k;
    }
  const double tau = kendallTau(testP, testY), rho = spearmanRho(testP, testY), err = rmse(testP, testY);
  // The search's predictor: refitted on every sample.
  auto full = fitPredictor(c, *enc, allA, allY);
  fs::create_directories(c.out + "/predictor");
  const std::string path = predictorPath(c), tmp = path + ".tmp";
  full->save(tmp);
  fs::rename(tmp, path);
  double lo = INFINITY, hi = -INFINITY;
  for (double y : allY) lo = std::min(lo, y), hi = std::max(hi, y);
  logInfo("predictor: ", samples.size(), " samples, held-out (", testY.size(), ") Kendall tau ", fmt(tau, 3),
          ", Spearman ", fmt(rho, 3), ", RMSE ", fmt(err, 3));
  return {{"samples", int64_t(samples.size())},
          {"train", int64_t(trainY.size())},
          {"held_out", int64_t(testY.size())},
          {"kendall_tau", tau},
          {"spearman", rho},
          {"rmse", err},
          {"accuracy_min", lo},
          {"accuracy_max", hi},
          {"spec", ps.spec},
          {"encoding", ps.encoding},
          {"path", path},
          {"eval_seconds", evalSeconds},
          {"resumed_samples", int64_t(stored.size())},
          {"held_out_predictions", heldOut}};
}

// Binds the `predictor` source: the saved predictor (save/load is bit-exact), batched and locked.
void bindPredictorSource(Ctx& c) {
  std::shared_ptr<AccuracyPredictor> pred = loadPredictor(predictorPath(c));
  std::shared_ptr<Encoder> enc = makeEncoder(c.problem.space(), c.cfg.predictor.encoding);
  auto mutex = std::make_shared<std::mutex>();
  c.problem.bindPredictor([pred, enc, mutex](const std::vector<ArchConfig>& archs) {
    const FeatureMatrix x = enc->encodeBatch(archs);
    std::lock_guard<std::mutex> lock(*mutex);
    std::vector<double> out;
    for (const auto& p : pred->predict(x)) out.push_back(p.mean);
    return out;
  });
}

// A phase's strategy seed: the run's seed mixed with the phase name (joint search: the seed).
uint64_t phaseSeed(uint64_t seed, const std::string& phase) {
  return phase.empty() ? seed : Rng(seed).split(fnv1a64(phase)).next();
}

SearchOutcome outcomeOf(std::vector<QueryRow> rows) {
  SearchOutcome o;
  std::set<int64_t> steps;
  for (const auto& r : rows) {
    o.queries += r.counted;
    steps.insert(r.step);
  }
  o.steps = int64_t(steps.size());
  o.proposals = int64_t(rows.size());
  o.rows = std::move(rows);
  o.best = bestRow(o.rows);
  return o;
}

// The search's rows (every phase but verify) and the pool the finalists come from (the verify
// rows with the predictor source, else the same rows), read back from search.db.
struct SearchRows {
  SearchOutcome search, pool;
};
SearchRows storedSearchRows(Ctx& c) {
  std::vector<QueryRow> all = c.store.queries(), search, verify;
  for (auto& r : all) (r.phase == "verify" ? verify : search).push_back(std::move(r));
  SearchRows s;
  s.search = outcomeOf(std::move(search));
  s.pool = c.problem.predictorSource() ? outcomeOf(std::move(verify)) : s.search;
  return s;
}

// The top `n` distinct feasible queried rows by accuracy (earliest first on ties).
std::vector<size_t> topRows(const std::vector<QueryRow>& rows, size_t n, const std::function<std::string(const QueryRow&)>& key) {
  std::vector<size_t> idx;
  for (size_t i = 0; i < rows.size(); ++i)
    if (rows[i].queried && rows[i].violation <= 0.0) idx.push_back(i);
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return rows[a].accuracy > rows[b].accuracy; });
  std::vector<size_t> top;
  std::set<std::string> seen;
  for (size_t i : idx)
    if (top.size() < n && seen.insert(key(rows[i])).second) top.push_back(i);
  return top;
}

// A hierarchical phase ends early after this many steps in a row without a new query: its
// sub-space (e.g. 216 macro archs of fmnist_small, fewer under the budget) can hold fewer
// feasible archs than the phase's budget.
constexpr int64_t kPhaseStallSteps = 200;

Json searchStage(Ctx& c, const std::string& snDir) {
  SearchProblem& problem = c.problem;
  const SearchSettings& set = problem.settings();
  problem.bindSupernet(snDir);
  if (c.opt.pool && c.opt.pool->size() > 1) c.opt.pool->bindSupernet(snDir);
  if (problem.predictorSource()) bindPredictorSource(c);
  SearchEngine engine(problem, &c.store);
  Json phases = Json::array();
  auto runPhase = [&](const std::string& phase, int64_t budget, const SearchSpace* space, const std::string& label) {
    SearchRunOptions so;
    if (problem.predictorSource())
      so.evaluate = [&](const std::vector<ArchConfig>& archs) { return problem.accuracies(archs); };
    else if (c.opt.pool && c.opt.pool->size() > 1)
      so.evaluate = [&](const std::vector<ArchConfig>& archs) { return supernetAccuracies(c, archs); };
    so.resume = true;  // continues this phase's committed steps, if any
    so.stepDelayMs = c.opt.stepDelayMs;
    so.stop = c.opt.stop;
    so.phase = phase;
    so.queries = budget;
    bool stalled = false;
    if (space) {  // a phase's sub-space may hold fewer feasible archs than its budget
      so.stallSteps = kPhaseStallSteps;
      so.stalled = &stalled;
    }
    if (space) {
      so.strategy = [&problem, space, phase] {
        StrategyContext ctx = problem.strategyContext();
        ctx.space = space;
        ctx.seed = phaseSeed(problem.seed(), phase);
        return problem.makeStrategy(ctx);
      };
    }
    Progress bar(label, budget, c.opt.quiet);
    so.onStep = [&](int64_t q, int64_t, double best) {
      bar.update(q, std::isnan(best) ? std::string("no feasible arch yet") : "best " + fmt(best, 2) + "%");
    };
    SearchOutcome o = engine.run(so);
    bar.finish();
    if (o.interrupted) throw Interrupted();  // the committed steps stay; the stage is not done
    Json j = {{"phase", phase.empty() ? "joint" : phase}, {"queries", o.queries}, {"budget", budget}, {"steps", o.steps}};
    if (stalled) j["ended"] = "no new query in " + std::to_string(kPhaseStallSteps) + " steps";
    if (o.best) j["best"] = o.rows[*o.best].hash, j["best_accuracy"] = o.rows[*o.best].accuracy;
    return std::make_pair(o, j);
  };
  if (set.mode == "hierarchical") {
    const HierarchicalSettings& hs = set.hierarchical;
    auto macroSpace = PhaseSpace::macro(problem.space(), parseMicroSetting(hs.microSetting));
    auto [mo, mj] = runPhase("macro", hs.macroQueries, macroSpace.get(), "search macro");
    const std::vector<size_t> kept =
        topRows(mo.rows, size_t(hs.macroKeep), [&](const QueryRow& r) { return macroSpace->macroKey(r.arch); });
    if (kept.empty()) throw Error("the macro phase found no feasible architecture within its budget; raise macro_queries");
    Json keptJ = Json::array();
    for (size_t i : kept) keptJ.push_back(mo.rows[i].hash);
    mj["kept"] = keptJ;
    phases.push_back(mj);
    const int64_t left = set.queries - mo.queries;  // a phase that ended early leaves its queries to the micro phases
    for (size_t k = 0; k < kept.size(); ++k) {
      c.checkStop();
      const int64_t budget = left / int64_t(kept.size()) + (int64_t(k) < left % int64_t(kept.size()) ? 1 : 0);
      auto microSpace = PhaseSpace::micro(problem.space(), mo.rows[kept[k]].arch);
      const std::string phase = "micro:" + std::to_string(k);
      auto [uo, uj] = runPhase(phase, budget, microSpace.get(),
                               "search micro " + std::to_string(k + 1) + "/" + std::to_string(kept.size()));
      uj["macro"] = mo.rows[kept[k]].hash;
      phases.push_back(uj);
    }
  } else {
    phases.push_back(runPhase("", set.queries, nullptr, "search").second);
  }
  Json verified = Json::array();
  if (problem.predictorSource()) {
    // OFA-style: the predictor searched; the supernet re-scores its top archs before the finalists.
    c.checkStop();
    SearchRows rows = storedSearchRows(c);
    if (rows.pool.rows.empty()) {
      const std::vector<QueryRow>& sr = rows.search.rows;
      const std::vector<size_t> top =
          topRows(sr, size_t(problem.predictorVerify()), [](const QueryRow& r) { return r.hash; });
      std::vector<ArchConfig> archs;
      for (size_t i : top) archs.push_back(sr[i].arch);
      logInfo("search: re-scoring the predictor's top ", archs.size(), " with the supernet");
      const std::vector<double> acc = supernetAccuracies(c, archs);
      const int64_t step = c.store.lastStep().step + 1, seq = c.store.nextSeq();
      std::vector<QueryRow> out;
      for (size_t k = 0; k < top.size(); ++k) {
        QueryRow r = sr[top[k]];
        r.seq = seq + int64_t(k);
        r.step = step;
        r.counted = true;
        r.queried = true;
        r.metrics["supernet_val_acc"] = acc[k];
        r.accuracy = acc[k];
        r.phase = "verify";
        out.push_back(std::move(r));
      }
      c.store.commitStep(step, int64_t(out.size()), out, Json::object(), "verify");
    }
    for (const auto& r : storedSearchRows(c).pool.rows)
      verified.push_back({{"hash", r.hash},
                          {"predicted_val_acc", r.metrics.value("predicted_val_acc", NAN)},
                          {"supernet_val_acc", r.accuracy}});
  }
  SearchRows rows = storedSearchRows(c);
  const SearchOutcome& o = rows.search;
  const SupernetAccuracy& sn = *problem.supernet();
  Json j = {{"queries", o.queries},
            {"proposals", o.proposals},
            {"steps", o.steps},
            {"mode", set.mode},
            {"phases", phases},
            {"val_images", sn.valImages()},
            {"calibration_images", sn.calibrationImages()},
            {"largest_val_acc", sn.accuracy(problem.space().largest())},
            {"smallest_val_acc", sn.accuracy(problem.space().smallest())}};
  if (problem.predictorSource()) {
    j["verified"] = verified;
    std::vector<double> p, t;
    for (const auto& v : verified) p.push_back(v["predicted_val_acc"].get<double>()), t.push_back(v["supernet_val_acc"].get<double>());
    if (p.size() >= 2) j["verified_kendall_tau"] = kendallTau(p, t);
  }
  if (rows.pool.best) j["best"] = rows.pool.rows[*rows.pool.best].hash;
  writeSearchOutputs(c.out, problem, o);
  c.store.setStatus("done");
  return j;
}

}  // namespace

PipelineResult runPipeline(PipelineConfig& cfg, const std::string& outDir, const PipelineOptions& opt) {
  fs::create_directories(outDir);
  ResultsStore store(outDir + "/search.db");
  SearchProblem& problem = *cfg.problem;
  if (!store.run()) {
    RunInfo ri;
    ri.configHash = cfg.configHash();
    ri.config = cfg.resolved;
    ri.spaceId = problem.space().spaceId();
    ri.strategy = problem.settings().strategy;
    ri.seed = problem.seed();
    ri.budget = problem.settings().queries;
    store.startRun(ri);
  }
  Ctx c{cfg, problem, outDir, opt, store};

  // 1. supernet
  const std::string snDir = c.supernetDir();
  const std::string spaceId = problem.space().spaceId();
  runStage(
      c, "supernet", [&](const Json&) { return supernetValid(snDir, spaceId); },
      [&]() -> Json {
        if (!cfg.supernetLoad.empty()) return {{"folder", snDir}, {"trained", false}};
        return trainSupernetStage(c);
      });

  // 2. latency (never re-measured once done: the table is frozen for the run)
  const std::string db = c.lutPath();
  const std::string device = problem.lutSource()->device;
  runStage(c, "latency", [&](const Json&) { return lutValid(db, device); }, [&]() { return latencyStage(c); });
  problem.bindLut(db);
  Json budgets = resolveBudgets(c);

  // 3. predictor (optional): supernet samples -> the accuracy predictor
  Json predictor;
  if (cfg.predictor.enabled)
    predictor = runStage(
        c, "predictor", [&](const Json&) { return fileExists(predictorPath(c)); },
        [&]() { return predictorStage(c, snDir); });

  // 4. search (joint or hierarchical; with the predictor source, verified by the supernet)
  Json search = runStage(
      c, "search", [&](const Json&) { auto r = store.run(); return r && r->status == "done"; },
      [&]() { return searchStage(c, snDir); });
  // The stored rows (no evaluation: the budget is spent).
  const SearchRows stored = storedSearchRows(c);
  const SearchOutcome& o = stored.search;

  // 5. finalists
  Json fin = runStage(
      c, "finalists",
      [&](const Json& j) {
        if (!j.contains("winner")) return false;
        return fileExists(outDir + "/finalists/" + j["winner"].get<std::string>() + "/model.safetensors");
      },
      [&]() { return finalistsStage(c, stored.pool); });

  // 6. export
  Json exported;
  if (cfg.exportSettings.enabled)
    exported = runStage(
        c, "export", [&](const Json& j) { return exportValid(outDir, j); }, [&]() { return exportStage(c, fin); });

  // best_arch.json: the pipeline's winner (the search's own best is in pareto.json and search.db).
  PipelineResult res;
  Json best;
  best["space_id"] = spaceId;
  best["seed"] = problem.seed();
  best["hash"] = fin["winner"];
  best["arch"] = fin["winner_metrics"]["arch"];
  best["search"] = fin["winner_metrics"]["search"];
  best["trained"] = fin["winner_metrics"];
  best["budgets"] = budgets;
  if (predictor.is_object() && predictor.contains("kendall_tau"))
    best["predictor"] = {{"samples", predictor["samples"]}, {"held_out", predictor["held_out"]},
                         {"kendall_tau", predictor["kendall_tau"]}, {"spearman", predictor["spearman"]},
                         {"rmse", predictor["rmse"]}};
  best["search_mode"] = problem.settings().mode;
  const double maxLat = problem.constraints().empty() ? INFINITY : problem.constraints()[0].max;
  res.winnerMeetsBudget = fin["winner_metrics"].value("predicted_latency_ms", INFINITY) <= maxLat;
  best["meets_budget_lut"] = res.winnerMeetsBudget;
  writeJsonFile(outDir + "/best_arch.json", best);
  res.winner = best;
  res.reportPath = outDir + "/report.md";
  writeFileAtomic(res.reportPath, reportMd(c, o, budgets, fin, search, exported, predictor));
  store.setStatus("done");
  return res;
}

}  // namespace hwnas
