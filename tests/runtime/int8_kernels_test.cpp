// int8 ops of the runtime: every kernel path (scalar, AVX2, VNNI where this CPU has them) gives
// exactly the naive int64 reference (runtime/reference.h) on awkward shapes (odd channels,
// padding, strides, groups, dilation, depthwise, linear), at 1 and 2 threads and any
// micro-batch; the int8 op is close to the fp32 op it quantizes; plan v2 round trips.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "runtime/kernels_int8.h"
#include "runtime_test_util.h"

namespace hwnas {
namespace {

using runtime::Act;
using runtime::DType;
using runtime::OpType;
using runtime::Plan;
using runtime::PlanOp;
using runtime::TensorInfo;
using runtime::int8::Int8Isa;

std::vector<Int8Isa> pathsHere() {
  std::vector<Int8Isa> v;
  for (Int8Isa i : {Int8Isa::Scalar, Int8Isa::Avx2, Int8Isa::Vnni})
    if (runtime::int8::int8IsaSupported(i)) v.push_back(i);
  return v;
}

TensorInfo i8(std::vector<int64_t> shape, float scale, int32_t zp) {
  TensorInfo t{std::move(shape)};
  t.dtype = DType::I8;
  t.scale = scale;
  t.zeroPoint = zp;
  return t;
}

// Symmetric per-output-channel weights and an int32 bias at inScale * weightScale.
void quantizeWeights(PlanOp& op, float inScale) {
  const int64_t m = op.outChannels, per = int64_t(op.weight.size()) / m;
  op.weightScales.assign(size_t(m), 1.f);
  op.qweight.resize(op.weight.size());
  for (int64_t c = 0; c < m; ++c) {
    float mx = 0;
    for (int64_t i = 0; i < per; ++i) mx = std::max(mx, std::fabs(op.weight[c * per + i]));
    const float s = mx > 0 ? mx / 127.f : 1.f;
    op.weightScales[c] = s;
    for (int64_t i = 0; i < per; ++i)
      op.qweight[c * per + i] = int8_t(std::lround(std::clamp(op.weight[c * per + i] / s, -127.f, 127.f)));
    if (!op.bias.empty()) op.qbias.push_back(int32_t(std::lround(op.bias[c] / (inScale * s))));
  }
  op.weight.clear();
  op.bias.clear();
}

// input f32 -> quantize (sx, zx) -> int8 op -> (i8 out: dequantize) -> output f32
Plan int8OpPlan(PlanOp op, const std::vector<int64_t>& inShape, bool outI8, Rng& rng, float sx = 8.f / 127,
                int32_t zx = 3) {
  Plan fp = rttest::singleOpPlan(op, {inShape}, rng);
  PlanOp w = fp.ops[0];
  const auto outShape = fp.tensors[w.output].shape;
  Plan p;
  p.tensors.push_back({inShape});
  p.tensors.push_back(i8(inShape, sx, zx));
  PlanOp q;
  q.type = OpType::Quantize;
  q.name = "q";
  q.inputs = {0};
  q.output = 1;
  p.ops.push_back(q);
  quantizeWeights(w, sx);
  w.inputs = {1};
  if (outI8) {
    p.tensors.push_back(i8(outShape, 0.05f, -7));
    p.tensors.push_back({outShape});
    w.output = 2;
    PlanOp d;
    d.type = OpType::Dequantize;
    d.name = "dq";
    d.inputs = {2};
    d.output = 3;
    p.ops.push_back(w);
    p.ops.push_back(d);
    p.outputs = {3};
  } else {
    p.tensors.push_back({outShape});
    w.output = 2;
    p.ops.push_back(w);
    p.outputs = {2};
  }
  p.inputs = {0};
  p.validate("int8 test plan");
  return p;
}

// Every path, 1 and 2 threads, whole and single-image micro-batches; on the VNNI path both
// activation layouts (channels-last u8, the default there, and planar).
void expectAllPathsExact(const Plan& p, Rng& rng, int64_t batch, const std::string& what) {
  const auto in = rttest::randomInputs(p, rng, batch);
  const auto ref = runtime::referenceRun(p, in, batch);
  for (Int8Isa isa : pathsHere())
    for (int layout : {-1, 0}) {
      if (layout == 0 && isa != Int8Isa::Vnni) continue;
      for (int threads : {1, 2})
        for (int64_t micro : {int64_t(0), int64_t(1)}) {
          runtime::ExecutorOptions o;
          o.threads = threads;
          o.batch = batch;
          o.int8Isa = int(isa);
          o.microBatch = micro;
          o.int8ChannelsLast = layout;
          runtime::Executor ex(p, o);
          EXPECT_EQ(ex.int8ChannelsLast(), isa == Int8Isa::Vnni && layout != 0);
          const auto got = rttest::runFast(p, in, o);
          ASSERT_EQ(got.size(), ref.size());
          for (size_t k = 0; k < got.size(); ++k) {
            ASSERT_EQ(got[k].size(), ref[k].size());
            int64_t bad = 0;
            for (size_t i = 0; i < got[k].size(); ++i) bad += got[k][i] != ref[k][i];
            EXPECT_EQ(bad, 0) << what << ": path " << runtime::int8::int8IsaName(isa)
                              << (isa == Int8Isa::Vnni ? (layout ? " channels-last" : " planar") : "") << ", "
                              << threads << " threads, micro-batch " << micro << ", output " << k << ": " << bad
                              << " of " << got[k].size() << " outputs differ from the int64 reference";
          }
        }
    }
}

PlanOp conv(int out, int k, int s, int p, int groups = 1, int dil = 1) {
  PlanOp op;
  op.type = OpType::Conv2d;
  op.outChannels = out;
  op.kernelH = op.kernelW = k;
  op.strideH = op.strideW = s;
  op.padH = op.padW = p;
  op.groups = groups;
  op.dilationH = op.dilationW = dil;
  return op;
}

TEST(RuntimeInt8, ThisMachineHasEveryPathTheBriefNeeds) {
  // Not a requirement of the runtime, a note for whoever reads a skipped path below.
  for (Int8Isa isa : {Int8Isa::Avx2, Int8Isa::Vnni})
    if (!runtime::int8::int8IsaSupported(isa))
      GTEST_SKIP() << runtime::int8::int8IsaName(isa) << " is not supported here; only the others are compared";
  EXPECT_EQ(pathsHere().size(), 3u);
}

TEST(RuntimeInt8, ConvPathsEqualTheReference) {
  Rng rng(11);
  struct Case {
    PlanOp op;
    std::vector<int64_t> in;
  };
  const std::vector<Case> cases = {
      {conv(19, 1, 1, 0), {1, 13, 7, 9}},        // 1x1, odd channels, odd pixels
      {conv(8, 1, 2, 0), {1, 16, 9, 9}},         // 1x1 stride 2
      {conv(21, 3, 2, 1), {1, 5, 11, 10}},       // kxk, padding, stride
      {conv(9, 5, 1, 2), {1, 3, 8, 8}},          // 5x5
      {conv(12, 3, 1, 1, 3), {1, 9, 6, 7}},      // grouped
      {conv(6, 3, 1, 2, 1, 2), {1, 4, 9, 9}},    // dilation 2
      {conv(33, 1, 1, 0), {1, 40, 12, 12}},      // several row blocks, 144 pixels
      {conv(70, 1, 1, 0), {1, 21, 5, 6}},        // channels-last: 64 + 6 output channels, 21 = 5 quads + 1
      {conv(12, 1, 1, 0, 3), {1, 9, 5, 5}},      // grouped 1x1, 3 channels per group (a partial quad)
      {conv(16, 3, 2, 1), {1, 32, 9, 11}},       // kxk stride 2 on whole quads, one 16-channel block
      {conv(5, 1, 2, 1), {1, 6, 7, 7}},          // 1x1 with padding and stride (im2col path)
      {conv(4, 5, 1, 2), {1, 2, 3, 4}},          // kernel wider than the input (no whole-window column)
      {conv(8, 3, 1, 1), {1, 1, 6, 9}},          // a 1-channel stem
      {conv(7, 3, 1, 1), {1, 1, 40, 40}},        // padded-row path over many row bands (2 rows each)
      {conv(16, 3, 2, 1), {1, 3, 50, 49}},       // 3-channel stride-2 stem: 3 quads per kernel row
  };
  for (const Act act : {Act::Identity, Act::Relu, Act::Relu6, Act::HSwish, Act::HSigmoid, Act::Silu})
    for (bool outI8 : {true, false})
      for (size_t c = 0; c < cases.size(); ++c) {
        PlanOp op = cases[c].op;
        op.act = act;
        const Plan p = int8OpPlan(op, cases[c].in, outI8, rng);
        expectAllPathsExact(p, rng, 3, "conv case " + std::to_string(c) + " act " + runtime::actName(act) +
                                            (outI8 ? " i8 out" : " f32 out"));
      }
}

TEST(RuntimeInt8, DepthwiseAndLinearPathsEqualTheReference) {
  Rng rng(12);
  for (const Act act : {Act::Identity, Act::Relu6, Act::HSwish})
    for (bool outI8 : {true, false}) {
      for (auto [k, s] : {std::pair<int, int>{3, 1}, {3, 2}, {5, 1}, {5, 2}}) {
        PlanOp op = conv(7, k, s, k / 2, 7);
        op.type = OpType::DepthwiseConv2d;
        op.act = act;
        expectAllPathsExact(int8OpPlan(op, {1, 7, 11, 13}, outI8, rng), rng, 2,
                            "depthwise k" + std::to_string(k) + " s" + std::to_string(s));
      }
      for (int st : {1, 2, 3}) {  // over 256 taps: the integer fallback kernel (phased for strides 1, 2)
        PlanOp big = conv(3, 17, st, 8, 3);
        big.type = OpType::DepthwiseConv2d;
        big.act = act;
        expectAllPathsExact(int8OpPlan(big, {1, 3, 19, 20}, outI8, rng), rng, 1, "depthwise k17 s" + std::to_string(st));
      }
      PlanOp lin;
      lin.type = OpType::Linear;
      lin.outChannels = 11;
      lin.act = act;
      expectAllPathsExact(int8OpPlan(lin, {1, 37}, outI8, rng), rng, 5, "linear 37->11");
      expectAllPathsExact(int8OpPlan(lin, {1, 3, 2, 5}, outI8, rng), rng, 19, "linear on a 4-D input, batch 19");
    }
}

TEST(RuntimeInt8, DepthwiseOddShapesEqualTheReference) {
  // The vpmaddwd depthwise kernels: 7x7 (generic loop), rectangular kernels (odd tap rows and
  // columns paired with a zero weight), no padding, uneven padding width, rows wider than one
  // 16-pixel step, stride 3 (row-pair planes).
  Rng rng(31);
  struct Case {
    int kh, kw, s, ph, pw;
    std::vector<int64_t> shape;
  };
  for (const Case& k : {Case{7, 7, 1, 3, 3, {1, 4, 23, 37}}, Case{7, 7, 2, 3, 3, {1, 4, 23, 37}},
                        Case{3, 5, 1, 0, 2, {1, 5, 9, 40}}, Case{5, 2, 2, 2, 0, {1, 5, 12, 33}},
                        Case{1, 3, 1, 0, 1, {1, 3, 6, 17}}, Case{3, 3, 3, 1, 1, {1, 3, 20, 50}}}) {
    PlanOp op = conv(int(k.shape[1]), k.kh, k.s, k.ph, int(k.shape[1]));
    op.kernelW = k.kw;
    op.padW = k.pw;
    op.type = OpType::DepthwiseConv2d;
    op.act = Act::Relu6;
    for (bool outI8 : {true, false})
      expectAllPathsExact(int8OpPlan(op, k.shape, outI8, rng), rng, 2,
                          "depthwise " + std::to_string(k.kh) + "x" + std::to_string(k.kw) + " s" +
                              std::to_string(k.s) + (outI8 ? " i8 out" : " f32 out"));
  }
}

TEST(RuntimeInt8, ChannelsLastDepthwiseShapesEqualTheReference) {
  // The channels-last depthwise: channel counts that are not a multiple of 16 (masked tails),
  // planes split into several row bands, rows of 8-pixel steps plus 4- and 1-pixel leftovers,
  // and past 518 taps the integer loops.
  Rng rng(32);
  struct Case {
    int k, s, p;
    std::vector<int64_t> shape;
  };
  for (const Case& k : {Case{3, 1, 1, {1, 37, 9, 10}}, Case{3, 2, 1, {1, 37, 9, 10}}, Case{5, 1, 2, {1, 20, 7, 7}},
                        Case{7, 2, 3, {1, 33, 12, 13}}, Case{3, 1, 1, {1, 48, 40, 40}},
                        Case{5, 2, 2, {1, 17, 45, 30}}, Case{3, 2, 1, {1, 19, 8, 36}},
                        Case{23, 1, 11, {1, 2, 25, 25}}}) {
    PlanOp op = conv(int(k.shape[1]), k.k, k.s, k.p, int(k.shape[1]));
    op.type = OpType::DepthwiseConv2d;
    for (const Act act : {Act::Relu6, Act::HSwish})
      for (bool outI8 : {true, false}) {
        op.act = act;
        expectAllPathsExact(int8OpPlan(op, k.shape, outI8, rng), rng, 2,
                            "depthwise " + std::to_string(k.k) + "x" + std::to_string(k.k) + " s" +
                                std::to_string(k.s) + " on " + runtime::shapeText(k.shape) + " act " +
                                runtime::actName(act) + (outI8 ? " i8 out" : " f32 out"));
      }
  }
}

// A chain of int8 ops that stays in the executor's int8 layout from the Quantize to the
// Dequantizes: kxk conv, depthwise, 1x1 convs, a residual add, max pool, hswish, global
// average pool, flatten of a 1x1 and of a 2x2 map, linear layers on 2-D and 4-D inputs, a
// depthwise and an add that write f32 directly, and a second input quantized, dequantized and
// flattened.
Plan int8ChainPlan(Rng& rng) {
  Plan p;
  auto tensor = [&](TensorInfo t) {
    p.tensors.push_back(std::move(t));
    return int32_t(p.tensors.size() - 1);
  };
  auto add = [&](PlanOp op, std::vector<int32_t> ins, bool outI8, float scale, int32_t zp) {
    std::vector<std::vector<int64_t>> shapes;
    for (int32_t id : ins) shapes.push_back(p.tensors[id].shape);
    if (op.type == OpType::Conv2d || op.type == OpType::DepthwiseConv2d || op.type == OpType::Linear) {
      rttest::fillWeights(op, shapes, rng);
      quantizeWeights(op, p.tensors[ins[0]].scale);
    }
    const auto shape = Plan::inferShape(op, shapes);
    op.inputs = std::move(ins);
    op.output = tensor(outI8 ? i8(shape, scale, zp) : TensorInfo{shape});
    op.name = runtime::opTypeName(op.type) + std::to_string(p.ops.size());
    p.ops.push_back(op);
    return op.output;
  };
  PlanOp q;
  q.type = OpType::Quantize;
  const int32_t x = tensor({{1, 3, 10, 10}});
  const int32_t xq = add(q, {x}, true, 16.f / 255, -1);
  PlanOp c1 = conv(13, 3, 1, 1);
  c1.act = Act::Relu6;
  const int32_t a = add(c1, {xq}, true, 6.f / 255, -128);
  PlanOp dw = conv(13, 3, 2, 1, 13);
  dw.type = OpType::DepthwiseConv2d;
  dw.act = Act::Relu6;
  const int32_t b = add(dw, {a}, true, 6.f / 255, -128);  // 13 x 5 x 5
  PlanOp e1 = conv(21, 1, 1, 0);
  const int32_t c = add(e1, {b}, true, 0.1f, 3);
  const int32_t d = add(conv(13, 1, 1, 0), {c}, true, 0.08f, -5);
  PlanOp sum;
  sum.type = OpType::Add;
  sum.act = Act::Relu;
  const int32_t r = add(sum, {d, b}, true, 0.07f, -128);
  PlanOp mp;
  mp.type = OpType::MaxPool;
  mp.kernelH = mp.kernelW = 3;
  mp.strideH = mp.strideW = 2;
  mp.padH = mp.padW = 1;
  const int32_t m = add(mp, {r}, true, 0.07f, -128);  // 13 x 3 x 3
  PlanOp hs = conv(19, 1, 1, 0);
  hs.act = Act::HSwish;
  const int32_t h = add(hs, {m}, true, 0.09f, -20);
  PlanOp pool;
  pool.type = OpType::GlobalAvgPool;
  const int32_t g = add(pool, {h}, true, 0.03f, -40);
  PlanOp flat;
  flat.type = OpType::Flatten;
  const int32_t f = add(flat, {g}, true, 0.03f, -40);
  PlanOp lin;
  lin.type = OpType::Linear;
  lin.outChannels = 7;
  const int32_t l = add(lin, {f}, true, 0.05f, 2);
  PlanOp deq;
  deq.type = OpType::Dequantize;
  const int32_t out0 = add(deq, {l}, false, 1, 0);
  // 2x2 map: flatten (channels-first order) -> linear, and linear on the 4-D map directly.
  PlanOp mp2 = mp;
  mp2.kernelH = mp2.kernelW = mp2.strideH = mp2.strideW = 2;
  mp2.padH = mp2.padW = 0;
  const int32_t m3 = add(mp2, {r}, true, 0.07f, -128);  // 13 x 2 x 2
  const int32_t f2 = add(flat, {m3}, true, 0.07f, -128);
  lin.outChannels = 5;
  const int32_t l2 = add(lin, {f2}, false, 1, 0);
  lin.outChannels = 9;
  lin.act = Act::Relu6;
  const int32_t l3 = add(lin, {m3}, true, 0.03f, -100);
  const int32_t out3 = add(deq, {l3}, false, 1, 0);
  // Depthwise and add writing f32.
  PlanOp dw2 = conv(21, 3, 1, 1, 21);
  dw2.type = OpType::DepthwiseConv2d;
  const int32_t out4 = add(dw2, {c}, false, 1, 0);
  const int32_t out5 = add(sum, {d, b}, false, 1, 0);
  // Layout changes of a map with 18 channels and 20 pixels (whole 16 x 16 transpose blocks and
  // edges): quantize, dequantize, flatten.
  const int32_t x2 = tensor({{1, 18, 4, 5}});
  const int32_t q2 = add(q, {x2}, true, 0.07f, 9);
  const int32_t out6 = add(deq, {q2}, false, 1, 0);
  const int32_t f3 = add(flat, {q2}, true, 0.07f, 9);
  const int32_t out7 = add(deq, {f3}, false, 1, 0);
  p.inputs = {x, x2};
  p.outputs = {out0, l2, out3, out4, out5, out6, out7};
  p.validate("int8 chain");
  return p;
}

TEST(RuntimeInt8, ChainsOfInt8OpsEqualTheReference) {
  Rng rng(33);
  const Plan p = int8ChainPlan(rng);
  expectAllPathsExact(p, rng, 3, "int8 chain");
  // Not all saturated: the outputs take many values.
  const auto in = rttest::randomInputs(p, rng, 3);
  const auto ref = runtime::referenceRun(p, in, 3);
  for (size_t k = 0; k < ref.size(); ++k) {
    std::vector<float> v = ref[k];
    std::sort(v.begin(), v.end());
    EXPECT_GT(std::unique(v.begin(), v.end()) - v.begin(), std::min<int64_t>(int64_t(ref[k].size()) / 8, 32))
        << "output " << k;
  }
}

TEST(RuntimeInt8, QuantizedConvIsCloseToTheFloatConv) {
  // The int8 conv approximates the fp32 conv it was quantized from: errors of a few output
  // quantization steps, not garbage (this catches a wrong sign or zero-point correction).
  Rng rng(13);
  const std::vector<int64_t> shape = {1, 6, 9, 9};
  PlanOp op = conv(10, 3, 1, 1);
  Plan fp = rttest::singleOpPlan(op, {shape}, rng);
  Rng copy = rng;
  const float sx = 8.f / 127;
  Plan q = int8OpPlan(fp.ops[0], shape, false, copy, sx, 0);
  const auto in = rttest::randomInputs(fp, rng, 2);
  const auto yf = rttest::runFast(fp, in, {})[0];
  runtime::ExecutorOptions o;
  o.batch = 2;
  const auto yq = rttest::runFast(q, in, o)[0];
  float maxRef = 0, maxErr = 0;
  for (size_t i = 0; i < yf.size(); ++i) {
    maxRef = std::max(maxRef, std::fabs(yf[i]));
    maxErr = std::max(maxErr, std::fabs(yf[i] - yq[i]));
  }
  EXPECT_GT(maxRef, 1.f);
  EXPECT_LT(maxErr, 0.03f * maxRef) << "int8 conv deviates from fp32 by " << maxErr << " (outputs up to " << maxRef << ")";
}

TEST(RuntimeInt8, AddPoolsFlattenAndQuantizeRoundTrip) {
  Rng rng(14);
  const std::vector<int64_t> s = {1, 5, 6, 7};
  Plan p;
  p.tensors = {TensorInfo{s}, TensorInfo{s}, i8(s, 0.07f, 5), i8(s, 0.05f, -20), i8(s, 0.1f, 0),
               i8({1, 5, 3, 3}, 0.1f, 0), i8({1, 5, 1, 1}, 0.03f, 2), i8({1, 5}, 0.03f, 2), TensorInfo{{1, 5}}};
  auto add = [&](OpType t, std::vector<int32_t> in, int32_t out, Act act = Act::Identity) {
    PlanOp op;
    op.type = t;
    op.inputs = std::move(in);
    op.output = out;
    op.act = act;
    op.name = runtime::opTypeName(t);
    if (t == OpType::MaxPool) op.kernelH = op.kernelW = op.strideH = op.strideW = 2;
    p.ops.push_back(op);
  };
  add(OpType::Quantize, {0}, 2);
  add(OpType::Quantize, {1}, 3);
  add(OpType::Add, {2, 3}, 4, Act::Relu6);
  add(OpType::MaxPool, {4}, 5);
  add(OpType::GlobalAvgPool, {5}, 6);
  add(OpType::Flatten, {6}, 7);
  add(OpType::Dequantize, {7}, 8);
  p.inputs = {0, 1};
  p.outputs = {8};
  p.validate("elementwise plan");
  const auto in = rttest::randomInputs(p, rng, 4);
  const auto ref = runtime::referenceRun(p, in, 4)[0];
  for (Int8Isa isa : pathsHere()) {
    runtime::ExecutorOptions o;
    o.batch = 4;
    o.int8Isa = int(isa);
    EXPECT_EQ(rttest::runFast(p, in, o)[0], ref) << runtime::int8::int8IsaName(isa);
  }
  // Against plain float maths: relu6(a + b), max pool, mean, within the quantization steps.
  for (int64_t n = 0; n < 4; ++n)
    for (int64_t c = 0; c < 5; ++c) {
      double mean = 0;
      for (int64_t r = 0; r < 3; ++r)
        for (int64_t q = 0; q < 3; ++q) {
          double best = -1e9;
          for (int i = 0; i < 2; ++i)
            for (int j = 0; j < 2; ++j) {
              const size_t at = size_t(((n * 5 + c) * 6 + 2 * r + i) * 7 + 2 * q + j);
              best = std::max(best, std::min(std::max(double(in[0][at]) + in[1][at], 0.0), 6.0));
            }
          mean += best / 9;
        }
      EXPECT_NEAR(ref[size_t(n * 5 + c)], std::min(mean, 0.03 * (127 - 2)), 0.15) << n << "," << c;
    }
}

TEST(RuntimeInt8, QuantizeRoundsHalfToEvenAndSaturates) {
  const std::vector<float> x = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 1000.f, -1000.f, 0.49f};
  std::vector<int8_t> y(x.size());
  runtime::int8::quantize(x.data(), int64_t(x.size()), 1.f, 0, y.data());
  EXPECT_EQ(std::vector<int>(y.begin(), y.end()), (std::vector<int>{0, 2, 2, 0, -2, 127, -128, 0}));
  runtime::int8::quantize(x.data(), int64_t(x.size()), 1.f, 10, y.data());
  EXPECT_EQ(std::vector<int>(y.begin(), y.end()), (std::vector<int>{10, 12, 12, 10, 8, 127, -128, 10}));
}

TEST(RuntimeInt8, PlanVersion2RoundTripsAndVersion1StillLoads) {
  Rng rng(15);
  const Plan p = int8OpPlan(conv(5, 3, 1, 1), {1, 4, 6, 6}, true, rng);
  const std::string b = p.serialize();
  EXPECT_EQ(b[8], 2);
  const Plan q = Plan::deserialize(b, "int8.plan");
  EXPECT_EQ(q.serialize(), b);
  ASSERT_EQ(q.tensors.size(), p.tensors.size());
  EXPECT_EQ(q.tensors[2].dtype, DType::I8);
  EXPECT_EQ(q.tensors[2].scale, 0.05f);
  EXPECT_EQ(q.tensors[2].zeroPoint, -7);
  EXPECT_EQ(q.ops[1].qweight, p.ops[1].qweight);
  EXPECT_EQ(q.ops[1].qbias, p.ops[1].qbias);
  EXPECT_EQ(q.ops[1].weightScales, p.ops[1].weightScales);
  // An fp32 plan is still written as version 1 and reads back the same.
  const Plan f = rttest::singleOpPlan(conv(5, 3, 1, 1), {{1, 4, 6, 6}}, rng);
  const std::string fb = f.serialize();
  EXPECT_EQ(fb[8], 1);
  EXPECT_EQ(Plan::deserialize(fb, "f32.plan").serialize(), fb);
  // Version 3 is refused with the version in the message; every truncation of v2 is an error.
  std::string newer = b;
  newer[8] = 3;
  bool threw = false;
  try {
    Plan::deserialize(newer, "int8.plan");
  } catch (const runtime::RuntimeError& e) {
    threw = true;
    EXPECT_NE(std::string(e.what()).find("version 3"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(threw);
  for (size_t n = 0; n < b.size(); n += 7) EXPECT_THROW(Plan::deserialize(b.substr(0, n), "t.plan"), runtime::RuntimeError);
}

TEST(RuntimeInt8, ValidateRejectsMixedDtypes) {
  Rng rng(16);
  Plan p = int8OpPlan(conv(5, 1, 1, 0), {1, 4, 3, 3}, true, rng);
  Plan bad = p;
  bad.ops[1].inputs = {0};  // int8 weights reading the f32 input
  EXPECT_THROW(bad.validate(), runtime::RuntimeError);
  bad = p;
  bad.tensors[1].scale = 0.f;
  EXPECT_THROW(bad.validate(), runtime::RuntimeError);
  bad = p;
  bad.outputs = {2};  // an i8 plan output: the executor refuses it
  bad.validate();
  EXPECT_THROW(runtime::Executor ex(bad), runtime::RuntimeError);
}

TEST(RuntimeInt8, MemoryPlannerSizesInt8TensorsInBytes) {
  Rng rng(17);
  const Plan p = int8OpPlan(conv(5, 1, 1, 0), {1, 4, 3, 3}, true, rng);
  const auto m = runtime::planMemory(p, 2);
  EXPECT_EQ(m.bytes[0], 2 * 4 * 9 * 4);
  EXPECT_EQ(m.bytes[1], 2 * 4 * 9);
  EXPECT_EQ(m.bytes[2], 2 * 5 * 9);
}

}  // namespace
}  // namespace hwnas
