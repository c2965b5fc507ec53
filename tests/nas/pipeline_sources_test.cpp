// The pipeline's sources: the `supernet` accuracy source against search_spaces' own
// evaluateSubnet (same number, bit for bit, serially and from parallel threads), and the `lut`
// latency source against the LUT sum computed by hand from a table written here (op keys from
// core/lower), with constraints screening on it. The supernet folder is a randomly initialised
// fmnist_small supernet written in the folder format, so nothing is trained.
#include <gtest/gtest.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <filesystem>
#include <sstream>

#include "core/fs_util.h"
#include "core/json_util.h"
#include "core/lower.h"
#include "core/rng.h"
#include "latency_luts/latency_store.h"
#include "nas/search_engine.h"
#include "nas/search_problem.h"
#include "nas/supernet_source.h"
#include "search_spaces/supernet_recipe.h"

namespace fs = std::filesystem;
using namespace hwnas;

namespace {

const std::string kSpace = std::string(HWNAS_SOURCE_DIR) + "/configs/spaces/fmnist_small.yaml";

bool haveFashionMnist() { return fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"); }

// A finished supernet folder with random weights (seed 7), as nas-train --supernet lays it out.
std::string writeSupernetFolder(const TempDir& tmp) {
  const std::string dir = tmp.file("sn");
  fs::create_directories(dir);
  std::shared_ptr<const SearchSpace> space(loadSearchSpace(kSpace));
  SpaceSupernet net(space, 7);
  net.saveWeights(dir + "/supernet.safetensors");
  writeFileAtomic(dir + "/space.yaml", readFile(kSpace));
  Json m;
  m["space_id"] = space->spaceId();
  m["calibration_images"] = 64;
  m["data"] = {{"dataset", "fashion-mnist"}, {"data_dir", ""}, {"val_size", -1}, {"train_limit", 0}, {"eval_limit", 0}, {"seed", 5}};
  writeJsonFile(dir + "/supernet.json", m);
  return dir;
}

std::vector<ArchConfig> someArchs(const SearchSpace& space, int n) {
  std::vector<ArchConfig> a = {space.largest(), space.smallest()};
  Rng rng(11);
  for (int i = 0; i < n; ++i) a.push_back(space.sample(rng));
  return a;
}

}  // namespace

TEST(PipelineSources, SupernetAccuracyMatchesEvaluateSubnetAtAnyThreadCount) {
  if (!haveFashionMnist()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  TempDir tmp;
  const std::string dir = writeSupernetFolder(tmp);
  SupernetSourceOptions o;
  o.valImages = 300;
  SupernetAccuracy src(dir, o);
  EXPECT_EQ(src.valImages(), 300);
  EXPECT_EQ(src.calibrationImages(), 64);  // the folder's value when the config gives none
  const std::vector<ArchConfig> archs = someArchs(src.space(), 2);

  // The reference: search_spaces' evaluateSubnet through the folder's SpaceSupernet, with the
  // folder's seed as nas-train --supernet-eval uses it.
  SupernetFolder f = openSupernetFolder(dir);
  TrainOptions d = f.data;
  d.evalLimit = 300;
  DataSplits data = loadDataSplits(d);
  std::vector<double> serial;
  for (const auto& a : archs) {
    const double ref = 100.0 * f.net->evaluate(a, data, 64, 500, f.data.seed).valAccuracy;
    serial.push_back(src.accuracy(a));
    EXPECT_DOUBLE_EQ(serial.back(), ref) << a.canonical();
  }
  // Concurrent evaluations (each arch twice, in parallel) give the serial numbers exactly.
  std::vector<double> par(archs.size() * 2);
  tbb::parallel_for(tbb::blocked_range<size_t>(0, par.size(), 1), [&](const tbb::blocked_range<size_t>& r) {
    for (size_t i = r.begin(); i != r.end(); ++i) par[i] = src.accuracy(archs[i % archs.size()]);
  });
  for (size_t i = 0; i < par.size(); ++i) EXPECT_EQ(par[i], serial[i % archs.size()]) << i;
}

TEST(PipelineSources, LutSourcePredictsTheOpSumPlusOverheadAndScreens) {
  TempDir tmp;
  std::unique_ptr<SearchSpace> space = loadSearchSpace(kSpace);
  const std::vector<ArchConfig> archs = someArchs(*space, 6);
  // One value per distinct key: 1 us x (its index + 1); overhead 0.05 ms.
  std::map<std::string, double> value;
  for (const auto& a : archs)
    for (const auto& k : opKeys(space->toGraph(a)))
      if (!value.count(k)) value[k] = 0.0;
  int i = 0;
  for (auto& [k, v] : value) v = 0.001 * ++i;
  const std::string db = tmp.file("lut.db");
  {
    LatencyStore store(db);
    store.addDevice({"cpu0", "cpu", "test"});
    std::vector<Measurement> rows;
    for (const auto& [k, v] : value) {
      Measurement m;
      m.device = "cpu0";
      m.key = k;
      m.latencyMs = v;
      rows.push_back(m);
    }
    store.put(rows);
    Calibration c;
    c.device = "cpu0";
    c.overheadMs = 0.05;
    store.setCalibration(c);
  }
  std::vector<double> expected;
  for (const auto& a : archs) {
    double s = 0.05;
    for (const auto& k : opKeys(space->toGraph(a))) s += value.at(k);
    expected.push_back(s);
  }
  // The budget: the smallest's latency (archs[1]) plus a little.
  std::ostringstream budget;
  budget.precision(17);
  budget << expected[1] + 1e-9;
  const std::string sn = writeSupernetFolder(tmp);
  const std::string cfg = "space: " + kSpace + "\nobjective:\n  accuracy: {source: supernet, path: " + sn +
                          "}\nlatency: {source: lut, path: " + db + ", device: cpu0}\nconstraints:\n  - {metric: latency, device: cpu0, max: " +
                          budget.str() + "}\nsearch: {strategy: random, queries: 3}\n";
  auto p = SearchProblem::parse(cfg, "cfg.yaml", tmp.path());
  ASSERT_TRUE(p->lutSource());
  EXPECT_TRUE(p->lutSource()->bound());  // a given table is read (frozen) when the config is parsed
  MetricSpec lat;
  lat.metric = "latency";
  lat.device = "cpu0";
  for (size_t k = 0; k < archs.size(); ++k) {
    EXPECT_NEAR(p->metric(lat, archs[k]), expected[k], 1e-12) << k;
    const FreeMetrics fm = p->freeMetrics(archs[k]);
    EXPECT_NEAR(fm.violation, std::max(0.0, expected[k] / p->constraints()[0].max - 1.0), 1e-12) << k;
    EXPECT_EQ(fm.violation > 0.0, k != 1 && expected[k] > expected[1] + 1e-6) << k;
  }
  EXPECT_EQ(p->accuracyName(), "supernet_val_acc");
  // The table stays as it was read: a row rewritten later is not seen by this problem's model.
  {
    LatencyStore store(db);
    Measurement m;
    m.device = "cpu0";
    m.key = opKeys(space->toGraph(archs[0])).front();
    m.latencyMs = 100.0;
    store.put(m);
  }
  EXPECT_NEAR(p->lutSource()->model->predict(space->toGraph(archs[0])).latencyMs, expected[0], 1e-12);
  // A device the table lacks is a config error naming it.
  const std::string bad = "space: " + kSpace + "\nobjective:\n  accuracy: {source: supernet, path: " + sn +
                          "}\nlatency: {source: lut, path: " + db + ", device: pixel9}\nsearch: {strategy: random, queries: 3}\n";
  try {
    SearchProblem::parse(bad, "bad.yaml", tmp.path());
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("latency.path"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("pixel9"), std::string::npos) << e.what();
  }
}
