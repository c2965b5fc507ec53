#include "runtime/probe/probe_runner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <thread>

#include "runtime/executor.h"
#include "runtime/kernels.h"

namespace hwnas::runtime {

const char* const kProbeToolVersion = "hwnas-probe 0.1.0";

namespace {

std::string trim(const std::string& s) {
  const std::string ws(" \t\r\n\0", 5);
  const size_t a = s.find_first_not_of(ws);
  if (a == std::string::npos) return "";
  const size_t b = s.find_last_not_of(ws);
  return s.substr(a, b - a + 1);
}

std::string number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

const char* archName() {
#if defined(__aarch64__)
  return "aarch64";
#elif defined(__arm__)
  return "arm";
#elif defined(__x86_64__)
  return "x86_64";
#elif defined(__i386__)
  return "x86";
#elif defined(__riscv)
  return "riscv";
#else
  return "unknown";
#endif
}

}  // namespace

std::string utcNow() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
#if defined(_WIN32)
  gmtime_s(&tm, &t);
#else
  gmtime_r(&t, &tm);
#endif
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

ProbeDevice probeDevice() {
  ProbeDevice d;
  d.arch = archName();
  d.isa = kernels::isaName(kernels::bestIsa());
  d.hardwareThreads = int(std::thread::hardware_concurrency());
  std::string model, hardware, implementer, part;
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    const size_t c = line.find(':');
    if (c == std::string::npos) continue;
    const std::string k = trim(line.substr(0, c)), v = trim(line.substr(c + 1));
    if (k == "model name" && model.empty()) model = v;
    if (k == "Hardware" && hardware.empty()) hardware = v;
    if (k == "Model" && hardware.empty()) hardware = v;  // Raspberry Pi OS
    if (k == "CPU implementer" && implementer.empty()) implementer = v;
    if (k == "CPU part" && part.empty()) part = v;
  }
  std::ifstream dt("/proc/device-tree/model");
  std::string board;
  if (dt) std::getline(dt, board, '\0');
  board = trim(board);
  if (!model.empty()) {
    d.cpu = model;
  } else if (!implementer.empty() || !part.empty()) {
    d.cpu = "ARM implementer " + implementer + " part " + part;
  }
  const std::string where = !board.empty() ? board : hardware;
  if (!where.empty()) d.cpu = d.cpu.empty() ? where : d.cpu + " (" + where + ")";
  if (d.cpu.empty()) d.cpu = "unknown";
  return d;
}

double probeMedian(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double probePercentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t rank = size_t(std::ceil(p * double(v.size())));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

int rejectOutliers(std::vector<double>& v, double k) {
  if (v.size() < 3 || k <= 0) return 0;
  const double med = probeMedian(v);
  std::vector<double> dev(v.size());
  for (size_t i = 0; i < v.size(); ++i) dev[i] = std::fabs(v[i] - med);
  const double sigma = std::max(1.4826 * probeMedian(dev), 0.05 * med);
  const double limit = med + k * sigma;
  const size_t before = v.size();
  v.erase(std::remove_if(v.begin(), v.end(), [&](double x) { return x > limit; }), v.end());
  return int(before - v.size());
}

std::string jsonEscape(const std::string& s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\r': o += "\\r"; break;
      case '\t': o += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          o += buf;
        } else {
          o += char(c);
        }
    }
  }
  return o + "\"";
}

