// Plan files: save/load round trip (bytes, structure and outputs), and clear RuntimeErrors for
// truncation at every length, flipped bytes, foreign files, newer versions and plans whose
// checksum is right but whose contents are inconsistent.
#include <gtest/gtest.h>

#include <fstream>

#include "core/fs_util.h"
#include "runtime_test_util.h"

using namespace hwnas;
using namespace hwnas::runtime;

namespace {

// input -> conv3x3 relu6 -> dw3 s2 -> se -> add? (shapes differ) -> gap -> linear
Plan smallPlan() {
  Rng rng(11);
  Plan p;
  p.tensors = {{{1, 3, 9, 9}}};
  p.inputs = {0};
  auto add = [&](PlanOp op) {
    std::vector<std::vector<int64_t>> in;
    for (int32_t id : op.inputs) in.push_back(p.tensors[id].shape);
    rttest::fillWeights(op, in, rng);
    p.tensors.push_back({Plan::inferShape(op, in)});
    op.output = int32_t(p.tensors.size() - 1);
    op.key = std::string("key-") + opTypeName(op.type);
    p.ops.push_back(op);
    return op.output;
  };
  PlanOp c;
  c.type = OpType::Conv2d;
  c.name = "stem";
  c.outChannels = 8;
  c.kernelH = c.kernelW = 3;
  c.padH = c.padW = 1;
  c.act = Act::Relu6;
  c.inputs = {0};
  int32_t t = add(c);
  PlanOp d = c;
  d.type = OpType::DepthwiseConv2d;
  d.name = "dw";
  d.groups = 8;
  d.strideH = d.strideW = 2;
  d.inputs = {t};
  t = add(d);
  PlanOp se;
  se.type = OpType::SqueezeExcite;
  se.name = "se";
  se.outChannels = 2;
  se.inputs = {t};
  int32_t s = add(se);
  PlanOp a;
  a.type = OpType::Add;
  a.name = "add";
  a.act = Act::HSwish;
  a.inputs = {t, s};
  t = add(a);
  PlanOp g;
  g.type = OpType::GlobalAvgPool;
  g.name = "pool";
  g.inputs = {t};
  t = add(g);
  PlanOp l;
  l.type = OpType::Linear;
  l.name = "fc";
  l.outChannels = 5;
  l.inputs = {t};
  t = add(l);
  p.outputs = {t};
  return p;
}

void expectSamePlan(const Plan& a, const Plan& b) {
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) EXPECT_EQ(a.tensors[i].shape, b.tensors[i].shape);
  EXPECT_EQ(a.inputs, b.inputs);
  EXPECT_EQ(a.outputs, b.outputs);
  ASSERT_EQ(a.ops.size(), b.ops.size());
  for (size_t i = 0; i < a.ops.size(); ++i) {
    const PlanOp &x = a.ops[i], &y = b.ops[i];
    EXPECT_EQ(x.type, y.type);
    EXPECT_EQ(x.act, y.act);
    EXPECT_EQ(x.gate, y.gate);
    EXPECT_EQ(x.broadcastChannels, y.broadcastChannels);
    EXPECT_EQ(x.kernelH, y.kernelH);
    EXPECT_EQ(x.strideW, y.strideW);
    EXPECT_EQ(x.padH, y.padH);
    EXPECT_EQ(x.groups, y.groups);
    EXPECT_EQ(x.outChannels, y.outChannels);
    EXPECT_EQ(x.inputs, y.inputs);
    EXPECT_EQ(x.output, y.output);
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.key, y.key);
    EXPECT_EQ(x.weight, y.weight);
    EXPECT_EQ(x.bias, y.bias);
    EXPECT_EQ(x.weight2, y.weight2);
    EXPECT_EQ(x.bias2, y.bias2);
  }
}

