// Importers for published latency tables (data/luts, data/nb201) and the CSV export. Formats:
//   ofa-note10        Once-for-All Note10 per-block LUT: block rows "<resolution>/<key>" on one device
//   proxyless         ProxylessNAS mobile per-block LUT: block rows "<key>"
//   nb201-hwnasbench  HW-NAS-Bench (via HELP) whole-network rows: eyeriss, fpga, pixel3, raspi4
//   nb201-help        HELP's CPU/mobile or GPU file (one device per column; GPU "<dev>_<batch>")
//   nb201-nnmeter     nn-Meter's long table (device, index, arch_str, latency_ms)
//   nb201-hwnasbench-ref  HW-NAS-Bench's reference rows (JSON; CIFAR-10 entries): latency and,
//                     where given, energy (mJ) for eyeriss, fpga, edgegpu, edgetpu, pixel3, raspi4
// NB201 rows are arch-level, keyed by the standard NB201 space's space_id and the ArchConfig
// hash of the row's index. Invariants: a file is parsed completely before anything is written
// and then written in one transaction; values are stored as the doubles the CSV text denotes
// (strtod), and the export prints the shortest text that reads back as the same double.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "latency_luts/latency_store.h"

namespace hwnas {

enum class ImportFormat { OfaNote10, Proxyless, Nb201HwNasBench, Nb201Help, Nb201NnMeter, Nb201HwNasBenchRef };
ImportFormat parseImportFormat(const std::string& name);  // InputError listing the names
const char* importFormatName(ImportFormat f);

struct ImportOptions {
  std::string device;        // ofa-note10 / proxyless: the device name (default note10 / pixel1)
  std::string devicePrefix;  // NB201 formats: prepended to every device name ("" = none)
};

struct ImportReport {
  std::map<std::string, int64_t> rows;  // device -> rows written
  int64_t total() const;
};

ImportReport importTable(LatencyStore& store, const std::string& path, ImportFormat format,
                         const ImportOptions& options = ImportOptions());

// The shortest decimal text that strtod reads back as exactly v ("0.1", "3.645620000000001").
std::string shortestDouble(double v);

// CSV with a header: device,kind,level,key,space_id,arch_hash,dtype,threads,batch,latency_ms,
// min_ms,median_ms,p90_ms,mean_ms,std_ms,energy_mj,macs,bytes,repeats,source,origin,tool_version,created_at
std::string exportCsv(LatencyStore& store, const MeasurementFilter& filter);

}  // namespace hwnas
