#include "latency_luts/probe_path.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "core/error.h"
#include "core/fs_util.h"
#include "core/json_util.h"
#include "core/lower.h"
#include "runtime/probe/probe_runner.h"

namespace hwnas {

namespace rt = runtime;

rt::ProbePlan makeProbePlan(const SearchSpace& space, const ProbePlanOptions& o) {
  if (o.batch < 1 || o.threads < 1 || o.repeats < 1 || o.warmup < 0)
    throw InputError("plan: batch, threads and repeats must be >= 1 and warmup >= 0");
  rt::ProbePlan plan;
  plan.spaceId = space.spaceId();
  plan.spaceName = space.name();
  plan.batch = o.batch;
  plan.threads = o.threads;
  plan.repeats = o.repeats;
  plan.warmup = o.warmup;
  std::set<std::string> seen;
  const std::vector<int>& res = o.coverage.resolutions;
  for (const ArchConfig& a : space.keyCoveringArchs()) {
    const Json& j = a.json();
    if (!res.empty() && j.contains("resolution") && std::find(res.begin(), res.end(), j["resolution"].get<int>()) == res.end())
      continue;
    const rt::Plan p = lowerStructure(space.toGraph(a));
    for (size_t i = 0; i < p.ops.size(); ++i)
      if (seen.insert(p.ops[i].key).second) plan.ops.push_back(rt::probeOpOf(p, i));
  }
  return plan;
}

bool isProbeResultsFile(const std::string& path) {
  if (!fileExists(path)) return false;
  const std::string text = readFile(path);
  const size_t a = text.find_first_not_of(" \t\r\n");
  return a != std::string::npos && text[a] == '{' && text.find("\"hwnas-probe-results\"") != std::string::npos;
}

namespace {

const Json& field(const Json& j, const char* name, const std::string& where) {
  if (!j.is_object() || !j.contains(name)) throw InputError(where + ": missing '" + name + "'");
  return j[name];
}

double msField(const Json& j, const char* name, const std::string& where) {
  const Json& v = field(j, name, where);
  if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0)
    throw InputError(where + ": '" + name + "' must be a finite number >= 0");
  return v.get<double>();
}

int64_t intField(const Json& j, const char* name, const std::string& where, int64_t lo) {
  const Json& v = field(j, name, where);
  if (!v.is_number_integer() || v.get<int64_t>() < lo)
    throw InputError(where + ": '" + name + "' must be an integer >= " + std::to_string(lo));
  return v.get<int64_t>();
}

std::string textField(const Json& j, const char* name, const std::string& where) {
  const Json& v = field(j, name, where);
  if (!v.is_string()) throw InputError(where + ": '" + name + "' must be a string");
  return v.get<std::string>();
}

}  // namespace

