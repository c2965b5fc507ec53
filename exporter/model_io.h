// loadExportModel: a trained model as the exporter's ExportModel (Graph at batch 1 + weights),
// from a directory nas-train (or `nas-train --extract`) wrote (model.yaml + model.safetensors)
// or from an .onnx file (importOnnx). Errors say which file is missing or broken and what to do.
#pragma once
#include <string>

#include "exporter/export_model.h"

namespace hwnas {

// InputError when `path` is neither such a directory nor an .onnx file, when model.yaml or
// model.safetensors is missing, or the weights do not belong to the model; the ONNX importer's
// InputErrors (unsupported op naming the node, truncated file) pass through.
ExportModel loadExportModel(const std::string& path);

// True when `path` names a model folder (has model.yaml), false for anything else.
bool isModelDirectory(const std::string& path);

}  // namespace hwnas
