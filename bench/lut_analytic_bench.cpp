// Analytic latency models against published NB201 device tables: the FPGA model against
// HW-NAS-Bench's FPGA column, the GPU roofline against HELP's batch-1 GPU columns, each next to a
// FLOPs-proportional baseline (Spearman rank correlation over the same architectures). The NB201
// networks are built at 32x32 by Nb201Space::toGraph and lowered by core/lower.
//   lut_analytic_bench [--limit N] [--setup CYCLES] [--pe N] [--bw GB/s]   (default: all 15,625
//   architectures and the FpgaParams defaults)
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "latency_luts/importers.h"
#include "latency_luts/latency_model.h"
#include "latency_luts/validate.h"
#include "search_spaces/nb201_space.h"

using namespace hwnas;

int main(int argc, char** argv) {
  int limit = Nb201Space::kArchs;
  FpgaParams fp;
  for (int i = 1; i + 1 < argc; ++i) {
    if (!std::strcmp(argv[i], "--limit")) limit = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--setup")) fp.layerSetupCycles = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--pe")) fp.peRows = fp.peCols = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--bw")) fp.bandwidthGBs = std::atof(argv[i + 1]);
  }
  try {
    const std::string data = std::string(HWNAS_SOURCE_DIR) + "/data/nb201/";
    LatencyStore store(":memory:");
    importTable(store, data + "hwnasbench_nb201_cifar10_latency_via_help.csv", ImportFormat::Nb201HwNasBench);
    importTable(store, data + "help_nb201_latency_gpu.csv", ImportFormat::Nb201Help);
    Nb201Space space;
    FpgaLatencyModel fpga("analytic:fpga", fp);
    GpuRooflineModel gpu("analytic:gpu");
    const std::vector<std::string> gpus = {"1080ti", "2080ti", "titanx", "titanxp", "titan_rtx"};
    std::vector<std::map<std::string, Measurement>> gpuTables;
    for (const auto& g : gpus) gpuTables.push_back(store.table(g, KeyLevel::Arch, "f32", 1, 1));
    const auto fpgaTable = store.table("fpga", KeyLevel::Arch, "f32", 1, 1);
    std::vector<double> flops, fpgaPred, gpuPred, fpgaTrue, fpgaEnergy;
    std::vector<std::vector<double>> gpuTrue(gpus.size());
    const int step = std::max(1, Nb201Space::kArchs / std::max(1, limit));
    for (int i = 0; i < Nb201Space::kArchs && int(flops.size()) < limit; i += step) {
      const ArchConfig a = Nb201Space::fromIndex(i);
      const Graph g = space.toGraph(a);
      const std::string key = archKey(space.spaceId(), a.hashHex());
      flops.push_back(2.0 * double(g.cost().macs));
      const LatencyPrediction f = fpga.predict(g);
      fpgaPred.push_back(f.latencyMs);
      fpgaEnergy.push_back(*f.energyMj);
      gpuPred.push_back(gpu.predict(g).latencyMs);
      fpgaTrue.push_back(fpgaTable.at(key).latencyMs);
      for (size_t d = 0; d < gpus.size(); ++d) gpuTrue[d].push_back(gpuTables[d].at(key).latencyMs);
    }
    const size_t n = flops.size();
    std::printf("NB201 at 32x32, %zu architectures (index step %d)\n", n, step);
    auto line = [&](const char* what, const std::vector<double>& model, const std::vector<double>& truth) {
      const double sm = spearman(model, truth), sf = spearman(flops, truth);
      std::printf("%-32s analytic Spearman %.4f, FLOPs Spearman %.4f, difference %+.4f\n", what, sm, sf, sm - sf);
    };
    line("HW-NAS-Bench fpga (ZC706)", fpgaPred, fpgaTrue);
    for (size_t d = 0; d < gpus.size(); ++d) line(("HELP " + gpus[d] + " batch 1").c_str(), gpuPred, gpuTrue[d]);
    double emin = 1e300, emax = 0;
    for (double e : fpgaEnergy) emin = std::min(emin, e), emax = std::max(emax, e);
    std::printf("analytic energy per inference (Horowitz 45 nm figures): %.4f .. %.4f mJ\n", emin, emax);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lut_analytic_bench: %s\n", e.what());
    return 1;
  }
}