std::string errorOf(const std::string& bytes) {
  try {
    Plan::deserialize(bytes, "test.plan");
  } catch (const RuntimeError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(RuntimePlan, SaveLoadRoundTrip) {
  const Plan p = smallPlan();
  ASSERT_NO_THROW(p.validate());
  TempDir dir;
  const std::string path = dir.path() + "/small.plan";
  p.save(path);
  const Plan q = Plan::load(path);
  expectSamePlan(p, q);
  EXPECT_EQ(q.serialize(), p.serialize());
  Rng rng(5);
  const auto in = rttest::randomInputs(p, rng);
  EXPECT_EQ(rttest::runFast(p, in, {})[0], rttest::runFast(q, in, {})[0]);
}

TEST(RuntimePlan, FormatStartsWithMagicAndVersionLittleEndian) {
  const std::string b = smallPlan().serialize();
  ASSERT_GT(b.size(), 12u);
  EXPECT_EQ(b.substr(0, 8), "HWNASPLN");
  EXPECT_EQ(b[8], 1);
  EXPECT_EQ(b[9], 0);
  EXPECT_EQ(b[10], 0);
  EXPECT_EQ(b[11], 0);
}

TEST(RuntimePlan, EveryTruncationIsAClearError) {
  const std::string b = smallPlan().serialize();
  for (size_t n = 0; n < b.size(); ++n) {
    const std::string msg = errorOf(b.substr(0, n));
    ASSERT_FALSE(msg.empty()) << "truncated to " << n << " bytes was accepted";
    EXPECT_NE(msg.find("test.plan"), std::string::npos) << msg;
  }
  EXPECT_NE(errorOf(b.substr(0, b.size() - 3)).find("truncated or corrupt"), std::string::npos);
}

TEST(RuntimePlan, FlippedBytesAreRejected) {
  const std::string b = smallPlan().serialize();
  Rng rng(9);
  for (int trial = 0; trial < 300; ++trial) {
    std::string c = b;
    const size_t at = size_t(rng.uniformInt(c.size()));
    c[at] = char(c[at] ^ char(1 + rng.uniformInt(255)));
    EXPECT_FALSE(errorOf(c).empty()) << "byte " << at << " flipped was accepted";
  }
}

TEST(RuntimePlan, ForeignFilesAndNewerVersions) {
  EXPECT_NE(errorOf("").find("not an hwnas plan file"), std::string::npos);
  EXPECT_NE(errorOf("PK\x03\x04 this is a zip file, not a plan").find("not an hwnas plan file"), std::string::npos);
  std::string b = smallPlan().serialize();
  b[8] = 3;
  const std::string msg = errorOf(b);
  EXPECT_NE(msg.find("version 3"), std::string::npos) << msg;
  Rng rng(4);
  std::string garbage = "HWNASPLN";
  for (int i = 0; i < 4000; ++i) garbage.push_back(char(rng.uniformInt(256)));
  EXPECT_FALSE(errorOf(garbage).empty());
  EXPECT_THROW(Plan::load("/nonexistent/dir/x.plan"), RuntimeError);
}

TEST(RuntimePlan, ConsistentChecksumButBrokenContentsIsRejected) {
  // serialize() does not validate, so these files carry a valid checksum.
  Plan p = smallPlan();
  p.ops[1].inputs = {99};
  std::string msg = errorOf(p.serialize());
  EXPECT_NE(msg.find("op #1 'dw'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("tensor 99"), std::string::npos) << msg;

  p = smallPlan();
  p.ops[0].weight.pop_back();
  msg = errorOf(p.serialize());
  EXPECT_NE(msg.find("weight"), std::string::npos) << msg;

  p = smallPlan();
  p.tensors[2].shape[3] = 7;  // dw output shape wrong
  msg = errorOf(p.serialize());
  EXPECT_NE(msg.find("output shape"), std::string::npos) << msg;

  p = smallPlan();
  std::swap(p.ops[0], p.ops[1]);  // reads before it is written
  msg = errorOf(p.serialize());
  EXPECT_NE(msg.find("before anything writes it"), std::string::npos) << msg;
}
