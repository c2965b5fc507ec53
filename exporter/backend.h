// Backend: turns an ExportModel into files a deployment team ships (a CPU package, CUDA source,
// HLS C++). Every backend lowers the model with core's lower() (BN folded, activations fused) and
// generates from that plan, so what ships is what the latency tables measured. Invariant: write()
// stages everything in a sibling temp folder and renames it to outDir at the end, so an error
// leaves no half-written outDir behind.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/quant_spec.h"
#include "exporter/export_model.h"

namespace hwnas {

struct BackendOptions {
  bool replace = false;   // an existing outDir is replaced; otherwise it is an IoError
  int64_t maxBatch = 64;  // CUDA: device buffers are sized for this many images
  // Folder of the hwnas sources (runtime/ and exporter/ headers are copied from it into the
  // output). Empty: $HWNAS_SOURCE_DIR, else the source tree this library was built from.
  std::string sourceDir;
  // FPGA: activations are fixed<activationBits, activationIntBits> (integer bits include the
  // sign); weights fixed<weightBits, I> with I chosen from the largest weight magnitude.
  int activationBits = 16, activationIntBits = 8;
  int weightBits = 16;
  std::string fpgaDevice = "analytic:fpga";  // the analytic model the FPGA report comes from
  // int8: the plan is lowerQuantized(graph, weights, *quant). The CPU package runs it with the
  // runtime's int8 kernels; the CUDA and FPGA targets generate fp32 code only and refuse it.
  const QuantSpec* quant = nullptr;
};

struct BackendResult {
  std::vector<std::string> files;  // paths relative to outDir, sorted
  std::vector<std::string> notes;  // what a user should know (limits, fallbacks, figures)
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;  // "cpu", "cuda", "fpga"
  virtual BackendResult write(const ExportModel& model, const std::string& outDir,
                              const BackendOptions& options = BackendOptions()) const = 0;
};

// "cpu", "cuda" or "fpga"; InputError listing the targets otherwise.
std::unique_ptr<Backend> makeBackend(const std::string& target);
std::vector<std::string> backendNames();

// The hwnas source folder backends copy shipped files from (see BackendOptions::sourceDir);
// IoError naming the folder and what to set when it does not hold runtime/plan.h.
std::string backendSourceDir(const BackendOptions& options);

}  // namespace hwnas
