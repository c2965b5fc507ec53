// runExportPipeline: applies a recipe's passes to a model in order and measures every step the
// same way (accuracy on the validation and test splits through the runtime plan that ships,
// ONNX size, MACs, params, latency on this CPU at the recipe's batch sizes, predicted latency
// on other devices). Invariant: writes no files; the caller (nas-export) writes artifacts and
// the report from the result. Deterministic given options.seed (latency figures aside).
#pragma once
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/quant_spec.h"
#include "exporter/export_model.h"
#include "exporter/recipe.h"
#include "exporter/report.h"

namespace hwnas {

struct ExportPipelineOptions {
  uint64_t seed = 0;
  int threads = 1;
  bool measureAccuracy = true;  // false: no dataset needed (size, MACs, latency only)
  bool measureLatency = true;
  std::function<void(const std::string&)> progress;  // one line per event (stderr in the CLI)
};

struct ExportPipelineResult {
  ExportModel model;                // after the last pass (fp32 weights)
  std::optional<QuantSpec> quant;   // set by a quantize pass
  std::map<std::string, std::vector<float>> masks;  // unstructured pruning masks still applied
  ExportReport report;
};

// InputError for a pass that does not fit the model (e.g. a MAC target it cannot reach, a
// teacher that does not match), before any later pass runs.
ExportPipelineResult runExportPipeline(const ExportModel& input, const ExportRecipe& recipe,
                                       const ExportPipelineOptions& options = ExportPipelineOptions());

// The ONNX bytes of the model (int8 QDQ with a spec): what the size column measures.
std::string onnxBytesOf(const ExportModel& model, const QuantSpec* quant);

}  // namespace hwnas
