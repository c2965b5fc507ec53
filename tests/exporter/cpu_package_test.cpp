// CPU package backend: the generated folder (runtime copy, model.plan, model.h/.cpp, main.cpp,
// CMakeLists.txt) configures and builds with cmake + the system C++ compiler in a temp dir, and the
// example's outputs on a given input equal the in-tree runtime's within 1e-5. One small network
// in CI (the build takes tens of seconds); HWNAS_TEST_REFNET=1 adds refnet.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "backend_test_util.h"
#include "core/error.h"
#include "core/fs_util.h"
#include "exporter/cpu_package.h"
#include "trainer/model_def.h"
#include "trainer/weight_map.h"

using namespace hwnas;
namespace fs = std::filesystem;

namespace {

const std::string kSource = HWNAS_SOURCE_DIR;

void buildAndCompare(const ExportModel& m, int64_t batch, const QuantSpec* quant = nullptr) {
  TempDir tmp("hwnas-cpu-package-");
  const std::string out = tmp.file("pkg");
  BackendOptions o;
  o.sourceDir = kSource;
  o.quant = quant;
  const BackendResult r = CpuPackageBackend().write(m, out, o);
  for (const char* f : {"CMakeLists.txt", "model.h", "model.cpp", "main.cpp", "model.plan", "README.md",
                        "runtime/executor.cpp", "runtime/plan.h"})
    EXPECT_TRUE(fs::exists(out + "/" + f)) << f;
  EXPECT_NE(std::find(r.files.begin(), r.files.end(), "model.plan"), r.files.end());
  // The package never asks for -march=native or packages.
  std::string cm;  // without comment lines
  {
    std::istringstream lines(readFile(out + "/CMakeLists.txt"));
    for (std::string line; std::getline(lines, line);)
      if (line.rfind("#", 0) != 0) cm += line + "\n";
  }
  EXPECT_NE(cm.find("cmake_minimum_required(VERSION 3.16)"), std::string::npos);
  EXPECT_EQ(cm.find("march=native"), std::string::npos);
  EXPECT_EQ(cm.find("find_package"), std::string::npos);

  const runtime::Plan plan = quant ? lowerQuantized(m.graph, m.weights, *quant) : lower(m.graph, m.weights);
  const int64_t in = runtime::shapeElements(plan.tensors[plan.inputs[0]].shape);
  const std::vector<float> x = betest::patternInput(size_t(in * batch), 11);
  betest::writeFloats(tmp.file("x.f32"), x);
  const std::vector<float> expected = betest::runtimeOutputs(plan, x, batch);

  std::string log;
  ASSERT_EQ(betest::runCommand("cmake -S " + out + " -B " + tmp.file("build") + " -DCMAKE_BUILD_TYPE=Release", &log), 0)
      << log;
  ASSERT_EQ(betest::runCommand("cmake --build " + tmp.file("build") + " -j2", &log), 0) << log;
  std::string text;
  ASSERT_EQ(betest::runCommand(tmp.file("build") + "/example --input " + tmp.file("x.f32") + " --batch " +
                                   std::to_string(batch) + " --threads 2",
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
  EXPECT_LE(worst, 1e-5) << "package example vs in-tree runtime";
  EXPECT_GT(scale, 1e-3) << "outputs must not be trivially zero";
  // A plan file that is not this model's is refused with a message naming it.
  std::ofstream(tmp.file("bad.plan")) << "not a plan";
  ASSERT_NE(betest::runCommand(tmp.file("build") + "/example --plan " + tmp.file("bad.plan"), &text), 0);
  EXPECT_NE(text.find("bad.plan"), std::string::npos) << text;
}

}  // namespace

TEST(CpuPackage, SmallNetBuildsStandaloneAndMatchesRuntime) { buildAndCompare(betest::smallNet(), 3); }

TEST(CpuPackage, RefnetBuildsStandaloneAndMatchesRuntime) {
  if (!betest::refnetEnabled()) GTEST_SKIP() << "set HWNAS_TEST_REFNET=1 to build the refnet package";
  buildAndCompare(betest::refnet(), 4);
}

// int8: the package carries the lowerQuantized plan and runs it with the copied runtime's int8
// kernels. Another standalone build, so opt-in like refnet.
TEST(CpuPackage, Int8SmallNetBuildsStandaloneAndMatchesRuntime) {
  if (!betest::refnetEnabled()) GTEST_SKIP() << "set HWNAS_TEST_REFNET=1 to build the int8 package";
  QuantSpec spec;
  spec.calibration = "minmax";
  for (const char* layer : {"stem.conv", "b0.pw", "b0.short", "head.fc"}) {
    LayerQuant lq;
    lq.inputScale = 0.03f;
    lq.outputScale = 0.04f;
    lq.outputZeroPoint = 3;
    spec.layers[layer] = lq;
  }
  const ExportModel m = betest::smallNet();
  const runtime::Plan plan = lowerQuantized(m.graph, m.weights, spec);
  int int8 = 0;
  for (const auto& op : plan.ops) int8 += runtime::isInt8Op(plan, op) ? 1 : 0;
  ASSERT_GE(int8, 4);
  buildAndCompare(m, 2, &spec);
}

TEST(CpuPackage, ExistingOutputIsKeptAndNothingHalfWritten) {
  TempDir tmp("hwnas-cpu-package-");
  const std::string out = tmp.file("pkg");
  fs::create_directories(out);
  std::ofstream(out + "/keep.txt") << "mine";
  BackendOptions o;
  o.sourceDir = kSource;
  EXPECT_THROW(CpuPackageBackend().write(betest::smallNet(), out, o), IoError);
  EXPECT_EQ(readFile(out + "/keep.txt"), "mine");
  // A model whose weights are missing fails before anything is written.
  ExportModel bad = betest::smallNet();
  bad.weights.erase("stem.conv.weight");
  EXPECT_THROW(CpuPackageBackend().write(bad, tmp.file("bad"), o), Error);
  EXPECT_FALSE(fs::exists(tmp.file("bad")));
  for (const auto& e : fs::directory_iterator(tmp.path()))
    EXPECT_EQ(e.path().filename().string().find("staging"), std::string::npos) << e.path();
  // A source folder without the runtime is a clear error.
  o.sourceDir = tmp.path();
  try {
    CpuPackageBackend().write(betest::smallNet(), tmp.file("x"), o);
    FAIL() << "expected IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("HWNAS_SOURCE_DIR"), std::string::npos) << e.what();
  }
  o.replace = true;
  o.sourceDir = kSource;
  CpuPackageBackend().write(betest::smallNet(), out, o);
  EXPECT_FALSE(fs::exists(out + "/keep.txt"));
  EXPECT_TRUE(fs::exists(out + "/model.plan"));
}

TEST(Backends, RegistryKnowsEveryTarget) {
  for (const std::string& t : backendNames()) EXPECT_EQ(makeBackend(t)->name(), t);
  try {
    makeBackend("tpu");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("cpu, cuda, fpga"), std::string::npos) << e.what();
  }
}
