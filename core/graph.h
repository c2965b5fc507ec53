// Graph: the small DAG IR every layer shares (a model as ops with shapes) and its costs: MACs
// (FLOPs = 2 x MACs), params, activation bytes per op and peak live activation bytes.
// Invariants: nodes are appended in topological order (inputs of node i have ids < i), every
// node's shape is inferred when it is added (ShapeError naming the op if inputs do not fit),
// node names are unique. Costs are for the graph's own batch size N (build with N = 1 for
// per-image figures). Weights are not part of the Graph; node names are their keys.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "core/shape.h"

namespace hwnas {

// Every op kind the IR knows. Keep OpKind::Count last: the registry test walks 0..Count.
enum class OpKind : int {
  Input,
  Conv2d,         // incl. grouped and depthwise (groups == in channels)
  Linear,         // [N, in] -> [N, out]
  BatchNorm,      // per channel (dim 1), 2-D or 4-D
  Act,            // attrs.act
  Add,            // same shapes
  Mul,            // same shapes, or [N,C,H,W] * [N,C,1,1] (channel broadcast, as in SE)
  AvgPool,
  MaxPool,
  GlobalAvgPool,  // [N,C,H,W] -> [N,C,1,1]
  SqueezeExcite,  // composite: gap, 1x1 conv C->r (+bias), act, 1x1 conv r->C (+bias), gate, mul
  Concat,         // along channels (dim 1)
  Flatten,        // [N, C, H, W] -> [N, C*H*W]
  Quant,          // f32 -> int8 (attrs.scale, attrs.zeroPoint)
  Dequant,        // int8 -> f32
  Count
};
constexpr int kOpKindCount = int(OpKind::Count);

enum class ActKind : int { Identity, Relu, Relu6, HSwish, HSigmoid, Silu, Sigmoid, Count };
const char* actKindName(ActKind act);  // "relu6", "hswish", ...
ActKind parseActKind(const std::string& name);  // InputError listing the names

enum class DType : int { F32, I8 };
const char* dtypeName(DType t);  // "f32", "i8"
int dtypeSize(DType t);


struct TensorType {
  Shape shape;
  DType dtype = DType::F32;
};

// Attributes of all op kinds in one typed struct; each op uses the fields its OpInfo lists.
struct OpAttrs {
  Shape shape;               // input: the tensor's shape (NCHW or NC), batch included
  int64_t outChannels = 0;   // conv2d: output channels; linear: output features; se: reduced channels
  int kernelH = 1, kernelW = 1;
  int strideH = 1, strideW = 1;
  int padH = 0, padW = 0;
  int dilationH = 1, dilationW = 1;
  int64_t groups = 1;        // conv2d
  bool bias = false;         // conv2d, linear
  ActKind act = ActKind::Identity;  // act: the function; se: the inner activation
  ActKind gate = ActKind::HSigmoid;  // se: the gate
  double eps = 1e-5;         // batchnorm (kept for BN folding when lowering)
  double scale = 1.0;        // quant/dequant
  int64_t zeroPoint = 0;     // quant/dequant
};

struct Node {
  int id = -1;
  std::string name;
  OpKind kind = OpKind::Input;
  std::vector<int> inputs;  // node ids, each < id
  OpAttrs attrs;
  Shape shape;              // output shape
  DType dtype = DType::F32;  // output element type
};

// Cost of one op for the graph's batch size.
struct OpCost {
  int64_t macs = 0;            // multiply-accumulates (conv, linear, the SE's two 1x1 convs)
  int64_t params = 0;          // trainable parameters (BN: gamma + beta)
  int64_t buffers = 0;         // non-trainable state (BN running mean + var)
  int64_t elementwiseOps = 0;  // BN/act/add/mul/pool/quant element operations (not MACs)
  int64_t outputBytes = 0;     // bytes of the op's output tensor
};

struct GraphCost {
  int64_t macs = 0;
  int64_t params = 0;
  int64_t buffers = 0;
  int64_t elementwiseOps = 0;
  int64_t activationBytes = 0;      // sum of every op's output bytes (inputs included)
  int64_t peakActivationBytes = 0;  // max over the topological order of live tensor bytes
  int64_t flops() const { return 2 * macs; }
};

// One entry of the op registry: the single place that says how an op kind is named,
// how many inputs it takes, which attributes it carries and how its shape and cost follow.
struct OpInfo {
  OpKind kind = OpKind::Count;
  std::string name;  // "conv2d", used in JSON
  int minInputs = 0;
  int maxInputs = 0;  // -1: any number
  std::vector<std::string> attrNames;  // the JSON attribute names this op reads and writes
  // Output type from input types; throws ShapeError "<op> '<node>': ..." on misfit.
  std::function<TensorType(const std::vector<TensorType>& in, const OpAttrs& a, const std::string& node)> inferType;
  std::function<OpCost(const std::vector<TensorType>& in, const TensorType& out, const OpAttrs& a)> cost;
};

class OpRegistry {
 public:
  static const OpRegistry& instance();
  const OpInfo* find(OpKind kind) const;          // nullptr if not registered
  const OpInfo* find(const std::string& name) const;
  const OpInfo& get(OpKind kind) const;           // Error if not registered
  const std::vector<OpInfo>& all() const { return ops_; }

