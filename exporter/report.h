// ExportReport: what each nas-export step cost in accuracy and bought in size, MACs and latency,
// as report.json (machine) and report.md (a table per measure, one row per step).
// Invariant: step 0 is the input model; every later step is one recipe pass, measured the same
// way (validation accuracy for decisions, test accuracy for the report).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/json_util.h"

namespace hwnas {

struct LatencySummary {
  double medianMs = 0, minMs = 0, maxMs = 0;
  int repeats = 0;
};

struct StepMetrics {
  double valAccuracy = -1, testAccuracy = -1;  // 0..1; -1: not measured
  std::string accuracyHow;                     // "fp32 runtime", "fake-quant (qat)", ...
  int64_t sizeBytes = 0;                       // bytes of the ONNX file this step would write
  std::string sizeOf;                          // "onnx fp32" | "onnx int8 qdq"
  int64_t macs = 0, params = 0;                // per image
  std::map<int, LatencySummary> measured;      // batch -> this CPU, runtime executor
  std::string measuredHow;                     // "fp32 plan", "int8 plan"
  std::map<std::string, double> predictedMs;   // device -> ms (batch 1)
  std::vector<std::string> notes;
};

struct ExportStep {
  std::string name;    // "input", "fold_bn", "prune(l1, 0.5, per_layer)", ...
  std::string detail;  // what the pass did (channels kept, ranks, calibration)
  double seconds = 0;  // the pass's own time (not the measuring)
  StepMetrics metrics;
};

struct ExportReport {
  std::string model, recipe, target;
  uint64_t seed = 0;
  int threads = 1;
  std::vector<ExportStep> steps;
  std::vector<std::string> artifacts;  // files written, relative to the output folder
  Json toJson() const;
  std::string toMarkdown() const;
};

}  // namespace hwnas
