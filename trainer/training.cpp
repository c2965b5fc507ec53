#include "trainer/training.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "core/error.h"
#include "trainer/data_loader.h"
#include "trainer/optim.h"
#include "trainer/safetensors.h"
#include "trainer/schedule.h"

namespace hwnas {

DataSplits loadDataSplits(const TrainOptions& o) {
  DataSplits d;
  ImageDataset full;
  int64_t defaultVal = 0;
  if (o.dataset == "fashion-mnist" || o.dataset == "mnist") {
    if (o.dataset == "mnist" && o.dataDir.empty())
      throw InputError("--dataset mnist needs --data-dir (a folder with train-images-idx3-ubyte[.gz] etc.)");
    full = loadFashionMnist(o.dataDir, true);
    d.test = loadFashionMnist(o.dataDir, false);
    full.name = o.dataset + "/train";
    d.test.name = o.dataset + "/test";
    d.mean = {kFashionMnistMean};
    d.std = {kFashionMnistStd};
    if (o.dataset == "mnist") d.mean = {0.1307f}, d.std = {0.3081f};
    defaultVal = kFashionMnistValSize;
  } else if (o.dataset == "cifar10" || o.dataset == "cifar100") {
    if (o.dataDir.empty()) throw InputError("--dataset " + o.dataset + " needs --data-dir (the CIFAR binary files)");
    const int classes = o.dataset == "cifar10" ? 10 : 100;
    full = loadCifar(o.dataDir, classes, true);
    d.test = loadCifar(o.dataDir, classes, false);
    d.mean = {0.4914f, 0.4822f, 0.4465f};
    d.std = {0.2470f, 0.2435f, 0.2616f};
    defaultVal = 5000;
  } else {
    throw InputError("unknown dataset '" + o.dataset + "' (known: fashion-mnist, mnist, cifar10, cifar100)");
  }
  const int64_t val = o.valSize < 0 ? defaultVal : o.valSize;
  if (val >= full.n) throw InputError("--val-size " + std::to_string(val) + " leaves no training images");
  if (val == 0) {
    d.train = std::move(full);
  } else {
    // The split seed is fixed (not --seed): every run selects on the same validation images.
    auto parts = splitValidation(full, val, 0x5EEDull);
    d.train = std::move(parts.first);
    d.val = std::move(parts.second);
  }
  auto limit = [](ImageDataset& data, int64_t n) {
    if (n <= 0 || n >= data.n) return;
    std::vector<int64_t> first(n);
    for (int64_t i = 0; i < n; ++i) first[i] = i;
    data = data.subset(first, data.name);
  };
  if (o.trainLimit < 0 || o.evalLimit < 0) throw InputError("--train-limit and --eval-limit must be >= 0");
  limit(d.train, o.trainLimit);
  limit(d.val, o.evalLimit);
  limit(d.test, o.evalLimit);
  return d;
}

double evaluateAccuracy(nn::Module& model, const ImageDataset& data, const std::vector<float>& mean,
                        const std::vector<float>& std, int batchSize) {
  if (data.n == 0) return -1;
  const bool wasTraining = model.isTraining();
  model.eval();
  NoGradGuard noGrad;
  int64_t correct = 0;
  for (int64_t b = 0; b < data.n; b += batchSize) {
    const int64_t e = std::min<int64_t>(data.n, b + batchSize);
    Variable logits = model.forward(Variable(toTensor(data, b, e, mean, std)));
    const Tensor& l = logits.value();
    const int64_t k = l.size(1);
    for (int64_t i = 0; i < e - b; ++i) {
      const float* row = l.data() + i * k;
      correct += (std::max_element(row, row + k) - row) == data.labels[b + i];
    }
  }
  model.train(wasTraining);
  return (double)correct / (double)data.n;
}

std::map<std::string, Tensor> stateDict(const nn::Module& model) {
  std::map<std::string, Tensor> s;
  for (const auto& [n, v] : model.namedParameters()) s[n] = v.value();
  for (const auto& [n, t] : model.namedBuffers()) s[n] = t;
  return s;
}

void loadStateDict(nn::Module& model, const std::map<std::string, Tensor>& state, const std::string& source) {
  auto copyInto = [&](const std::string& name, Tensor dst) {
    auto it = state.find(name);
    if (it == state.end())
      throw IoError(source + ": no tensor '" + name + "'; the weights do not belong to this model");
    if (it->second.shape() != dst.shape())
      throw IoError(source + ": tensor '" + name + "' has shape " + shapeToString(it->second.shape()) +
                    ", the model expects " + shapeToString(dst.shape()));
    std::memcpy(dst.data(), it->second.data(), sizeof(float) * dst.numel());
  };
  for (auto& [n, v] : model.namedParameters()) copyInto(n, v.value());
  for (auto& [n, t] : model.namedBuffers()) copyInto(n, t);
}

namespace {

// What must match between a checkpoint and the run resuming it.
std::string runSignature(const TrainOptions& o, int64_t totalSteps) {
  std::ostringstream s;
  s << "dataset=" << o.dataset << ";batch=" << o.batchSize << ";lr=" << o.lr << ";opt=" << o.optimizer
    << ";sched=" << o.schedule << ";seed=" << o.seed << ";steps=" << totalSteps << ";val=" << o.valSize
    << ";limit=" << o.trainLimit << ";crop=" << o.padCrop << ";flip=" << o.hflip << ";ls=" << o.labelSmoothing << ";wd=" << o.weightDecay;
  if (o.erase > 0) s << ";erase=" << o.erase;  // absent when off, so older checkpoints still resume
  if (o.ema > 0) s << ";ema=" << o.ema;
  return s.str();
}

// The weights' exponential moving average (TrainOptions::ema): shadow copies of the model's
// parameters and buffers, updated element by element in a fixed order (deterministic).
class WeightAverage {
 public:
  WeightAverage(nn::Module& model, double decay) : decay_(decay) {
    for (auto& [n, t] : stateDict(model)) {
      live_.push_back(t);
      names_.push_back(n);
      shadow_.push_back(t.clone());
    }
  }
  // After step `step` (1-based).
  void update(int64_t step) {
    const float d = (float)std::min(decay_, (1.0 + double(step)) / (10.0 + double(step)));
    for (size_t i = 0; i < live_.size(); ++i) {
      float* s = shadow_[i].data();
      const float* l = live_[i].data();
      for (int64_t j = 0, n = live_[i].numel(); j < n; ++j) s[j] = d * s[j] + (1 - d) * l[j];
    }
  }
  // Exchanges the live and the averaged values (twice: back to training).
  void swap() {
    for (size_t i = 0; i < live_.size(); ++i) {
      float* s = shadow_[i].data();
      float* l = live_[i].data();
      for (int64_t j = 0, n = live_[i].numel(); j < n; ++j) std::swap(s[j], l[j]);
    }
  }
  std::map<std::string, Tensor> state() const {
    std::map<std::string, Tensor> m;
    for (size_t i = 0; i < names_.size(); ++i) m[names_[i]] = shadow_[i];
    return m;
  }
  void load(const std::map<std::string, Tensor>& state, const std::string& source) {
    for (size_t i = 0; i < names_.size(); ++i) {
      auto it = state.find(names_[i]);
      if (it == state.end() || it->second.numel() != shadow_[i].numel())
        throw IoError(source + ": no averaged tensor '" + names_[i] + "' of the right size; the checkpoint is not this run's");
      std::memcpy(shadow_[i].data(), it->second.data(), sizeof(float) * size_t(shadow_[i].numel()));
    }
  }

