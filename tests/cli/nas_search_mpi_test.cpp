// nas-search under mpirun: `mpirun -np 2 nas-search --config X --out DIR` on a tiny pipeline
// (search batch 2, so each step's two new queries go to the two ranks; the top 2 and the
// baseline trained on ranks 0, 1, 0) gives the same queries, winner and trained weights as one
// process, writes DIR from rank 0 only, and logs the work rank 1 did. Built when CMake found MPI
// (HWNAS_MPIEXEC is mpirun's path); skipped without it or without Fashion-MNIST.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "core/fs_util.h"
#include "core/json_util.h"
#include "core/sqlite.h"
#include "tests/cli/cli_util.h"

namespace fs = std::filesystem;
using namespace hwnas;

namespace {

const std::string kBin = std::string(HWNAS_BIN_DIR) + "/nas-search";
const std::string kSrc = std::string(HWNAS_SOURCE_DIR);

std::string config(const std::string& latency) {
  return "kind: pipeline\nspace: " + kSrc + "/configs/spaces/fmnist_small.yaml\nseed: 5\n"
         "supernet: {recipe: " + kSrc + "/configs/supernet/fmnist_small.yaml, epochs: 1, train_limit: 256, batch_size: 64}\n"
         "objective:\n  accuracy: {source: supernet, calibration_images: 128, val_images: 200}\n" + latency +
         "constraints:\n  - {metric: latency, device: host-cpu, max: 0.9, relative_to: baseline}\n"
         "search:\n  strategy: evolution\n  queries: 6\n  batch: 2\n  evolution: {population: 4, sample_size: 2}\n"
         "finalists: {top_k: 2, epochs: 1, train_limit: 256, eval_limit: 200, batch_size: 64, baseline: " + kSrc +
         "/configs/models/refnet.yaml, measure_runs: 5}\n"
         "export: {targets: []}\n";
}

std::string querySequence(const std::string& db) {
  Database d(db);
  Statement s = d.prepare("SELECT arch_hash, accuracy FROM queries WHERE counted ORDER BY seq");
  std::ostringstream o;
  o.precision(17);
  while (s.step()) o << s.getText(0) << ":" << s.getDouble(1) << ";";
  return o.str();
}

}  // namespace

TEST(NasSearchMpi, TwoRanksGiveTheOneProcessWinner) {
#ifndef HWNAS_MPIEXEC
  GTEST_SKIP() << "built without MPI";
#else
  if (!fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")) GTEST_SKIP() << "no Fashion-MNIST";
  TempDir tmp;
  // One process profiles the table; the MPI run uses it frozen (profiled timings are the one
  // thing that differs between runs).
  const std::string one = tmp.file("one"), two = tmp.file("two");
  const std::string cfg1 = tmp.file("one.yaml");
  writeFileAtomic(cfg1, config("latency:\n  source: lut\n  device: host-cpu\n  fallback: true\n"
                               "  profile: {samples: 4, candidates: 8, runs: 3, warmup: 1, burst: 1}\n"));
  cli::CliRun a = cli::runCli(kBin, "--config " + cfg1 + " --out " + one + " --threads 2 --quiet");
  ASSERT_EQ(a.code, 0) << a.err;
  const std::string lut = tmp.file("lut.db");
  fs::copy_file(one + "/lut.db", lut);
  const std::string cfg2 = tmp.file("two.yaml");
  writeFileAtomic(cfg2, config("latency:\n  source: lut\n  device: host-cpu\n  fallback: true\n  path: " + lut + "\n"));
  cli::CliRun b = cli::runCli(std::string(HWNAS_MPIEXEC),
                              "-np 2 --oversubscribe --allow-run-as-root " + kBin + " --config " + cfg2 + " --out " + two +
                                  " --threads 1");
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_NE(b.err.find("MPI: 2 ranks"), std::string::npos) << b.err;
  EXPECT_NE(b.err.find("training on rank 1"), std::string::npos) << b.err;

  EXPECT_EQ(querySequence(two + "/search.db"), querySequence(one + "/search.db"));
  const Json w1 = readJsonFile(one + "/best_arch.json"), w2 = readJsonFile(two + "/best_arch.json");
  EXPECT_EQ(w2["hash"], w1["hash"]);
  EXPECT_EQ(w2["trained"]["val_accuracy"], w1["trained"]["val_accuracy"]);
  EXPECT_EQ(w2["trained"]["test_accuracy"], w1["trained"]["test_accuracy"]);
  // Every trained model bit for bit, whichever rank trained it.
  int models = 0;
  for (const auto& e : fs::directory_iterator(one + "/finalists")) {
    const std::string h = e.path().filename().string();
    EXPECT_EQ(readFile(two + "/finalists/" + h + "/model.safetensors"), readFile(e.path().string() + "/model.safetensors")) << h;
    ++models;
  }
  EXPECT_EQ(models, 2);
  EXPECT_EQ(readFile(two + "/baseline/model.safetensors"), readFile(one + "/baseline/model.safetensors"));
  EXPECT_EQ(readFile(two + "/export/model.onnx"), readFile(one + "/export/model.onnx"));
  // Only rank 0 wrote DIR: what one process writes, nothing else (no lut.db: the table was given).
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(two)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  std::string joined;
  for (const auto& n : names) joined += n + ",";
  EXPECT_EQ(joined, "baseline,best_arch.json,export,finalists,pareto.csv,pareto.json,pareto.svg,report.md,search.db,supernet,");
#endif
}