ProbeResults runProbe(const ProbePlan& plan, const ProbeOptions& o,
                      const std::function<void(size_t, size_t)>& progress) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  ProbeResults res;
  res.device = probeDevice();
  res.threads = o.threads > 0 ? o.threads : plan.threads;
  res.batch = plan.batch;
  res.repeats = o.repeats > 0 ? o.repeats : plan.repeats;
  res.warmup = o.warmup >= 0 ? o.warmup : plan.warmup;
  res.startedAt = utcNow();
  const int burst = std::max(1, o.burst);
  const size_t group = size_t(std::max(1, o.group));
  res.ops.resize(plan.ops.size());
  std::vector<int64_t> ns;
  for (size_t g0 = 0; g0 < plan.ops.size(); g0 += group) {
    const size_t g1 = std::min(plan.ops.size(), g0 + group);
    struct Slot {
      std::unique_ptr<Executor> ex;
      std::vector<std::vector<float>> in;
      std::vector<float> out;
      std::vector<const float*> inPtr;
      std::vector<float*> outPtr;
      std::vector<double> opMs, callMs;
    };
    std::vector<Slot> slots(g1 - g0);
    for (size_t i = g0; i < g1; ++i) {
      Slot& s = slots[i - g0];
      ExecutorOptions eo;
      eo.threads = res.threads;
      eo.batch = plan.batch;
      s.ex = std::make_unique<Executor>(oneOpPlan(plan.ops[i], "op #" + std::to_string(i)), eo);
      uint64_t seed = probeHash(plan.ops[i].key) ^ 0x1234567ull;
      for (size_t k = 0; k < s.ex->plan().inputs.size(); ++k) {
        std::vector<float> x(size_t(shapeElements(s.ex->inputShape(k))));
        for (auto& v : x) {
          seed = seed * 6364136223846793005ull + 1442695040888963407ull;
          v = float(double(seed >> 40) / double(1 << 24) * 2.0 - 1.0);
        }
        s.in.push_back(std::move(x));
      }
      for (const auto& x : s.in) s.inPtr.push_back(x.data());
      s.out.assign(size_t(shapeElements(s.ex->outputShape())), 0.0f);
      s.outPtr = {s.out.data()};
    }
    auto once = [&](Slot& s, bool timed) {
      s.ex->setOpTimer(timed ? &ns : nullptr);
      const auto t0 = Clock::now();
      s.ex->run(s.inPtr, s.outPtr);
      const auto t1 = Clock::now();
      if (!timed) return;
      s.opMs.push_back(double(ns.at(0)) * 1e-6);
      s.callMs.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    };
    for (auto& s : slots)
      for (int w = 0; w < res.warmup; ++w) once(s, false);
    for (int done = 0; done < res.repeats; done += burst) {
      const int n = std::min(burst, res.repeats - done);
      for (auto& s : slots) {
        if (o.warmVisit) once(s, false);
        for (int b = 0; b < n; ++b) once(s, true);
      }
    }
    for (size_t i = g0; i < g1; ++i) {
      Slot& s = slots[i - g0];
      ProbeOpResult& r = res.ops[i];
      r.key = plan.ops[i].key;
      r.spec = formatProbeOp(plan.ops[i]);
      r.callMedianMs = probeMedian(s.callMs);
      std::vector<double> v = s.opMs;
      r.rejected = rejectOutliers(v, o.rejectMads);
      r.samples = int(v.size());
      r.minMs = *std::min_element(v.begin(), v.end());
      r.medianMs = probeMedian(v);
      r.p90Ms = probePercentile(v, 0.9);
      double sum = 0, sq = 0;
      for (double x : v) sum += x;
      r.meanMs = sum / double(v.size());
      for (double x : v) sq += (x - r.meanMs) * (x - r.meanMs);
      r.stdMs = v.size() > 1 ? std::sqrt(sq / double(v.size() - 1)) : 0.0;
    }
    if (progress) progress(g1, plan.ops.size());
  }
  res.finishedAt = utcNow();
  res.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return res;
}

std::string probeResultsJson(const ProbePlan& plan, const std::string& planFile, const ProbeResults& r) {
  std::string s = "{\n";
  s += "  \"format\": \"hwnas-probe-results\",\n";
  s += "  \"version\": " + std::to_string(kProbeResultsVersion) + ",\n";
  s += "  \"tool_version\": " + jsonEscape(kProbeToolVersion) + ",\n";
  s += "  \"plan\": {\"file\": " + jsonEscape(planFile) + ", \"space_id\": " + jsonEscape(plan.spaceId) +
       ", \"space\": " + jsonEscape(plan.spaceName) + ", \"version\": " + std::to_string(plan.version) +
       ", \"ops\": " + std::to_string(plan.ops.size()) + "},\n";
  s += "  \"device\": {\"cpu\": " + jsonEscape(r.device.cpu) + ", \"arch\": " + jsonEscape(r.device.arch) +
       ", \"isa\": " + jsonEscape(r.device.isa) + ", \"hardware_threads\": " +
       std::to_string(r.device.hardwareThreads) + "},\n";
  s += "  \"dtype\": " + jsonEscape(plan.dtype) + ",\n";
  s += "  \"threads\": " + std::to_string(r.threads) + ",\n";
  s += "  \"batch\": " + std::to_string(r.batch) + ",\n";
  s += "  \"repeats\": " + std::to_string(r.repeats) + ",\n";
  s += "  \"warmup\": " + std::to_string(r.warmup) + ",\n";
  s += "  \"timing\": \"per-op timer inside Executor::run of a one-op plan; interleaved groups; samples above "
       "median + k MAD rejected\",\n";
  s += "  \"started_at\": " + jsonEscape(r.startedAt) + ",\n";
  s += "  \"finished_at\": " + jsonEscape(r.finishedAt) + ",\n";
  s += "  \"seconds\": " + number(r.seconds) + ",\n";
  s += "  \"ops\": [";
  for (size_t i = 0; i < r.ops.size(); ++i) {
    const ProbeOpResult& o = r.ops[i];
    s += std::string(i ? "," : "") + "\n    {\"key\": " + jsonEscape(o.key) + ", \"spec\": " + jsonEscape(o.spec) +
         ", \"min_ms\": " + number(o.minMs) + ", \"median_ms\": " + number(o.medianMs) +
         ", \"p90_ms\": " + number(o.p90Ms) + ", \"mean_ms\": " + number(o.meanMs) + ", \"std_ms\": " +
         number(o.stdMs) + ", \"call_median_ms\": " + number(o.callMedianMs) +
         ", \"samples\": " + std::to_string(o.samples) + ", \"rejected\": " + std::to_string(o.rejected) + "}";
  }
  s += r.ops.empty() ? "]\n}\n" : "\n  ]\n}\n";
  return s;
}

}  // namespace hwnas::runtime
