// Importers against the shipped tables (data/): every imported NB201 value is exactly the double
// the CSV text denotes and exports back as the same text; the OFA Note10 and ProxylessNAS LUTs
// give back the source's per-block numbers; bad files change nothing.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/fs_util.h"
#include "latency_luts/importers.h"
#include "latency_luts/latency_model.h"
#include "search_spaces/nb201_space.h"
#include "search_spaces/search_space.h"

using namespace hwnas;

namespace {

const std::string kSrc = HWNAS_SOURCE_DIR;

std::vector<std::vector<std::string>> csvRows(const std::string& path) {
  std::ifstream f(path);
  std::vector<std::vector<std::string>> rows;
  for (std::string line; std::getline(f, line);) {
    if (line.empty()) continue;
    std::vector<std::string> cells;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, ',');) cells.push_back(c);
    rows.push_back(cells);
  }
  return rows;
}

}  // namespace

TEST(Importers, ShortestDoubleRoundTrips) {
  for (const char* t : {"0.1", "3.645620000000001", "10.481976820010459", "9", "1e-05", "0.0006733248071883371"}) {
    const double v = std::strtod(t, nullptr);
    EXPECT_EQ(std::strtod(shortestDouble(v).c_str(), nullptr), v) << t;
  }
  EXPECT_EQ(shortestDouble(3.645620000000001), "3.645620000000001");
  EXPECT_EQ(shortestDouble(9.0), "9");
}

TEST(Importers, HwNasBenchGivesBackExactlyTheCsvValues) {
  const std::string path = kSrc + "/data/nb201/hwnasbench_nb201_cifar10_latency_via_help.csv";
  LatencyStore store(":memory:");
  const ImportReport rep = importTable(store, path, ImportFormat::Nb201HwNasBench);
  EXPECT_EQ(rep.total(), 4 * 15625);
  EXPECT_EQ(store.device("fpga")->kind, "fpga");
  EXPECT_EQ(store.device("eyeriss")->kind, "asic");
  EXPECT_EQ(store.device("pixel3")->kind, "mobile");
  const auto rows = csvRows(path);
  ASSERT_EQ(rows.size(), 15626u);
  ASSERT_EQ(rows[0][2], "eyeriss_latency_ms");
  const std::string spaceId = Nb201Space().spaceId();
  EXPECT_EQ(spaceId, loadSearchSpace(kSrc + "/configs/spaces/nb201.yaml")->spaceId());
  const char* devs[] = {"eyeriss", "fpga", "pixel3", "raspi4"};
  for (int d = 0; d < 4; ++d) {
    const auto table = store.table(devs[d], KeyLevel::Arch, "f32", 1, 1);
    ASSERT_EQ(table.size(), 15625u);
    int bad = 0;
    for (size_t r = 1; r < rows.size(); ++r) {
      const int index = std::stoi(rows[r][0]);
      const ArchConfig a = Nb201Space::fromIndex(index);
      ASSERT_EQ(Nb201Space::archStr(a), rows[r][1]);
      const auto it = table.find(archKey(spaceId, a.hashHex()));
      ASSERT_NE(it, table.end());
      bad += it->second.latencyMs != std::strtod(rows[r][2 + d].c_str(), nullptr);
      // The text comes back too, except that Python wrote integral floats as "14.0".
      const std::string text = rows[r][2 + d];
      const bool integral = text.size() > 2 && text.compare(text.size() - 2, 2, ".0") == 0;
      if (shortestDouble(it->second.latencyMs) != (integral ? text.substr(0, text.size() - 2) : text)) {
        ++bad;
        ADD_FAILURE() << devs[d] << " index " << index << ": " << rows[r][2 + d] << " exports as "
                      << shortestDouble(it->second.latencyMs);
      }
      EXPECT_EQ(it->second.source, Source::Imported);
    }
    EXPECT_EQ(bad, 0) << devs[d];
  }
  // The LUT model answers an NB201 arch from its arch-level row.
  Nb201Space nb;
  LutLatencyModel fpga(store, "fpga");
  const LatencyPrediction p = fpga.predictArch(nb, Nb201Space::fromIndex(1));
  EXPECT_EQ(p.method, "arch-table");
  EXPECT_EQ(p.latencyMs, std::strtod(rows[2][3].c_str(), nullptr));  // index 1, fpga column
  // The CSV export prints the same text.
  MeasurementFilter f;
  f.device = "raspi4";
  const std::string csv = exportCsv(store, f);
  EXPECT_NE(csv.find(",10.481976820010459,"), std::string::npos);  // index 0, raspi4
}

