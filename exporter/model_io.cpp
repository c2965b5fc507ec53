#include "exporter/model_io.h"

#include <filesystem>

#include "core/error.h"
#include "exporter/onnx_import.h"
#include "trainer/model_def.h"
#include "trainer/safetensors.h"
#include "trainer/training.h"
#include "trainer/weight_map.h"

namespace fs = std::filesystem;

namespace hwnas {

bool isModelDirectory(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec) && fs::exists(fs::path(path) / "model.yaml", ec);
}

ExportModel loadExportModel(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const std::string yaml = (fs::path(path) / "model.yaml").string();
    const std::string weights = (fs::path(path) / "model.safetensors").string();
    if (!fs::exists(yaml, ec))
      throw InputError("--model " + path + ": no model.yaml in this folder; pass a folder nas-train wrote "
                       "(model.yaml + model.safetensors) or an .onnx file");
    if (!fs::exists(weights, ec))
      throw InputError("--model " + path + ": no model.safetensors next to model.yaml; train it first "
                       "(nas-train --model " + yaml + " --out " + path + ")");
    const ModelDef def = loadModelDef(yaml);
    auto model = buildModel(def, 0);
    loadStateDict(*model, loadSafetensors(weights).tensors, weights);
    model->eval();
    ExportModel m;
    m.name = def.name;
    m.graph = model->toGraph(1);
    m.weights = weightMapOf(*model);
    return m;
  }
  if (fs::is_regular_file(path, ec)) {
    if (fs::path(path).extension() == ".onnx") {
      ExportModel m = importOnnx(path);
      if (m.name.empty() || m.name == "model") m.name = fs::path(path).stem().string();
      return m;
    }
    throw InputError("--model " + path + ": not a model folder or an .onnx file; pass a folder nas-train wrote "
                     "(model.yaml + model.safetensors) or a file ending in .onnx");
  }
  throw InputError("--model " + path + ": no such file or folder");
}

}  // namespace hwnas
