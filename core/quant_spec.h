// QuantSpec: how a Graph is quantized to int8, the one description shared by calibration
// (exporter), the int8 lowering (core -> runtime), ONNX QDQ export and the CUDA/HLS backends.
// Invariant: keys are Graph node names of conv2d / linear nodes; a node absent from `layers`
// (or with int8 = false) stays fp32 (mixed precision). Weights are symmetric per output
// channel (zero point 0, int8 range [-127, 127]); activations are per tensor, asymmetric
// uint8-style range mapped to int8 [-128, 127] with a zero point; biases are int32 with scale
// inputScale * weightScales[c].
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/json_util.h"

namespace hwnas {

struct LayerQuant {
  bool int8 = true;
  std::vector<float> weightScales;  // one per output channel
  float inputScale = 1.f;           // the layer's input activation
  int32_t inputZeroPoint = 0;
  float outputScale = 1.f;          // the layer's (fused) output activation
  int32_t outputZeroPoint = 0;
};

struct QuantSpec {
  std::string calibration;  // "minmax" | "percentile" | "entropy" | "qat"
  std::map<std::string, LayerQuant> layers;

  const LayerQuant* find(const std::string& node) const {
    auto it = layers.find(node);
    return it == layers.end() || !it->second.int8 ? nullptr : &it->second;
  }
  Json toJson() const;
  static QuantSpec fromJson(const Json& j, const std::string& where = "<quant spec>");
};

}  // namespace hwnas