// The first `lines` lines of a data file in a temp dir (the full HELP files hold 360,000 values;
// the hwnasbench test above checks a whole file value by value).
std::string head(const TempDir& dir, const std::string& file, int lines) {
  std::ifstream f(kSrc + "/data/nb201/" + file);
  std::string out, line;
  for (int i = 0; i < lines && std::getline(f, line); ++i) out += line + "\n";
  writeFileAtomic(dir.file(file), out);
  return dir.file(file);
}

TEST(Importers, HelpAndNnMeterTables) {
  TempDir dir;
  LatencyStore store(":memory:");
  importTable(store, head(dir, "help_nb201_latency_gpu.csv", 1001), ImportFormat::Nb201Help);
  importTable(store, head(dir, "help_nb201_latency_cpu_mobile.csv", 1001), ImportFormat::Nb201Help);
  importTable(store, kSrc + "/data/nb201/nnmeter_nb201_latency.csv", ImportFormat::Nb201NnMeter);  // 8,000 rows
  EXPECT_EQ(store.device("1080ti")->kind, "gpu");
  EXPECT_EQ(store.device("gold_6226")->kind, "cpu");
  EXPECT_EQ(store.device("pixel2")->kind, "mobile");
  EXPECT_EQ(store.device("myriadvpu_openvino2019r2")->kind, "asic");
  const std::string id = Nb201Space().spaceId();
  const std::string key0 = archKey(id, Nb201Space::fromIndex(0).hashHex());
  // Row "0,10.75437068939209,7.658481597900391,17.255277633666992,..." of the GPU file.
  EXPECT_EQ(store.get("1080ti", KeyLevel::Arch, key0, "f32", 1, 1)->latencyMs, 10.75437068939209);
  EXPECT_EQ(store.get("1080ti", KeyLevel::Arch, key0, "f32", 1, 32)->latencyMs, 7.658481597900391);
  EXPECT_EQ(store.get("1080ti", KeyLevel::Arch, key0, "f32", 1, 256)->latencyMs, 17.255277633666992);
  EXPECT_EQ(store.get("pixel2", KeyLevel::Arch, key0, "f32", 1, 1)->latencyMs, 9.0);
  const std::string key803 = archKey(id, Nb201Space::fromIndex(803).hashHex());
  EXPECT_EQ(store.get("cortexA76cpu_tflite21", KeyLevel::Arch, key803, "f32", 1, 1)->latencyMs, 11.7491);
  EXPECT_EQ(store.count("1080ti", KeyLevel::Arch), 3 * 1000);
}

