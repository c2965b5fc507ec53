// CUDA backend: the generated model.cu compiles as host C++ with the shipped cuda_host_shim.h and
// its outputs equal the runtime's within 1e-4 (every kernel kind: direct conv, grouped conv,
// depthwise, the shared-memory GEMM for 1x1, SE with barriers, pools, add, concat, activations,
// linear); the shim's barrier and __dp4a semantics on a hand-written kernel; nvcc -c compiles
// model.cu when the CUDA toolkit is installed (no GPU needed).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "backend_test_util.h"
#include "core/error.h"
#include "core/fs_util.h"
#include "exporter/cuda_codegen.h"

using namespace hwnas;
namespace fs = std::filesystem;

namespace {

const std::string kSource = HWNAS_SOURCE_DIR;
const std::string kNvcc = "/usr/local/cuda/bin/nvcc";

std::string generate(const TempDir& tmp, const ExportModel& m, int64_t maxBatch = 8) {
  const std::string out = tmp.file("cuda");
  BackendOptions o;
  o.sourceDir = kSource;
  o.maxBatch = maxBatch;
  CudaBackend().write(m, out, o);
  return out;
}

}  // namespace

namespace {
void shimBuildMatchesRuntime(const ExportModel& m) {
  TempDir tmp("hwnas-cuda-");
  const std::string out = generate(tmp, m);
  for (const char* f : {"model.cu", "model.h", "main.cpp", "weights.bin", "cuda_host_shim.h", "README.md"})
    EXPECT_TRUE(fs::exists(out + "/" + f)) << f;
  const std::string cu = readFile(out + "/model.cu");
  const runtime::Plan plan = lower(m.graph, m.weights);
  EXPECT_EQ(size_t(std::count(cu.begin(), cu.end(), '\n') > 0), 1u);
  size_t kernels = 0;
  for (size_t at = cu.find("__global__ void"); at != std::string::npos; at = cu.find("__global__ void", at + 1)) ++kernels;
  EXPECT_EQ(kernels, plan.ops.size()) << "one kernel per plan op";
  EXPECT_NE(cu.find("__shared__ float ws["), std::string::npos) << "1x1 conv as a shared-memory tiled GEMM";

  std::string log;
  ASSERT_EQ(betest::runCommand("cd " + out + " && g++ -O1 -std=c++17 -Wall -DHWNAS_CUDA_HOST_SHIM -x c++ model.cu -x none "
                               "main.cpp -o example_host",
                               &log),
            0)
      << log;
  const int64_t batch = 3;
  const int64_t in = runtime::shapeElements(plan.tensors[plan.inputs[0]].shape);
  const std::vector<float> x = betest::patternInput(size_t(in * batch), 21);
  betest::writeFloats(tmp.file("x.f32"), x);
  const std::vector<float> expected = betest::runtimeOutputs(plan, x, batch);
  std::string text;
  ASSERT_EQ(betest::runCommand(out + "/example_host --weights " + out + "/weights.bin --input " + tmp.file("x.f32") +
                                   " --batch 3",
                               &text),
            0)
      << text;
  const std::vector<double> got = betest::parseNumbers(text);
  ASSERT_EQ(got.size(), expected.size()) << text;
  double worst = 0, scale = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    worst = std::max(worst, std::fabs(got[i] - expected[i]));
    scale = std::max(scale, std::fabs(double(expected[i])));
  }
  EXPECT_LE(worst, 1e-4) << "CUDA kernels (host shim) vs runtime";
  EXPECT_GT(scale, 1e-3);
  // Batch above the buffers' size and a corrupt weights file: clear errors.
  ASSERT_NE(betest::runCommand(out + "/example_host --weights " + out + "/weights.bin --batch 9", &text), 0);
  EXPECT_NE(text.find("outside 1..8"), std::string::npos) << text;
  std::string w = readFile(out + "/weights.bin");
  w[40] = char(w[40] ^ 1);
  writeFileAtomic(tmp.file("bad.bin"), w);
  ASSERT_NE(betest::runCommand(out + "/example_host --weights " + tmp.file("bad.bin"), &text), 0);
  EXPECT_NE(text.find("checksum"), std::string::npos) << text;
  std::printf("[cuda] %s: %zu kernels, host shim vs runtime max |diff| %.3g (max |out| %.3g)\n", m.name.c_str(),
              plan.ops.size(), worst, scale);
}
}  // namespace

