#include "exporter/backend.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "exporter/backend_util.h"
#include "exporter/cpu_package.h"
#include "exporter/cuda_codegen.h"
#include "exporter/hls_codegen.h"

namespace fs = std::filesystem;

namespace hwnas {

std::vector<std::string> backendNames() { return {"cpu", "cuda", "fpga"}; }

std::unique_ptr<Backend> makeBackend(const std::string& target) {
  if (target == "cpu") return std::make_unique<CpuPackageBackend>();
  if (target == "cuda") return std::make_unique<CudaBackend>();
  if (target == "fpga") return std::make_unique<HlsBackend>();
  throw InputError("unknown backend target '" + target + "'; the targets are cpu, cuda, fpga (and onnx in nas-export)");
}

std::string backendSourceDir(const BackendOptions& options) {
  std::string dir = options.sourceDir;
  std::string from = "BackendOptions::sourceDir";
  if (dir.empty()) {
    if (const char* env = std::getenv("HWNAS_SOURCE_DIR"); env && *env) {
      dir = env;
      from = "$HWNAS_SOURCE_DIR";
    } else {
      // This file is exporter/backend.cpp in the source tree the library was built from.
      dir = fs::path(__FILE__).parent_path().parent_path().string();
      from = "the build's source tree";
    }
  }
  if (!fs::exists(fs::path(dir) / "runtime" / "plan.h") || !fs::exists(fs::path(dir) / "exporter" / "backend.h"))
    throw IoError("backend: '" + dir + "' (" + from +
                  ") is not an hwnas source folder (no runtime/plan.h, exporter/backend.h); set HWNAS_SOURCE_DIR to "
                  "the hwnas checkout the backends copy the runtime and shipped headers from");
  return dir;
}

namespace backend_detail {

StagedOutput::StagedOutput(const std::string& outDir, bool replace)
    : outDir_(outDir), replace_(replace), dir_(TempDir::stagingFor(outDir)) {
  if (fs::exists(outDir) && !replace)
    throw IoError("backend: output folder '" + outDir + "' exists; remove it or pass --force (replace)");
}

void StagedOutput::write(const std::string& name, const std::string& data) {
  const fs::path p = fs::path(dir_.path()) / name;
  fs::create_directories(p.parent_path());
  writeFileAtomic(p.string(), data);
  files_.push_back(name);
}

void StagedOutput::copyFrom(const std::string& sourcePath, const std::string& name) {
  write(name, readFile(sourcePath));
}

BackendResult StagedOutput::commit(std::vector<std::string> notes) {
  dir_.commit(outDir_, replace_);
  BackendResult r;
  r.files = files_;
  std::sort(r.files.begin(), r.files.end());
  r.notes = std::move(notes);
  return r;
}

runtime::Plan lowerForBackend(const ExportModel& model, const std::string& target, const BackendOptions& options) {
  runtime::Plan plan;
  try {
    plan = options.quant ? lowerQuantized(model.graph, model.weights, *options.quant) : lower(model.graph, model.weights);
    plan.validate(target + " backend");
  } catch (const runtime::RuntimeError& e) {
    throw Error(target + " backend: model '" + model.name + "': " + e.what());
  }
  if (plan.inputs.size() != 1 || plan.outputs.size() != 1)
    throw InputError(target + " backend: model '" + model.name + "' has " + std::to_string(plan.inputs.size()) +
                     " inputs and " + std::to_string(plan.outputs.size()) +
                     " outputs; the generated code supports one of each");
  if (plan.inputs[0] == plan.outputs[0])
    throw InputError(target + " backend: model '" + model.name + "' has no ops after lowering");
  return plan;
}

void requireFloatPlan(const runtime::Plan& plan, const std::string& target) {
  for (size_t i = 0; i < plan.ops.size(); ++i)
    if (runtime::isInt8Op(plan, plan.ops[i]))
      throw InputError(target + " backend: op #" + std::to_string(i) + " '" + plan.ops[i].name +
                       "' is int8; this target generates fp32 code only (export the fp32 model, or use --target cpu "
                       "or onnx for int8)");
  for (const auto& t : plan.tensors)
    if (t.dtype != runtime::DType::F32)
      throw InputError(target + " backend: the plan has int8 tensors; this target generates fp32 code only");
}

std::string floatLiteral(float v) {
  if (!std::isfinite(v)) throw Error("backend: a non-finite constant (" + std::to_string(v) + ") cannot be emitted");
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", double(v));
  std::string s = buf;
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s + "f";
}

std::string identifier(const std::string& name) {
  std::string s;
  for (char c : name) s += (std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) s = "n_" + s;
  return s;
}

std::vector<std::string> runtimeSourceFiles(const std::string& sourceDir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(fs::path(sourceDir) / "runtime")) {
    const std::string ext = e.path().extension().string();
    if (!e.is_regular_file() || (ext != ".h" && ext != ".cpp")) continue;
    if (ext == ".cpp" && readFile(e.path().string()).find("int main(") != std::string::npos) continue;
    out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string floatBytes(const std::vector<float>& v) {
  std::string s(v.size() * 4, '\0');
  for (size_t i = 0; i < v.size(); ++i) {
    uint32_t u;
    std::memcpy(&u, &v[i], 4);
    for (int b = 0; b < 4; ++b) s[i * 4 + b] = char((u >> (8 * b)) & 0xff);
  }
  return s;
}

}  // namespace backend_detail
}  // namespace hwnas
