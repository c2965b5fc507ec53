#include "exporter/recipe.h"

#include "core/yaml_util.h"

namespace hwnas {
namespace {

std::string whereOf(const YamlNode& n) {
  return n.file() + ":" + std::to_string(n.line()) + ":" + std::to_string(n.column());
}

void parseTraining(const YamlNode& n, PassSpec& p) {
  p.epochs = n.getInt("epochs", p.epochs);
  if (p.epochs < 1) n["epochs"].fail("must be >= 1");
  p.maxSteps = n.getInt64("max_steps", p.maxSteps);
  p.lr = n.getDouble("lr", p.lr);
  if (!(p.lr > 0)) n["lr"].fail("must be > 0");
  p.batchSize = n.getInt("batch_size", p.batchSize);
  if (p.batchSize < 1) n["batch_size"].fail("must be >= 1");
  if (n.has("optimizer")) p.optimizer = n["optimizer"].asEnum({"sgd", "adamw"});
  if (auto d = n.find("distill")) {
    d->checkKeys({"teacher", "alpha", "temperature", "cache"});
    p.distill.enabled = true;
    p.distill.teacher = d->getString("teacher", "original");
    p.distill.alpha = d->getDouble("alpha", p.distill.alpha);
    if (p.distill.alpha < 0 || p.distill.alpha > 1) (*d)["alpha"].fail("must be in [0, 1]");
    p.distill.temperature = d->getDouble("temperature", p.distill.temperature);
    if (!(p.distill.temperature > 0)) (*d)["temperature"].fail("must be > 0");
    p.distill.cache = d->getBool("cache", true);
  }
}

PassSpec parsePass(const YamlNode& n) {
  if (!n.isMap()) n.fail("each pass is a map with a 'pass' key, e.g. {pass: fold_bn}");
  PassSpec p;
  p.where = whereOf(n);
  p.pass = n["pass"].asEnum({"fold_bn", "prune", "lowrank", "quantize", "finetune"});
  if (p.pass == "fold_bn") {
    n.checkKeys({"pass"});
  } else if (p.pass == "prune") {
    n.checkKeys({"pass", "method", "sparsity", "scope"});
    p.method = n["method"].asEnum({"l1", "bn_gamma", "magnitude"});
    p.sparsity = n.getDouble("sparsity", 0.5);
    if (!(p.sparsity >= 0 && p.sparsity < 1)) n["sparsity"].fail("must be in [0, 1)");
    const std::string scope = n.has("scope") ? n["scope"].asEnum({"global", "per_layer"})
                                             : std::string(p.method == "magnitude" ? "global" : "per_layer");
    p.global = scope == "global";
  } else if (p.pass == "lowrank") {
    n.checkKeys({"pass", "method", "energy", "mac_reduction", "skip"});
    p.method = n["method"].asEnum({"svd", "tucker2"});
    p.energy = n.getDouble("energy", 0);
    p.macReduction = n.getDouble("mac_reduction", 0);
    if (n.has("energy") == n.has("mac_reduction")) n.fail("give exactly one of energy and mac_reduction");
    if (n.has("energy") && !(p.energy > 0 && p.energy <= 1)) n["energy"].fail("must be in (0, 1]");
    if (n.has("mac_reduction") && !(p.macReduction > 1)) n["mac_reduction"].fail("must be > 1");
    p.skip = n.getStringList("skip", {});
  } else if (p.pass == "quantize") {
    p.method = n["method"].asEnum({"ptq", "qat"});
    if (p.method == "ptq") {
      n.checkKeys({"pass", "method", "calibration", "batches", "keep_fp32"});
      p.keepFp32 = n.getInt("keep_fp32", 0);
      if (p.keepFp32 < 0) n["keep_fp32"].fail("must be >= 0");
      if (n.has("calibration")) p.calibration = n["calibration"].asEnum({"minmax", "percentile", "entropy"});
      p.batches = n.getInt("batches", p.batches);
      if (p.batches < 1) n["batches"].fail("must be >= 1");
    } else {
      n.checkKeys({"pass", "method", "epochs", "max_steps", "lr", "batch_size", "optimizer", "distill"});
      p.lr = 0.001;
      parseTraining(n, p);
    }
  } else {  // finetune
    n.checkKeys({"pass", "epochs", "max_steps", "lr", "batch_size", "optimizer", "distill"});
    parseTraining(n, p);
  }
  return p;
}

ExportRecipe parseRoot(const YamlNode& root, const std::string& file) {
  ExportRecipe r;
  r.file = file;
  r.passes.clear();
  if (root.isNull()) root.fail("the recipe is empty; it needs at least 'passes: [...]'");
  root.checkKeys({"name", "data", "measure", "passes"});
  r.name = root.getString("name", "recipe");
  if (auto d = root.find("data")) {
    d->checkKeys({"dataset", "data_dir", "train_limit", "eval_limit"});
    if (d->has("dataset")) r.dataset = (*d)["dataset"].asEnum({"fashion-mnist", "mnist", "cifar10", "cifar100"});
    r.dataDir = d->getString("data_dir", "");
    r.trainLimit = d->getInt64("train_limit", 0);
    r.evalLimit = d->getInt64("eval_limit", 0);
    if (r.trainLimit < 0) (*d)["train_limit"].fail("must be >= 0");
    if (r.evalLimit < 0) (*d)["eval_limit"].fail("must be >= 0");
  }
  if (auto m = root.find("measure")) {
    m->checkKeys({"predict", "lut", "latency_repeats", "latency_batches"});
    r.predict = m->getStringList("predict", r.predict);
    r.lut = m->getString("lut", "");
    r.latencyRepeats = m->getInt("latency_repeats", r.latencyRepeats);
    if (r.latencyRepeats < 1) (*m)["latency_repeats"].fail("must be >= 1");
    r.latencyBatches = m->getIntList("latency_batches", r.latencyBatches);
    for (int b : r.latencyBatches)
      if (b < 1) (*m)["latency_batches"].fail("batch sizes must be >= 1");
  }
  const YamlNode passes = root["passes"];
  if (!passes.isSequence()) passes.fail("must be a list of passes, e.g. [{pass: fold_bn}]");
  for (size_t i = 0; i < passes.size(); ++i) r.passes.push_back(parsePass(passes[i]));
  return r;
}

}  // namespace

ExportRecipe loadExportRecipe(const std::string& path) { return parseRoot(YamlNode::loadFile(path), path); }

ExportRecipe parseExportRecipe(const std::string& yamlText, const std::string& name) {
  return parseRoot(YamlNode::loadString(yamlText, name), name);
}

ExportRecipe defaultExportRecipe() {
  ExportRecipe r;
  PassSpec p;
  p.pass = "fold_bn";
  p.where = "<default recipe>";
  r.passes.push_back(p);
  return r;
}

}  // namespace hwnas
