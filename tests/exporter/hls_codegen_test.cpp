// FPGA backend: the generated HLS C++ compiles with g++ (C simulation), its outputs equal the
// exporter's fixed-point reference bit for bit (also through the self-checking testbench), they are
// close to the fp32 runtime, and the report carries per-layer cycles and resources from the
// analytic FPGA model. hls_fixed.h: rounding and saturation on known values.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "backend_test_util.h"
#include "core/error.h"
#include "core/fs_util.h"
#include "core/json_util.h"
#include "exporter/hls_codegen.h"
#include "exporter/hls_fixed.h"
#include "latency_luts/latency_model.h"

using namespace hwnas;
namespace fs = std::filesystem;

namespace {
const std::string kSource = HWNAS_SOURCE_DIR;
}

TEST(HlsFixed, RoundingAndSaturation) {
  using q8 = fixed<8, 4>;
  using q16 = fixed<16, 8>;  // range [-8, 7.9375], step 1/16
  EXPECT_EQ(q8(1.03125).raw(), 17);   // 16.5 -> 17 (ties away from zero)
  EXPECT_EQ(q8(-1.03125).raw(), -17);
  EXPECT_EQ(q8(1.01).raw(), 16);
  EXPECT_EQ(q8(100.0).raw(), 127);    // saturates
  EXPECT_EQ(q8(-100.0).raw(), -128);
  const fixed<16, 8> a(2.5), b(-1.25);
  const auto p = a * b;  // exact product, fixed<32, 16>
  EXPECT_EQ(p.toDouble(), -3.125);
  EXPECT_EQ(q8(p).raw(), -50);
  EXPECT_EQ((q8(7.0) + q8(7.0)).raw(), 127);  // sum saturates
  EXPECT_EQ((q16(fixed<32, 4>(0.12890625)).raw()), 33);  // 0.12890625 * 256 = 33.0
  EXPECT_EQ(hlsfx::requantize(-3, 1, 16, 0), -2);  // -1.5 -> -2 (ties away)
  EXPECT_EQ(fixed_act<3>(q16(1.0)).toDouble(), std::round(256 * 1.0 * 4 / 6) / 256);  // hswish(1)
  EXPECT_EQ(fixed_act<2>(q16(9.0)).toDouble(), 6.0);                                  // relu6
  EXPECT_EQ(fixed_div(q16(1.0), 3).raw(), 85);                                        // 256/3 = 85.33
}

