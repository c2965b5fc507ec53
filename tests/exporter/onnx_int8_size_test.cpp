// The int8 QDQ ONNX file of the BN-folded refnet is at most 0.33x the BN-folded fp32 file
// (issue 8's bar; per-channel scales, int32 biases and QDQ nodes are what keeps it above 0.25x).
#include <gtest/gtest.h>

#include "exporter/fold_bn.h"
#include "exporter/onnx_export.h"
#include "tests/exporter/onnx_test_util.h"

namespace hwnas {
namespace {

using namespace onnxtest;

TEST(OnnxExport, Int8FileOfTheBnFoldedRefnetIsAThirdOfFp32) {
  const FoldBnResult folded = foldBatchNorm(refnet(1));
  const ExportModel& m = folded.model;
  ASSERT_EQ(folded.kept, 0);
  const QuantSpec spec = minMaxSpec(m, 1, 900);
  OnnxExportOptions o;
  o.quant = &spec;
  const size_t fp32 = exportOnnxBytes(m).size(), int8 = exportOnnxBytes(m, o).size();
  std::printf("refnet (BN folded) ONNX: fp32 %zu bytes, int8 QDQ %zu bytes, ratio %.3f\n", fp32, int8, double(int8) / fp32);
  EXPECT_LE(double(int8), 0.33 * double(fp32));
}

}  // namespace
}  // namespace hwnas
