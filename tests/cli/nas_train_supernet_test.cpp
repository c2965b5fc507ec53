// End-to-end tests of nas-train's supernet modes: --supernet (train from a recipe YAML, exact
// resume), --supernet-eval --arch/--archs (inherited accuracy as JSON), --extract (a standalone
// model nas-train --model --init-weights fine-tunes), the NB201 cell supernet, and bad input
// (one line, exit code 2, nothing written). Tiny runs: a few hundred Fashion-MNIST images.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/fs_util.h"
#include "core/json_util.h"
#include "tests/cli/cli_util.h"

namespace fs = std::filesystem;
using namespace hwnas;
using cli::haveFashionMnist;

namespace {

const std::string kBin = std::string(HWNAS_BIN_DIR) + "/nas-train";
const std::string kRecipe = std::string(HWNAS_SOURCE_DIR) + "/configs/supernet/fmnist_small.yaml";

struct CliRun {
  int code;
  std::string output;
};

CliRun run(const std::string& args, bool stderrToo = true) {
  std::string cmd = kBin + " " + args + (stderrToo ? " 2>&1" : " 2>/dev/null");
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// 256 training images (4 steps of 64), 200 validation images.
const std::string kData = " --train-limit 256 --eval-limit 200 --batch-size 64 --quiet";
const std::string kTiny = kData + " --epochs 1";

const std::string kRefnetArch =
    R"({"stages":[{"depth":2,"out":24,"se":false,"blocks":[{"kernel":3,"expand":4},{"kernel":3,"expand":4}]},)"
    R"({"depth":2,"out":40,"se":false,"blocks":[{"kernel":5,"expand":4},{"kernel":5,"expand":4}]},)"
    R"({"depth":2,"out":80,"se":false,"blocks":[{"kernel":3,"expand":4},{"kernel":3,"expand":4}]}]})";

}  // namespace

TEST(NasTrainSupernetCli, TrainsEvaluatesExtractsAndFineTunes) {
  if (!haveFashionMnist()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  TempDir tmp;
  const std::string sn = tmp.file("sn");
  CliRun r = run("--supernet " + kRecipe + " --out " + sn + " --seed 1 --threads 2" + kTiny);
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* f : {"supernet.json", "supernet.safetensors", "space.yaml", "recipe.yaml", "curve.csv",
                        "checkpoint/state.safetensors"})
    EXPECT_TRUE(fs::exists(sn + "/" + f)) << f;
  Json m = readJsonFile(sn + "/supernet.json");
  EXPECT_EQ(m["method"], "sandwich");
  EXPECT_EQ(m["steps"].get<int64_t>(), 4);
  // The space's extremes, with the costs nas-space reports.
  EXPECT_EQ(m["largest"]["macs"].get<int64_t>(), 14372592);
  EXPECT_EQ(m["smallest"]["macs"].get<int64_t>(), 1275552);
  EXPECT_EQ(m["largest"]["params"].get<int64_t>(), 700826);
  EXPECT_GE(m["largest"]["val_accuracy"].get<double>(), 0.0);
  EXPECT_EQ(readFile(sn + "/space.yaml"), readFile(std::string(HWNAS_SOURCE_DIR) + "/configs/spaces/fmnist_small.yaml"));

  // One arch (refnet): JSON with its costs and inherited accuracy on the 200 val images.
  const std::string arch = tmp.file("refnet.json");
  std::ofstream(arch) << kRefnetArch;
  CliRun e = run("--supernet-eval " + sn + " --arch " + arch, false);
  ASSERT_EQ(e.code, 0) << e.output;
  Json j = parseJson(e.output);
  EXPECT_EQ(j["params"].get<int64_t>(), 136570);
  EXPECT_EQ(j["macs"].get<int64_t>(), 5719680);
  EXPECT_EQ(j["val_images"].get<int64_t>(), 200);
  EXPECT_EQ(j["calibration_images"].get<int64_t>(), 256);  // all of the (limited) training split
  const double inherited = j["val_accuracy"].get<double>();
  EXPECT_GE(inherited, 0.0);
  EXPECT_LE(inherited, 1.0);

  // Several archs as JSON lines: the same result for the same arch.
  const std::string lines = tmp.file("archs.jsonl");
  std::ofstream(lines) << kRefnetArch << "\n\n" << R"({"hash": "from nas-space sample", "arch": {"stages":[{"depth":1,"out":16,"se":false,"blocks":[{"kernel":3,"expand":2}]},{"depth":1,"out":32,"se":true,"blocks":[{"kernel":5,"expand":6}]},{"depth":3,"out":64,"se":false,"blocks":[{"kernel":3,"expand":2},{"kernel":5,"expand":4},{"kernel":3,"expand":6}]}]}})" << "\n";
  CliRun many = run("--supernet-eval " + sn + " --archs " + lines, false);
  ASSERT_EQ(many.code, 0) << many.output;
  std::istringstream in(many.output);
  std::string l1, l2, l3;
  std::getline(in, l1);
  std::getline(in, l2);
  EXPECT_FALSE(std::getline(in, l3));
  EXPECT_EQ(parseJson(l1)["val_accuracy"].get<double>(), inherited);
  EXPECT_EQ(parseJson(l1)["hash"], j["hash"]);
  EXPECT_NE(parseJson(l2)["hash"], j["hash"]);

  // Extract: model.yaml + model.safetensors; nas-train --model starts from those weights. One
  // step at a negligible learning rate keeps the inherited accuracy (only BN's running
  // statistics move, by momentum 0.1), while a fresh initialisation is near chance.
  const std::string ex = tmp.file("ex");
  CliRun x = run("--supernet-eval " + sn + " --extract " + arch + " --out " + ex, false);
  ASSERT_EQ(x.code, 0) << x.output;
  EXPECT_TRUE(fs::exists(ex + "/model.yaml"));
  EXPECT_TRUE(fs::exists(ex + "/model.safetensors"));
  EXPECT_EQ(readJsonFile(ex + "/metrics.json")["val_accuracy"].get<double>(), inherited);
  CliRun ft = run("--model " + ex + "/model.yaml --init-weights " + ex + "/model.safetensors --out " + tmp.file("ft") +
                  " --lr 1e-9 --max-steps 1" + kTiny);
  ASSERT_EQ(ft.code, 0) << ft.output;
  Json fm = readJsonFile(tmp.file("ft") + "/metrics.json");
  EXPECT_NEAR(fm["val_accuracy"].get<double>(), inherited, 0.03);
  EXPECT_EQ(fm["params"].get<int64_t>(), 136570);
  // Weights of another architecture are refused.
  CliRun wrong = run("--model " + std::string(HWNAS_SOURCE_DIR) + "/configs/models/refnet.yaml --init-weights " + sn +
                     "/supernet.safetensors --out " + tmp.file("wrong") + kTiny);
  EXPECT_EQ(wrong.code, 2) << wrong.output;
}

TEST(NasTrainSupernetCli, ResumeIsExactAtAnyThreadCount) {
  if (!haveFashionMnist()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  TempDir tmp;
  // 2 epochs of 4 steps of 32 images.
  const std::string base = "--supernet " + kRecipe + " --seed 2 --train-limit 128 --eval-limit 100 --batch-size 32 --quiet --epochs 2";
  CliRun a = run(base + " --threads 2 --out " + tmp.file("a"));
  ASSERT_EQ(a.code, 0) << a.output;
  CliRun b1 = run(base + " --threads 1 --max-steps 3 --out " + tmp.file("b"));
  ASSERT_EQ(b1.code, 0) << b1.output;
  CliRun b2 = run(base + " --threads 2 --resume --out " + tmp.file("b"));
  ASSERT_EQ(b2.code, 0) << b2.output;
  EXPECT_EQ(readFile(tmp.file("a") + "/supernet.safetensors"), readFile(tmp.file("b") + "/supernet.safetensors"));
  EXPECT_EQ(readFile(tmp.file("a") + "/curve.csv"), readFile(tmp.file("b") + "/curve.csv"));
  CliRun c = run(base + " --lr 0.3 --resume --out " + tmp.file("b"));
  EXPECT_EQ(c.code, 2) << c.output;
  EXPECT_NE(c.output.find("other settings"), std::string::npos) << c.output;
}

// The NB201 cell supernet through the same tool: a 1-channel 28x28 NB201 space (C = 4, one
// cell per stage, to stay tiny), method uniform.
TEST(NasTrainSupernetCli, Nb201CellSupernet) {
  if (!haveFashionMnist()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  TempDir tmp;
  std::ofstream(tmp.file("space.yaml")) << "kind: nb201\nname: nb201_fmnist_tiny\ninput: {channels: 1, classes: 10, resolution: 28}\n"
                                          "cell: {channels: 4, cells_per_stage: 1}\n";
  std::ofstream(tmp.file("recipe.yaml")) << "space: space.yaml\nmethod: uniform\nsubnets_per_step: 1\ntrain: {lr: 0.05}\n";
  const std::string sn = tmp.file("sn");
  CliRun r = run("--supernet " + tmp.file("recipe.yaml") + " --out " + sn + kTiny);
  ASSERT_EQ(r.code, 0) << r.output;
  Json m = readJsonFile(sn + "/supernet.json");
  EXPECT_EQ(m["kind"], "nb201");
  EXPECT_EQ(m["method"], "uniform");
  const std::string arch = tmp.file("a.json");
  std::ofstream(arch) << R"({"arch_str": "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"})";
  CliRun e = run("--supernet-eval " + sn + " --arch " + arch, false);
  ASSERT_EQ(e.code, 0) << e.output;
  Json j = parseJson(e.output);
  EXPECT_EQ(j["arch"]["edges"], Json::parse("[3,1,2,4,0,3]"));
  EXPECT_GE(j["val_accuracy"].get<double>(), 0.0);
  CliRun x = run("--supernet-eval " + sn + " --extract " + arch + " --out " + tmp.file("ex"), false);
  ASSERT_EQ(x.code, 0) << x.output;
  EXPECT_TRUE(fs::exists(tmp.file("ex") + "/model.safetensors"));
  EXPECT_EQ(readJsonFile(tmp.file("ex") + "/arch.json")["edges"], Json::parse("[3,1,2,4,0,3]"));

  // Sandwich is refused for the cell supernet; a 3-channel NB201 space does not fit Fashion-MNIST.
  std::ofstream(tmp.file("sandwich.yaml")) << "space: space.yaml\nmethod: sandwich\n";
  CliRun s = run("--supernet " + tmp.file("sandwich.yaml") + " --out " + tmp.file("o") + kTiny);
  EXPECT_EQ(s.code, 2) << s.output;
  EXPECT_NE(s.output.find("uniform"), std::string::npos) << s.output;
  std::ofstream(tmp.file("rgb.yaml")) << "space: " << HWNAS_SOURCE_DIR << "/configs/spaces/nb201.yaml\nmethod: uniform\n";
  CliRun rgb = run("--supernet " + tmp.file("rgb.yaml") + " --out " + tmp.file("o") + kTiny);
  EXPECT_EQ(rgb.code, 2) << rgb.output;
  EXPECT_NE(rgb.output.find("3-channel"), std::string::npos) << rgb.output;
  EXPECT_FALSE(fs::exists(tmp.file("o")));
}

TEST(NasTrainSupernetCli, BadInputIsOneLineExitTwoAndWritesNothing) {
  TempDir tmp;
  const std::string out = tmp.file("out");
  auto expectBad = [&](const std::string& args, const std::string& needle) {
    CliRun r = run(args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << args << "\n" << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    EXPECT_FALSE(fs::exists(out)) << args;
  };
  const std::string bad = tmp.file("bad.yaml");
  std::ofstream(bad) << "space: ../spaces/fmnist_small.yaml\nmethod: sandwich\nsubnets_per_stp: 2\n";
  expectBad("--supernet " + bad + " --out " + out, bad + ":3:1: subnets_per_stp: unknown key");
  std::ofstream(bad) << "space: " << HWNAS_SOURCE_DIR << "/configs/spaces/fmnist_small.yaml\nmethod: shrink\n";
  expectBad("--supernet " + bad + " --out " + out, "method");
  std::ofstream(bad) << "space: " << HWNAS_SOURCE_DIR << "/configs/spaces/fmnist_small.yaml\ndistill: {alpha: 2}\n";
  expectBad("--supernet " + bad + " --out " + out, "distill.alpha");
  std::ofstream(bad) << "space: /nonexistent/space.yaml\n";
  expectBad("--supernet " + bad + " --out " + out, "/nonexistent/space.yaml");
  expectBad("--supernet /nonexistent/recipe.yaml --out " + out, "/nonexistent/recipe.yaml");
  expectBad("--supernet " + kRecipe + " --model x.yaml --out " + out, "one of --model");
  expectBad("--supernet " + kRecipe, "--out is required");
  expectBad("--supernet " + kRecipe + " --out " + out + " --epochs 0", "epochs");
  expectBad("--supernet-eval " + tmp.file("nothing") + " --arch a.json", "supernet.json is missing");
  expectBad("--model " + std::string(HWNAS_SOURCE_DIR) + "/configs/models/refnet.yaml --arch a.json --out " + out,
            "--supernet-eval");

  // A trained folder with a bad arch: the key path of the mistake.
  if (!haveFashionMnist()) return;
  const std::string sn = tmp.file("sn");
  ASSERT_EQ(run("--supernet " + kRecipe + " --out " + sn + " --max-steps 1" + kTiny).code, 0);
  const std::string arch = tmp.file("a.json");
  std::string a = kRefnetArch;
  a.replace(a.find("\"kernel\":5"), 10, "\"kernel\":7");
  std::ofstream(arch) << a;
  expectBad("--supernet-eval " + sn + " --arch " + arch, "stages[1].blocks[0].kernel");
  std::ofstream(arch) << kRefnetArch;
  expectBad("--supernet-eval " + sn + " --extract " + arch, "--extract needs --out");
  expectBad("--supernet-eval " + sn + " --arch " + arch + " --archs " + arch, "one of --arch");
}
