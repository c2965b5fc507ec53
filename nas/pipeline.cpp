#include "nas/pipeline.h"

#include <sys/resource.h>
#include <tbb/global_control.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/fs_util.h"
#include "core/log.h"
#include "core/lower.h"
#include "latency_luts/profiler.h"
#include "nas/results_store.h"
#include "nas/search_engine.h"
#include "nas/search_report.h"
#include "search_spaces/mbconv_space.h"
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

const std::vector<std::string> kStages = {"supernet", "latency", "search", "finalists", "export"};

}  // namespace

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

  // finalists
  FinalistSettings& f = cfg->finalists;
  TrainOptions& t = f.train;
  t.dataset = d.dataset;
  t.dataDir = d.dataDir;
  t.valSize = d.valSize;
  t.seed = seed;
  t.epochs = 3;
  t.labelSmoothing = 0.1;  // nas-train's default recipe
  t.padCrop = 2;
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
  if (auto e = root.find("export")) cfg->exportWinner = e->asBool();

  cfg->resolved = p.resolved();
  cfg->resolved["kind"] = "pipeline";
  for (const char* k : {"data", "supernet", "finalists", "export"})
    if (auto n = root.find(k)) cfg->resolved[k] = yamlText(*n);
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
};

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
  SupernetTrainResult r = net.train(data, so, ckpt, resume, [&](const TrainProgress& p) {
    bar.setTotal(p.totalSteps);
    std::ostringstream st;
    st << "epoch " << p.epoch + 1 << " loss " << std::fixed << std::setprecision(4) << p.loss;
    bar.update(p.step, st.str());
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

// Trains def from scratch into dir (resuming from dir/checkpoint), or loads it when
// dir/metrics.json says it is finished. The test split is not given to the training loop.
Trained trainOrLoad(Ctx& c, const std::string& name, const std::string& dir, const ModelDef& def, const DataSplits& data,
                    Json extra) {
  Trained t;
  t.name = name;
  t.dir = dir;
  t.def = def;
  const TrainOptions& o = c.cfg.finalists.train;
  t.model = buildModel(def, o.seed);
  if (fileExists(dir + "/metrics.json") && fileExists(dir + "/model.safetensors")) {
    loadStateDict(*t.model, loadSafetensors(dir + "/model.safetensors").tensors, dir + "/model.safetensors");
    t.model->eval();
    t.metrics = readJsonFile(dir + "/metrics.json");
    logInfo("finalist ", name, ": trained earlier, val ", t.metrics.value("val_accuracy", -1.0));
    return t;
  }
  const std::string ckpt = dir + "/checkpoint";
  fs::create_directories(ckpt);
  const bool resume = fileExists(ckpt + "/state.safetensors");
  Progress bar("train " + name, 0, c.opt.quiet);
  TrainResult r = trainModel(*t.model, data, o, ckpt, resume, [&](const TrainProgress& p) {
    bar.setTotal(p.totalSteps);
    std::ostringstream st;
    st << "epoch " << p.epoch + 1 << " loss " << std::fixed << std::setprecision(4) << p.loss;
    bar.update(p.step, st.str());
  });
  bar.finish();
  writeFileAtomic(dir + "/model.yaml", def.toYaml());
  saveSafetensors(dir + "/model.safetensors", stateDict(*t.model), {{"format", "pt"}, {"model", def.name}});
  Json m = std::move(extra);
  m["name"] = name;
  m["val_accuracy"] = r.valAccuracy;
  m["params"] = t.model->numParameters();
  m["macs"] = t.model->toGraph(1).cost().macs;
  m["epochs"] = r.epochs;
  m["steps"] = r.steps;
  m["seconds"] = r.seconds;
  m["train_images"] = data.train.n;
  m["val_images"] = data.val.n;
  m["seed"] = o.seed;
  writeJsonFile(dir + "/metrics.json", m);  // last: marks the finalist trained
  t.metrics = m;
  logInfo("finalist ", name, ": val ", r.valAccuracy);
  return t;
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
  std::vector<Trained> models;
  for (size_t k = 0; k < top.size(); ++k) {
    const QueryRow& row = o.rows[top[k]];
    Json extra = {{"hash", row.hash}, {"arch", row.arch.json()}, {"rank", k}, {"search", row.metrics}};
    models.push_back(trainOrLoad(c, row.hash, c.out + "/finalists/" + row.hash, space.toModelDef(row.arch), noTest, extra));
  }
  std::optional<Trained> baseline;
  if (!c.cfg.finalists.baselinePath.empty())
    baseline = trainOrLoad(c, "baseline", c.out + "/baseline", c.cfg.finalists.baseline, noTest,
                           {{"model", c.cfg.finalists.baselinePath}});
  // The winner on validation accuracy (earlier rank on ties); only then the test split.
  size_t win = 0;
  for (size_t k = 1; k < models.size(); ++k)
    if (models[k].metrics["val_accuracy"].get<double>() > models[win].metrics["val_accuracy"].get<double>()) win = k;
  const auto& tr = c.cfg.finalists.train;
  auto testOf = [&](Trained& t) { return evaluateAccuracy(*t.model, full.test, full.mean, full.std, tr.evalBatchSize); };
  models[win].metrics["test_accuracy"] = testOf(models[win]);
  if (baseline) baseline->metrics["test_accuracy"] = testOf(*baseline);

  // Latency with the runtime: every finalist and the baseline, interleaved run by run.
  std::vector<Trained*> all;
  for (auto& m : models) all.push_back(&m);
  if (baseline) all.push_back(&*baseline);
  std::vector<runtime::Plan> plans;
  const auto& lut = c.problem.lutSource();
  for (Trained* t : all) {
    Graph g = t->model->toGraph(1);
    t->metrics["predicted_latency_ms"] = lut->model->predict(g).latencyMs;
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

Json exportStage(Ctx& c, const Json& fin) {
  const std::string hash = fin["winner"].get<std::string>();
  const std::string src = c.out + "/finalists/" + hash, dst = c.out + "/export";
  fs::create_directories(dst);
  writeFileAtomic(dst + "/model.yaml", readFile(src + "/model.yaml"));
  writeFileAtomic(dst + "/model.safetensors", readFile(src + "/model.safetensors"));
  writeJsonFile(dst + "/metrics.json", fin["winner_metrics"]);
  return {{"dir", dst}, {"hash", hash}, {"files", {"model.yaml", "model.safetensors", "metrics.json"}}};
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

std::string reportMd(Ctx& c, const SearchOutcome& o, const Json& budgets, const Json& fin, const Json& search) {
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
        << " (latency: the LUT's prediction)";
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
  r << "\nWinner within budget per the LUT: " << (w.value("predicted_latency_ms", INFINITY) <= maxLat ? "yes" : "no")
    << "; per the measurement: " << (w.value("measured_latency_ms", INFINITY) <= maxLat ? "yes" : "no") << ".\n";
  r << "\n## Finalists\n\n| rank | hash | supernet val acc | trained val acc | LUT latency (ms) | measured (ms) | predicted / measured |\n";
  r << "|---|---|---|---|---|---|---|\n";
  for (const auto& f : fin["finalists"]) {
    const double pr = f.value("predicted_latency_ms", NAN), me = f.value("measured_latency_ms", NAN);
    r << "| " << f.value("rank", 0) << " | `" << f.value("hash", std::string()) << "` | "
      << fmt(f["search"].value(p.accuracyName(), NAN), 2) << "% | " << pct(f, "val_accuracy") << " | " << fmt(pr, 3) << " | "
      << fmt(me, 3) << " | " << fmt(pr / me, 3) << " |\n";
  }
  r << "\n## Search\n\n" << o.queries << " supernet evaluations (" << p.settings().strategy << "), " << o.proposals
    << " proposals in " << o.steps << " steps; inherited accuracy on " << search.value("val_images", int64_t(0))
    << " validation images after BN calibration on " << search.value("calibration_images", int64_t(0))
    << " training images. Largest subnet " << fmt(search.value("largest_val_acc", NAN), 2) << "%, smallest "
    << fmt(search.value("smallest_val_acc", NAN), 2) << "%.\n\n";
  const auto axes = paretoAxes(p);
  if (!axes.empty()) {
    auto front = paretoFront(o.rows, axes);
    r << "Pareto front (" << front.size() << " archs; `pareto.svg`, `pareto.csv`):\n\n| hash | " << p.accuracyName();
    for (const auto& a : axes) r << " | " << a;
    r << " |\n|---|---";
    for (size_t i = 0; i < axes.size(); ++i) r << "|---";
    r << "|\n";
    for (size_t i : front) {
      r << "| `" << o.rows[i].hash << "` | " << fmt(o.rows[i].accuracy, 2);
      for (const auto& a : axes) r << " | " << fmt(o.rows[i].metrics.value(a, NAN), 4);
      r << " |\n";
    }
  }
  r << "\n## Stages\n\n| stage | time (s) | peak RSS (MiB) | attempts |\n|---|---|---|---|\n";
  double total = 0;
  for (const auto& s : c.store.stages()) {
    r << "| " << s.name << " | " << fmt(s.seconds, 1) << " | " << fmt(double(s.peakRssBytes) / (1024.0 * 1024.0), 1) << " | "
      << s.attempts << " |\n";
    total += s.seconds;
  }
  r << "\nTotal " << fmt(total, 1) << " s (stages only; a stage's time is that of the attempt that finished it).\n";
  r << "\nNot done yet: hierarchical macro-then-micro search (the search is joint), predictor stage, MPI.\n";
  return r.str();
}

}  // namespace

void removePipelineOutputs(const PipelineConfig& cfg, const std::string& out) {
  for (const char* f : {"search.db", "search.db-wal", "search.db-shm", "best_arch.json", "pareto.json", "pareto.csv",
                        "pareto.svg", "report.md", "finalists", "baseline", "export"})
    fs::remove_all(fs::path(out) / f);
  if (cfg.supernetLoad.empty()) fs::remove_all(fs::path(out) / "supernet");
  if (cfg.problem->lutSource() && cfg.problem->lutSource()->path.empty())
    for (const char* f : {"lut.db", "lut.db-wal", "lut.db-shm"}) fs::remove_all(fs::path(out) / f);
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
  st.push_back("search: " + cfg.problem->settings().strategy + ", " + std::to_string(cfg.problem->settings().queries) +
               " supernet evaluations");
  st.push_back("finalists: train the top " + std::to_string(cfg.finalists.topK) + " from scratch for " +
               std::to_string(cfg.finalists.train.epochs) + " epochs" +
               (cfg.finalists.baselinePath.empty() ? "" : ", and the baseline " + cfg.finalists.baselinePath) +
               "; measure latency with the runtime");
  if (cfg.exportWinner) st.push_back("export: the winner's model.yaml + model.safetensors into DIR/export");
  st.push_back("report: report.md");
  plan["stages"] = st;
  // The work each stage does, in steps (a time estimate needs this machine's speed: on 2 idle
  // cores of the development machine a fmnist_small supernet step took ~0.66 s, a supernet
  // evaluation on 3,000 images ~0.9 s, a finalist training step ~0.11 s).
  auto stepsOf = [](const TrainOptions& t) -> Json {
    if (t.trainLimit <= 0) return "epochs x (training split / batch)";
    int64_t s = int64_t(t.epochs) * (t.trainLimit / t.batchSize);  // the loader drops a last partial batch
    if (t.maxSteps > 0) s = std::min(s, t.maxSteps);
    return s;
  };
  Json work;
  if (cfg.recipe) work["supernet_steps"] = stepsOf(cfg.recipe->options.base);
  work["supernet_evaluations"] = cfg.problem->settings().queries;
  work["trained_models"] = cfg.finalists.topK + (cfg.finalists.baselinePath.empty() ? 0 : 1);
  work["training_steps_per_model"] = stepsOf(cfg.finalists.train);
  plan["work"] = work;
  if (!outDir.empty() && fileExists(outDir + "/search.db")) {
    ResultsStore s(outDir + "/search.db");
    Json done = Json::array();
    for (const auto& r : s.stages())
      if (r.status == "done") done.push_back(r.name);
    plan["done_in_out_dir"] = done;
  }
  return plan;
}

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

  // 3. search
  Json search = runStage(
      c, "search", [&](const Json&) { auto r = store.run(); return r && r->status == "done"; },
      [&]() -> Json {
        problem.bindSupernet(snDir);
        SearchEngine engine(problem, &store);
        SearchRunOptions so;
        so.resume = store.lastStep().step >= 0;
        so.stepDelayMs = opt.stepDelayMs;
        Progress bar("search", problem.settings().queries, opt.quiet);
        so.onStep = [&](int64_t q, int64_t, double best) {
          bar.update(q, std::isnan(best) ? std::string("no feasible arch yet") : "best " + fmt(best, 2) + "%");
        };
        SearchOutcome o = engine.run(so);
        bar.finish();
        const SupernetAccuracy& sn = *problem.supernet();
        Json j = {{"queries", o.queries},
                  {"proposals", o.proposals},
                  {"steps", o.steps},
                  {"val_images", sn.valImages()},
                  {"calibration_images", sn.calibrationImages()},
                  {"largest_val_acc", sn.accuracy(problem.space().largest())},
                  {"smallest_val_acc", sn.accuracy(problem.space().smallest())}};
        if (o.best) j["best"] = o.rows[*o.best].hash;
        writeSearchOutputs(outDir, problem, o);
        store.setStatus("done");
        return j;
      });
  // The stored rows (no evaluation: the budget is spent).
  SearchEngine replay(problem, &store);
  SearchRunOptions ro;
  ro.resume = true;
  SearchOutcome o = replay.run(ro);

  // 4. finalists
  Json fin = runStage(
      c, "finalists",
      [&](const Json& j) {
        if (!j.contains("winner")) return false;
        return fileExists(outDir + "/finalists/" + j["winner"].get<std::string>() + "/model.safetensors");
      },
      [&]() { return finalistsStage(c, o); });

  // 5. export
  if (cfg.exportWinner)
    runStage(
        c, "export", [&](const Json&) { return fileExists(outDir + "/export/model.safetensors") && fileExists(outDir + "/export/model.yaml"); },
        [&]() { return exportStage(c, fin); });

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
  const double maxLat = problem.constraints().empty() ? INFINITY : problem.constraints()[0].max;
  res.winnerMeetsBudget = fin["winner_metrics"].value("predicted_latency_ms", INFINITY) <= maxLat;
  best["meets_budget_lut"] = res.winnerMeetsBudget;
  writeJsonFile(outDir + "/best_arch.json", best);
  res.winner = best;
  res.reportPath = outDir + "/report.md";
  writeFileAtomic(res.reportPath, reportMd(c, o, budgets, fin, search));
  store.setStatus("done");
  return res;
}

}  // namespace hwnas
