// Training a Supernet and using it: the sandwich rule with in-place distillation (BigNAS/OFA)
// or progressive shrinking (OFA: largest -> elastic kernel -> depth -> expansion and width),
// checkpoints that resume bit-exactly (weights, optimizer state and step; the data stream and
// every sampled subnet are pure functions of (seed, step)), BN calibration on training-split
// batches, inherited validation accuracy, and saving an extracted subnet for nas-train.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "search_spaces/supernet.h"
#include "trainer/training.h"

namespace hwnas {

struct SupernetPhase {
  std::string name;  // largest | kernel | depth | expand
  int epochs = 1;
};

struct SupernetTrainOptions {
  // Data, optimizer, schedule, seed, limits and checkpoint cadence as nas-train. base.epochs is
  // the sandwich run's length (progressive: the phases' epochs decide).
  TrainOptions base;
  // sandwich | progressive | uniform. uniform is single-path one-shot (SPOS): each step trains
  // randomSubnets uniformly drawn subnets with cross-entropy, no teacher and no largest/smallest.
  std::string method = "sandwich";
  int randomSubnets = 2;            // N random subnets per step (besides the largest and, in sandwich, the smallest)
  // Smaller subnets learn from the largest's logits: alpha*T^2*KL + (1-alpha)*CE (ops::kdLoss).
  double kdTemperature = 1.0, kdAlpha = 0.5;
  // Progressive shrinking phases in order; empty: largest, kernel, depth, expand, with
  // base.epochs split evenly (at least one epoch each). Each phase keeps the earlier phases'
  // dimensions elastic, has its own optimizer and learning-rate schedule, and channels are
  // sorted by importance (sortChannelsByImportance) when the expand phase starts.
  std::vector<SupernetPhase> phases;
  bool evalEachEpoch = false;      // inherited val accuracy of the largest and smallest at epoch ends
  int64_t calibrationImages = 2000;  // for that evaluation
};

// How the trainer draws subnets. sample may be empty: the SupernetDef's uniform sampler.
// Subnets must resolve against the supernet's SupernetDef. The NB201 cell supernet uses the
// same with ArchConfig subnets (Nb201Sampler).
template <class Subnet>
struct BasicSubnetSampler {
  Subnet largest, smallest;
  std::function<Subnet(Rng&)> sample;
};
using SubnetSampler = BasicSubnetSampler<ModelDef>;
SubnetSampler defaultSampler(const SupernetDef& def);

struct SupernetEpochRecord {
  int epoch = 0;
  std::string phase;
  double largestLoss = 0, othersLoss = 0, lr = 0;
  double largestValAccuracy = -1, smallestValAccuracy = -1;  // with evalEachEpoch
};

struct SupernetTrainResult {
  int64_t steps = 0;
  double seconds = 0;
  std::vector<SupernetEpochRecord> curve;
};

// Throws InputError naming the setting (before anything is written).
void checkSupernetTrainOptions(const SupernetTrainOptions& options);

// Trains `net` in place (train mode during, eval mode after). checkpointDir (may be empty)
// receives state.safetensors at epoch ends (and every base.checkpointEverySteps); with resume
// the run continues from it and ends bit-identical to an uninterrupted run. Images are resized
// (bilinear) to each subnet's resolution when it differs from the data's.
SupernetTrainResult trainSupernet(Supernet& net, const DataSplits& data, const SupernetTrainOptions& options,
                                  const SubnetSampler& sampler, const std::string& checkpointDir, bool resume,
                                  const std::function<void(const TrainProgress&)>& onProgress = nullptr);

// The first ceil(images / batchSize) batches of a seeded shuffle of `train` (no augmentation),
// normalised with mean/std and resized to height x width: OFA's BN calibration subset.
std::vector<Tensor> calibrationBatches(const ImageDataset& train, const std::vector<float>& mean,
                                       const std::vector<float>& std, int64_t images, int batchSize, int height,
                                       int width, uint64_t seed);

// Accuracy (0..1) of the subnet with inherited weights on `data` (eval mode, the given BnStats).
// A supernet already in eval mode is not written to, so threads may share it.
double evaluateSubnetAccuracy(Supernet& net, const ModelDef& subnet, const BnStats& stats, const ImageDataset& data,
                              const std::vector<float>& mean, const std::vector<float>& std, int batchSize);

struct SubnetEvaluation {
  double valAccuracy = -1;
  BnStats bnStats;
};
// BN calibration on `calibrationImages` training images, then validation accuracy.
SubnetEvaluation evaluateSubnet(Supernet& net, const ModelDef& subnet, const DataSplits& data,
                                int64_t calibrationImages = 2000, int batchSize = 500, uint64_t seed = 0);

// The trained supernet's weights as one safetensors file (atomically written; tensor names as
// namedParameters()), and back into a Supernet built from the same SupernetDef (IoError naming
// the file for a missing or mis-shaped tensor).
void saveSupernetWeights(const std::string& path, const Supernet& net);
void loadSupernetWeights(const std::string& path, Supernet& net);

// Writes dir/model.yaml and dir/model.safetensors (atomically), as nas-train does.
void saveSubnetModel(const std::string& dir, const Model& model);

// Bilinear resize of [N, C, H, W] to [N, C, height, width] (torch's interpolate, align_corners
// false, no antialiasing). Returns x itself when the size already matches.
Tensor resizeBilinear(const Tensor& x, int height, int width);

}  // namespace hwnas
