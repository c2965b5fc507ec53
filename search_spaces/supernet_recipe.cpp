#include "search_spaces/supernet_recipe.h"

#include <filesystem>
#include <iomanip>
#include <sstream>

#include "core/error.h"
#include "core/fs_util.h"
#include "core/yaml_util.h"
#include "search_spaces/mbconv_space.h"
#include "search_spaces/nb201_space.h"
#include "search_spaces/nb201_supernet.h"
#include "search_spaces/supernet_space.h"
#include "trainer/safetensors.h"

namespace fs = std::filesystem;

namespace hwnas {

void applyAugment(const std::string& augment, TrainOptions& o) {
  o.padCrop = 0;
  o.hflip = false;
  if (augment == "crop-flip") {
    o.padCrop = 2;
    o.hflip = true;
  } else if (augment == "flip") {
    o.hflip = true;
  } else if (augment != "none") {
    throw InputError("unknown augment '" + augment + "' (known: none, flip, crop-flip)");
  }
}

SupernetRecipe parseSupernetRecipe(const std::string& text, const std::string& name, const std::string& baseDir) {
  YamlNode root = YamlNode::loadString(text, name);
  if (!root.isMap()) root.fail("a supernet recipe is a map with at least a 'space' key");
  root.checkKeys({"space", "method", "subnets_per_step", "distill", "phases", "calibration_images", "eval_each_epoch",
                  "train"});
  SupernetRecipe r;
  r.path = name;
  const std::string space = root.getString("space");
  if (space.empty()) root["space"].fail("must name a search space YAML");
  r.spacePath = fs::path(space).is_absolute() || baseDir.empty() ? space : (fs::path(baseDir) / space).string();
  SupernetTrainOptions& o = r.options;
  o.method = root.has("method") ? root["method"].asEnum({"sandwich", "progressive", "uniform"}) : "sandwich";
  o.randomSubnets = root.getInt("subnets_per_step", 2);
  if (o.randomSubnets < 0 || o.randomSubnets > 64) root["subnets_per_step"].fail("must be between 0 and 64");
  if (o.method == "uniform" && o.randomSubnets < 1) root["subnets_per_step"].fail("method uniform needs at least 1");
  if (auto d = root.find("distill")) {
    d->checkKeys({"alpha", "temperature"});
    o.kdAlpha = d->getDouble("alpha", 0.5);
    if (o.kdAlpha < 0 || o.kdAlpha > 1) (*d)["alpha"].fail("must be in [0, 1]");
    o.kdTemperature = d->getDouble("temperature", 1.0);
    if (o.kdTemperature <= 0) (*d)["temperature"].fail("must be positive");
  }
  if (auto ph = root.find("phases")) {
    if (o.method != "progressive") ph->fail("phases are for method: progressive only");
    for (const YamlNode& p : ph->items()) {
      p.checkKeys({"name", "epochs"});
      SupernetPhase phase;
      phase.name = p["name"].asEnum({"largest", "kernel", "depth", "expand"});
      phase.epochs = p.getInt("epochs");
      if (phase.epochs < 1) p["epochs"].fail("must be >= 1");
      o.phases.push_back(phase);
    }
    if (o.phases.empty()) ph->fail("empty phase list; leave the key out for the default phases");
  }
  o.calibrationImages = root.getInt64("calibration_images", 2000);
  if (o.calibrationImages < 1) root["calibration_images"].fail("must be >= 1");
  o.evalEachEpoch = root.getBool("eval_each_epoch", true);
  TrainOptions& b = o.base;
  b.labelSmoothing = 0.1;
  if (auto t = root.find("train")) {
    t->checkKeys({"dataset", "data_dir", "epochs", "batch_size", "lr", "optimizer", "momentum", "weight_decay",
                  "schedule", "warmup_epochs", "label_smoothing", "augment", "val_size", "seed"});
    if (t->has("dataset")) b.dataset = (*t)["dataset"].asEnum({"fashion-mnist", "mnist", "cifar10", "cifar100"});
    b.dataDir = t->getString("data_dir", "");
    b.epochs = t->getInt("epochs", b.epochs);
    if (b.epochs < 1) (*t)["epochs"].fail("must be >= 1");
    b.batchSize = t->getInt("batch_size", b.batchSize);
    if (b.batchSize < 1) (*t)["batch_size"].fail("must be >= 1");
    b.lr = t->getDouble("lr", b.lr);
    if (!(b.lr > 0)) (*t)["lr"].fail("must be positive");
    if (t->has("optimizer")) b.optimizer = (*t)["optimizer"].asEnum({"sgd", "adamw"});
    b.momentum = t->getDouble("momentum", b.momentum);
    b.weightDecay = t->getDouble("weight_decay", b.weightDecay);
    if (b.weightDecay < 0) (*t)["weight_decay"].fail("must be >= 0");
    if (t->has("schedule")) b.schedule = (*t)["schedule"].asEnum({"cosine", "step", "constant"});
    b.warmupEpochs = t->getDouble("warmup_epochs", 0.0);
    if (b.warmupEpochs < 0) (*t)["warmup_epochs"].fail("must be >= 0");
    b.labelSmoothing = t->getDouble("label_smoothing", b.labelSmoothing);
    if (b.labelSmoothing < 0 || b.labelSmoothing >= 1) (*t)["label_smoothing"].fail("must be in [0, 1)");
    if (t->has("augment")) r.augment = (*t)["augment"].asEnum({"none", "flip", "crop-flip"});
    b.valSize = t->getInt64("val_size", -1);
    if (b.valSize < -1) (*t)["val_size"].fail("must be -1 (dataset default), 0 (none) or a count");
    b.seed = (uint64_t)t->getInt64("seed", 0);
  }
  applyAugment(r.augment, b);
  return r;
}

SupernetRecipe loadSupernetRecipe(const std::string& path) {
  if (!fs::exists(path)) throw IoError("supernet recipe " + path + " does not exist");
  return parseSupernetRecipe(readFile(path), path, fs::path(path).parent_path().string());
}

// ---------------------------------------------------------------------------------------------

namespace {

const MbconvSpace* asMbconv(const SearchSpace& s) { return dynamic_cast<const MbconvSpace*>(&s); }
const Nb201Space* asNb201(const SearchSpace& s) { return dynamic_cast<const Nb201Space*>(&s); }

}  // namespace

SpaceSupernet::SpaceSupernet(std::shared_ptr<const SearchSpace> space, uint64_t seed) : space_(std::move(space)) {
  if (const MbconvSpace* m = asMbconv(*space_)) {
    mbconv_ = std::make_unique<Supernet>(supernetFromSpace(*m), seed);
  } else if (const Nb201Space* n = asNb201(*space_)) {
    nb201_ = std::make_unique<Nb201Supernet>(*n, seed);
  } else {
    throw InputError("space '" + space_->name() + "' of kind '" + space_->kind() + "' has no supernet");
  }
}

SpaceSupernet::~SpaceSupernet() = default;

nn::Module& SpaceSupernet::module() {
  if (mbconv_) return *mbconv_;
  return *nb201_;
}

SupernetTrainResult SpaceSupernet::train(const DataSplits& data, const SupernetTrainOptions& o,
                                         const std::string& checkpointDir, bool resume,
                                         const std::function<void(const TrainProgress&)>& onProgress) {
  if (mbconv_) return trainSupernet(*mbconv_, data, o, spaceSampler(*asMbconv(*space_)), checkpointDir, resume, onProgress);
  if (o.method != "uniform")
    throw InputError("the NB201 cell supernet trains single-path one-shot: use method: uniform (got '" + o.method + "')");
  return trainSupernet(*nb201_, data, o, nb201Sampler(), checkpointDir, resume, onProgress);
}

SubnetEvaluation SpaceSupernet::evaluate(const ArchConfig& arch, const DataSplits& data, int64_t calibrationImages,
                                         int batchSize, uint64_t seed) {
  if (mbconv_) return evaluateSubnet(*mbconv_, asMbconv(*space_)->toModelDef(arch), data, calibrationImages, batchSize, seed);
  return evaluateSubnet(*nb201_, arch, data, calibrationImages, batchSize, seed);
}

std::shared_ptr<nn::Module> SpaceSupernet::extract(const ArchConfig& arch, const BnStats& stats) const {
  if (mbconv_) return mbconv_->extract(asMbconv(*space_)->toModelDef(arch), stats);
  return nb201_->extract(arch, stats);
}

void SpaceSupernet::saveExtracted(const std::string& dir, const ArchConfig& arch, const BnStats& stats) const {
  if (mbconv_) {
    auto model = mbconv_->extract(asMbconv(*space_)->toModelDef(arch), stats);
    saveSubnetModel(dir, *model);
    return;
  }
  auto model = nb201_->extract(arch, stats);
  fs::create_directories(dir);
  saveSafetensors(dir + "/model.safetensors", stateDict(*model), {{"format", "pt"}, {"arch_str", Nb201Space::archStr(arch)}});
  writeJsonFile(dir + "/arch.json", arch.json());
}

void SpaceSupernet::saveWeights(const std::string& path) const {
  if (mbconv_) return saveSupernetWeights(path, *mbconv_);
  saveSafetensors(path, stateDict(*nb201_), {{"format", "pt"}, {"supernet", space_->name()}});
}

void SpaceSupernet::loadWeights(const std::string& path) {
  if (mbconv_) return loadSupernetWeights(path, *mbconv_);
  loadStateDict(*nb201_, loadSafetensors(path).tensors, path);
}

SupernetFolder openSupernetFolder(const std::string& dir) {
  SupernetFolder f;
  f.dir = dir;
  for (const char* name : {"supernet.json", "space.yaml", "supernet.safetensors"})
    if (!fs::exists(dir + "/" + name))
      throw InputError(dir + " is not a finished supernet folder: " + name +
                       " is missing (train one with nas-train --supernet R.yaml --out " + dir + ")");
  f.info = readJsonFile(dir + "/supernet.json");
  f.space = std::shared_ptr<const SearchSpace>(loadSearchSpace(dir + "/space.yaml"));
  if (f.info.value("space_id", std::string()) != f.space->spaceId())
    throw InputError(dir + "/space.yaml: its space id " + f.space->spaceId() + " differs from the one the supernet was trained on (" +
                     f.info.value("space_id", std::string("?")) + ")");
  const Json& d = f.info.at("data");
  f.data.dataset = d.at("dataset").get<std::string>();
  f.data.dataDir = d.at("data_dir").get<std::string>();
  f.data.valSize = d.at("val_size").get<int64_t>();
  f.data.trainLimit = d.at("train_limit").get<int64_t>();
  f.data.seed = d.at("seed").get<uint64_t>();
  f.net = std::make_unique<SpaceSupernet>(f.space, 0);
  f.net->loadWeights(dir + "/supernet.safetensors");
  f.net->module().eval();
  return f;
}

void writeSupernetCurve(const std::string& dir, const SupernetTrainResult& r) {
  std::ostringstream csv;
  csv << "epoch,phase,largest_loss,others_loss,lr,largest_val_accuracy,smallest_val_accuracy\n" << std::setprecision(6);
  for (const auto& e : r.curve)
    csv << e.epoch << ',' << e.phase << ',' << e.largestLoss << ',' << e.othersLoss << ',' << e.lr << ','
        << e.largestValAccuracy << ',' << e.smallestValAccuracy << '\n';
  writeFileAtomic(dir + "/curve.csv", csv.str());
}

Json supernetFolderInfo(const SearchSpace& space, const SupernetTrainOptions& so, const SupernetTrainResult& r) {
  Json m;
  m["kind"] = space.kind();
  m["space"] = space.name();
  m["space_id"] = space.spaceId();
  m["method"] = so.method;
  m["subnets_per_step"] = so.randomSubnets;
  m["kd_alpha"] = so.kdAlpha;
  m["kd_temperature"] = so.kdTemperature;
  m["epochs"] = so.base.epochs;
  m["steps"] = r.steps;
  m["seconds"] = r.seconds;
  m["seed"] = so.base.seed;
  m["batch_size"] = so.base.batchSize;
  m["lr"] = so.base.lr;
  m["calibration_images"] = so.calibrationImages;
  m["data"] = {{"dataset", so.base.dataset},       {"data_dir", so.base.dataDir},     {"val_size", so.base.valSize},
               {"train_limit", so.base.trainLimit}, {"eval_limit", so.base.evalLimit}, {"seed", so.base.seed}};
  return m;
}

}  // namespace hwnas
