// What `nas-train --supernet R.yaml` reads and writes: the supernet training recipe (a YAML
// naming the search space, the method and the training settings), and the supernet folder it
// writes (space.yaml, recipe.yaml, supernet.safetensors, supernet.json, curve.csv,
// checkpoint/), which `--supernet-eval DIR` opens to evaluate or extract subnets. Invariant: a
// folder holds everything needed to rebuild the supernet and its validation split; nothing is
// read from the recipe's original location after training.
//
// The recipe (configs/supernet/fmnist_small.yaml; every key but `space` is optional):
//
//   space: ../spaces/fmnist_small.yaml   # relative to this file
//   method: sandwich                      # sandwich | progressive | uniform (nb201: uniform only)
//   subnets_per_step: 2                   # random subnets per step (OFA's dynamic_batch_size)
//   distill: {alpha: 0.5, temperature: 1.0}   # in-place distillation from the largest (kd_ratio)
//   phases: [{name: largest, epochs: 2}, {name: kernel, epochs: 2}, ...]   # progressive only
//   calibration_images: 2000              # BN calibration images (OFA: 2,000)
//   eval_each_epoch: true                 # inherited val accuracy of largest/smallest per epoch
//   train: {dataset: fashion-mnist, data_dir: "", epochs: 10, batch_size: 128, lr: 0.1,
//           optimizer: sgd, weight_decay: 4.0e-5, schedule: cosine, warmup_epochs: 0,
//           label_smoothing: 0.1, augment: crop-flip, val_size: -1, seed: 0}
#pragma once
#include <memory>
#include <string>

#include "core/json_util.h"
#include "search_spaces/search_space.h"
#include "search_spaces/supernet.h"
#include "search_spaces/supernet_train.h"

namespace hwnas {

class Nb201Supernet;

struct SupernetRecipe {
  std::string path;       // the recipe file
  std::string spacePath;  // the space YAML, resolved against the recipe's folder
  std::string augment = "crop-flip";  // none | flip | crop-flip (sets options.base.padCrop / hflip)
  SupernetTrainOptions options;
};

// ConfigError with file:line:col and key path for unknown keys and bad values; the space file
// itself is not read here.
SupernetRecipe loadSupernetRecipe(const std::string& path);
SupernetRecipe parseSupernetRecipe(const std::string& yamlText, const std::string& name, const std::string& baseDir);
// none | flip | crop-flip -> padCrop/hflip; InputError otherwise.
void applyAugment(const std::string& augment, TrainOptions& o);

// A weight-sharing supernet of either kind, built from a search space: mbconv spaces give an
// OFA-style Supernet (supernetFromSpace), nb201 spaces the single-path cell supernet.
class SpaceSupernet {
 public:
  SpaceSupernet(std::shared_ptr<const SearchSpace> space, uint64_t seed);
  ~SpaceSupernet();

  const SearchSpace& space() const { return *space_; }
  nn::Module& module();
  // Trains with checkpoints and exact resume (trainSupernet); nb201 allows method uniform only.
  SupernetTrainResult train(const DataSplits& data, const SupernetTrainOptions& o, const std::string& checkpointDir,
                            bool resume, const std::function<void(const TrainProgress&)>& onProgress);
  // BN calibration on `calibrationImages` training images, then validation accuracy.
  SubnetEvaluation evaluate(const ArchConfig& arch, const DataSplits& data, int64_t calibrationImages,
                            int batchSize = 500, uint64_t seed = 0);
  // The standalone model with copied weights (eval mode); mbconv: a trainer Model.
  std::shared_ptr<nn::Module> extract(const ArchConfig& arch, const BnStats& stats) const;
  // mbconv only: the extracted model as model.yaml + model.safetensors (nas-train --model can
  // fine-tune it); nb201: model.safetensors + arch.json + space.yaml.
  void saveExtracted(const std::string& dir, const ArchConfig& arch, const BnStats& stats) const;

  void saveWeights(const std::string& path) const;
  void loadWeights(const std::string& path);

 private:
  std::shared_ptr<const SearchSpace> space_;
  std::unique_ptr<Supernet> mbconv_;
  std::unique_ptr<Nb201Supernet> nb201_;
};

// The two files every finished supernet folder holds beside its weights, written the same way
// by nas-train --supernet and the nas-search pipeline: curve.csv (one row per epoch) and the
// common fields of supernet.json (space, method, training settings, data split).
void writeSupernetCurve(const std::string& dir, const SupernetTrainResult& r);
Json supernetFolderInfo(const SearchSpace& space, const SupernetTrainOptions& so, const SupernetTrainResult& r);

// A supernet folder written by nas-train --supernet, opened for evaluation: the space, the
// weights and the data settings it was trained with (dataset, data dir, validation split).
struct SupernetFolder {
  std::string dir;
  Json info;  // supernet.json
  std::shared_ptr<const SearchSpace> space;
  std::unique_ptr<SpaceSupernet> net;
  TrainOptions data;  // dataset, dataDir, valSize, trainLimit of the training run
};
// IoError / InputError naming the file when the folder is incomplete or from another space.
SupernetFolder openSupernetFolder(const std::string& dir);

}  // namespace hwnas
