// End-to-end tests of nas-space as a user runs it: a real process, JSON on stdout checked
// field by field, one-line errors and exit code 2 for bad input.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/fs_util.h"
#include "tests/cli/cli_util.h"
#include "core/json_util.h"

using namespace hwnas;

namespace {

const std::string kBin = std::string(HWNAS_BIN_DIR) + "/nas-space";
const std::string kSrc = std::string(HWNAS_SOURCE_DIR);

using cli::CliRun;

CliRun run(const std::string& args) { return cli::runCli(kBin, args); }

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string l; std::getline(ss, l);) out.push_back(l);
  return out;
}

void expectOneLineError(const CliRun& r, const std::string& part) { cli::expectOneLineError(r, "nas-space", part); }

}  // namespace

TEST(NasSpaceCli, HelpShowsExamples) {
  CliRun r = run("--help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("Examples:"), std::string::npos);
  EXPECT_NE(r.out.find("nas-space sample --space"), std::string::npos);
}

TEST(NasSpaceCli, InfoReportsExactCardinalityAndCostRange) {
  CliRun r = run("info --space " + kSrc + "/configs/spaces/ofa_mbv3.yaml");
  ASSERT_EQ(r.code, 0) << r.err;
  Json j = parseJson(r.out);
  EXPECT_EQ(j["name"], "ofa_mbv3");
  EXPECT_EQ(j["kind"], "mbconv");
  EXPECT_EQ(j["cardinality"], "152310588448007400957");
  EXPECT_EQ(j["cardinality_per_resolution"], "21758655492572485851");
  EXPECT_TRUE(j["cardinality"].is_string());
  EXPECT_EQ(j["space_id"].get<std::string>().rfind("ofa_mbv3-", 0), 0u);
  EXPECT_TRUE(j["choices"].contains("macro"));
  EXPECT_TRUE(j["choices"].contains("micro"));
  EXPECT_LT(j["macs"]["min"].get<int64_t>(), j["macs"]["max"].get<int64_t>());
  EXPECT_LT(j["params"]["min"].get<int64_t>(), j["params"]["max"].get<int64_t>());

  r = run("info --space " + kSrc + "/configs/spaces/nb201.yaml");
  ASSERT_EQ(r.code, 0) << r.err;
  j = parseJson(r.out);
  EXPECT_EQ(j["cardinality"], "15625");
  EXPECT_EQ(j["isomorphism_classes"], 6466);
  EXPECT_EQ(j["params"]["max"], 1531546);
  EXPECT_EQ(j["macs"]["min"], 7783040);
  EXPECT_EQ(j["cost_range_method"], "enumerated");
}

TEST(NasSpaceCli, SampleWritesOneObjectPerLineDeterministically) {
  const std::string args = "sample --space " + kSrc + "/configs/spaces/fmnist_small.yaml --n 5 --seed 3";
  CliRun a = run(args), b = run(args), c = run(args + "1");
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, c.out);
  auto ls = lines(a.out);
  ASSERT_EQ(ls.size(), 5u);
  for (const auto& l : ls) {
    Json j = parseJson(l);
    for (const char* k : {"arch", "hash", "params", "macs", "peak_activation_bytes"}) EXPECT_TRUE(j.contains(k)) << k;
    EXPECT_EQ(j["hash"].get<std::string>().size(), 16u);
    EXPECT_LE(j["macs"].get<int64_t>(), 15000000);
    EXPECT_GT(j["params"].get<int64_t>(), 0);
  }
}

TEST(NasSpaceCli, StatsOfRefnetAsModelAndAsArch) {
  CliRun r = run("stats --model " + kSrc + "/configs/models/refnet.yaml");
  ASSERT_EQ(r.code, 0) << r.err;
  Json j = parseJson(r.out);
  EXPECT_EQ(j["params"], 136570);
  EXPECT_EQ(j["macs"], 5719680);

  TempDir tmp;
  const std::string arch = tmp.file("refnet.json");
  writeJsonFile(arch, parseJson(
      R"({"stages":[{"depth":2,"out":24,"se":false,"blocks":[{"kernel":3,"expand":4},{"kernel":3,"expand":4}]},)"
      R"({"depth":2,"out":40,"se":false,"blocks":[{"kernel":5,"expand":4},{"kernel":5,"expand":4}]},)"
      R"({"depth":2,"out":80,"se":false,"blocks":[{"kernel":3,"expand":4},{"kernel":3,"expand":4}]}]})"));
  const std::string model = tmp.file("subnet.yaml");
  r = run("stats --space " + kSrc + "/configs/spaces/fmnist_small.yaml --arch " + arch + " --write-model " + model);
  ASSERT_EQ(r.code, 0) << r.err;
  Json k = parseJson(r.out);
  EXPECT_EQ(k["params"], 136570);
  EXPECT_EQ(k["macs"], 5719680);
  EXPECT_EQ(k["peak_activation_bytes"], j["peak_activation_bytes"]);
  EXPECT_EQ(k["hash"], "8375932a06c3d872");
  // the written model YAML has the same costs
  r = run("stats --model " + model);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(parseJson(r.out)["macs"], 5719680);

  r = run("stats --space " + kSrc + "/configs/spaces/nb201.yaml --arch '{\"index\": 6111}'");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(parseJson(r.out)["arch_str"],
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|");
}

TEST(NasSpaceCli, BadInputExitsTwoWithOneLine) {
  TempDir tmp;
  const std::string bad = tmp.file("bad.yaml");
  writeFileAtomic(bad,
                  "kind: mbconv\nname: bad\ninput: {channels: 1, classes: 10}\nmacro:\n  resolution: [28]\n"
                  "  stem: {out: 8, stride: 2}\n  stages:\n    - {stride: 4, blocks: 1, out: 8}\n"
                  "    - {stride: 4, blocks: 1, out: 8}\n");
  expectOneLineError(run("info --space " + bad), "bad.yaml:9:");
  expectOneLineError(run("info --space " + bad), "macro.stages[1].stride: the stride product 32 shrinks");
  writeFileAtomic(bad, "kind: mbconv\nname: bad\ninput: {channels: 1}\nmacro:\n  resolution: []\n");
  expectOneLineError(run("info --space " + bad), "bad.yaml:5:15: macro.resolution: empty choice list");
  writeFileAtomic(bad, "kind: nb201\nname: bad\ncolour: red\n");
  expectOneLineError(run("sample --space " + bad), "unknown key 'colour'");
  expectOneLineError(run("info --space /nonexistent.yaml"), "/nonexistent.yaml");
  expectOneLineError(run("sample"), "--space is required");
  expectOneLineError(run("frobnicate --space x"), "unknown command 'frobnicate'");
  expectOneLineError(run("info --space " + kSrc + "/configs/spaces/nb201.yaml --bogus"), "bogus");
  expectOneLineError(run("stats --space " + kSrc + "/configs/spaces/nb201.yaml --arch '{\"edges\": [1, 2]}'"),
                     "edges: expected a list of 6");
  expectOneLineError(run("stats --space " + kSrc + "/configs/spaces/fmnist_small.yaml --arch '{\"stages\": 3}'"),
                     "stages: expected a list of 3");
}
