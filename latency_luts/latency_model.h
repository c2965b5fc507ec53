// LatencyModel: predicts a network's latency (ms) and energy (mJ) on one device. The LUT model
// sums fused-op entries of a LatencyStore (keys from core/lower, so they are what runs) plus the
// device's calibrated per-run overhead; analytic FPGA and GPU-roofline models share the interface.
// Invariants: a key missing from the table is an InputError naming device and key unless the
// fallback (per-op-type least squares on MACs and bytes, fitted on the table's own entries) is
// allowed, and then every prediction that used it says so (fallbackUsed, per-op flags).
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/graph.h"
#include "core/json_util.h"
#include "latency_luts/latency_store.h"
#include "runtime/plan.h"
#include "search_spaces/search_space.h"

namespace hwnas {

struct OpLatency {
  std::string key;
  double ms = 0;
  double energyMj = 0;
  bool fallback = false;
  std::string note;  // analytic models: cycles, bound, resources
};

struct LatencyPrediction {
  std::string device;
  std::string method;       // "lut", "arch-table", "fpga-analytic", "gpu-roofline"
  double latencyMs = 0;     // sum of ops + overheadMs
  double overheadMs = 0;
  std::optional<double> energyMj;
  std::string energySource;  // "imported", "analytic"
  bool fallbackUsed = false;
  int fallbackOps = 0;
  std::vector<OpLatency> ops;
  Json toJson(bool withOps = true) const;
};

// Energy per inference from per-operation energies (pJ). Defaults: Horowitz, "Computing's
// energy problem", ISSCC 2014, 45 nm: fp32 multiply 3.7 pJ + add 0.9 pJ per MAC; 32-bit read
// from an 8 KB SRAM 5 pJ (1.25 pJ/byte); 32-bit DRAM access 640 pJ (160 pJ/byte). Assumed data
// movement (docs/latency.md): every MAC reads one 32-bit operand from SRAM (the other is held in
// a register by the kernels' blocking); every activation byte is read or written once in SRAM;
// weights come from DRAM once per inference; activation tensors larger than the on-chip buffer
// go to DRAM and back.
struct EnergyParams {
  double macPj = 3.7 + 0.9;
  double sramPjPerByte = 5.0 / 4;
  double dramPjPerByte = 640.0 / 4;
  double onChipBytes = 1 << 20;
};
struct OpEnergy {
  double mj = 0;
  double macMj = 0, sramMj = 0, dramMj = 0;
};
OpEnergy opEnergy(const runtime::Plan& plan, size_t op, const EnergyParams& p);

class LatencyModel {
 public:
  virtual ~LatencyModel() = default;
  virtual const std::string& device() const = 0;
  // g at its own batch (1 for search-space graphs).
  virtual LatencyPrediction predict(const Graph& g) const = 0;
  // The default lowers space.toGraph(arch); the LUT model first looks for an arch-level row.
  virtual LatencyPrediction predictArch(const SearchSpace& space, const ArchConfig& arch) const;
};

struct LutModelOptions {
  std::string dtype = "f32";
  int threads = 1;
  int batch = 1;
  bool allowFallback = false;
  bool useOverhead = true;  // add the calibrated per-run overhead
  EnergyParams energy;
};

class LutLatencyModel : public LatencyModel {
 public:
  // Loads the device's rows for (dtype, threads, batch) into memory. InputError for an unknown
  // device (listing the table's devices).
  LutLatencyModel(LatencyStore& store, const std::string& device, const LutModelOptions& options = LutModelOptions());
  const std::string& device() const override { return device_; }
  LatencyPrediction predict(const Graph& g) const override;
  LatencyPrediction predictArch(const SearchSpace& space, const ArchConfig& arch) const override;

  // The fallback estimate of one plan op (per-op-type fit, else the all-ops fit); Error if the
  // table has fewer than 2 op entries with MACs and bytes.
  double fallbackMs(const runtime::Plan& plan, size_t op) const;
  double overheadMs() const { return overheadMs_; }
  size_t opEntries() const { return ops_.size(); }

 private:
  struct Fit {
    double a = 0, b = 0, c = 0;  // ms = a + b * MACs + c * bytes
    int n = 0;
  };
  void fitFallback();
  std::string device_, path_;
  LutModelOptions options_;
  std::map<std::string, double> ops_;
  std::map<std::string, Measurement> arch_;
  std::map<std::string, Fit> fits_;  // by op type ("conv2d"); "" = all ops
  double overheadMs_ = 0;
};

// An FPGA accelerator with one PE array (rows = output channels, cols = input channels x kernel
// taps in parallel) at a clock, DSP/BRAM/LUT budgets and off-chip bandwidth; each layer runs on
// the array in turn: cycles = max(compute tiles, bytes / bandwidth) + a per-layer setup.
// Defaults: a Xilinx ZC706 (XC7Z045: 900 DSP48, 545 BRAM36, 218,600 LUTs) at 200 MHz with an
// 8x8 fp16 array (1 DSP per PE), 2 GB/s of DDR3 bandwidth attained and 200 setup cycles per
// layer. The array size, bandwidth and setup were picked by a sweep of about ten settings against
// HW-NAS-Bench's FPGA column on every 5th NB201 architecture (docs/latency.md), so that
// correlation is fitted, not held out.
struct FpgaParams {
  int peRows = 8, peCols = 8;
  double clockMhz = 200;
  int dspBudget = 900, bram36Budget = 545, lutBudget = 218600;
  int dspPerPe = 1;
  int lutPerPe = 250;
  int bytesPerValue = 2;
  double bandwidthGBs = 2.0;
  int layerSetupCycles = 200;
};
class FpgaLatencyModel : public LatencyModel {
 public:
  // ConfigError-style InputError if the PE array needs more DSPs or LUTs than the budget.
  explicit FpgaLatencyModel(std::string device, const FpgaParams& p = FpgaParams(), const EnergyParams& e = EnergyParams());
  const std::string& device() const override { return device_; }
  LatencyPrediction predict(const Graph& g) const override;
  const FpgaParams& params() const { return p_; }

 private:
  std::string device_;
  FpgaParams p_;
  EnergyParams e_;
};

// A GPU roofline: per fused op max(FLOPs / peak, bytes / bandwidth) + a launch overhead.
// Defaults: an NVIDIA GTX 1080 Ti (11.3 TFLOP/s fp32, 484 GB/s) with 10 us per launch and
// 30% of peak reached by small batch-1 kernels.
struct GpuParams {
  double peakTflops = 11.3;
  double efficiency = 0.3;
  double bandwidthGBs = 484;
  double launchUs = 10;
};
class GpuRooflineModel : public LatencyModel {
 public:
  explicit GpuRooflineModel(std::string device, const GpuParams& p = GpuParams(), const EnergyParams& e = EnergyParams());
  const std::string& device() const override { return device_; }
  LatencyPrediction predict(const Graph& g) const override;

 private:
  std::string device_;
  GpuParams p_;
  EnergyParams e_;
};

// "analytic:fpga" / "analytic:gpu" (defaults) make an analytic model; anything else is a device
// of `store` (LUT model). store may be null for analytic names.
std::unique_ptr<LatencyModel> makeLatencyModel(LatencyStore* store, const std::string& device,
                                               const LutModelOptions& options = LutModelOptions());

}  // namespace hwnas
