// CpuPackageBackend (--target cpu): a standalone folder that builds with only a C++17 compiler and
// CMake >= 3.16: a copy of the runtime sources (C++17 standard library only, kernels chosen by CPU
// features at run time, never -march=native), the lowered plan as model.plan (weights included,
// checksummed), generated model.h/model.cpp (class Model: run(in, out, batch) through the runtime's
// executor and memory planner), an example main.cpp, CMakeLists.txt and README.md.
#pragma once
#include "exporter/backend.h"

namespace hwnas {

class CpuPackageBackend : public Backend {
 public:
  const char* name() const override { return "cpu"; }
  BackendResult write(const ExportModel& model, const std::string& outDir,
                      const BackendOptions& options = BackendOptions()) const override;
};

}  // namespace hwnas
