// importOnnx: reads an ONNX CNN (opset 11..21; older where the ops mean the same) into an
// ExportModel (Graph + WeightMap) so users can compress and compile their own models.
// Invariant: every ONNX node maps to Graph nodes with the same semantics, or the import fails
// with an InputError naming the op type, the node and the attribute; nothing is approximated.
// Constant subgraphs (QDQ around weights, Constant nodes, Identity of constants) are folded
// into float weights, keyed "<graph node>.weight" etc. as lower() reads them.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/quant_spec.h"
#include "exporter/export_model.h"

namespace hwnas {

// A tensor read from ONNX (initializer or a test's TensorProto file), values widened to double.
struct OnnxTensor {
  Shape shape;           // empty: a scalar
  int elemType = 1;      // onnx::TensorProto::DataType (1 float, 3 int8, 2 uint8, 6 int32, 7 int64, ...)
  std::vector<double> values;
};

struct OnnxImportOptions {
  int64_t batch = 1;  // the value of a symbolic (dim_param) batch dimension
  // When set, a QuantizeLinear -> DequantizeLinear pair on the activation in front of conv /
  // Gemm / MatMul layers whose weights are dequantized constants is absorbed into this spec
  // (input scale + zero point, weight scales) instead of becoming quant/dequant Graph nodes.
  QuantSpec* quant = nullptr;
  // Graph inputs to treat as constants with these values (e.g. weights a test feeds as inputs).
  std::map<std::string, OnnxTensor> constantInputs;
};

// The import with the ONNX names of the Graph's inputs and outputs.
struct OnnxImport {
  ExportModel model;
  std::vector<std::string> inputNames;   // ONNX graph inputs that became Graph inputs, in Graph input order
  std::vector<std::string> outputNames;  // ONNX graph outputs, in their order
  std::vector<int> outputNodes;          // the Graph node holding each of them
};

// `where` names the source in errors (a file name). InputError for an unsupported op or
// attribute ("<where>: unsupported ONNX op 'LSTM' (node 'lstm_1')"), InputError naming `where` for bytes that are
// not an ONNX model (truncated or garbage).
OnnxImport importOnnxBytes(const std::string& bytes, const std::string& where,
                           const OnnxImportOptions& options = OnnxImportOptions());
ExportModel importOnnx(const std::string& path, const OnnxImportOptions& options = OnnxImportOptions());

// A serialized TensorProto file (the input_0.pb / output_0.pb of ONNX's node tests).
OnnxTensor readOnnxTensorFile(const std::string& path);

// The ONNX op types importOnnx maps (the conformance run selects node tests by these).
const std::vector<std::string>& onnxImportedOps();

}  // namespace hwnas
