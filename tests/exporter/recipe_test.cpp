// Recipe parsing: every shipped recipe loads; unknown passes and keys, impossible values and a
// pass after quantize are errors naming file:line:col and the key path.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "exporter/export_pipeline.h"
#include "exporter/recipe.h"

namespace hwnas {
namespace {

std::string errorOf(const std::string& yaml) {
  try {
    parseExportRecipe(yaml, "r.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(Recipe, ShippedRecipesLoad) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(std::string(HWNAS_SOURCE_DIR) + "/configs/export")) {
    if (e.path().extension() != ".yaml") continue;
    const ExportRecipe r = loadExportRecipe(e.path().string());
    EXPECT_FALSE(r.passes.empty()) << e.path();
    ++n;
  }
  EXPECT_GE(n, 4);
  const ExportRecipe p = loadExportRecipe(std::string(HWNAS_SOURCE_DIR) + "/configs/export/prune50.yaml");
  ASSERT_EQ(p.passes.size(), 3u);
  EXPECT_EQ(p.passes[0].pass, "prune");
  EXPECT_EQ(p.passes[0].method, "l1");
  EXPECT_DOUBLE_EQ(p.passes[0].sparsity, 0.5);
  EXPECT_FALSE(p.passes[0].global);
  EXPECT_TRUE(p.passes[1].distill.enabled);
  EXPECT_EQ(p.passes[1].distill.teacher, "original");
}

TEST(Recipe, EveryKeyParses) {
  const ExportRecipe r = parseExportRecipe(R"(name: all
data: {dataset: mnist, data_dir: /d, train_limit: 100, eval_limit: 50}
measure: {predict: [analytic:gpu], latency_repeats: 3, latency_batches: [1, 8]}
passes:
  - {pass: fold_bn}
  - {pass: prune, method: magnitude, sparsity: 0.3, scope: global}
  - {pass: lowrank, method: tucker2, energy: 0.8, skip: [a]}
  - {pass: finetune, epochs: 2, max_steps: 5, lr: 0.05, batch_size: 32, optimizer: adamw, distill: {teacher: runs/t, alpha: 0.4, temperature: 2, cache: false}}
  - {pass: quantize, method: ptq, calibration: entropy, batches: 3, keep_fp32: 2}
)");
  EXPECT_EQ(r.dataset, "mnist");
  EXPECT_EQ(r.trainLimit, 100);
  EXPECT_EQ(r.latencyBatches, (std::vector<int>{1, 8}));
  ASSERT_EQ(r.passes.size(), 5u);
  EXPECT_TRUE(r.passes[1].global);
  EXPECT_DOUBLE_EQ(r.passes[2].energy, 0.8);
  EXPECT_EQ(r.passes[2].skip, (std::vector<std::string>{"a"}));
  EXPECT_EQ(r.passes[3].optimizer, "adamw");
  EXPECT_EQ(r.passes[3].maxSteps, 5);
  EXPECT_EQ(r.passes[3].distill.teacher, "runs/t");
  EXPECT_FALSE(r.passes[3].distill.cache);
  EXPECT_EQ(r.passes[4].calibration, "entropy");
  EXPECT_EQ(r.passes[4].batches, 3);
  EXPECT_EQ(r.passes[4].keepFp32, 2);
  EXPECT_EQ(defaultExportRecipe().passes.at(0).pass, "fold_bn");
}

TEST(Recipe, ErrorsNameFileLineColumnAndKeyPath) {
  std::string e = errorOf("passes:\n  - {pass: fold_bn}\n  - {pass: distil}\n");
  EXPECT_NE(e.find("r.yaml:3:"), std::string::npos) << e;
  EXPECT_NE(e.find("passes[1].pass"), std::string::npos) << e;
  e = errorOf("passes:\n  - {pass: prune, method: l1, sparsty: 0.5}\n");
  EXPECT_NE(e.find("r.yaml:2:"), std::string::npos) << e;
  EXPECT_NE(e.find("sparsty"), std::string::npos) << e;
  e = errorOf("passes:\n  - {pass: prune, method: l1, sparsity: 1.5}\n");
  EXPECT_NE(e.find("passes[0].sparsity"), std::string::npos) << e;
  e = errorOf("passes:\n  - {pass: lowrank, method: svd, energy: 0.9, mac_reduction: 2}\n");
  EXPECT_NE(e.find("exactly one"), std::string::npos) << e;
  e = errorOf("passes:\n  - {pass: finetune, distill: {teacher: original, alpha: 2}}\n");
  EXPECT_NE(e.find("passes[0].distill.alpha"), std::string::npos) << e;
  e = errorOf("pases: []\n");
  EXPECT_NE(e.find("pases"), std::string::npos) << e;
  e = errorOf("passes:\n  - {pass: quantize, method: ptq, calibration: kl}\n");
  EXPECT_NE(e.find("passes[0].calibration"), std::string::npos) << e;
}

TEST(Recipe, PassAfterQuantizeIsRejectedBeforeAnyWork) {
  const ExportRecipe r = parseExportRecipe("passes:\n  - {pass: quantize, method: ptq}\n  - {pass: fold_bn}\n", "q.yaml");
  ExportModel m;
  m.graph.addInput("x", {1, 1, 2, 2});
  ExportPipelineOptions o;
  o.measureAccuracy = false;
  try {
    runExportPipeline(m, r, o);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("q.yaml:3:"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("after quantize"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hwnas
