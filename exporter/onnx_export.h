// exportOnnx: writes an ExportModel as an ONNX file (default opset 13) with a dynamic batch
// dimension ("batch"), graph input "input" and output "output", weights as initializers.
// With a QuantSpec every int8 conv/linear gets QDQ: Quantize/DequantizeLinear on its input
// activation (per tensor), an INT8 weight initializer with per-channel DequantizeLinear (axis
// 0) and an INT32 bias (scale inputScale * weightScale[c]) with DequantizeLinear.
// Invariant: the model passes onnx::checker before anything is written, and the file is
// written atomically (a temp file renamed over `path`), so it is complete or absent.
#pragma once
#include <string>

#include "core/quant_spec.h"
#include "exporter/export_model.h"

namespace hwnas {

struct OnnxExportOptions {
  int opset = 13;                    // 13..17; from 14 hswish is a HardSwish node, before: x * HardSigmoid(x)
  bool dynamicBatch = true;          // dim 0 of input and output is dim_param "batch"
  const QuantSpec* quant = nullptr;  // int8 QDQ for the layers it lists (nullptr: fp32)
  std::string producerVersion;       // written as producer_version (producer_name is "hwnas")
};

// The model as ONNX bytes (checked by onnx::checker). InputError naming the node for what ONNX
// or the options cannot express (a missing weight, a QuantSpec that does not fit a layer).
std::string exportOnnxBytes(const ExportModel& model, const OnnxExportOptions& options = OnnxExportOptions());

// exportOnnxBytes written atomically to `path` (IoError if it cannot be written).
void exportOnnx(const ExportModel& model, const std::string& path, const OnnxExportOptions& options = OnnxExportOptions());

}  // namespace hwnas