namespace {
void csimMatchesReference(const ExportModel& m) {
  TempDir tmp("hwnas-hls-");
  const std::string out = tmp.file("fpga");
  BackendOptions o;
  o.sourceDir = kSource;
  const BackendResult r = HlsBackend().write(m, out, o);
  for (const char* f : {"model_hls.cpp", "model_hls.h", "hls_fixed.h", "tb.cpp", "tb_input.f32", "tb_expected.txt",
                        "report.json", "report.md", "run_hls.tcl"})
    EXPECT_TRUE(fs::exists(out + "/" + f)) << f;
  const std::string src = readFile(out + "/model_hls.cpp");
  EXPECT_NE(src.find("#pragma HLS DATAFLOW"), std::string::npos);
  EXPECT_NE(src.find("#pragma HLS PIPELINE II=1"), std::string::npos);
  EXPECT_NE(src.find("#pragma HLS ARRAY_PARTITION"), std::string::npos);

  std::string log;
  ASSERT_EQ(betest::runCommand("cd " + out + " && g++ -O1 -std=c++17 -Wall model_hls.cpp tb.cpp -o tb", &log), 0) << log;
  // The self-checking testbench on the exporter's own input and expected outputs.
  ASSERT_EQ(betest::runCommand("cd " + out + " && ./tb", &log), 0) << log;
  EXPECT_NE(log.find(" 0 of "), std::string::npos) << log;

  // An independent input: C simulation == hlsReference() bit for bit, close to fp32.
  const runtime::Plan plan = lower(m.graph, m.weights);
  const int64_t batch = 3, in = runtime::shapeElements(plan.tensors[plan.inputs[0]].shape);
  const std::vector<float> x = betest::patternInput(size_t(batch * in), 31);
  betest::writeFloats(tmp.file("x.f32"), x);
  ASSERT_EQ(betest::runCommand(out + "/tb --input " + tmp.file("x.f32") + " --batch 3", &log), 0) << log;
  const std::vector<double> nums = betest::parseNumbers(log);
  const HlsReference ref = hlsReference(m, x, batch, o);
  ASSERT_EQ(nums.size(), 2 * ref.raw.size()) << log;
  const std::vector<float> fp32 = betest::runtimeOutputs(plan, x, batch);
  double worst = 0, scale = 0;
  for (size_t i = 0; i < ref.raw.size(); ++i) {
    EXPECT_EQ(int64_t(nums[2 * i]), ref.raw[i]) << "output " << i;
    worst = std::max(worst, std::fabs(nums[2 * i + 1] - fp32[i]));
    scale = std::max(scale, std::fabs(double(fp32[i])));
  }
  EXPECT_GT(scale, 1e-2);
  EXPECT_LE(worst, 0.05) << "fixed<16, 8> vs fp32";  // measured ~1e-2 on this net
  ::testing::Test::RecordProperty("fixed_vs_fp32_max_abs_error", std::to_string(worst));
  std::printf("[hls] %s: C simulation == fixed-point reference on %zu outputs; max |fixed - fp32| = %.4g (max |out| %.3g)\n",
              m.name.c_str(), ref.raw.size(), worst, scale);

  // A wider format is closer to fp32: the reference responds to the options.
  BackendOptions wide = o;
  wide.activationBits = 24;
  wide.activationIntBits = 8;
  wide.weightBits = 20;
  const HlsReference refWide = hlsReference(m, x, batch, wide);
  double worstWide = 0;
  for (size_t i = 0; i < fp32.size(); ++i) worstWide = std::max(worstWide, std::fabs(double(refWide.values[i]) - fp32[i]));
  EXPECT_LT(worstWide, worst / 4);

  // Report: one row per plan op from the analytic FPGA model, totals consistent.
  const Json rep = Json::parse(readFile(out + "/report.json"));
  ASSERT_EQ(rep["layers"].size(), plan.ops.size());
  const LatencyPrediction pred = FpgaLatencyModel("analytic:fpga").predict(m.graph);
  EXPECT_NEAR(rep["latency_ms"].get<double>(), pred.latencyMs, 1e-12);
  double cycles = 0;
  for (const auto& l : rep["layers"]) {
    EXPECT_GT(l["cycles"].get<double>(), 0);
    EXPECT_EQ(l["dsp"].get<int>(), 64);
    cycles += l["cycles"].get<double>();
  }
  EXPECT_NEAR(rep["total_cycles"].get<double>(), cycles, 1e-6);
  EXPECT_NEAR(cycles / 200e3, pred.latencyMs, 1e-6 * pred.latencyMs);  // 200 MHz
  EXPECT_NEAR(rep["csim_vs_fp32_max_abs_error"].get<double>(), 0.0, 0.05);
  EXPECT_FALSE(r.notes.empty());
  std::printf("[hls] %s: analytic FPGA latency %.4g ms, %g cycles\n", m.name.c_str(), pred.latencyMs, cycles);
}
}  // namespace

TEST(HlsCodegen, CSimulationMatchesFixedPointReferenceExactly) { csimMatchesReference(betest::smallNet()); }

TEST(HlsCodegen, RefnetCSimulationMatchesFixedPointReference) {
  if (!betest::refnetEnabled()) GTEST_SKIP() << "set HWNAS_TEST_REFNET=1 for refnet";
  csimMatchesReference(betest::refnet());
}

TEST(HlsCodegen, BadFormatsAreInputErrors) {
  BackendOptions o;
  o.sourceDir = kSource;
  o.activationBits = 40;
  TempDir tmp("hwnas-hls-");
  EXPECT_THROW(HlsBackend().write(betest::smallNet(), tmp.file("x"), o), InputError);
  EXPECT_FALSE(fs::exists(tmp.file("x")));
  o.activationBits = 16;
  const QuantSpec spec = betest::oneInt8Layer("stem.conv");
  o.quant = &spec;
  EXPECT_THROW(HlsBackend().write(betest::smallNet(), tmp.file("x"), o), InputError);
  EXPECT_FALSE(fs::exists(tmp.file("x")));
}
