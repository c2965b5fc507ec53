// The supernet recipe YAML of nas-train --supernet: defaults, every key, relative space paths,
// and mistakes as ConfigErrors naming file:line:col and the key path.
#include <gtest/gtest.h>

#include "core/error.h"
#include "search_spaces/supernet_recipe.h"

using namespace hwnas;

namespace {

std::string configError(const std::string& text) {
  try {
    parseSupernetRecipe(text, "r.yaml", "/base");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(SupernetRecipe, DefaultsAreNasTrainsDefaultRecipe) {
  SupernetRecipe r = parseSupernetRecipe("space: ../spaces/s.yaml\n", "r.yaml", "/base/supernet");
  EXPECT_EQ(r.spacePath, "/base/supernet/../spaces/s.yaml");
  EXPECT_EQ(r.options.method, "sandwich");
  EXPECT_EQ(r.options.randomSubnets, 2);
  EXPECT_DOUBLE_EQ(r.options.kdAlpha, 0.5);
  EXPECT_DOUBLE_EQ(r.options.kdTemperature, 1.0);
  EXPECT_EQ(r.options.calibrationImages, 2000);
  EXPECT_TRUE(r.options.evalEachEpoch);
  EXPECT_EQ(r.options.base.epochs, 10);
  EXPECT_EQ(r.options.base.batchSize, 128);
  EXPECT_DOUBLE_EQ(r.options.base.lr, 0.1);
  EXPECT_DOUBLE_EQ(r.options.base.labelSmoothing, 0.1);
  EXPECT_EQ(r.options.base.padCrop, 2);
  EXPECT_TRUE(r.options.base.hflip);
  EXPECT_EQ(parseSupernetRecipe("space: /abs/s.yaml\n", "r.yaml", "/base").spacePath, "/abs/s.yaml");
}

TEST(SupernetRecipe, EveryKeyIsRead) {
  SupernetRecipe r = parseSupernetRecipe(R"(
space: s.yaml
method: progressive
subnets_per_step: 3
distill: {alpha: 0.8, temperature: 2.0}
phases: [{name: largest, epochs: 2}, {name: kernel, epochs: 1}]
calibration_images: 500
eval_each_epoch: false
train: {dataset: mnist, data_dir: /d, epochs: 4, batch_size: 64, lr: 0.05, optimizer: adamw, momentum: 0.8,
        weight_decay: 0.001, schedule: step, warmup_epochs: 0.5, label_smoothing: 0.0, augment: flip,
        val_size: 5000, seed: 9}
)",
                                         "r.yaml", "");
  const SupernetTrainOptions& o = r.options;
  EXPECT_EQ(r.spacePath, "s.yaml");
  EXPECT_EQ(o.method, "progressive");
  EXPECT_EQ(o.randomSubnets, 3);
  EXPECT_DOUBLE_EQ(o.kdAlpha, 0.8);
  EXPECT_DOUBLE_EQ(o.kdTemperature, 2.0);
  ASSERT_EQ(o.phases.size(), 2u);
  EXPECT_EQ(o.phases[1].name, "kernel");
  EXPECT_EQ(o.phases[0].epochs, 2);
  EXPECT_EQ(o.calibrationImages, 500);
  EXPECT_FALSE(o.evalEachEpoch);
  EXPECT_EQ(o.base.dataset, "mnist");
  EXPECT_EQ(o.base.dataDir, "/d");
  EXPECT_EQ(o.base.epochs, 4);
  EXPECT_EQ(o.base.batchSize, 64);
  EXPECT_DOUBLE_EQ(o.base.lr, 0.05);
  EXPECT_EQ(o.base.optimizer, "adamw");
  EXPECT_DOUBLE_EQ(o.base.momentum, 0.8);
  EXPECT_DOUBLE_EQ(o.base.weightDecay, 0.001);
  EXPECT_EQ(o.base.schedule, "step");
  EXPECT_DOUBLE_EQ(o.base.warmupEpochs, 0.5);
  EXPECT_DOUBLE_EQ(o.base.labelSmoothing, 0.0);
  EXPECT_EQ(o.base.padCrop, 0);
  EXPECT_TRUE(o.base.hflip);
  EXPECT_EQ(o.base.valSize, 5000);
  EXPECT_EQ(o.base.seed, 9u);
}

TEST(SupernetRecipe, MistakesNameFileLineAndKeyPath) {
  EXPECT_NE(configError("space: s.yaml\nsubnet_per_step: 2\n").find("r.yaml:2:1: subnet_per_step: unknown key"),
            std::string::npos);
  EXPECT_NE(configError("method: sandwich\n").find("space"), std::string::npos);
  EXPECT_NE(configError("space: s.yaml\nmethod: shrink\n").find("r.yaml:2:9: method"), std::string::npos);
  EXPECT_NE(configError("space: s.yaml\ndistill: {alpha: 1.5}\n").find("distill.alpha"), std::string::npos);
  EXPECT_NE(configError("space: s.yaml\nphases: [{name: largest, epochs: 1}]\n").find("progressive only"),
            std::string::npos);
  EXPECT_NE(configError("space: s.yaml\nmethod: progressive\nphases: [{name: width, epochs: 1}]\n").find("phases[0].name"),
            std::string::npos);
  EXPECT_NE(configError("space: s.yaml\nmethod: uniform\nsubnets_per_step: 0\n").find("subnets_per_step"),
            std::string::npos);
  EXPECT_NE(configError("space: s.yaml\ntrain: {epochs: 0}\n").find("train.epochs"), std::string::npos);
  EXPECT_NE(configError("space: s.yaml\ntrain: {augment: rotate}\n").find("train.augment"), std::string::npos);
  EXPECT_NE(configError("space: s.yaml\ntrain: {lr: fast}\n").find("train.lr"), std::string::npos);
  EXPECT_THROW(loadSupernetRecipe("/nonexistent/recipe.yaml"), IoError);
}