 private:
  double decay_;
  std::vector<std::string> names_;
  std::vector<Tensor> live_, shadow_;
};

struct EpochStats {
  double lossSum = 0;
  int64_t correct = 0, seen = 0, batches = 0;
};

}  // namespace

void checkTrainOptions(const TrainOptions& o) {
  auto require = [](bool ok, const std::string& msg) {
    if (!ok) throw InputError(msg);
  };
  require(o.batchSize > 0, "--batch-size must be positive");
  require(o.epochs > 0, "--epochs must be positive");
  require(o.maxSteps == -1 || o.maxSteps > 0, "--max-steps must be positive (or -1: no limit)");
  require(o.lr > 0 && std::isfinite(o.lr), "--lr must be positive");
  require(o.optimizer == "sgd" || o.optimizer == "adamw", "unknown --optimizer '" + o.optimizer + "' (known: sgd, adamw)");
  require(o.schedule == "cosine" || o.schedule == "step" || o.schedule == "constant",
          "unknown --schedule '" + o.schedule + "' (known: cosine, step, constant)");
  require(o.momentum >= 0 && o.momentum < 1, "--momentum must be in [0, 1)");
  require(o.weightDecay >= 0, "--weight-decay must be >= 0");
  require(o.warmupEpochs >= 0 && o.warmupEpochs <= o.epochs, "--warmup-epochs must be in [0, --epochs]");
  require(o.labelSmoothing >= 0 && o.labelSmoothing < 1, "--label-smoothing must be in [0, 1)");
  require(o.padCrop >= 0 && o.padCrop <= 16, "crop padding must be in [0, 16]");
  require(o.erase >= 0 && o.erase <= 1, "--erase must be in [0, 1]");
  require(o.ema >= 0 && o.ema < 1, "--ema must be in [0, 1) (0: off)");
  require(o.evalBatchSize > 0, "the evaluation batch size must be positive");
}

TrainResult trainModel(nn::Module& model, const DataSplits& data, const TrainOptions& o,
                       const std::string& checkpointDir, bool resume,
                       const std::function<void(const TrainProgress&)>& onProgress, const TrainHooks& hooks) {
  checkTrainOptions(o);
  LoaderOptions lo;
  lo.batchSize = o.batchSize;
  lo.shuffle = true;
  lo.dropLast = true;
  lo.padCrop = o.padCrop;
  lo.hflip = o.hflip;
  lo.erase = o.erase;
  lo.mean = data.mean;
  lo.std = data.std;
  lo.seed = o.seed;
  BatchLoader loader(data.train, lo);
  const int64_t perEpoch = loader.batchesPerEpoch();
  if (perEpoch == 0) throw InputError("the training set has fewer images than one batch");
  int64_t totalSteps = (int64_t)o.epochs * perEpoch;
  if (o.maxSteps > 0) totalSteps = std::min(totalSteps > 0 ? totalSteps : o.maxSteps, o.maxSteps);
  const int64_t warmup = (int64_t)std::llround(o.warmupEpochs * perEpoch);
  // The schedule spans the planned epochs even when --max-steps stops early, so a run stopped
  // by --max-steps and resumed follows the same learning rates.
  auto schedule = optim::makeSchedule(o.schedule, (float)o.lr, (int64_t)o.epochs * perEpoch, warmup);

  auto groups = optim::makeParamGroups(model.namedParameters(), (float)o.weightDecay, o.noDecayBnBias);
  std::unique_ptr<optim::Optimizer> opt;
  if (o.optimizer == "sgd")
    opt = std::make_unique<optim::Sgd>(std::move(groups), (float)o.momentum, o.nesterov);
  else if (o.optimizer == "adamw")
    opt = std::make_unique<optim::AdamW>(std::move(groups));
  else
    throw InputError("unknown optimizer '" + o.optimizer + "' (known: sgd, adamw)");

  std::unique_ptr<WeightAverage> average;
  if (o.ema > 0) average = std::make_unique<WeightAverage>(model, o.ema);

  TrainResult result;
  const std::string signature = runSignature(o, (int64_t)o.epochs * perEpoch);
  const std::string ckptPath = checkpointDir.empty() ? "" : checkpointDir + "/state.safetensors";
  int64_t step = 0;
  double priorSeconds = 0;
  EpochStats es;  // the current epoch's running loss/accuracy, checkpointed with the rest
  if (resume) {
    if (ckptPath.empty() || !std::filesystem::exists(ckptPath))
      throw InputError("nothing to resume: no checkpoint at " + ckptPath);
    SafetensorsData ck = loadSafetensors(ckptPath);
    if (ck.metadata["signature"] != signature)
      throw InputError(ckptPath + ": the checkpoint was written by a run with other settings (" +
                       ck.metadata["signature"] + "); resume with the same flags");
    std::map<std::string, Tensor> modelState, optState, emaState;
    for (auto& [n, t] : ck.tensors) {
      if (n.rfind("model.", 0) == 0) modelState[n.substr(6)] = t;
      if (n.rfind("optim.", 0) == 0) optState[n.substr(6)] = t;
      if (n.rfind("ema.", 0) == 0) emaState[n.substr(4)] = t;
    }
    loadStateDict(model, modelState, ckptPath);
    if (average) average->load(emaState, ckptPath);
    opt->loadState(optState);
    step = ck.int64s.at("step").values.at(0);
    opt->setSteps(step);
    priorSeconds = std::stod(ck.metadata["seconds"]);
    std::istringstream stats(ck.metadata["epoch_stats"]);
    stats >> es.lossSum >> es.correct >> es.seen >> es.batches;
    std::istringstream curve(ck.metadata["curve"]);
    EpochRecord r;
    while (curve >> r.epoch >> r.trainLoss >> r.trainAccuracy >> r.valAccuracy >> r.lr) result.curve.push_back(r);
  }

  auto saveCheckpoint = [&](double seconds) {
    if (ckptPath.empty()) return;
    SafetensorsData ck;
    for (auto& [n, t] : stateDict(model)) ck.tensors["model." + n] = t;
    for (auto& [n, t] : opt->state()) ck.tensors["optim." + n] = t;
    if (average)
      for (auto& [n, t] : average->state()) ck.tensors["ema." + n] = t;
    ck.int64s["step"] = Int64Array{{1}, {step}};
    ck.metadata["signature"] = signature;
    ck.metadata["seconds"] = std::to_string(seconds);
    std::ostringstream stats;
    stats.precision(17);
    stats << es.lossSum << ' ' << es.correct << ' ' << es.seen << ' ' << es.batches;
    ck.metadata["epoch_stats"] = stats.str();
    std::ostringstream curve;
    curve.precision(17);
    for (auto& r : result.curve)
      curve << r.epoch << ' ' << r.trainLoss << ' ' << r.trainAccuracy << ' ' << r.valAccuracy << ' ' << r.lr << '\n';
    ck.metadata["curve"] = curve.str();
    saveSafetensors(ckptPath, ck);
  };

  model.train();
  using Clock = std::chrono::steady_clock;
  double trainSeconds = 0;
  int64_t trainImages = 0;
  Batch batch;
  while (step < totalSteps) {
    const int64_t epoch = step / perEpoch;
    const int64_t inEpoch = step % perEpoch;
    if (inEpoch == 0) es = EpochStats{};
    const auto t0 = Clock::now();
    loader.get(epoch, inEpoch, batch);
    const float lr = schedule->lr(step);
    Variable logits = model.forward(Variable(batch.x));
    Variable loss = hooks.loss ? hooks.loss(logits, batch) : ops::crossEntropy(logits, batch.y, (float)o.labelSmoothing);
    opt->zeroGrad();
    loss.backward();
    opt->step(lr);
    if (hooks.afterStep) hooks.afterStep();
    if (average) average->update(step + 1);
    trainSeconds += std::chrono::duration<double>(Clock::now() - t0).count();
    trainImages += (int64_t)batch.y.size();
    ++step;

    const float lossValue = loss.value()[0];
    if (!std::isfinite(lossValue))
      throw Error("training diverged at step " + std::to_string(step) + " (loss " + std::to_string(lossValue) +
                  "); lower --lr or add --warmup-epochs");
    const Tensor& l = logits.value();
    const int64_t k = l.size(1);
    for (size_t i = 0; i < batch.y.size(); ++i) {
      const float* row = l.data() + i * k;
      es.correct += (std::max_element(row, row + k) - row) == batch.y[i];
    }
    es.lossSum += lossValue;
    es.seen += (int64_t)batch.y.size();
    ++es.batches;

    const bool epochEnd = step % perEpoch == 0;
    const bool stopping = step == totalSteps;
    TrainProgress p;
    p.step = step;
    p.totalSteps = totalSteps;
    p.epoch = (int)epoch;
    p.loss = es.lossSum / (double)es.batches;
    p.lr = lr;
    if (epochEnd) {
      EpochRecord r{(int)epoch + 1, p.loss, (double)es.correct / (double)es.seen, -1, lr};
      if (average) average->swap();
      r.valAccuracy = evaluateAccuracy(model, data.val, data.mean, data.std, o.evalBatchSize);
      if (average) average->swap();
      result.curve.push_back(r);
      p.epochEnd = true;
      p.valAccuracy = r.valAccuracy;
    }
    if (epochEnd || stopping || (o.checkpointEverySteps > 0 && step % o.checkpointEverySteps == 0))
      saveCheckpoint(priorSeconds + trainSeconds);
    if (onProgress) onProgress(p);
  }
  if (average) average->swap();  // the model leaves with the averaged weights
  model.eval();
  result.steps = step;
  result.epochs = (int)((step + perEpoch - 1) / perEpoch);
  result.seconds = priorSeconds + trainSeconds;
  result.trainImagesPerSecond = trainSeconds > 0 ? (double)trainImages / trainSeconds : 0;
  result.valAccuracy = evaluateAccuracy(model, data.val, data.mean, data.std, o.evalBatchSize);
  result.testAccuracy = evaluateAccuracy(model, data.test, data.mean, data.std, o.evalBatchSize);
  return result;
}

}  // namespace hwnas
