// ExportRecipe: a nas-export YAML recipe (configs/export/*.yaml): the data to measure and
// fine-tune on, where to predict latency, and the compression passes in order. Invariant: a
// parsed recipe is fully checked (unknown pass or key, wrong type, impossible value: ConfigError
// with file:line:col and key path, e.g. "passes[2].sparsity"), so a run never fails on syntax
// after it has written anything.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace hwnas {

struct DistillSpec {
  bool enabled = false;
  std::string teacher = "original";  // "original" (the model before any pass) | a model folder / .onnx
  double alpha = 0.9, temperature = 4.0;
  bool cache = true;
};

struct PassSpec {
  std::string pass;        // fold_bn | prune | lowrank | quantize | finetune
  std::string where;       // "file:line:col" of the entry, for messages
  // prune
  std::string method;      // prune: l1 | bn_gamma | magnitude; lowrank: svd | tucker2; quantize: ptq | qat
  double sparsity = 0.5;
  bool global = false;     // scope: global | per_layer
  // lowrank
  double energy = 0, macReduction = 0;
  std::vector<std::string> skip;
  // quantize (ptq)
  std::string calibration = "minmax";  // minmax | percentile | entropy
  int batches = 8;                     // calibration batches of 64 training images
  int keepFp32 = 0;                    // mixed precision: the N most sensitive layers stay fp32
  // finetune / qat (epochs of training)
  int epochs = 1;
  int64_t maxSteps = -1;
  double lr = 0.01;
  int batchSize = 128;
  std::string optimizer = "sgd";
  DistillSpec distill;
};

struct ExportRecipe {
  std::string name = "default";
  std::string file;  // where it came from ("" for the built-in default)
  // data
  std::string dataset = "fashion-mnist";
  std::string dataDir;
  int64_t trainLimit = 0, evalLimit = 0;  // > 0: first N images (quick runs)
  // measurement
  std::vector<std::string> predict = {"analytic:gpu", "analytic:fpga"};  // latency models
  std::string lut;                  // optional latency table (SQLite) for LUT devices in `predict`
  int latencyRepeats = 15;          // timed runs per batch size (median reported)
  std::vector<int> latencyBatches = {1, 64};
  std::vector<PassSpec> passes;
};

ExportRecipe loadExportRecipe(const std::string& path);
ExportRecipe parseExportRecipe(const std::string& yamlText, const std::string& name = "<recipe>");
// No recipe: fold_bn only (fusion happens in every lowering).
ExportRecipe defaultExportRecipe();

}  // namespace hwnas
