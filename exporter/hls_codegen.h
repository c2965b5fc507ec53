// HlsBackend (--target fpga): HLS C++ for the lowered plan, one function per fused op (pipelined
// loops with #pragma HLS PIPELINE II=1, ARRAY_PARTITION on the weight arrays, #pragma HLS DATAFLOW
// in the top function), fixed-point types from the shipped hls_fixed.h (fixed<W, I>: rounding and
// saturation, like ap_fixed), weights as fixed-point constant arrays, a self-checking testbench for
// C simulation with g++ (pragmas are ignored there) and report.json/md with per-layer cycles, DSP,
// BRAM and LUT estimates and the total latency from latency_luts' analytic FPGA model.
// Invariant: hlsReference() does the same integer arithmetic as the generated code, so the C
// simulation's outputs equal it bit for bit.
#pragma once
#include <cstdint>
#include <vector>

#include "exporter/backend.h"

namespace hwnas {

class HlsBackend : public Backend {
 public:
  const char* name() const override { return "fpga"; }
  BackendResult write(const ExportModel& model, const std::string& outDir,
                      const BackendOptions& options = BackendOptions()) const override;
};

// The fixed-point reference: the model's outputs for `input` (batch x per-image floats) as raw
// fixed values (activation format, `frac` fractional bits) and as floats.
struct HlsReference {
  std::vector<int64_t> raw;
  std::vector<float> values;
  int frac = 0;
};
HlsReference hlsReference(const ExportModel& model, const std::vector<float>& input, int64_t batch,
                          const BackendOptions& options = BackendOptions());

}  // namespace hwnas
