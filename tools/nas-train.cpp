// nas-train: train one architecture (a model YAML) on an image dataset and write a
// self-contained result folder. Flags in, one library call (hwnas::trainModel), files out.
#include <tbb/global_control.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "core/fs_util.h"
#include "core/json_util.h"
#include "core/log.h"
#include "trainer/model_def.h"
#include "trainer/safetensors.h"
#include "trainer/training.h"

namespace po = boost::program_options;
namespace fs = std::filesystem;
using namespace hwnas;

static const char* kExamples = R"(Examples:
  # the reference network with hwnas's default recipe (10 epochs, crop+flip augmentation, label smoothing 0.1)
  nas-train --model configs/models/refnet.yaml --out runs/refnet
  # the PyTorch anchor's recipe: 3 epochs, no augmentation, no label smoothing, all 60,000 training images
  nas-train --model configs/models/refnet.yaml --epochs 3 --recipe reference --val-size 0 --out runs/ref3
  # continue an interrupted run exactly where its last checkpoint left it
  nas-train --model configs/models/refnet.yaml --out runs/refnet --resume

Output folder: model.yaml, model.safetensors, curve.csv, metrics.json, checkpoint/state.safetensors.
Exit codes: 0 ok, 1 runtime failure, 2 bad input.
)";

static int run(int argc, char** argv) {
  Logger::instance().setProgramName("nas-train");
  TrainOptions o;
  std::string modelPath, outDir, recipe;
  int threads = 0;
  bool quiet = false, resume = false, force = false;
  po::options_description desc("nas-train: train one architecture on an image dataset\n\nOptions");
  // clang-format off
  desc.add_options()
    ("help,h", "show this help")
    ("model", po::value(&modelPath), "model YAML (configs/models/refnet.yaml, or a model.yaml nas-train wrote)")
    ("out", po::value(&outDir), "output folder")
    ("dataset", po::value(&o.dataset)->default_value("fashion-mnist"), "fashion-mnist | mnist | cifar10 | cifar100")
    ("data-dir", po::value(&o.dataDir), "dataset folder (default for fashion-mnist: /usr/share/datasets/fashion-mnist)")
    ("recipe", po::value(&recipe)->default_value("default"),
       "default: crop (pad 2) + flip, label smoothing 0.1, no decay on BN/bias; reference: the PyTorch anchor's (no augmentation, no label smoothing, decay on all params)")
    ("epochs", po::value(&o.epochs)->default_value(10), "epochs")
    ("max-steps", po::value(&o.maxSteps)->default_value(-1), "stop after this many steps (the schedule still spans --epochs)")
    ("batch-size", po::value(&o.batchSize)->default_value(128), "batch size")
    ("lr", po::value(&o.lr)->default_value(0.1), "peak learning rate")
    ("optimizer", po::value(&o.optimizer)->default_value("sgd"), "sgd (Nesterov momentum 0.9) | adamw")
    ("weight-decay", po::value(&o.weightDecay)->default_value(4e-5), "weight decay")
    ("schedule", po::value(&o.schedule)->default_value("cosine"), "cosine | step | constant")
    ("warmup-epochs", po::value(&o.warmupEpochs)->default_value(0.0), "linear warm-up length in epochs")
    ("label-smoothing", po::value<double>(), "label smoothing (recipe default: 0.1 default, 0 reference)")
    ("augment", po::value<std::string>(), "none | flip | crop-flip (random crop with 2-pixel padding + horizontal flip) (recipe default: crop-flip default, none reference)")
    ("val-size", po::value(&o.valSize)->default_value(-1),
       "validation images carved from the training set (-1: dataset default, 10,000 for Fashion-MNIST; 0: none)")
    ("train-limit", po::value(&o.trainLimit)->default_value(0), "train on only the first N training images (0: all)")
    ("eval-limit", po::value(&o.evalLimit)->default_value(0), "validate and test on only the first N images (0: all)")
    ("threads", po::value(&threads)->default_value(0), "worker threads (0: all cores)")
    ("seed", po::value(&o.seed)->default_value(0), "random seed (weights, data order, augmentation)")
    ("resume", po::bool_switch(&resume), "continue from <out>/checkpoint")
    ("force", po::bool_switch(&force), "overwrite an existing output folder")
    ("quiet,q", po::bool_switch(&quiet), "no progress bar");
  // clang-format on
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw InputError(std::string(e.what()) + " (see nas-train --help)");
  }
  Logger::instance().setQuiet(quiet);
  if (vm.count("help")) {
    std::cout << desc << "\n" << kExamples;
    return 0;
  }
  if (modelPath.empty()) throw InputError("--model is required (e.g. --model configs/models/refnet.yaml)");
  if (outDir.empty()) throw InputError("--out is required (e.g. --out runs/refnet)");
  if (recipe != "default" && recipe != "reference")
    throw InputError("unknown --recipe '" + recipe + "' (known: default, reference)");
  const bool reference = recipe == "reference";
  o.labelSmoothing = vm.count("label-smoothing") ? vm["label-smoothing"].as<double>() : (reference ? 0.0 : 0.1);
  std::string augment = vm.count("augment") ? vm["augment"].as<std::string>() : (reference ? "none" : "crop-flip");
  if (augment == "crop-flip") {
    o.padCrop = 2;
    o.hflip = true;
  } else if (augment == "flip") {
    o.hflip = true;
  } else if (augment != "none") {
    throw InputError("unknown --augment '" + augment + "' (known: none, flip, crop-flip)");
  }
  o.noDecayBnBias = !reference;
  if (o.labelSmoothing < 0 || o.labelSmoothing >= 1) throw InputError("--label-smoothing must be in [0, 1)");
  if (threads < 0) throw InputError("--threads must be >= 0");
  if (threads == 0) threads = (int)std::max(1u, std::thread::hardware_concurrency());
  tbb::global_control threadLimit(tbb::global_control::max_allowed_parallelism, threads);

  // Everything is validated before anything is written.
  checkTrainOptions(o);
  ModelDef def = loadModelDef(modelPath);
  const std::string ckptDir = outDir + "/checkpoint";
  if (resume && force) throw InputError("--resume and --force exclude each other");
  if (!resume && fs::exists(outDir) && !fs::is_empty(outDir)) {
    if (!force)
      throw InputError("output folder " + outDir + " exists and is not empty; pass --resume to continue it or --force to replace it");
  }
  if (resume && !fs::exists(ckptDir + "/state.safetensors"))
    throw InputError("--resume: no checkpoint at " + ckptDir + "/state.safetensors");
  DataSplits data = loadDataSplits(o);
  if (data.train.channels != def.inChannels || data.train.height != def.height || data.train.width != def.width)
    throw InputError(modelPath + ": the model takes " + std::to_string(def.inChannels) + "x" + std::to_string(def.height) +
                     "x" + std::to_string(def.width) + " inputs but " + o.dataset + " images are " +
                     std::to_string(data.train.channels) + "x" + std::to_string(data.train.height) + "x" +
                     std::to_string(data.train.width));
  if (data.train.numClasses != def.numClasses)
    throw InputError(modelPath + ": classes is " + std::to_string(def.numClasses) + " but " + o.dataset + " has " +
                     std::to_string(data.train.numClasses));
  auto model = buildModel(def, o.seed);

  if (force && !resume && fs::exists(outDir)) fs::remove_all(outDir);
  fs::create_directories(ckptDir);

  logInfo("nas-train: " + def.name + " (" + std::to_string(model->numParameters()) + " params) on " + o.dataset + ": " +
          std::to_string(data.train.n) + " train, " + std::to_string(data.val.n) + " val, " +
          std::to_string(data.test.n) + " test images; " + std::to_string(threads) + " threads");
  Progress progress("train", 0, quiet);
  TrainResult r = trainModel(*model, data, o, ckptDir, resume, [&](const TrainProgress& p) {
    progress.setTotal(p.totalSteps);
    std::ostringstream s;
    s << "epoch " << p.epoch + 1 << " loss " << std::fixed << std::setprecision(4) << p.loss;
    if (p.epochEnd && p.valAccuracy >= 0) s << " val " << std::setprecision(2) << 100 * p.valAccuracy << "%";
    progress.update(p.step, s.str());
    if (p.epochEnd) logInfo(s.str());
  });
  progress.finish();

  writeFileAtomic(outDir + "/model.yaml", def.toYaml());
  saveSafetensors(outDir + "/model.safetensors", stateDict(*model), {{"format", "pt"}, {"model", def.name}});
  std::ostringstream csv;
  csv << "epoch,loss,train_accuracy,val_accuracy,lr\n";
  csv << std::setprecision(6);
  for (const auto& e : r.curve)
    csv << e.epoch << ',' << e.trainLoss << ',' << e.trainAccuracy << ',' << e.valAccuracy << ',' << e.lr << '\n';
  writeFileAtomic(outDir + "/curve.csv", csv.str());
  Json m;
  m["model"] = def.name;
  m["dataset"] = o.dataset;
  m["recipe"] = recipe;
  m["val_accuracy"] = r.valAccuracy;
  m["test_accuracy"] = r.testAccuracy;
  m["train_images_per_second"] = r.trainImagesPerSecond;
  m["params"] = model->numParameters();
  m["macs"] = model->toGraph(1).cost().macs;
  m["epochs"] = r.epochs;
  m["steps"] = r.steps;
  m["seconds"] = r.seconds;
  m["seed"] = o.seed;
  m["threads"] = threads;
  m["batch_size"] = o.batchSize;
  writeJsonFile(outDir + "/metrics.json", m);
  std::cout << m.dump(2) << std::endl;
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const Error& e) {
    std::cerr << "nas-train: " << e.what() << std::endl;
    return e.exitCode();
  } catch (const std::exception& e) {
    std::cerr << "nas-train: " << e.what() << std::endl;
    return 1;
  }
}
