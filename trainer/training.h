// The training loop behind nas-train: a model, a dataset with its seeded validation split, an
// optimizer and a schedule, run for a bounded number of steps with checkpoints that resume
// bit-exactly (the data stream is a pure function of (seed, step)). Writes nothing itself
// but through the out-dir it is given; reports progress through a callback.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "trainer/data_loader.h"
#include "trainer/dataset.h"
#include "trainer/model_def.h"

namespace hwnas {

struct TrainOptions {
  std::string dataset = "fashion-mnist";  // fashion-mnist | mnist | cifar10 | cifar100
  std::string dataDir;                    // empty: the dataset's default location
  int epochs = 10;
  int64_t maxSteps = -1;  // stop after this many steps in total (-1: epochs decide)
  int batchSize = 128;
  double lr = 0.1;
  std::string optimizer = "sgd";  // sgd | adamw
  double momentum = 0.9;
  bool nesterov = true;
  double weightDecay = 4e-5;
  bool noDecayBnBias = true;
  std::string schedule = "cosine";  // cosine | step | constant
  double warmupEpochs = 0;
  double labelSmoothing = 0;
  int padCrop = 0;     // random crop with this much zero padding (0: off)
  bool hflip = false;  // random horizontal flip
  double erase = 0.0;  // random-erasing probability (LoaderOptions::erase; 0: off)
  // > 0: keep an exponential moving average of the weights and BN statistics, shadow =
  // d * shadow + (1 - d) * live after every step with d = min(ema, (1 + step) / (10 + step));
  // validation during training, the final figures and the returned model use the average.
  double ema = 0.0;
  int64_t valSize = -1;  // -1: the dataset's default (Fashion-MNIST/MNIST 10,000, CIFAR 5,000); 0: no validation split
  int64_t trainLimit = 0;  // > 0: train on only the first N images of the training split (quick runs, tests)
  int64_t evalLimit = 0;   // > 0: validate and test on only the first N images of each
  uint64_t seed = 0;
  int evalBatchSize = 500;
  int checkpointEverySteps = 0;  // 0: at the end of every epoch only
};

struct TrainProgress {
  int64_t step = 0, totalSteps = 0;
  int epoch = 0;
  double loss = 0;    // running mean over the current epoch
  double lr = 0;
  bool epochEnd = false;
  double valAccuracy = -1;  // set at epoch ends when there is a validation split
};

struct EpochRecord {
  int epoch;
  double trainLoss, trainAccuracy, valAccuracy, lr;
};

struct TrainResult {
  double valAccuracy = -1, testAccuracy = -1;
  double trainImagesPerSecond = 0;
  double seconds = 0;
  int64_t steps = 0;
  int epochs = 0;
  std::vector<EpochRecord> curve;
};

// Throws InputError naming the flag for an impossible setting (before anything is written).
void checkTrainOptions(const TrainOptions& options);

// The train and test sets for `options.dataset`, train already split: {train, val, test}.
struct DataSplits {
  ImageDataset train, val, test;
  std::vector<float> mean, std;
};
DataSplits loadDataSplits(const TrainOptions& options);

// Accuracy (0..1) of the model in eval mode on `data`.
double evaluateAccuracy(nn::Module& model, const ImageDataset& data, const std::vector<float>& mean,
                        const std::vector<float>& std, int batchSize);

// Optional changes to trainModel's step, for fine-tuning (trainer/fine_tune.h).
struct TrainHooks {
  // Replaces the loss (cross-entropy with label smoothing): gets the student's logits and the
  // batch (batch.index: indices into data.train) and returns the scalar loss to minimise.
  std::function<Variable(const Variable& logits, const Batch& batch)> loss;
  // Runs after every optimizer step (e.g. re-applying pruning masks).
  std::function<void()> afterStep;
};

// Trains `model` in place. checkpointDir (may be empty: no checkpoints) receives
// state.safetensors after every epoch; with resume, training continues from the state there.
TrainResult trainModel(nn::Module& model, const DataSplits& data, const TrainOptions& options,
                       const std::string& checkpointDir, bool resume,
                       const std::function<void(const TrainProgress&)>& onProgress = nullptr,
                       const TrainHooks& hooks = TrainHooks());

// Weights and buffers by name (the safetensors layout of model.safetensors).
std::map<std::string, Tensor> stateDict(const nn::Module& model);
// Copies tensors into the model's storage; IoError naming `source` on a missing or mis-shaped entry.
void loadStateDict(nn::Module& model, const std::map<std::string, Tensor>& state, const std::string& source);

}  // namespace hwnas
