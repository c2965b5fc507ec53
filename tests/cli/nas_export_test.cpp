// nas-export end to end on a tiny model folder (no dataset: --no-accuracy): default recipe to
// ONNX, a pruning recipe, and bad input (unknown pass, truncated ONNX, unsupported op, existing
// --out) as one-line errors with exit code 2 and nothing written.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/fs_util.h"
#include "core/json_util.h"
#include "tests/cli/cli_util.h"
#include "trainer/model_def.h"
#include "trainer/safetensors.h"
#include "trainer/training.h"

namespace fs = std::filesystem;

namespace hwnas {
namespace {

const std::string kBin = std::string(HWNAS_BIN_DIR) + "/nas-export";

const char* kTinyModel = R"(name: tiny
input: {channels: 1, height: 12, width: 12}
classes: 10
stem: {out: 8, kernel: 3, stride: 2, act: relu}
blocks:
  - {type: mbconv, out: 8, kernel: 3, stride: 1, expand: 2, act: relu6}
head: {out: 16, act: relu6, dropout: 0.0}
)";

std::string writeModelFolder(const TempDir& t) {
  const std::string dir = t.file("model");
  fs::create_directories(dir);
  std::ofstream(dir + "/model.yaml") << kTinyModel;
  const ModelDef def = parseModelDef(kTinyModel, "tiny");
  auto model = buildModel(def, 3);
  saveSafetensors(dir + "/model.safetensors", stateDict(*model), {{"format", "pt"}});
  return dir;
}

std::string readAll(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

TEST(NasExport, DefaultRecipeWritesOnnxAndReport) {
  TempDir t;
  const std::string model = writeModelFolder(t);
  const std::string out = t.file("out");
  const auto r = cli::runCli(kBin, "--model " + model + " --target onnx --out " + out + " --no-accuracy --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::exists(out + "/model.onnx"));
  EXPECT_TRUE(fs::exists(out + "/report.md"));
  const Json j = Json::parse(readAll(out + "/report.json"));
  ASSERT_EQ(j["steps"].size(), 2u);
  EXPECT_EQ(j["steps"][1]["name"], "fold_bn");
  EXPECT_EQ(j["steps"][0]["macs"], j["steps"][1]["macs"]);
  EXPECT_GT(j["steps"][1]["measured_latency"]["batch64"]["median_ms"].get<double>(), 0);
  EXPECT_NE(r.out.find("| fold_bn |"), std::string::npos) << r.out;
  // the folded ONNX comes back in through --model
  const std::string out2 = t.file("out2");
  const auto r2 = cli::runCli(kBin, "--model " + out + "/model.onnx --target onnx --out " + out2 + " --no-accuracy --no-latency --quiet");
  ASSERT_EQ(r2.code, 0) << r2.err;
  const Json j2 = Json::parse(readAll(out2 + "/report.json"));
  EXPECT_EQ(j2["steps"][0]["macs"], j["steps"][1]["macs"]);
}

TEST(NasExport, PruneRecipeShrinksTheModel) {
  TempDir t;
  const std::string model = writeModelFolder(t);
  const std::string recipe = t.file("r.yaml");
  std::ofstream(recipe) << "passes:\n  - {pass: prune, method: l1, sparsity: 0.5}\n  - {pass: fold_bn}\n"
                           "measure: {latency_repeats: 2, latency_batches: [1]}\n";
  const auto r = cli::runCli(kBin, "--model " + model + " --recipe " + recipe + " --target onnx --out " + t.file("o") +
                                       " --no-accuracy --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  const Json j = Json::parse(readAll(t.file("o") + "/report.json"));
  ASSERT_EQ(j["steps"].size(), 3u);
  EXPECT_LT(j["steps"][1]["macs"].get<int64_t>(), j["steps"][0]["macs"].get<int64_t>());
  EXPECT_LT(j["steps"][2]["size_bytes"].get<int64_t>(), j["steps"][0]["size_bytes"].get<int64_t>());
}

TEST(NasExport, BadInputIsOneLineExitTwoAndNothingWritten) {
  TempDir t;
  const std::string model = writeModelFolder(t);
  const std::string recipe = t.file("bad.yaml");
  std::ofstream(recipe) << "passes:\n  - {pass: fold_bn}\n  - {pass: sharpen}\n";
  const std::string out = t.file("o");
  auto r = cli::runCli(kBin, "--model " + model + " --recipe " + recipe + " --target onnx --out " + out);
  cli::expectOneLineError(r, "nas-export", "bad.yaml:3:");
  EXPECT_NE(r.err.find("passes[1].pass"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
  r = cli::runCli(kBin, "--model " + model + " --target tpu --out " + out);
  cli::expectOneLineError(r, "nas-export", "--target 'tpu'");
  r = cli::runCli(kBin, "--model " + t.file("nope") + " --target onnx --out " + out);
  cli::expectOneLineError(r, "nas-export", "no such file");
  // a good ONNX file to break
  const std::string good = t.file("good");
  ASSERT_EQ(cli::runCli(kBin, "--model " + model + " --target onnx --out " + good + " --no-accuracy --no-latency --quiet").code, 0);
  const std::string bytes = readAll(good + "/model.onnx");
  {
    std::ofstream(t.file("trunc.onnx"), std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  r = cli::runCli(kBin, "--model " + t.file("trunc.onnx") + " --target onnx --out " + out + " --no-accuracy");
  cli::expectOneLineError(r, "nas-export", "trunc.onnx");
  EXPECT_FALSE(fs::exists(out));
  // the stem's Relu renamed to an op nobody has (same length keeps the protobuf valid)
  std::string odd = bytes;
  const size_t at = odd.find("Relu");
  ASSERT_NE(at, std::string::npos);
  odd.replace(at, 4, "Relx");
  {
    std::ofstream(t.file("odd.onnx"), std::ios::binary) << odd;
  }
  r = cli::runCli(kBin, "--model " + t.file("odd.onnx") + " --target onnx --out " + out + " --no-accuracy");
  cli::expectOneLineError(r, "nas-export", "Relx");
  EXPECT_FALSE(fs::exists(out));
  // an existing --out without --force
  r = cli::runCli(kBin, "--model " + model + " --target onnx --out " + good + " --no-accuracy");
  cli::expectOneLineError(r, "nas-export", "already exists");
  EXPECT_TRUE(fs::exists(good + "/model.onnx"));
}

TEST(NasExport, HelpHasExamples) {
  const auto r = cli::runCli(kBin, "--help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("--recipe"), std::string::npos);
  EXPECT_NE(r.out.find("Examples:"), std::string::npos);
}

}  // namespace
}  // namespace hwnas
