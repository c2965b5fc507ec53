// Every runtime kernel (each instruction-set path this CPU has, 1 and 3 threads) against the
// naive double-accumulating reference (runtime/reference.h) on awkward shapes: odd sizes,
// stride 2, groups, 1x1, 7x7, channel counts that are not multiples of the register block.
// Tolerance: |fast - ref| <= 1e-5 * max(1, |ref|).
#include <gtest/gtest.h>

#include "runtime_test_util.h"

using namespace hwnas;
using namespace hwnas::runtime;
using hwnas::rttest::maxRelError;

namespace {

struct Case {
  std::string name;
  PlanOp op;
  std::vector<std::vector<int64_t>> in;
  bool bias = true;
};

PlanOp conv(int out, int k, int s, int pad, int groups = 1, Act act = Act::Identity, int dil = 1, int kw = 0,
            int padW = -1) {
  PlanOp op;
  op.type = OpType::Conv2d;
  op.outChannels = out;
  op.kernelH = k;
  op.kernelW = kw ? kw : k;
  op.strideH = op.strideW = s;
  op.padH = pad;
  op.padW = padW >= 0 ? padW : pad;
  op.groups = groups;
  op.act = act;
  op.dilationH = op.dilationW = dil;
  return op;
}

PlanOp dw(int c, int k, int s, Act act = Act::Identity, int pad = -1) {
  PlanOp op = conv(c, k, s, pad >= 0 ? pad : (k - 1) / 2, c, act);
  op.type = OpType::DepthwiseConv2d;
  return op;
}

PlanOp simple(OpType t, Act act = Act::Identity) {
  PlanOp op;
  op.type = t;
  op.act = act;
  return op;
}

PlanOp pool(OpType t, int k, int s, int pad) {
  PlanOp op = simple(t);
  op.kernelH = op.kernelW = k;
  op.strideH = op.strideW = s;
  op.padH = op.padW = pad;
  return op;
}

std::vector<Case> cases() {
  std::vector<Case> c;
  // 1x1 convolutions (direct GEMM): row tails (out % 8 != 0), pixel tails, batch.
  c.push_back({"conv1x1_odd", conv(13, 1, 1, 0), {{2, 7, 5, 9}}});
  c.push_back({"conv1x1_wide", conv(24, 1, 1, 0, 1, Act::Relu6), {{1, 16, 37, 41}}});
  c.push_back({"conv1x1_k1", conv(9, 1, 1, 0, 1, Act::Relu), {{3, 1, 3, 3}}});
  c.push_back({"conv1x1_nobias", conv(16, 1, 1, 0), {{1, 20, 7, 7}}, false});
  c.push_back({"conv1x1_stride2", conv(10, 1, 2, 0), {{2, 6, 9, 11}}});
  c.push_back({"conv1x1_grouped", conv(12, 1, 1, 0, 4, Act::HSwish), {{2, 8, 6, 5}}});
  // k x k via im2col: odd sizes, stride 2, groups, 7x7, dilation, non-square kernels.
  c.push_back({"conv3x3_odd", conv(5, 3, 1, 1), {{2, 3, 7, 9}}});
  c.push_back({"conv3x3_s2", conv(10, 3, 2, 1, 1, Act::Relu6), {{1, 8, 15, 15}}});
  c.push_back({"conv3x3_nopad", conv(17, 3, 1, 0), {{1, 3, 11, 10}}});
  c.push_back({"conv3x3_grouped", conv(18, 3, 1, 1, 3, Act::Silu), {{2, 12, 9, 9}}});
  c.push_back({"conv7x7_s2", conv(8, 7, 2, 3, 1, Act::HSigmoid), {{1, 4, 17, 17}}});
  c.push_back({"conv5x5_s2_batch", conv(11, 5, 2, 2, 1, Act::Sigmoid), {{3, 5, 13, 12}}});
  c.push_back({"conv3x3_dilated", conv(6, 3, 1, 2, 1, Act::Identity, 2), {{1, 4, 11, 13}}});
  c.push_back({"conv3x1", conv(7, 3, 1, 1, 1, Act::Relu, 1, 1, 0), {{1, 5, 9, 8}}});
  c.push_back({"conv_depthwise_as_conv_dilated", conv(6, 3, 1, 2, 6, Act::Relu, 2), {{1, 6, 9, 9}}});
  // depthwise: 3/5/7, stride 1/2, odd planes, batch, a generic stride and kernel 1
  for (int k : {3, 5, 7})
    for (int s : {1, 2})
      c.push_back({"dw" + std::to_string(k) + "_s" + std::to_string(s), dw(5, k, s, k == 5 ? Act::Relu6 : Act::HSwish),
                   {{2, 5, 13, 17}}});
  c.push_back({"dw3_s2_wide", dw(3, 3, 2, Act::Relu), {{1, 3, 40, 37}}});
  c.push_back({"dw3_s3_generic", dw(4, 3, 3), {{1, 4, 10, 11}}});
  c.push_back({"dw1", dw(4, 1, 1, Act::Silu), {{1, 4, 5, 7}}});
  c.push_back({"dw5_nopad", dw(3, 5, 1, Act::Identity, 0), {{1, 3, 9, 8}}});
  c.push_back({"dw3_nobias", dw(7, 3, 1, Act::Sigmoid), {{1, 7, 6, 6}}, false});
  // linear, including a 4-D input read as [N, features]
  {
    PlanOp op = simple(OpType::Linear, Act::Relu);
    op.outChannels = 19;
    c.push_back({"linear", op, {{3, 37}}});
    op.outChannels = 10;
    op.act = Act::Identity;
    c.push_back({"linear_4d", op, {{2, 33, 1, 1}}});
  }
  c.push_back({"add", simple(OpType::Add), {{2, 3, 5, 7}, {2, 3, 5, 7}}});
  c.push_back({"add_relu_big", simple(OpType::Add, Act::Relu), {{1, 24, 41, 41}, {1, 24, 41, 41}}});
  c.push_back({"mul", simple(OpType::Mul), {{2, 3, 5, 7}, {2, 3, 5, 7}}});
  {
    PlanOp op = simple(OpType::Mul);
    op.broadcastChannels = true;
    c.push_back({"mul_bcast", op, {{2, 6, 5, 7}, {2, 6, 1, 1}}});
  }
  c.push_back({"avgpool_k3s2p1", pool(OpType::AvgPool, 3, 2, 1), {{2, 3, 9, 10}}});
  c.push_back({"avgpool_k2", pool(OpType::AvgPool, 2, 2, 0), {{1, 4, 7, 7}}});
  c.push_back({"maxpool_k3s2p1", pool(OpType::MaxPool, 3, 2, 1), {{2, 3, 9, 10}}});
  c.push_back({"maxpool_k2", pool(OpType::MaxPool, 2, 2, 0), {{1, 4, 7, 7}}});
  c.push_back({"gap", simple(OpType::GlobalAvgPool), {{3, 5, 7, 9}}});
  {
    PlanOp op = simple(OpType::SqueezeExcite, Act::Relu);
    op.outChannels = 6;
    op.gate = Act::HSigmoid;
    c.push_back({"se", op, {{2, 20, 5, 7}}});
    op.act = Act::Silu;
    op.gate = Act::Sigmoid;
    c.push_back({"se_silu_sigmoid", op, {{1, 9, 3, 3}}});
  }
  c.push_back({"concat", simple(OpType::Concat), {{2, 3, 4, 5}, {2, 1, 4, 5}, {2, 6, 4, 5}}});
  c.push_back({"flatten", simple(OpType::Flatten), {{2, 3, 4, 5}}});
  for (Act a : {Act::Relu, Act::Relu6, Act::HSwish, Act::HSigmoid, Act::Silu, Act::Sigmoid})
    c.push_back({std::string("act_") + actName(a), simple(OpType::Activation, a), {{2, 3, 5, 7}}});
  // every activation fused into a 1x1 conv epilogue
  for (Act a : {Act::Relu, Act::Relu6, Act::HSwish, Act::HSigmoid, Act::Silu, Act::Sigmoid})
    c.push_back({std::string("conv1x1_") + actName(a), conv(11, 1, 1, 0, 1, a), {{1, 9, 6, 7}}});
  return c;
}

}  // namespace