TEST(Importers, OfaNote10AndProxylessGiveBackTheSourcePerBlockNumbers) {
  LatencyStore store(":memory:");
  const std::string ofa = kSrc + "/data/luts/ofa_note10_latency_lut.csv";
  const std::string prox = kSrc + "/data/luts/proxylessnas_mobile_latency_lut.csv";
  importTable(store, ofa, ImportFormat::OfaNote10);
  importTable(store, prox, ImportFormat::Proxyless);
  const auto rows = csvRows(ofa);
  ASSERT_EQ(rows[0][0], "resolution");
  EXPECT_EQ(store.count("note10", KeyLevel::Block), int64_t(rows.size() - 1));
  for (size_t r = 1; r < rows.size(); ++r) {
    auto m = store.get("note10", KeyLevel::Block, rows[r][0] + "/" + rows[r][1], "f32", 1, 1);
    ASSERT_TRUE(m) << rows[r][1];
    EXPECT_EQ(m->latencyMs, std::strtod(rows[r][16].c_str(), nullptr)) << rows[r][1];
    EXPECT_EQ(*m->stdMs, std::strtod(rows[r][17].c_str(), nullptr));
    EXPECT_EQ(m->repeats, std::stoll(rows[r][15]));
  }
  const auto prows = csvRows(prox);
  for (size_t r = 1; r < prows.size(); ++r) {
    auto m = store.get("pixel1", KeyLevel::Block, prows[r][0], "f32", 1, 1);
    ASSERT_TRUE(m) << prows[r][0];
    EXPECT_EQ(m->latencyMs, std::strtod(prows[r][15].c_str(), nullptr));
  }
  EXPECT_EQ(store.device("note10")->kind, "mobile");
}

TEST(Importers, HwNasBenchReferenceRowsCarryEnergy) {
  LatencyStore store(":memory:");
  const std::string csv = kSrc + "/data/nb201/hwnasbench_nb201_cifar10_latency_via_help.csv";
  importTable(store, csv, ImportFormat::Nb201HwNasBench);
  const ImportReport r =
      importTable(store, kSrc + "/data/nb201/hwnasbench_nb201_reference_examples.json", ImportFormat::Nb201HwNasBenchRef);
  EXPECT_EQ(r.rows.at("fpga"), 3);  // indices 0..2, CIFAR-10 entries only
  EXPECT_EQ(store.device("edgetpu")->kind, "asic");
  Nb201Space nb;
  LutLatencyModel fpga(store, "fpga");
  const LatencyPrediction p = fpga.predictArch(nb, Nb201Space::fromIndex(0));
  // The reference notebook's index-0 CIFAR-10 row: fpga 2.57296 ms (as in the CSV), 18.01072 mJ.
  EXPECT_EQ(p.latencyMs, 2.57296);
  ASSERT_TRUE(p.energyMj);
  EXPECT_EQ(*p.energyMj, 18.01072);
  EXPECT_EQ(p.energySource, "imported");
  EXPECT_EQ(*LutLatencyModel(store, "eyeriss").predictArch(nb, Nb201Space::fromIndex(0)).energyMj, 0.6872827644999999);
  // Index 3 has no reference row: latency from the CSV, energy from the analytic model.
  const LatencyPrediction p3 = fpga.predictArch(nb, Nb201Space::fromIndex(3));
  EXPECT_EQ(p3.energySource, "analytic");
  ASSERT_TRUE(p3.energyMj);
  EXPECT_GT(*p3.energyMj, 0);
}

TEST(Importers, BadFilesChangeNothing) {
  TempDir dir;
  LatencyStore store(":memory:");
  const std::string wrong = dir.file("wrong.csv");
  writeFileAtomic(wrong, "a,b\n1,2\n");
  EXPECT_THROW(importTable(store, wrong, ImportFormat::Nb201HwNasBench), InputError);
  const std::string badValue = dir.file("bad.csv");
  writeFileAtomic(badValue,
                  "index,arch_str,eyeriss_latency_ms,fpga_latency_ms,pixel3_latency_ms,raspi4_latency_ms\n"
                  "0,|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|,1,2,3,4\n"
                  "1,x,1,2,fast,4\n");
  try {
    importTable(store, badValue, ImportFormat::Nb201HwNasBench);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.csv:3"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'fast'"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(store.devices().empty());
  EXPECT_THROW(parseImportFormat("tflite"), InputError);
  EXPECT_THROW(importTable(store, dir.file("missing.csv"), ImportFormat::Proxyless), IoError);
}
