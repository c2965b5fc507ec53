// nas-export: compress and compile a trained model (a nas-train folder or an .onnx file) with a
// recipe of passes, write the artifacts for a target and a report of every step.
#include <tbb/global_control.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>

#include "core/error.h"
#include "core/fs_util.h"
#include "core/json_util.h"
#include "core/log.h"
#include "exporter/backend.h"
#include "exporter/export_pipeline.h"
#include "exporter/model_io.h"
#include "exporter/onnx_export.h"
#include "exporter/recipe.h"
#include "tools/tool_main.h"

namespace po = boost::program_options;
namespace fs = std::filesystem;
using namespace hwnas;

namespace {

const char* kExamples = R"(Examples:
  nas-export --model runs/refnet --target onnx --out exp/refnet-fp32
  nas-export --model runs/refnet --recipe configs/export/int8_ptq.yaml --target cpu --out exp/refnet-int8
  nas-export --model runs/refnet --recipe configs/export/prune50.yaml --target onnx --out exp/refnet-prune50
  nas-export --model model.onnx --recipe configs/export/lowrank2x.yaml --target fpga --out exp/lowrank

Targets: onnx (model.onnx only), cpu (+ cpu/: C++ package on hwnas_runtime), cuda (+ cuda/: .cu
source), fpga (+ fpga/: HLS C++ and the analytic resource/latency report). Every run writes
OUT/model.onnx (int8 QDQ after a quantize pass), OUT/report.json and OUT/report.md; with a
quantize pass also OUT/quant_spec.json. No --recipe: BN folding (fusion happens in every lowering).
Exit codes: 0 ok, 1 runtime failure, 2 bad input (nothing is written then).
)";

int run(int argc, char** argv) {
  Logger::instance().setProgramName("nas-export");
  std::string modelPath, recipePath, target, outDir;
  uint64_t seed = 0;
  int threads = 0;
  bool quiet = false, force = false, noAccuracy = false, noLatency = false;
  po::options_description desc("nas-export: compress (fold BN, prune, decompose, quantize, fine-tune) and compile a trained model\n\nOptions");
  // clang-format off
  desc.add_options()
    ("help,h", "show this help")
    ("model", po::value(&modelPath), "a model folder nas-train wrote (model.yaml + model.safetensors) or an .onnx file")
    ("recipe", po::value(&recipePath), "recipe YAML (configs/export/*.yaml); default: fold_bn only")
    ("target", po::value(&target), "onnx | cpu | cuda | fpga")
    ("out", po::value(&outDir), "output folder (written whole at the end: complete or absent)")
    ("seed", po::value(&seed)->default_value(0), "random seed (fine-tuning data order, QAT)")
    ("threads", po::value(&threads)->default_value(0), "worker threads (0: all cores)")
    ("no-accuracy", po::bool_switch(&noAccuracy), "skip the accuracy columns (no dataset needed unless a pass trains)")
    ("no-latency", po::bool_switch(&noLatency), "skip measuring latency on this CPU")
    ("force", po::bool_switch(&force), "replace an existing output folder")
    ("quiet,q", po::bool_switch(&quiet), "no progress on stderr");
  // clang-format on
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw InputError(std::string(e.what()) + " (see nas-export --help)");
  }
  if (vm.count("help")) {
    std::cout << desc << "\n" << kExamples;
    return 0;
  }
  if (modelPath.empty()) throw InputError("--model is required (a nas-train output folder or an .onnx file)");
  if (outDir.empty()) throw InputError("--out is required (e.g. --out exp/refnet)");
  if (target.empty()) throw InputError("--target is required: onnx, cpu, cuda or fpga");
  if (target != "onnx" && target != "cpu" && target != "cuda" && target != "fpga")
    throw InputError("--target '" + target + "' is unknown; use onnx, cpu, cuda or fpga");
  if (threads < 0) throw InputError("--threads must be >= 0");
  if (threads == 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
  // Progress lines on stderr when it is a terminal (HWNAS_PROGRESS=1 forces them, e.g. into a log).
  const char* forced = std::getenv("HWNAS_PROGRESS");
  const bool progress = !quiet && (isatty(2) || (forced && std::string(forced) == "1"));
  // Everything the user gave is checked before any work.
  const ExportRecipe recipe = recipePath.empty() ? defaultExportRecipe() : loadExportRecipe(recipePath);
  std::error_code ec;
  if (fs::exists(outDir, ec) && !force)
    throw InputError("--out " + outDir + " already exists; pass --force to replace it");
  const ExportModel model = loadExportModel(modelPath);
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, size_t(threads));

  ExportPipelineOptions po;
  po.seed = seed;
  po.threads = threads;
  po.measureAccuracy = !noAccuracy;
  po.measureLatency = !noLatency;
  if (progress) po.progress = [](const std::string& s) { std::cerr << "nas-export: " << s << std::endl; };
  ExportPipelineResult r = runExportPipeline(model, recipe, po);

  // Stage in a sibling folder; it becomes OUT by one rename at the end (removed on any error).
  std::error_code mk;
  const fs::path out = fs::absolute(outDir);
  fs::create_directories(out.parent_path(), mk);
  TempDir stage = TempDir::stagingFor(out.string());
  const fs::path tmp = stage.path();
  ExportReport& rep = r.report;
  rep.target = target;
  const QuantSpec* q = r.quant ? &*r.quant : nullptr;
  OnnxExportOptions oo;
  oo.quant = q;
  exportOnnx(r.model, (tmp / "model.onnx").string(), oo);
  rep.artifacts.push_back("model.onnx");
  if (q) {
    writeFileAtomic((tmp / "quant_spec.json").string(), q->toJson().dump(2) + "\n");
    rep.artifacts.push_back("quant_spec.json");
  }
  if (target != "onnx") {
    if (progress) std::cerr << "nas-export: writing the " << target << " backend" << std::endl;
    BackendOptions bo;
    bo.quant = q;
    BackendResult br = makeBackend(target)->write(r.model, (tmp / target).string(), bo);
    for (const auto& f : br.files) rep.artifacts.push_back(target + "/" + f);
    if (!rep.steps.empty()) {
      for (const auto& n : br.notes) rep.steps.back().metrics.notes.push_back(target + ": " + n);
    }
  }
  rep.artifacts.push_back("report.json");
  rep.artifacts.push_back("report.md");
  writeFileAtomic((tmp / "report.json").string(), rep.toJson().dump(2) + "\n");
  writeFileAtomic((tmp / "report.md").string(), rep.toMarkdown());
  stage.commit(out.string(), force);
  if (progress) std::cerr << "nas-export: wrote " << outDir << " (report.md)" << std::endl;
  std::cout << r.report.toMarkdown();
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return hwnas::toolMain("nas-export", run, argc, argv); }