 private:
  OpRegistry();
  std::vector<OpInfo> ops_;
};

const char* opKindName(OpKind kind);

class Graph {
 public:
  // Builders: each returns the new node's id. An empty name becomes "<op>_<id>".
  int addInput(const std::string& name, const Shape& shape);
  // padding < 0: "same" padding for odd kernels, dilation * (kernel - 1) / 2.
  int addConv2d(const std::string& name, int input, int64_t outChannels, int kernel, int stride = 1, int padding = -1,
                int64_t groups = 1, bool bias = false, int dilation = 1);
  // groups = in channels = out channels.
  int addDepthwiseConv2d(const std::string& name, int input, int kernel, int stride = 1, int padding = -1,
                         bool bias = false);
  int addLinear(const std::string& name, int input, int64_t outFeatures, bool bias = true);
  int addBatchNorm(const std::string& name, int input, double eps = 1e-5);
  int addAct(const std::string& name, int input, ActKind act);
  int addAdd(const std::string& name, int a, int b);
  int addMul(const std::string& name, int a, int b);
  // stride < 0: stride = kernel.
  int addAvgPool(const std::string& name, int input, int kernel, int stride = -1, int padding = 0);
  int addMaxPool(const std::string& name, int input, int kernel, int stride = -1, int padding = 0);
  int addGlobalAvgPool(const std::string& name, int input);
  int addSqueezeExcite(const std::string& name, int input, int64_t reducedChannels, ActKind inner = ActKind::Relu,
                       ActKind gate = ActKind::HSigmoid);
  int addConcat(const std::string& name, const std::vector<int>& inputs);
  int addFlatten(const std::string& name, int input);
  int addQuant(const std::string& name, int input, double scale, int64_t zeroPoint = 0);
  int addDequant(const std::string& name, int input, double scale, int64_t zeroPoint = 0);
  // The general form: checks inputs and infers the output type through the registry.
  int addNode(const std::string& name, OpKind kind, const std::vector<int>& inputs, const OpAttrs& attrs);

  size_t size() const { return nodes_.size(); }
  bool empty() const { return nodes_.empty(); }
  const Node& node(int id) const;
  const std::vector<Node>& nodes() const { return nodes_; }
  int findNode(const std::string& name) const;  // -1 if none
  std::vector<int> consumers(int id) const;     // in id order
  std::vector<int> inputIds() const;            // Input nodes
  std::vector<int> outputIds() const;           // nodes nobody consumes

  OpCost opCost(int id) const;
  GraphCost cost() const;
  int64_t peakActivationBytes() const;

  // {"format":"hwnas-graph","version":1,"nodes":[{"name","op","inputs":[names],"attrs":{..},
  // "shape":[..],"dtype"}]}. fromJson re-infers shapes and checks any stored ones; errors are
  // ConfigErrors with the key path ("nodes[3].attrs.kernel").
  Json toJson() const;
  static Graph fromJson(const Json& j, const std::string& file = "<graph>");

 private:
  int checkedInput(int id, const std::string& forNode) const;
  std::vector<Node> nodes_;
};

}  // namespace hwnas
