// Post-training int8 quantization: calibrate() runs the BN-folded fp32 plan over calibration
// batches, observes each quantized layer's input and (fused) output activation, and returns
// the QuantSpec that lowerQuantized (core/lower.h) turns into an int8 plan. Invariant: a
// tensor read or written by several layers gets one set of parameters, so consecutive int8
// layers chain without requantizing; weight scales are max|w| / 127 of the folded weight.
// Also a per-layer sensitivity helper for mixed precision. Deterministic for given inputs.
#pragma once
#include <string>
#include <vector>

#include "core/quant_spec.h"
#include "exporter/export_model.h"

namespace hwnas {

enum class CalibrationMethod { MinMax, Percentile, Entropy };
const char* calibrationMethodName(CalibrationMethod m);           // "minmax", "percentile", "entropy"
CalibrationMethod parseCalibrationMethod(const std::string& name);  // InputError listing the names

struct CalibrationOptions {
  CalibrationMethod method = CalibrationMethod::MinMax;
  double percentile = 99.99;      // percentile: keep this share (%) of values inside the range, per side
  int bins = 2048;                // histogram bins (percentile, entropy)
  std::vector<std::string> layers;  // conv / linear node names to quantize; empty: all of them
  int threads = 1;                // for the fp32 runs
};

// batches: float NCHW tensors, each holding a whole number of images of the model's input
// (normalized as at training). InputError on no batches, a wrong size or a bad option.
QuantSpec calibrate(const ExportModel& model, const std::vector<std::vector<float>>& batches,
                    const CalibrationOptions& options = CalibrationOptions());

// Activation parameters covering [lo, hi] (widened to include 0): scale (hi - lo) / 255 and
// the zero point mapping lo to -128.
void activationParams(double lo, double hi, float& scale, int32_t& zeroPoint);

// TensorRT-style entropy calibration of one histogram over [0, max]: the threshold (a bin
// edge, in the histogram's units) minimizing KL(P || Q), P the histogram clipped there (the
// outliers folded into its last bin), Q that merged into `levels` levels. calibrate() runs it
// on each tensor's histogram over [min, max] from both ends (256 levels), so each end of the
// range is clipped on its own; the network's outputs keep their min-max range.
double entropyThreshold(const std::vector<double>& histogram, double max, int levels);

// ---- mixed precision
struct LayerSensitivity {
  std::string layer;     // conv / linear node name
  double relativeError;  // ||y_int8-only-this-layer - y_fp32|| / ||y_fp32|| over the batches
};
// Quantizes one layer of `spec` at a time (the others fp32); worst first.
std::vector<LayerSensitivity> layerSensitivity(const ExportModel& model, const QuantSpec& spec,
                                               const std::vector<std::vector<float>>& batches, int threads = 1);
// spec with the `keepFp32` most sensitive layers marked int8 = false.
QuantSpec keepSensitiveLayersFp32(QuantSpec spec, const std::vector<LayerSensitivity>& sensitivity, int keepFp32);

}  // namespace hwnas
