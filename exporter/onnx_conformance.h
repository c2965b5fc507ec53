// ONNX node-test conformance: runs the official ONNX operator tests (a folder with model.onnx and
// test_data_set_*/input_*.pb, output_*.pb) through importOnnx + lower() + the runtime executor.
// Invariant: a test is Pass (every output within tolerance), Unsupported (an hwnas::Error said
// what cannot be expressed) or Wrong (it ran and the numbers or shapes differ, or it crashed);
// a correct importer has no Wrong tests.
#pragma once
#include <string>
#include <vector>

namespace hwnas {

struct OnnxNodeTestResult {
  enum class Status { Pass, Unsupported, Wrong };
  std::string name;  // the folder name, e.g. "test_conv_with_strides_padding"
  Status status = Status::Wrong;
  std::string message;      // the error (Unsupported) or what differs (Wrong)
  double maxAbsError = 0;   // over all outputs of all data sets (Pass)
};

struct OnnxConformanceOptions {
  double atol = 1e-5;  // |got - want| <= atol + rtol * |want|
  double rtol = 1e-4;
  int threads = 1;
};

// Graph inputs that feed a weight-like port (Conv W/B, BatchNormalization's parameters, Gemm B/C,
// MatMul B, Clip min/max, Reshape shape, Q/DQ scale and zero point) are bound as constants from
// the test data, as a deployed model has them as initializers; the others stay run-time inputs.
OnnxNodeTestResult runOnnxNodeTest(const std::string& dir, const OnnxConformanceOptions& options = OnnxConformanceOptions());

// The test folders under `nodeDir` whose models use only ops that importOnnx maps, sorted.
std::vector<std::string> onnxNodeTestsForImportedOps(const std::string& nodeDir);

const char* statusName(OnnxNodeTestResult::Status s);  // "pass", "unsupported", "wrong"

}  // namespace hwnas