ProbeImportReport importProbeResults(LatencyStore& store, const std::string& path, const ProbeImportOptions& o) {
  if (o.device.empty()) throw InputError("import: --device NAME is required for hwnas-probe results");
  checkStatistic(o.statistic);
  Json j;
  try {
    j = readJsonFile(path);
  } catch (const IoError&) {
    throw;
  } catch (const Error& e) {
    throw InputError(path + ": not hwnas-probe results (not valid JSON: " + e.what() + ")");
  }
  if (!j.is_object() || !j.contains("format") || j["format"] != "hwnas-probe-results")
    throw InputError(path + ": not hwnas-probe results (no \"format\": \"hwnas-probe-results\"); give --format for "
                            "other tables");
  const int64_t version = intField(j, "version", path, 1);
  if (version > rt::kProbeResultsVersion)
    throw InputError(path + ": results format version " + std::to_string(version) + " is newer than this nas-lut reads (" +
                     std::to_string(rt::kProbeResultsVersion) + "); update hwnas");
  const std::string toolVersion = textField(j, "tool_version", path);
  const std::string dtype = textField(j, "dtype", path);
  if (dtype != "f32") throw InputError(path + ": dtype '" + dtype + "' (only f32 results are imported)");
  const int threads = int(intField(j, "threads", path, 1));
  const int batch = int(intField(j, "batch", path, 1));
  const Json& dev = field(j, "device", path);
  const std::string cpu = textField(dev, "cpu", path + ": device");
  const std::string arch = textField(dev, "arch", path + ": device");
  const std::string isa = textField(dev, "isa", path + ": device");
  const Json& plan = field(j, "plan", path);
  const std::string spaceId = textField(plan, "space_id", path + ": plan");
  const std::string finished = textField(j, "finished_at", path);
  const Json& ops = field(j, "ops", path);
  if (!ops.is_array() || ops.empty()) throw InputError(path + ": 'ops' must be a non-empty array");
  if (plan.contains("ops") && plan["ops"].is_number_integer() && plan["ops"].get<int64_t>() != int64_t(ops.size()))
    throw InputError(path + ": the plan had " + std::to_string(plan["ops"].get<int64_t>()) + " ops but " +
                     std::to_string(ops.size()) + " results are listed (an interrupted copy?)");

  const std::string origin = "hwnas-probe on '" + cpu + "' (" + arch + ", kernels " + isa + "), plan " +
                             (spaceId.empty() ? std::string("?") : spaceId) + ", " + path + ", statistic " +
                             o.statistic + ", per-op timer in one-op plans";
  std::vector<Measurement> rows;
  std::set<std::string> keys;
  std::vector<double> overheads;
  double sxy = 0, sxx = 0;
  for (size_t i = 0; i < ops.size(); ++i) {
    const std::string where = path + ": ops[" + std::to_string(i) + "]";
    const Json& e = ops[i];
    Measurement m;
    m.device = o.device;
    m.level = KeyLevel::Op;
    m.key = textField(e, "key", where);
    if (m.key.empty()) throw InputError(where + ": empty key");
    if (!keys.insert(m.key).second) throw InputError(where + ": key '" + m.key + "' is listed twice");
    const std::string spec = textField(e, "spec", where);
    rt::ProbeOp op;
    try {
      op = rt::parseProbeOp(spec, where + ": spec");
    } catch (const rt::ProbePlanError& err) {
      throw InputError(err.what());
    }
    if (op.key != m.key) throw InputError(where + ": the spec's key differs from 'key'");
    const std::string typeName = m.key.substr(0, m.key.find(':'));
    if (typeName != rt::opTypeName(op.op.type))
      throw InputError(where + ": key '" + m.key + "' is not a " + rt::opTypeName(op.op.type) + " op");
    m.dtype = dtype;
    m.threads = threads;
    m.batch = batch;
    const double mn = msField(e, "min_ms", where), med = msField(e, "median_ms", where),
                 p90 = msField(e, "p90_ms", where);
    if (!(mn <= med && med <= p90)) throw InputError(where + ": needs min_ms <= median_ms <= p90_ms");
    m.minMs = mn;
    m.medianMs = med;
    m.p90Ms = p90;
    if (e.contains("mean_ms")) m.meanMs = msField(e, "mean_ms", where);
    if (e.contains("std_ms")) m.stdMs = msField(e, "std_ms", where);
    m.latencyMs = o.statistic == "min" ? mn : med;
    m.repeats = intField(e, "samples", where, 1);
    m.source = Source::Profiled;
    m.origin = origin;
    m.toolVersion = toolVersion;
    m.createdAt = finished;
    const rt::Plan one = rt::oneOpPlan(op, where);
    const PlanOpCost c = planOpCost(one, 0);
    m.macs = c.macs;
    m.bytes = c.bytes;
    if (e.contains("call_median_ms")) overheads.push_back(msField(e, "call_median_ms", where) - med);
    const double mflop = 2e-6 * double(c.macs) / double(batch);
    sxy += mflop * m.latencyMs;
    sxx += mflop * mflop;
    rows.push_back(std::move(m));
  }

  // Everything is checked: now write (device, rows in one transaction, calibration).
  ProbeImportReport rep;
  rep.threads = threads;
  rep.batch = batch;
  if (!store.device(o.device)) {
    if (!isDeviceKind(o.kind)) throw InputError("import: unknown --kind '" + o.kind + "'; use cpu, gpu, fpga, mobile or asic");
    store.addDevice({o.device, o.kind, o.description.empty() ? cpu + " (" + arch + ", hwnas-probe)" : o.description});
    rep.deviceCreated = true;
  }
  store.put(rows);
  rep.rows = int64_t(rows.size());
  // A per-run overhead for the LUT sum: a network pays Executor::run's fixed cost once; the probe
  // measured it as call time minus op time. Only where no calibration from whole networks exists.
  const auto existing = store.calibration(o.device, dtype, threads, batch);
  if (!overheads.empty() && (!existing || existing->networks == 0)) {
    std::sort(overheads.begin(), overheads.end());
    Calibration cal;
    cal.device = o.device;
    cal.dtype = dtype;
    cal.threads = threads;
    cal.batch = batch;
    cal.overheadMs = std::max(0.0, overheads[overheads.size() / 2]);
    cal.msPerMflop = sxx > 0 ? sxy / sxx : 0;
    cal.networks = 0;
    cal.origin = origin + " (overhead: median call time minus op time; no whole networks run)";
    cal.toolVersion = toolVersion;
    cal.createdAt = finished;
    store.setCalibration(cal);
    rep.calibrationWritten = true;
  }
  return rep;
}

}  // namespace hwnas
