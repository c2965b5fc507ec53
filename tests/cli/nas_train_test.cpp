// End-to-end tests of nas-train as a user runs it: a real process, real Fashion-MNIST (a small
// slice unless HWNAS_FULL_TESTS=1), files checked on disk, exit codes and messages checked.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
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
const std::string kRefnet = std::string(HWNAS_SOURCE_DIR) + "/configs/models/refnet.yaml";

struct CliRun {
  int code;
  std::string output;
};

CliRun run(const std::string& args) {
  std::string cmd = kBin + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

bool fullTests() { return std::getenv("HWNAS_FULL_TESTS") != nullptr; }
std::vector<std::string> lines(const std::string& path) {
  std::ifstream f(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(f, l);) out.push_back(l);
  return out;
}

// Small and fast: 1,024 training images, 500 for val and test, batch 64.
const std::string kSmall = " --recipe reference --train-limit 1024 --eval-limit 500 --batch-size 64 --quiet";

}  // namespace

TEST(NasTrainCli, TrainsAboveChanceAndWritesItsFolder) {
  if (!haveFashionMnist()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  TempDir tmp;
  const std::string out = tmp.file("run");
  const std::string size = fullTests() ? " --recipe reference --epochs 1 --quiet" : kSmall + " --epochs 3";
  CliRun r = run("--model " + kRefnet + " --out " + out + " --seed 1 --threads 2" + size);
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* f : {"model.yaml", "model.safetensors", "curve.csv", "metrics.json", "checkpoint/state.safetensors"})
    EXPECT_TRUE(fs::exists(out + "/" + f)) << f;
  Json m = readJsonFile(out + "/metrics.json");
  EXPECT_EQ(m["params"].get<int64_t>(), 136570);
  EXPECT_EQ(m["macs"].get<int64_t>(), 5719680);
  // Chance is 10%; a working trainer is far above it even on the small slice.
  EXPECT_GT(m["val_accuracy"].get<double>(), fullTests() ? 0.85 : 0.55);
  EXPECT_GT(m["test_accuracy"].get<double>(), fullTests() ? 0.85 : 0.55);
  EXPECT_GT(m["train_images_per_second"].get<double>(), 0);
  auto curve = lines(out + "/curve.csv");
  ASSERT_GE(curve.size(), 2u);
  EXPECT_EQ(curve[0], "epoch,loss,train_accuracy,val_accuracy,lr");
  if (curve.size() >= 4) {  // loss goes down from the first epoch to the last
    double first = std::stod(curve[1].substr(curve[1].find(',') + 1));
    double last = std::stod(curve.back().substr(curve.back().find(',') + 1));
    EXPECT_LT(last, first);
  }
  // The folder's model.yaml is itself a valid model for nas-train.
  CliRun again = run("--model " + out + "/model.yaml --out " + tmp.file("again") + kSmall + " --max-steps 2");
  EXPECT_EQ(again.code, 0) << again.output;
}

