#include "search_spaces/supernet_train.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>
#include <sstream>
#include <type_traits>

#include "core/error.h"
#include "core/fs_util.h"
#include "search_spaces/nb201_supernet.h"
#include "trainer/data_loader.h"
#include "trainer/optim.h"
#include "trainer/safetensors.h"
#include "trainer/schedule.h"

namespace hwnas {

SubnetSampler defaultSampler(const SupernetDef& def) {
  SubnetSampler s;
  s.largest = def.largest();
  s.smallest = def.smallest();
  s.sample = [def](Rng& rng) { return def.sample(rng); };
  return s;
}

Tensor resizeBilinear(const Tensor& x, int height, int width) {
  if (x.dim() != 4) throw ShapeError("resizeBilinear: input must be [N,C,H,W], got " + shapeToString(x.shape()));
  const int64_t n = x.size(0), c = x.size(1), ih = x.size(2), iw = x.size(3);
  if (ih == height && iw == width) return x;
  if (height <= 0 || width <= 0) throw ShapeError("resizeBilinear: target size must be positive");
  Tensor y = Tensor::empty({n, c, height, width});
  auto coords = [](int64_t in, int out, std::vector<int64_t>& i0, std::vector<int64_t>& i1, std::vector<float>& l) {
    const double scale = (double)in / (double)out;
    for (int o = 0; o < out; ++o) {
      double src = std::max(0.0, (o + 0.5) * scale - 0.5);
      int64_t a = std::min<int64_t>((int64_t)src, in - 1);
      i0.push_back(a);
      i1.push_back(std::min<int64_t>(a + 1, in - 1));
      l.push_back((float)(src - (double)a));
    }
  };
  std::vector<int64_t> y0, y1, x0, x1;
  std::vector<float> ly, lx;
  coords(ih, height, y0, y1, ly);
  coords(iw, width, x0, x1, lx);
  for (int64_t p = 0; p < n * c; ++p) {
    const float* src = x.data() + p * ih * iw;
    float* dst = y.data() + p * (int64_t)height * width;
    for (int oy = 0; oy < height; ++oy)
      for (int ox = 0; ox < width; ++ox) {
        const float a = src[y0[oy] * iw + x0[ox]], b = src[y0[oy] * iw + x1[ox]];
        const float cc = src[y1[oy] * iw + x0[ox]], d = src[y1[oy] * iw + x1[ox]];
        const float top = a + (b - a) * lx[ox], bottom = cc + (d - cc) * lx[ox];
        dst[oy * width + ox] = top + (bottom - top) * ly[oy];
      }
  }
  return y;
}

std::vector<Tensor> calibrationBatches(const ImageDataset& train, const std::vector<float>& mean,
                                       const std::vector<float>& stddev, int64_t images, int batchSize, int height,
                                       int width, uint64_t seed) {
  if (images <= 0 || batchSize <= 0) throw InputError("BN calibration needs a positive image count and batch size");
  if (train.n == 0) throw InputError("BN calibration: the training split is empty");
  LoaderOptions lo;
  lo.batchSize = batchSize;
  lo.shuffle = true;
  lo.dropLast = false;
  lo.mean = mean;
  lo.std = stddev;
  lo.seed = seed ^ 0xCA11B8A7EDull;
  BatchLoader loader(train, lo);
  const int64_t want = std::min<int64_t>(loader.batchesPerEpoch(), (std::min(images, train.n) + batchSize - 1) / batchSize);
  std::vector<Tensor> out;
  int64_t taken = 0;
  for (int64_t b = 0; b < want; ++b) {
    Batch batch = loader.get(0, b);
    Tensor x = batch.x;
    const int64_t keep = std::min<int64_t>(x.size(0), images - taken);
    if (keep < x.size(0)) {
      Tensor part = Tensor::empty({keep, x.size(1), x.size(2), x.size(3)});
      std::copy(x.data(), x.data() + part.numel(), part.data());
      x = part;
    }
    taken += keep;
    out.push_back(resizeBilinear(x, height, width));
  }
  return out;
}

double evaluateSubnetAccuracy(Supernet& net, const ModelDef& subnet, const BnStats& stats, const ImageDataset& data,
                              const std::vector<float>& mean, const std::vector<float>& stddev, int batchSize) {
  if (data.n == 0) return -1;
  // Switch only a training module to eval and back: a module already in eval mode is left
  // untouched, so several threads may evaluate it at once.
  const bool wasTraining = net.isTraining();
  if (wasTraining) net.eval();
  NoGradGuard noGrad;
  int64_t correct = 0;
  try {
    for (int64_t b = 0; b < data.n; b += batchSize) {
      const int64_t e = std::min<int64_t>(data.n, b + batchSize);
      Tensor x = resizeBilinear(toTensor(data, b, e, mean, stddev), subnet.height, subnet.width);
      Variable logits = net.forward(Variable(x), subnet, &stats);
      const Tensor& l = logits.value();
      const int64_t k = l.size(1);
      for (int64_t i = 0; i < e - b; ++i) {
        const float* row = l.data() + i * k;
        correct += (std::max_element(row, row + k) - row) == data.labels[b + i];
      }
    }
  } catch (...) {
    if (wasTraining) net.train();
    throw;
  }
  if (wasTraining) net.train();
  return (double)correct / (double)data.n;
}

SubnetEvaluation evaluateSubnet(Supernet& net, const ModelDef& subnet, const DataSplits& data,
                                int64_t calibrationImages, int batchSize, uint64_t seed) {
  SubnetEvaluation r;
  auto batches = calibrationBatches(data.train, data.mean, data.std, calibrationImages, std::min(batchSize, 256),
                                    subnet.height, subnet.width, seed);
  r.bnStats = net.calibrateBatchNorm(subnet, batches);
  r.valAccuracy = evaluateSubnetAccuracy(net, subnet, r.bnStats, data.val, data.mean, data.std, batchSize);
  return r;
}

void saveSupernetWeights(const std::string& path, const Supernet& net) {
  saveSafetensors(path, stateDict(net), {{"format", "pt"}, {"supernet", net.def().name}});
}

void loadSupernetWeights(const std::string& path, Supernet& net) {
  loadStateDict(net, loadSafetensors(path).tensors, path);
}

void saveSubnetModel(const std::string& dir, const Model& model) {
  std::filesystem::create_directories(dir);
  writeFileAtomic(dir + "/model.yaml", model.def().toYaml());
  saveSafetensors(dir + "/model.safetensors", stateDict(model), {{"format", "pt"}, {"model", model.def().name}});
}

namespace {

struct Phase {
  std::string name;
  int64_t start = 0, steps = 0;  // global step range [start, start + steps)
  ElasticDims dims;
};

ElasticDims dimsFor(const std::string& phase) {
  ElasticDims d = ElasticDims::none();
  if (phase == "largest") return d;
  d.resolution = true;
  d.kernel = true;
  if (phase == "kernel") return d;
  d.depth = true;
  if (phase == "depth") return d;
  d.expand = d.width = true;  // "expand" and "sandwich"
  return d;
}

std::vector<SupernetPhase> phasesOf(const SupernetTrainOptions& o) {
  if (o.method == "sandwich" || o.method == "uniform") return {{o.method, o.base.epochs}};
  if (!o.phases.empty()) return o.phases;
  std::vector<SupernetPhase> p;
  const int each = std::max(1, o.base.epochs / 4);
  for (const char* n : {"largest", "kernel", "depth", "expand"}) p.push_back({n, each});
  p.back().epochs = std::max(1, o.base.epochs - 3 * each);
  return p;
}

std::string runSignature(const SupernetTrainOptions& so, int64_t totalSteps) {
  const TrainOptions& o = so.base;
  std::ostringstream s;
  s.precision(17);
  s << "supernet;method=" << so.method << ";dataset=" << o.dataset << ";batch=" << o.batchSize << ";lr=" << o.lr
    << ";opt=" << o.optimizer << ";sched=" << o.schedule << ";seed=" << o.seed << ";steps=" << totalSteps
    << ";val=" << o.valSize << ";limit=" << o.trainLimit << ";crop=" << o.padCrop << ";flip=" << o.hflip
    << ";ls=" << o.labelSmoothing << ";wd=" << o.weightDecay << ";n=" << so.randomSubnets << ";T=" << so.kdTemperature
    << ";alpha=" << so.kdAlpha << ";phases=";
  for (const auto& p : phasesOf(so)) s << p.name << ":" << p.epochs << ",";
  return s.str();
}

struct EpochStats {
  double largestSum = 0, othersSum = 0;
  int64_t batches = 0, othersCount = 0;
};

}  // namespace

void checkSupernetTrainOptions(const SupernetTrainOptions& o) {
  checkTrainOptions(o.base);
  auto require = [](bool ok, const std::string& msg) {
    if (!ok) throw InputError(msg);
  };
  require(o.method == "sandwich" || o.method == "progressive" || o.method == "uniform",
          "unknown supernet training method '" + o.method + "' (known: sandwich, progressive, uniform)");
  require(o.method != "uniform" || o.randomSubnets >= 1, "method 'uniform' needs at least one random subnet per step");
  require(o.randomSubnets >= 0 && o.randomSubnets <= 64, "random subnets per step must be in [0, 64]");
  require(o.kdTemperature > 0, "the distillation temperature must be positive");
  require(o.kdAlpha >= 0 && o.kdAlpha <= 1, "the distillation weight alpha must be in [0, 1]");
  require(o.calibrationImages > 0, "calibration images must be positive");
  for (const auto& p : o.phases) {
    require(p.name == "largest" || p.name == "kernel" || p.name == "depth" || p.name == "expand",
            "unknown progressive-shrinking phase '" + p.name + "' (known: largest, kernel, depth, expand)");
    require(p.epochs > 0, "phase '" + p.name + "' needs a positive number of epochs");
  }
}

namespace {

Tensor inputFor(const Supernet&, const ModelDef& sn, const Tensor& x) { return resizeBilinear(x, sn.height, sn.width); }
Tensor inputFor(const Nb201Supernet& net, const ArchConfig&, const Tensor& x) {
  const int r = net.shape().resolution;
  return resizeBilinear(x, r, r);
}

// The loop shared by the MBConv supernet (ModelDef subnets) and the NB201 cell supernet
// (ArchConfig subnets): data, phases, optimizer, checkpoints and exact resume.
template <class Net, class Sub>
SupernetTrainResult trainLoop(Net& net, const DataSplits& data, const SupernetTrainOptions& so,
                              const BasicSubnetSampler<Sub>& sampler, const std::string& checkpointDir, bool resume,
                              const std::function<void(const TrainProgress&)>& onProgress) {
  constexpr bool kMbconv = std::is_same_v<Net, Supernet>;
  const TrainOptions& o = so.base;

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

  std::vector<Phase> phases;
  int64_t planned = 0;
  for (const auto& p : phasesOf(so)) {
    Phase ph{p.name, planned, (int64_t)p.epochs * perEpoch, dimsFor(p.name)};
    planned += ph.steps;
    phases.push_back(ph);
  }
  const int64_t totalSteps = o.maxSteps > 0 ? std::min(planned, o.maxSteps) : planned;
  auto phaseAt = [&](int64_t step) {
    size_t i = 0;
    while (i + 1 < phases.size() && step >= phases[i + 1].start) ++i;
    return i;
  };

  std::unique_ptr<optim::Optimizer> opt;
  std::unique_ptr<optim::LrSchedule> schedule;
  size_t optPhase = (size_t)-1;
  auto makePhaseOptimizer = [&](size_t p) {
    auto groups = optim::makeParamGroups(net.namedParameters(), (float)o.weightDecay, o.noDecayBnBias);
    if (o.optimizer == "sgd")
      opt = std::make_unique<optim::Sgd>(std::move(groups), (float)o.momentum, o.nesterov);
    else
      opt = std::make_unique<optim::AdamW>(std::move(groups));
    const int64_t warmup = p == 0 ? (int64_t)std::llround(o.warmupEpochs * perEpoch) : 0;
    schedule = optim::makeSchedule(o.schedule, (float)o.lr, phases[p].steps, std::min(warmup, phases[p].steps));
    optPhase = p;
  };

  SupernetTrainResult result;
  const std::string signature = runSignature(so, planned);
  const std::string ckptPath = checkpointDir.empty() ? "" : checkpointDir + "/state.safetensors";
  int64_t step = 0;
  double priorSeconds = 0;
  EpochStats es;
  if (resume) {
    if (ckptPath.empty() || !std::filesystem::exists(ckptPath))
      throw InputError("nothing to resume: no checkpoint at " + ckptPath);
    SafetensorsData ck = loadSafetensors(ckptPath);
    if (ck.metadata["signature"] != signature)
      throw InputError(ckptPath + ": the checkpoint was written by a run with other settings (" +
                       ck.metadata["signature"] + "); resume with the same settings");
    std::map<std::string, Tensor> modelState, optState;
    for (auto& [n, t] : ck.tensors) {
      if (n.rfind("model.", 0) == 0) modelState[n.substr(6)] = t;
      if (n.rfind("optim.", 0) == 0) optState[n.substr(6)] = t;
    }
    loadStateDict(net, modelState, ckptPath);
    step = ck.int64s.at("step").values.at(0);
    const size_t p = phaseAt(step);
    // A checkpoint from the previous phase's last step carries that phase's optimizer: the new
    // phase starts with a fresh one, exactly as an uninterrupted run does.
    if (step < totalSteps && std::to_string(p) == ck.metadata["phase"]) {
      makePhaseOptimizer(p);
      opt->loadState(optState);
      opt->setSteps(step - phases[p].start);
    }
    priorSeconds = std::stod(ck.metadata["seconds"]);
    std::istringstream stats(ck.metadata["epoch_stats"]);
    stats >> es.largestSum >> es.othersSum >> es.batches >> es.othersCount;
    std::istringstream curve(ck.metadata["curve"]);
    SupernetEpochRecord r;
    while (curve >> r.epoch >> r.phase >> r.largestLoss >> r.othersLoss >> r.lr >> r.largestValAccuracy >>
           r.smallestValAccuracy)
      result.curve.push_back(r);
  }

  auto saveCheckpoint = [&](double seconds) {
    if (ckptPath.empty()) return;
    std::filesystem::create_directories(checkpointDir);
    SafetensorsData ck;
    for (auto& [n, t] : stateDict(net)) ck.tensors["model." + n] = t;
    for (auto& [n, t] : opt->state()) ck.tensors["optim." + n] = t;
    ck.int64s["step"] = Int64Array{{1}, {step}};
    ck.metadata["signature"] = signature;
    ck.metadata["phase"] = std::to_string(optPhase);
    ck.metadata["seconds"] = std::to_string(seconds);
    std::ostringstream stats;
    stats.precision(17);
    stats << es.largestSum << ' ' << es.othersSum << ' ' << es.batches << ' ' << es.othersCount;
    ck.metadata["epoch_stats"] = stats.str();
    std::ostringstream curve;
    curve.precision(17);
    for (auto& r : result.curve)
      curve << r.epoch << ' ' << r.phase << ' ' << r.largestLoss << ' ' << r.othersLoss << ' ' << r.lr << ' '
            << r.largestValAccuracy << ' ' << r.smallestValAccuracy << '\n';
    ck.metadata["curve"] = curve.str();
    saveSafetensors(ckptPath, ck);
  };

  using Clock = std::chrono::steady_clock;
  double trainSeconds = 0;
  const Rng subnetRoot(o.seed ^ 0x50B7E75EEDull);
  net.train();
  Batch batch;
  while (step < totalSteps) {
    const size_t p = phaseAt(step);
    const Phase& phase = phases[p];
    if (optPhase != p) {
      if constexpr (kMbconv)
        if (step == phase.start && phase.name == "expand") net.sortChannelsByImportance();
      makePhaseOptimizer(p);
    }
    const int64_t epoch = step / perEpoch, inEpoch = step % perEpoch;
    if (inEpoch == 0) es = EpochStats{};
    const auto t0 = Clock::now();
    loader.get(epoch, inEpoch, batch);
    const float lr = schedule->lr(step - phase.start);

    // This step's subnets: a pure function of (seed, step).
    Rng stepRng = subnetRoot.split((uint64_t)step);
    const bool uniform = phase.name == "uniform";
    std::vector<Sub> subnets;
    if (!uniform) subnets.push_back(sampler.largest);
    if (phase.name == "sandwich") subnets.push_back(sampler.smallest);
    if (phase.name != "largest")
      for (int i = 0; i < so.randomSubnets; ++i) {
        Rng r = stepRng.split((uint64_t)i);
        if ((phase.name == "sandwich" || uniform) && sampler.sample) {
          subnets.push_back(sampler.sample(r));
        } else {
          if constexpr (kMbconv)
            subnets.push_back(net.def().sample(r, phase.dims));
          else
            throw InputError("phase '" + phase.name + "' needs a subnet sampler");
        }
      }

    opt->zeroGrad();
    Tensor teacher;
    double largestLoss = 0, othersLoss = 0;
    for (size_t k = 0; k < subnets.size(); ++k) {
      const Sub& sn = subnets[k];
      Rng dropRng = stepRng.split(1000 + k);
      Tensor x = inputFor(net, sn, batch.x);
      Variable logits = net.forward(Variable(x), sn, nullptr, &dropRng);
      // The first subnet is the teacher (cross-entropy); in uniform training every subnet is.
      const bool ce = k == 0 || uniform;
      Variable loss = ce ? ops::crossEntropy(logits, batch.y, (float)o.labelSmoothing)
                         : ops::kdLoss(logits, teacher, batch.y, (float)so.kdTemperature, (float)so.kdAlpha);
      if (k == 0 && !uniform) teacher = logits.value().clone();
      loss.backward();
      const double lv = loss.value()[0];
      if (!std::isfinite(lv))
        throw Error("supernet training diverged at step " + std::to_string(step + 1) + " (subnet " + std::to_string(k) +
                    " loss " + std::to_string(lv) + "); lower the learning rate or add warm-up");
      (k == 0 ? largestLoss : othersLoss) += lv;  // uniform: the first random subnet counts as "largest"
    }
    opt->step(lr);
    trainSeconds += std::chrono::duration<double>(Clock::now() - t0).count();
    ++step;

    es.largestSum += largestLoss;
    es.othersSum += othersLoss;
    es.othersCount += (int64_t)subnets.size() - 1;
    ++es.batches;
    const bool epochEnd = step % perEpoch == 0;
    TrainProgress pr;
    pr.step = step;
    pr.totalSteps = totalSteps;
    pr.epoch = (int)epoch;
    pr.loss = es.largestSum / (double)es.batches;
    pr.lr = lr;
    if (epochEnd) {
      SupernetEpochRecord r;
      r.epoch = (int)epoch + 1;
      r.phase = phase.name;
      r.largestLoss = pr.loss;
      r.othersLoss = es.othersCount ? es.othersSum / (double)es.othersCount : 0;
      r.lr = lr;
      if (so.evalEachEpoch && data.val.n > 0) {
        r.largestValAccuracy =
            evaluateSubnet(net, sampler.largest, data, so.calibrationImages, o.evalBatchSize, o.seed).valAccuracy;
        r.smallestValAccuracy =
            evaluateSubnet(net, sampler.smallest, data, so.calibrationImages, o.evalBatchSize, o.seed).valAccuracy;
        pr.valAccuracy = r.largestValAccuracy;
      }
      result.curve.push_back(r);
      pr.epochEnd = true;
    }
    if (epochEnd || step == totalSteps || (o.checkpointEverySteps > 0 && step % o.checkpointEverySteps == 0))
      saveCheckpoint(priorSeconds + trainSeconds);
    if (onProgress) onProgress(pr);
  }
  net.eval();
  result.steps = step;
  result.seconds = priorSeconds + trainSeconds;
  return result;
}

}  // namespace

SupernetTrainResult trainSupernet(Supernet& net, const DataSplits& data, const SupernetTrainOptions& so,
                                  const SubnetSampler& sampler, const std::string& checkpointDir, bool resume,
                                  const std::function<void(const TrainProgress&)>& onProgress) {
  checkSupernetTrainOptions(so);
  // Resolving both ends up front turns a sampler that does not fit the supernet into an InputError now.
  resolveSubnet(net.def(), sampler.largest);
  resolveSubnet(net.def(), sampler.smallest);
  return trainLoop(net, data, so, sampler, checkpointDir, resume, onProgress);
}

SupernetTrainResult trainSupernet(Nb201Supernet& net, const DataSplits& data, const SupernetTrainOptions& so,
                                  const Nb201Sampler& sampler, const std::string& checkpointDir, bool resume,
                                  const std::function<void(const TrainProgress&)>& onProgress) {
  checkSupernetTrainOptions(so);
  if (so.method != "uniform")
    throw InputError("the NB201 cell supernet trains single-path one-shot: method 'uniform' (got '" + so.method + "')");
  if (!sampler.sample) throw InputError("NB201 supernet training needs a sampler");
  return trainLoop(net, data, so, sampler, checkpointDir, resume, onProgress);
}

}  // namespace hwnas