TEST(CudaCodegen, HostShimBuildMatchesRuntime) { shimBuildMatchesRuntime(betest::smallNet()); }

TEST(CudaCodegen, RefnetHostShimBuildMatchesRuntime) {
  if (!betest::refnetEnabled()) GTEST_SKIP() << "set HWNAS_TEST_REFNET=1 for refnet";
  shimBuildMatchesRuntime(betest::refnet());
}

// The shim on its own: a block-wide shared-memory tree reduction (needs real barriers: every
// thread reads what others wrote before the barrier) and __dp4a on signed bytes.
TEST(CudaCodegen, ShimBarriersAndDp4a) {
  TempDir tmp("hwnas-cuda-shim-");
  const std::string src = R"(
#include "cuda_host_shim.h"
#include <cstdio>
__global__ void blockSum(const float* x, float* y) {
  __shared__ float s[64];
  const int t = int(threadIdx.x);
  s[t] = x[blockIdx.x * 64 + t];
  __syncthreads();
  for (int stride = 32; stride > 0; stride /= 2) {
    if (t < stride) s[t] += s[t + stride];
    __syncthreads();
  }
  if (t == 0) y[blockIdx.x] = s[0];
}
int main() {
  float x[128], y[2] = {0, 0};
  for (int i = 0; i < 128; ++i) x[i] = float(i);
  std::function<void()> body = [&] { blockSum(x, y); };
  hwnas_shim::launch(dim3(2), dim3(64), true, body);
  const int a = int(0x80FF0102u), b = int(0x02030405u);  // bytes (lsb first) 2,1,-1,-128 and 5,4,3,2
  std::printf("%g %g %d\n", y[0], y[1], __dp4a(a, b, 7));
  return 0;
}
)";
  writeFileAtomic(tmp.file("shim_test.cpp"), src);
  std::string log;
  ASSERT_EQ(betest::runCommand("g++ -std=c++17 -I" + kSource + "/exporter " + tmp.file("shim_test.cpp") + " -o " +
                                   tmp.file("shim_test"),
                               &log),
            0)
      << log;
  ASSERT_EQ(betest::runCommand(tmp.file("shim_test"), &log), 0) << log;
  // sum 0..63 = 2016, 64..127 = 6112; dp4a: 2*5 + 1*4 + (-1)*3 + (-128)*2 + 7 = -238
  EXPECT_EQ(log, "2016 6112 -238\n");
}

TEST(CudaCodegen, NvccCompilesModelCu) {
  if (!fs::exists(kNvcc)) GTEST_SKIP() << kNvcc << " not installed";
  TempDir tmp("hwnas-cuda-nvcc-");
  const std::string out = generate(tmp, betest::smallNet());
  std::string log;
  ASSERT_EQ(betest::runCommand("cd " + out + " && " + kNvcc + " -std=c++17 -c model.cu -o model.o", &log), 0) << log;
  EXPECT_GT(fs::file_size(out + "/model.o"), 1000u);
}

TEST(CudaCodegen, WeightsFileLayout) {
  const ExportModel m = betest::smallNet();
  const runtime::Plan plan = lower(m.graph, m.weights);
  const std::string w = cudaWeightsFile(plan);
  size_t floats = 0;
  for (const auto& op : plan.ops) floats += op.weight.size() + op.bias.size() + op.weight2.size() + op.bias2.size();
  ASSERT_EQ(w.size(), 24 + floats * 4 + 8);
  EXPECT_EQ(w.substr(0, 8), "HWNASCUW");
  float first;
  std::memcpy(&first, w.data() + 24, 4);
  EXPECT_EQ(first, plan.ops[0].weight[0]);
}

TEST(CudaCodegen, Int8PlansAreRefusedClearly) {
  TempDir tmp("hwnas-cuda-");
  const QuantSpec spec = betest::oneInt8Layer("b0.pw");
  BackendOptions o;
  o.sourceDir = kSource;
  o.quant = &spec;
  try {
    CudaBackend().write(betest::smallNet(), tmp.file("x"), o);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("int8"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(tmp.file("x")));
}