TEST(NasTrainCli, ResumeIsExactAndThreadCountDoesNotMatter) {
  if (!haveFashionMnist()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  TempDir tmp;
  const std::string base = "--model " + kRefnet + " --recipe default --train-limit 512 --eval-limit 200 --batch-size 64 --epochs 2 --quiet --seed 3";
  CliRun a = run(base + " --threads 2 --out " + tmp.file("a"));
  ASSERT_EQ(a.code, 0) << a.output;
  CliRun b1 = run(base + " --threads 1 --max-steps 11 --out " + tmp.file("b"));
  ASSERT_EQ(b1.code, 0) << b1.output;
  CliRun b2 = run(base + " --threads 2 --resume --out " + tmp.file("b"));
  ASSERT_EQ(b2.code, 0) << b2.output;
  EXPECT_EQ(readFile(tmp.file("a") + "/model.safetensors"), readFile(tmp.file("b") + "/model.safetensors"));
  EXPECT_EQ(readFile(tmp.file("a") + "/curve.csv"), readFile(tmp.file("b") + "/curve.csv"));
  // Resuming with other settings is refused.
  CliRun c = run(base + " --lr 0.3 --resume --out " + tmp.file("b"));
  EXPECT_EQ(c.code, 2) << c.output;
  EXPECT_NE(c.output.find("other settings"), std::string::npos) << c.output;
}

TEST(NasTrainCli, BadInputIsOneLineExitTwoAndWritesNothing) {
  TempDir tmp;
  const std::string out = tmp.file("out");
  CliRun r = run("--model " + kRefnet + " --out " + out + " --bogus 1");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("nas-train: "), std::string::npos);

  r = run("--model /nonexistent/m.yaml --out " + out);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("/nonexistent/m.yaml"), std::string::npos) << r.output;

  const std::string bad = tmp.file("bad.yaml");
  std::ofstream(bad) << "name: x\nstem: {out: 8}\nblocks:\n  - {out: 16, strid: 2}\n";
  r = run("--model " + bad + " --out " + out);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find(bad + ":4:15: blocks[0].strid: unknown key"), std::string::npos) << r.output;

  // A model whose input does not fit the dataset (3 channels vs Fashion-MNIST's 1).
  if (haveFashionMnist()) {
    const std::string rgb = tmp.file("rgb.yaml");
    std::ofstream(rgb) << "name: rgb\ninput: {channels: 3, height: 28, width: 28}\nstem: {out: 8}\nblocks: []\n";
    r = run("--model " + rgb + " --out " + out);
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.output.find("3x28x28"), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(out));
  }
  // A value of the wrong type.
  std::ofstream(bad) << "name: x\nstem: {out: 8, kernel: three}\nblocks: []\n";
  r = run("--model " + bad + " --out " + out);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find(bad + ":2:24: stem.kernel: expected an integer"), std::string::npos) << r.output;

  // A corrupt dataset: truncated IDX files.
  const std::string data = tmp.file("data");
  fs::create_directories(data);
  for (const char* f : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                        "t10k-labels-idx1-ubyte"})
    std::ofstream(data + "/" + f) << "garbage";
  r = run("--model " + kRefnet + " --data-dir " + data + " --out " + out);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find(data), std::string::npos) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_FALSE(fs::exists(out)) << "nothing may be written on bad input";

  r = run("--model " + kRefnet + " --out " + out + " --resume");
  EXPECT_EQ(r.code, 2);
  EXPECT_FALSE(fs::exists(out));
  r = run("--model " + kRefnet + " --out " + out + " --epochs 0");
  EXPECT_EQ(r.code, 2);
  r = run("--model " + kRefnet + " --out " + out + " --optimizer adam");
  EXPECT_EQ(r.code, 2);
  EXPECT_FALSE(fs::exists(out));
  r = run("--model " + kRefnet + " --out " + out + " --erase 1.5");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("--erase"), std::string::npos) << r.output;
  r = run("--model " + kRefnet + " --out " + out + " --erase half");
  EXPECT_EQ(r.code, 2);
  r = run("--model " + kRefnet + " --out " + out + " --ema 1");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("--ema"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out));

  // An existing, non-empty folder is not overwritten without --force.
  fs::create_directories(out);
  std::ofstream(out + "/keep.txt") << "mine";
  r = run("--model " + kRefnet + " --out " + out);
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(fs::exists(out + "/keep.txt"));

  // A truncated checkpoint: a clear error naming it.
  fs::create_directories(out + "/checkpoint");
  std::ofstream(out + "/checkpoint/state.safetensors") << "\x10\x00\x00";
  r = run("--model " + kRefnet + " --out " + out + " --resume --train-limit 256");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("state.safetensors"), std::string::npos) << r.output;
}

TEST(NasTrainCli, HelpHasExamples) {
  CliRun r = run("--help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.output.find("Examples:"), std::string::npos);
  EXPECT_NE(r.output.find("--resume"), std::string::npos);
}
