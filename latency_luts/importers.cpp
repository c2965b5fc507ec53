#include "latency_luts/importers.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <sstream>
#include <vector>

#include "core/error.h"
#include "core/fs_util.h"
#include "core/json_util.h"
#include "search_spaces/nb201_space.h"

namespace hwnas {

namespace {

struct Csv {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<int> lines;  // 1-based line of each row
};

std::vector<std::string> splitLine(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : line) {
    if (c == ',') {
      out.push_back(cur);
      cur.clear();
    } else if (c != '\r') {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

Csv readCsv(const std::string& path) {
  const std::string text = readFile(path);
  Csv csv;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line == "\r") continue;
    if (csv.header.empty()) {
      csv.header = splitLine(line);
      continue;
    }
    auto cells = splitLine(line);
    if (cells.size() != csv.header.size())
      throw InputError(path + ":" + std::to_string(n) + ": " + std::to_string(cells.size()) + " fields, the header has " +
                       std::to_string(csv.header.size()));
    csv.rows.push_back(std::move(cells));
    csv.lines.push_back(n);
  }
  if (csv.header.empty()) throw InputError(path + ": empty file, expected a CSV header");
  return csv;
}

int column(const Csv& csv, const std::string& path, const std::string& name) {
  for (size_t i = 0; i < csv.header.size(); ++i)
    if (csv.header[i] == name) return int(i);
  throw InputError(path + ":1: no column '" + name + "'; is this the right --format?");
}

double number(const std::string& s, const std::string& path, int line, const std::string& col) {
  const char* b = s.c_str();
  char* end = nullptr;
  const double v = std::strtod(b, &end);
  if (s.empty() || end != b + s.size() || !std::isfinite(v))
    throw InputError(path + ":" + std::to_string(line) + ": column '" + col + "': '" + s + "' is not a number");
  return v;
}

int64_t integer(const std::string& s, const std::string& path, int line, const std::string& col) {
  const double v = number(s, path, line, col);
  if (v != std::floor(v)) throw InputError(path + ":" + std::to_string(line) + ": column '" + col + "': not an integer");
  return int64_t(v);
}

Measurement baseRow(const std::string& device, KeyLevel level, const std::string& path) {
  Measurement m;
  m.device = device;
  m.level = level;
  m.source = Source::Imported;
  m.origin = path;
  m.createdAt = utcTimestamp();
  return m;
}

Measurement nb201Row(const std::string& device, int index, double ms, int batch, const std::string& path) {
  static const std::string spaceId = Nb201Space().spaceId();
  // Hashes by index, computed once (fromIndex and hashing cost more than the insert).
  static const std::vector<std::string> hashes = [] {
    std::vector<std::string> h(Nb201Space::kArchs);
    for (int i = 0; i < Nb201Space::kArchs; ++i) h[size_t(i)] = Nb201Space::fromIndex(i).hashHex();
    return h;
  }();
  if (index < 0 || index >= Nb201Space::kArchs)
    throw InputError(path + ": index " + std::to_string(index) + " is outside the NB201 range 0..15624");
  Measurement m = baseRow(device, KeyLevel::Arch, path);
  m.spaceId = spaceId;
  m.archHash = hashes[size_t(index)];
  m.key = archKey(spaceId, m.archHash);
  m.batch = batch;
  m.latencyMs = ms;
  return m;
}

std::string nb201Kind(const std::string& device) {
  auto has = [&](const char* s) { return device.find(s) != std::string::npos; };
  if (has("fpga")) return "fpga";
  if (has("eyeriss") || has("vpu") || has("tpu")) return "asic";
  if (has("gold") || has("silver") || has("raspi")) return "cpu";
  if (has("pixel") || has("samsung") || has("essential") || has("cortex") || has("adreno")) return "mobile";
  return "gpu";
}

}  // namespace

int64_t ImportReport::total() const {
  int64_t t = 0;
  for (const auto& [d, n] : rows) t += n;
  return t;
}

ImportFormat parseImportFormat(const std::string& name) {
  if (name == "ofa-note10") return ImportFormat::OfaNote10;
  if (name == "proxyless") return ImportFormat::Proxyless;
  if (name == "nb201-hwnasbench") return ImportFormat::Nb201HwNasBench;
  if (name == "nb201-help") return ImportFormat::Nb201Help;
  if (name == "nb201-nnmeter") return ImportFormat::Nb201NnMeter;
  if (name == "nb201-hwnasbench-ref") return ImportFormat::Nb201HwNasBenchRef;
  throw InputError("unknown --format '" + name +
                   "'; use ofa-note10, proxyless, nb201-hwnasbench, nb201-hwnasbench-ref, nb201-help, nb201-nnmeter or "
                   "hwnas-probe (board results, latency_luts/probe_path.h)");
}

const char* importFormatName(ImportFormat f) {
  switch (f) {
    case ImportFormat::OfaNote10: return "ofa-note10";
    case ImportFormat::Proxyless: return "proxyless";
    case ImportFormat::Nb201HwNasBench: return "nb201-hwnasbench";
    case ImportFormat::Nb201Help: return "nb201-help";
    case ImportFormat::Nb201NnMeter: return "nb201-nnmeter";
    case ImportFormat::Nb201HwNasBenchRef: return "nb201-hwnasbench-ref";
  }
  return "?";
}

std::string shortestDouble(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

ImportReport importTable(LatencyStore& store, const std::string& path, ImportFormat format, const ImportOptions& o) {
  std::vector<Measurement> rows;
  std::map<std::string, DeviceInfo> devices;
  const Csv csv = format == ImportFormat::Nb201HwNasBenchRef ? Csv{{"json"}, {}, {}} : readCsv(path);
  switch (format) {
    case ImportFormat::Nb201HwNasBenchRef: {
      const Json j = readJsonFile(path);
      if (!j.contains("entries") || !j["entries"].is_array())
        throw InputError(path + ": no 'entries' array; is this hwnasbench_nb201_reference_examples.json?");
      const char* devs[] = {"eyeriss", "fpga", "edgegpu", "edgetpu", "pixel3", "raspi4"};
      for (size_t e = 0; e < j["entries"].size(); ++e) {
        const Json& en = j["entries"][e];
        const std::string where = path + ": entries[" + std::to_string(e) + "]";
        if (!en.contains("index") || !en["index"].is_number_integer() || !en.contains("metrics") ||
            !en.contains("dataset"))
          throw InputError(where + ": needs index, dataset and metrics");
        if (en["dataset"] != "cifar10") continue;  // the CSV tables are CIFAR-10 too
        const int index = en["index"].get<int>();
        if (en.contains("arch_str") && Nb201Space::archStr(Nb201Space::fromIndex(index)) != en["arch_str"])
          throw InputError(where + ": index " + std::to_string(index) + " does not match its arch_str");
        const Json& m = en["metrics"];
        for (const char* d : devs) {
          const std::string lat = std::string(d) + "_latency", en2 = std::string(d) + "_energy";
          if (!m.contains(lat)) continue;
          if (!m[lat].is_number()) throw InputError(where + ": metrics." + lat + " is not a number");
          const std::string dev = o.devicePrefix + d;
          devices[dev] = {dev, nb201Kind(d), std::string("HW-NAS-Bench ") + d};
          Measurement r = nb201Row(dev, index, m[lat].get<double>(), 1, path);
          if (m.contains(en2) && m[en2].is_number()) r.energyMj = m[en2].get<double>();
          rows.push_back(std::move(r));
        }
      }
      break;
    }
    case ImportFormat::OfaNote10:
    case ImportFormat::Proxyless: {
      const bool ofa = format == ImportFormat::OfaNote10;
      const std::string dev = !o.device.empty() ? o.device : ofa ? "note10" : "pixel1";
      devices[dev] = {dev, "mobile",
                      ofa ? "Samsung Note10, Once-for-All per-block LUT (han-cai/files ofa/note10)"
                          : "Google Pixel 1, ProxylessNAS mobile per-block LUT (han-cai/files proxylessnas/mobile_trim.yaml)"};
      const int cKey = column(csv, path, "key"), cMean = column(csv, path, "mean_ms"), cCount = column(csv, path, "count");
      const int cRes = ofa ? column(csv, path, "resolution") : -1;
      const int cSpread = ofa ? column(csv, path, "std_ms") : column(csv, path, "var");
      for (size_t i = 0; i < csv.rows.size(); ++i) {
        const auto& r = csv.rows[i];
        const int line = csv.lines[i];
        Measurement m = baseRow(dev, KeyLevel::Block, path);
        m.key = ofa ? r[cRes] + "/" + r[cKey] : r[cKey];
        if (ofa) integer(r[cRes], path, line, "resolution");
        m.latencyMs = number(r[cMean], path, line, "mean_ms");
        m.meanMs = m.latencyMs;
        const double spread = number(r[cSpread], path, line, ofa ? "std_ms" : "var");
        m.stdMs = ofa ? spread : std::sqrt(spread);
        m.repeats = integer(r[cCount], path, line, "count");
        rows.push_back(std::move(m));
      }
      break;
    }
    case ImportFormat::Nb201HwNasBench: {
      const int cIndex = column(csv, path, "index");
      const std::vector<std::pair<std::string, std::string>> cols = {
          {"eyeriss_latency_ms", "eyeriss"},
          {"fpga_latency_ms", "fpga"},
          {"pixel3_latency_ms", "pixel3"},
          {"raspi4_latency_ms", "raspi4"}};
      const char* desc[] = {"Eyeriss (HW-NAS-Bench, estimated)", "FPGA ZC706 (HW-NAS-Bench, estimated)",
                            "Google Pixel 3 (HW-NAS-Bench, measured)", "Raspberry Pi 4 (HW-NAS-Bench, measured)"};
      std::vector<int> idx;
      for (size_t c = 0; c < cols.size(); ++c) {
        idx.push_back(column(csv, path, cols[c].first));
        const std::string dev = o.devicePrefix + cols[c].second;
        devices[dev] = {dev, nb201Kind(cols[c].second), desc[c]};
      }
      for (size_t i = 0; i < csv.rows.size(); ++i) {
        const int line = csv.lines[i];
        const int index = int(integer(csv.rows[i][cIndex], path, line, "index"));
        for (size_t c = 0; c < cols.size(); ++c)
          rows.push_back(nb201Row(o.devicePrefix + cols[c].second, index,
                                  number(csv.rows[i][idx[c]], path, line, cols[c].first), 1, path));
      }
      break;
    }
    case ImportFormat::Nb201Help: {
      const int cIndex = column(csv, path, "index");
      struct Col {
        int col;
        std::string device;
        int batch;
      };
      std::vector<Col> cols;
      for (size_t c = 0; c < csv.header.size(); ++c) {
        if (int(c) == cIndex) continue;
        std::string name = csv.header[c];
        int batch = 1;
        const auto us = name.rfind('_');
        if (us != std::string::npos && us + 1 < name.size() &&
            name.find_first_not_of("0123456789", us + 1) == std::string::npos && nb201Kind(name) == "gpu") {
          batch = std::stoi(name.substr(us + 1));
          name = name.substr(0, us);
        }
        const std::string dev = o.devicePrefix + name;
        devices[dev] = {dev, nb201Kind(name), "HELP NB201 latency table (" + name + ")"};
        cols.push_back({int(c), dev, batch});
      }
      for (size_t i = 0; i < csv.rows.size(); ++i) {
        const int line = csv.lines[i];
        const int index = int(integer(csv.rows[i][cIndex], path, line, "index"));
        for (const Col& c : cols)
          rows.push_back(nb201Row(c.device, index, number(csv.rows[i][c.col], path, line, csv.header[c.col]), c.batch, path));
      }
      break;
    }
    case ImportFormat::Nb201NnMeter: {
      const int cDev = column(csv, path, "device"), cIndex = column(csv, path, "index"),
                cArch = column(csv, path, "arch_str"), cMs = column(csv, path, "latency_ms");
      for (size_t i = 0; i < csv.rows.size(); ++i) {
        const auto& r = csv.rows[i];
        const int line = csv.lines[i];
        const std::string dev = o.devicePrefix + r[cDev];
        if (!devices.count(dev)) devices[dev] = {dev, nb201Kind(r[cDev]), "nn-Meter NB201 measurements (" + r[cDev] + ")"};
        const int index = int(integer(r[cIndex], path, line, "index"));
        if (Nb201Space::archStr(Nb201Space::fromIndex(index)) != r[cArch])
          throw InputError(path + ":" + std::to_string(line) + ": index " + std::to_string(index) +
                           " is not arch_str '" + r[cArch] + "' in the official NB201 numbering");
        rows.push_back(nb201Row(dev, index, number(r[cMs], path, line, "latency_ms"), 1, path));
      }
      break;
    }
  }
  if (rows.empty()) throw InputError(path + ": no rows to import");
  for (const auto& [name, d] : devices) {
    auto have = store.device(name);
    if (have && have->kind != d.kind)
      throw InputError("device '" + name + "' is already in " + store.path() + " as kind '" + have->kind + "', not '" +
                       d.kind + "'");
  }
  for (const auto& [name, d] : devices) store.addDevice(d);
  store.put(rows);
  ImportReport rep;
  for (const auto& m : rows) ++rep.rows[m.device];
  return rep;
}

std::string exportCsv(LatencyStore& store, const MeasurementFilter& filter) {
  std::map<std::string, std::string> kinds;
  for (const auto& d : store.devices()) kinds[d.name] = d.kind;
  std::ostringstream out;
  out << "device,kind,level,key,space_id,arch_hash,dtype,threads,batch,latency_ms,min_ms,median_ms,p90_ms,mean_ms,"
         "std_ms,energy_mj,macs,bytes,repeats,source,origin,tool_version,created_at\n";
  auto opt = [](const std::optional<double>& v) { return v ? shortestDouble(*v) : std::string(); };
  auto text = [](const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  for (const auto& m : store.query(filter)) {
    out << text(m.device) << ',' << kinds[m.device] << ',' << keyLevelName(m.level) << ',' << text(m.key) << ','
        << text(m.spaceId) << ',' << m.archHash << ',' << m.dtype << ',' << m.threads << ',' << m.batch << ','
        << shortestDouble(m.latencyMs) << ',' << opt(m.minMs) << ',' << opt(m.medianMs) << ',' << opt(m.p90Ms) << ','
        << opt(m.meanMs) << ',' << opt(m.stdMs) << ',' << opt(m.energyMj) << ','
        << (m.macs ? std::to_string(*m.macs) : "") << ',' << (m.bytes ? std::to_string(*m.bytes) : "") << ','
        << m.repeats << ',' << sourceName(m.source) << ',' << text(m.origin) << ',' << text(m.toolVersion) << ','
        << m.createdAt << '\n';
  }
  return out.str();
}

}  // namespace hwnas
