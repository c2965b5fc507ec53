#include "exporter/onnx_conformance.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include <onnx/onnx_pb.h>

#include "core/error.h"
#include "core/fs_util.h"
#include "core/lower.h"
#include "exporter/onnx_import.h"
#include "runtime/executor.h"

namespace hwnas {

namespace fs = std::filesystem;

namespace {

// Input ports (index >= 1) that carry parameters in a deployed model.
bool parameterPort(const std::string& op, int i) {
  if (op == "Conv" || op == "Gemm" || op == "Clip" || op == "QuantizeLinear" || op == "DequantizeLinear") return i >= 1;
  if (op == "BatchNormalization") return i >= 1 && i <= 4;
  if (op == "MatMul" || op == "Reshape") return i == 1;
  return false;
}

std::vector<std::string> sortedDirs(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && e.path().filename().string().rfind(prefix, 0) == 0) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

onnx::ModelProto loadModel(const std::string& path) {
  onnx::ModelProto m;
  if (!m.ParseFromString(readFile(path))) throw InputError(path + ": not a readable ONNX model");
  return m;
}

}  // namespace

const char* statusName(OnnxNodeTestResult::Status s) {
  switch (s) {
    case OnnxNodeTestResult::Status::Pass: return "pass";
    case OnnxNodeTestResult::Status::Unsupported: return "unsupported";
    case OnnxNodeTestResult::Status::Wrong: break;
  }
  return "wrong";
}

std::vector<std::string> onnxNodeTestsForImportedOps(const std::string& nodeDir) {
  const auto& ops = onnxImportedOps();
  const std::set<std::string> known(ops.begin(), ops.end());
  std::vector<std::string> out;
  for (const auto& dir : sortedDirs(nodeDir, "test_")) {
    if (!fileExists(dir + "/model.onnx")) continue;
    onnx::ModelProto m;
    try {
      m = loadModel(dir + "/model.onnx");
    } catch (const Error&) {
      continue;
    }
    bool all = m.graph().node_size() > 0;
    for (const auto& n : m.graph().node()) all = all && (n.domain().empty() || n.domain() == "ai.onnx") && known.count(n.op_type());
    if (all) out.push_back(dir);
  }
  return out;
}

OnnxNodeTestResult runOnnxNodeTest(const std::string& dir, const OnnxConformanceOptions& options) {
  OnnxNodeTestResult r;
  r.name = fs::path(dir).filename().string();
  try {
    const std::string modelPath = dir + "/model.onnx";
    const std::string bytes = readFile(modelPath);
    onnx::ModelProto m;
    if (!m.ParseFromString(bytes)) throw InputError(modelPath + ": not a readable ONNX model");
    std::set<std::string> inits, params;
    for (const auto& t : m.graph().initializer()) inits.insert(t.name());
    for (const auto& n : m.graph().node())
      for (int i = 0; i < n.input_size(); ++i)
        if (parameterPort(n.op_type(), i)) params.insert(n.input(i));
    std::vector<std::string> feeds;  // graph inputs in test-data order
    for (const auto& in : m.graph().input())
      if (!inits.count(in.name())) feeds.push_back(in.name());
    const auto sets = sortedDirs(dir, "test_data_set_");
    if (sets.empty()) throw Error(dir + ": no test_data_set_* folders");
    for (const auto& set : sets) {
      OnnxImportOptions io;
      std::map<std::string, OnnxTensor> runtimeInputs;
      for (size_t i = 0; i < feeds.size(); ++i) {
        OnnxTensor t = readOnnxTensorFile(set + "/input_" + std::to_string(i) + ".pb");
        if (params.count(feeds[i])) io.constantInputs[feeds[i]] = std::move(t);
        else runtimeInputs[feeds[i]] = std::move(t);
      }
      OnnxImport imp = importOnnxBytes(bytes, modelPath, io);
      const Graph& g = imp.model.graph;
      runtime::Plan plan = lower(g, imp.model.weights);
      runtime::ExecutorOptions eo;
      eo.threads = options.threads;
      runtime::Executor ex(std::move(plan), eo);
      // Plan inputs/outputs follow the Graph's inputIds()/outputIds() order.
      std::vector<std::vector<float>> ins;
      for (const auto& name : imp.inputNames) {
        const OnnxTensor& t = runtimeInputs.at(name);
        const int id = g.inputIds()[ins.size()];
        if (t.shape != g.node(id).shape)
          throw InputError(set + ": input '" + name + "' has shape " + shapeToString(t.shape) + ", the model declares " +
                           shapeToString(g.node(id).shape));
        ins.emplace_back(t.values.begin(), t.values.end());
      }
      const auto outIds = g.outputIds();
      std::vector<std::vector<float>> outs(outIds.size());
      for (size_t i = 0; i < outIds.size(); ++i) outs[i].resize(size_t(numel(g.node(outIds[i]).shape)));
      std::vector<const float*> inPtr;
      std::vector<float*> outPtr;
      for (auto& v : ins) inPtr.push_back(v.data());
      for (auto& v : outs) outPtr.push_back(v.data());
      ex.run(inPtr, outPtr);
      for (size_t k = 0; k < imp.outputNames.size(); ++k) {
        const OnnxTensor want = readOnnxTensorFile(set + "/output_" + std::to_string(k) + ".pb");
        const int node = imp.outputNodes[k];
        const size_t slot = size_t(std::find(outIds.begin(), outIds.end(), node) - outIds.begin());
        const Shape& got = g.node(node).shape;
        if (slot >= outIds.size()) {
          r.message = "output '" + imp.outputNames[k] + "' is not a plan output";
          return r;
        }
        if (got != want.shape) {
          r.message = fs::path(set).filename().string() + ": output '" + imp.outputNames[k] + "' has shape " +
                      shapeToString(got) + ", expected " + shapeToString(want.shape);
          return r;
        }
        for (size_t i = 0; i < want.values.size(); ++i) {
          const double w = want.values[i], v = outs[slot][i];
          const double err = std::fabs(v - w);
          if (!(err <= options.atol + options.rtol * std::fabs(w))) {
            r.message = fs::path(set).filename().string() + ": output '" + imp.outputNames[k] + "'[" + std::to_string(i) +
                        "] = " + std::to_string(v) + ", expected " + std::to_string(w);
            return r;
          }
          r.maxAbsError = std::max(r.maxAbsError, err);
        }
      }
    }
    r.status = OnnxNodeTestResult::Status::Pass;
  } catch (const Error& e) {
    r.status = OnnxNodeTestResult::Status::Unsupported;
    r.message = e.what();
  } catch (const std::exception& e) {
    r.status = OnnxNodeTestResult::Status::Wrong;
    r.message = std::string("crashed: ") + e.what();
  }
  return r;
}

}  // namespace hwnas