TEST(RuntimeKernels, MatchNaiveReferenceOnAwkwardShapes) {
  const auto isas = rttest::supportedIsas();
  ASSERT_FALSE(isas.empty());
  int checked = 0;
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    Rng rng(Rng(42).split(uint64_t(checked)).next());
    Plan p = rttest::singleOpPlan(c.op, c.in, rng, c.bias);
    ASSERT_NO_THROW(p.validate());
    const auto inputs = rttest::randomInputs(p, rng);
    const auto ref = referenceRun(p, inputs)[0];
    for (auto isa : isas) {
      for (int threads : {1, 3}) {
        SCOPED_TRACE(std::string(kernels::isaName(isa)) + " threads " + std::to_string(threads));
        ExecutorOptions o;
        o.isa = int(isa);
        o.threads = threads;
        const auto fast = rttest::runFast(p, inputs, o)[0];
        EXPECT_LE(maxRelError(fast, ref), 1e-5);
      }
    }
    ++checked;
  }
  EXPECT_GT(checked, 50);
}

TEST(RuntimeKernels, ReferenceConvolutionIsRight) {
  // A hand-computed 3x3 convolution: guards the reference itself.
  PlanOp op = conv(1, 3, 1, 1);
  op.weight = {0, 0, 0, 0, 1, 0, 0, 0, 2};  // centre + 2 * bottom-right neighbour
  op.bias = {0.5f};
  Rng rng(1);
  Plan p = rttest::singleOpPlan(op, {{1, 1, 2, 2}}, rng);
  const auto y = referenceRun(p, {{1, 2, 3, 4}})[0];
  EXPECT_EQ(y, (std::vector<float>{1 + 2 * 4 + 0.5f, 2 + 0.5f, 3 + 0.5f, 4 + 0.5f}));
}

TEST(RuntimeKernels, BatchOtherThanThePlansMatchesReference) {
  Rng rng(7);
  Plan p = rttest::singleOpPlan(dw(6, 3, 2, Act::Relu6), {{1, 6, 11, 11}}, rng);
  const auto inputs = rttest::randomInputs(p, rng, 4);
  const auto ref = referenceRun(p, inputs, 4)[0];
  ExecutorOptions o;
  o.batch = 4;
  EXPECT_LE(maxRelError(rttest::runFast(p, inputs, o)[0], ref), 1e-5);
}

TEST(RuntimeKernels, BitIdenticalAtAnyThreadCount) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    Rng rng(3);
    Plan p = rttest::singleOpPlan(c.op, c.in, rng, c.bias);
    const auto inputs = rttest::randomInputs(p, rng);
    ExecutorOptions o;
    const auto one = rttest::runFast(p, inputs, o)[0];
    for (int t : {2, 4}) {
      o.threads = t;
      EXPECT_EQ(rttest::runFast(p, inputs, o)[0], one);
    }
  }
}
