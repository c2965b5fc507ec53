// The official ONNX node tests (Debian's libonnx-testdata) for the ops importOnnx maps, run
// through importOnnx + lower() + the runtime executor: no wrong answers, and at least the
// pass count reached when this test was written.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>

#include "core/fs_util.h"
#include "exporter/onnx_conformance.h"

namespace hwnas {
namespace {

const char* kNodeDir = "/usr/share/libonnx-testdata/data/node";

TEST(OnnxConformance, NodeTestsPassOrAreUnsupportedNeverWrong) {
  if (!fileExists(std::string(kNodeDir) + "/test_relu/model.onnx"))
    GTEST_SKIP() << kNodeDir << " is missing; install the Debian package libonnx-testdata";
  const auto dirs = onnxNodeTestsForImportedOps(kNodeDir);
  ASSERT_GE(dirs.size(), 100u) << "the selection should find the node tests of the 19 imported ops";
  int counts[3] = {0, 0, 0};
  double maxErr = 0;
  std::string wrong;
  for (const auto& dir : dirs) {
    const OnnxNodeTestResult r = runOnnxNodeTest(dir);
    ++counts[int(r.status)];
    if (r.status == OnnxNodeTestResult::Status::Pass) maxErr = std::max(maxErr, r.maxAbsError);
    if (r.status == OnnxNodeTestResult::Status::Wrong) wrong += "  " + r.name + ": " + r.message + "\n";
    if (std::getenv("HWNAS_ONNX_CONFORMANCE_VERBOSE"))
      std::printf("%-55s %-11s %s\n", r.name.c_str(), statusName(r.status), r.message.c_str());
  }
  std::printf("ONNX node tests for the imported ops: %zu selected, %d pass, %d unsupported, %d wrong; "
              "max |error| over passes %.3g\n",
              dirs.size(), counts[0], counts[1], counts[2], maxErr);
  EXPECT_EQ(counts[2], 0) << "wrong answers:\n" << wrong;
  EXPECT_GE(counts[0], 48) << "fewer passes than when this test was written (48 of 115)";
}

TEST(OnnxConformance, KnownTestsHaveTheirExpectedStatus) {
  if (!fileExists(std::string(kNodeDir) + "/test_relu/model.onnx"))
    GTEST_SKIP() << kNodeDir << " is missing; install the Debian package libonnx-testdata";
  const std::map<std::string, OnnxNodeTestResult::Status> expect = {
      {"test_conv_with_strides_padding", OnnxNodeTestResult::Status::Pass},
      {"test_relu", OnnxNodeTestResult::Status::Pass},
      {"test_gemm_default_vector_bias", OnnxNodeTestResult::Status::Pass},
      {"test_hardswish_expanded", OnnxNodeTestResult::Status::Pass},
      // the Graph cannot express these: each must be an unsupported error, not a number
      {"test_conv_with_strides_and_asymmetric_padding", OnnxNodeTestResult::Status::Pass},  // pads differ H vs W, each side equal
      {"test_averagepool_2d_ceil", OnnxNodeTestResult::Status::Unsupported},
      {"test_concat_2d_axis_0", OnnxNodeTestResult::Status::Unsupported},
      {"test_add_bcast", OnnxNodeTestResult::Status::Unsupported},
      {"test_gemm_transposeA", OnnxNodeTestResult::Status::Unsupported},
  };
  for (const auto& [name, status] : expect) {
    const OnnxNodeTestResult r = runOnnxNodeTest(std::string(kNodeDir) + "/" + name);
    EXPECT_EQ(statusName(r.status), std::string(statusName(status))) << name << ": " << r.message;
  }
}

}  // namespace
}  // namespace hwnas
