// Helpers shared by the backends (not part of the exporter's public API): a staged output folder
// that appears complete or not at all, the lowering every backend starts from, and C literals.
#pragma once
#include <string>
#include <vector>

#include "core/fs_util.h"
#include "exporter/backend.h"
#include "runtime/plan.h"

namespace hwnas::backend_detail {

// Files written into a staging folder beside outDir; commit() renames it to outDir.
class StagedOutput {
 public:
  StagedOutput(const std::string& outDir, bool replace);
  // name relative to the output folder ("runtime/plan.h"); parent folders are created.
  void write(const std::string& name, const std::string& data);
  void copyFrom(const std::string& sourcePath, const std::string& name);
  std::string path(const std::string& name) const { return dir_.file(name); }
  BackendResult commit(std::vector<std::string> notes);

 private:
  std::string outDir_;
  bool replace_;
  TempDir dir_;
  std::vector<std::string> files_;
};

// lower(model.graph, model.weights) (lowerQuantized with options.quant), wrapping runtime errors into hwnas::Error naming the target;
// InputError unless the plan has exactly one input and one output.
runtime::Plan lowerForBackend(const ExportModel& model, const std::string& target,
                              const BackendOptions& options = BackendOptions());

// InputError naming the first int8 op (runtime::isInt8Op) when the target generates fp32 code only.
void requireFloatPlan(const runtime::Plan& plan, const std::string& target);

// A C/C++/CUDA float literal that reads back to exactly v ("1.5f", "-0.000123f", "3.0f").
std::string floatLiteral(float v);
// A C identifier made from a node name ("blocks.0.conv" -> "blocks_0_conv").
std::string identifier(const std::string& name);
// The runtime's source files (runtime/*.h, runtime/*.cpp without a main()), sorted, as names.
std::vector<std::string> runtimeSourceFiles(const std::string& sourceDir);
// Little-endian float32 bytes of v.
std::string floatBytes(const std::vector<float>& v);

}  // namespace hwnas::backend_detail
