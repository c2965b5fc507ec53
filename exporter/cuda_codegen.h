// CudaBackend (--target cuda): generated CUDA source for the lowered plan (fp32). OUT/ holds
// model.cu (one __global__ kernel per plan op with its shapes baked in: direct convolution with a
// thread per output element, depthwise, 1x1 convolution as a tiled GEMM over __shared__ tiles,
// linear, pools, add/mul, squeeze-excite, concat, activations; host code that allocates one
// device buffer per tensor for up to maxBatch images and launches the kernels in plan order),
// model.h (class CudaModel, no CUDA types), weights.bin, an example main.cpp, cuda_host_shim.h
// (so the same model.cu compiles as host C++ with -DHWNAS_CUDA_HOST_SHIM) and README.md.
// int8 (dp4a) kernels are not generated yet: int8 plans are refused (fp32 only).
//
// weights.bin: "HWNASCUW", u32 version (1), u32 0, u64 float count, the floats (op order: weight,
// bias, weight2, bias2), u64 FNV-1a 64 of every byte before it; all little-endian.
#pragma once
#include "exporter/backend.h"

namespace hwnas {

class CudaBackend : public Backend {
 public:
  const char* name() const override { return "cuda"; }
  BackendResult write(const ExportModel& model, const std::string& outDir,
                      const BackendOptions& options = BackendOptions()) const override;
};

// The generated model.cu text for `plan` (exposed for tests); weight offsets as in weights.bin.
std::string cudaModelSource(const runtime::Plan& plan, const std::string& modelName, int64_t maxBatch);
std::string cudaWeightsFile(const runtime::Plan& plan);

}  // namespace hwnas
