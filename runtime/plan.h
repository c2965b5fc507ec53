// Plan: a compiled network for the runtime, a list of fused ops over numbered tensors, with
// their weights (BN already folded, activations fused). Invariants (checked by validate()):
// ops are in execution order, every tensor is a plan input or the output of exactly one
// earlier op, every shape is batch first with the same batch, weights have the sizes the
// op's attributes imply.
//
// Int8 (version 2): a tensor has a dtype (f32 or i8); an i8 tensor holds q with real value
// scale * (q - zeroPoint). A conv / depthwise / linear op whose input is i8 runs in int8: its
// weights are qweight (int8, symmetric per output channel, scales in weightScales) and qbias
// (int32, scale inputScale * weightScales[c]); its output is i8 (requantized, act applied
// before rounding) or f32 (dequantized). Quantize / Dequantize convert at the boundaries; add
// of two i8 tensors, maxpool, global avgpool and flatten also run on i8.
//
// Binary file format (version 2), all integers and floats little-endian:
//   magic   8 bytes  "HWNASPLN"
//   u32     version (2; version 1 files, without the parts marked v2, still load)
//   u32     tensor count T; per tensor: u8 rank (1..8), rank x i64 dims (each >= 1),
//           v2: u8 dtype (0 f32, 1 i8), f32 scale, i32 zero point
//   u32     input count, i32 tensor ids;  u32 output count, i32 tensor ids
//   u32     op count; per op:
//             u8 type (OpType), u8 act, u8 gate, u8 flags (bit 0: mul broadcasts channels)
//             10 x i32: kernelH kernelW strideH strideW padH padW dilationH dilationW groups outChannels
//             u32 input count, i32 tensor ids; i32 output tensor id
//             str name; str key   (str = u32 byte length + bytes)
//             4 blobs: weight, bias, weight2, bias2 (blob = u64 float count + f32 values)
//             v2: qweight (u64 count + i8 values), qbias (u64 count + i32), weightScales (f32 blob)
//   u64     FNV-1a 64 checksum of every byte before it
// load() throws RuntimeError naming the file and what is wrong (truncation, bad magic,
// version, checksum, out-of-range ids, inconsistent shapes).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/runtime_error.h"

namespace hwnas::runtime {

// Same order as core's ActKind, so lowering converts by value.
enum class Act : uint8_t { Identity, Relu, Relu6, HSwish, HSigmoid, Silu, Sigmoid, Count };
const char* actName(Act a);

enum class OpType : uint8_t {
  Conv2d,           // [N,C,H,W] -> [N,outC,OH,OW]; weight [outC, C/groups, kH, kW], bias [outC] or empty; act
  DepthwiseConv2d,  // groups = C = outC, dilation 1; weight [C, kH, kW], bias [C] or empty; act
  Linear,           // [N, ...] read as [N, F] -> [N, outC]; weight [outC, F], bias [outC] or empty; act
  Add,              // two equal shapes; act
  Mul,              // equal shapes, or (flag) [N,C,H,W] * [N,C,1,1]
  AvgPool,          // count_include_pad, floor output size
  MaxPool,
  GlobalAvgPool,    // [N,C,H,W] -> [N,C,1,1]
  SqueezeExcite,    // gap, 1x1 C->r (+bias) act, 1x1 r->C (+bias) gate, scale; outChannels = r
  Concat,           // along dim 1
  Flatten,          // [N, ...] -> [N, rest]
  Activation,       // elementwise act
  Quantize,         // f32 -> i8 with the output tensor's scale and zero point (v2)
  Dequantize,       // i8 -> f32 with the input tensor's scale and zero point (v2)
  Count
};
const char* opTypeName(OpType t);

struct PlanOp {
  OpType type = OpType::Conv2d;
  Act act = Act::Identity;       // fused activation (SE: the inner one)
  Act gate = Act::HSigmoid;      // SE gate
  bool broadcastChannels = false;  // Mul: input 1 is [N,C,1,1]
  int32_t kernelH = 1, kernelW = 1, strideH = 1, strideW = 1, padH = 0, padW = 0;
  int32_t dilationH = 1, dilationW = 1, groups = 1, outChannels = 0;
  std::vector<int32_t> inputs;
  int32_t output = -1;
  std::string name;  // the Graph node(s) it came from
  std::string key;   // canonical op key (latency table key), set by the lowering
  std::vector<float> weight, bias, weight2, bias2;
  // int8 ops (input tensor i8): weights [as `weight`], int32 bias [outC] or empty, and the
  // per-output-channel weight scales [outC].
  std::vector<int8_t> qweight;
  std::vector<int32_t> qbias;
  std::vector<float> weightScales;
};

enum class DType : uint8_t { F32, I8, Count };
const char* dtypeName(DType t);  // "f32", "i8"
inline int64_t dtypeBytes(DType t) { return t == DType::I8 ? 1 : 4; }

struct TensorInfo {
  std::vector<int64_t> shape;  // batch first
  DType dtype = DType::F32;
  float scale = 1.f;      // i8 only: real = scale * (q - zeroPoint)
  int32_t zeroPoint = 0;  // i8 only, in [-128, 127]
};


class Plan {
 public:
  std::vector<TensorInfo> tensors;
  std::vector<int32_t> inputs, outputs;
  std::vector<PlanOp> ops;

  int64_t batch() const;  // dim 0 of the tensors (0 for an empty plan)
  // Output shape of an op from its inputs' shapes and attributes; RuntimeError if they do not fit.
  static std::vector<int64_t> inferShape(const PlanOp& op, const std::vector<std::vector<int64_t>>& inputShapes);
  // Throws RuntimeError "<where>: op #i '<name>': ..." on any broken invariant.
  void validate(const std::string& where = "plan") const;

  std::string serialize() const;
  static Plan deserialize(const std::string& bytes, const std::string& where = "<plan bytes>");
  void save(const std::string& path) const;  // RuntimeError if the file cannot be written
  static Plan load(const std::string& path);
};

// True when op runs on int8 data (its first input is an i8 tensor, or it is a Quantize).
bool isInt8Op(const Plan& plan, const PlanOp& op);

// Shape with dim 0 replaced by batch.
std::vector<int64_t> withBatch(std::vector<int64_t> shape, int64_t batch);
int64_t shapeElements(const std::vector<int64_t>& shape);
std::string shapeText(const std::vector<int64_t>& shape);  // "1x16x28x28"

}  // namespace hwnas::runtime
