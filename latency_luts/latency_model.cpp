#include "latency_luts/latency_model.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/error.h"
#include "core/lower.h"
#include "latency_luts/profiler.h"

namespace hwnas {

namespace rt = runtime;

namespace {

std::string opTypeOfKey(const std::string& key) { return key.substr(0, key.find(':')); }

std::string fmt(double v, int prec = 4) {
  std::ostringstream s;
  s.precision(prec);
  s << v;
  return s.str();
}

}  // namespace

Json LatencyPrediction::toJson(bool withOps) const {
  Json j;
  j["device"] = device;
  j["method"] = method;
  j["latency_ms"] = latencyMs;
  j["overhead_ms"] = overheadMs;
  j["energy_mj"] = energyMj ? Json(*energyMj) : Json(nullptr);
  j["energy_source"] = energySource;
  j["fallback_used"] = fallbackUsed;
  j["fallback_ops"] = fallbackOps;
  if (withOps) {
    Json a = Json::array();
    for (const auto& o : ops) {
      Json e = {{"key", o.key}, {"ms", o.ms}, {"energy_mj", o.energyMj}, {"fallback", o.fallback}};
      if (!o.note.empty()) e["note"] = o.note;
      a.push_back(e);
    }
    j["ops"] = a;
  }
  return j;
}

OpEnergy opEnergy(const rt::Plan& plan, size_t i, const EnergyParams& p) {
  const PlanOpCost c = planOpCost(plan, i);
  OpEnergy e;
  const double macPj = double(c.macs) * p.macPj;
  // One 32-bit SRAM operand read per MAC, plus every activation byte once.
  const double sramPj = (4.0 * double(c.macs) + double(c.activationBytes)) * p.sramPjPerByte;
  double dramBytes = double(c.weightBytes);
  const rt::PlanOp& op = plan.ops[i];
  for (int32_t t : op.inputs) {
    const double b = 4.0 * double(rt::shapeElements(plan.tensors[t].shape));
    if (b > p.onChipBytes) dramBytes += b;
  }
  const double ob = 4.0 * double(rt::shapeElements(plan.tensors[op.output].shape));
  if (ob > p.onChipBytes) dramBytes += ob;
  const double dramPj = dramBytes * p.dramPjPerByte;
  e.macMj = macPj * 1e-9;
  e.sramMj = sramPj * 1e-9;
  e.dramMj = dramPj * 1e-9;
  e.mj = e.macMj + e.sramMj + e.dramMj;
  return e;
}

LatencyPrediction LatencyModel::predictArch(const SearchSpace& space, const ArchConfig& arch) const {
  return predict(space.toGraph(arch));
}

// --- LUT model ---

LutLatencyModel::LutLatencyModel(LatencyStore& store, const std::string& device, const LutModelOptions& o)
    : device_(device), path_(store.path()), options_(o) {
  store.requireDevice(device);
  for (auto& [k, m] : store.table(device, KeyLevel::Op, o.dtype, o.threads, o.batch)) ops_[k] = m.latencyMs;
  arch_ = store.table(device, KeyLevel::Arch, o.dtype, o.threads, o.batch);
  if (o.useOverhead)
    if (auto c = store.calibration(device, o.dtype, o.threads, o.batch)) overheadMs_ = c->overheadMs;
  if (o.allowFallback) {
    // The fit needs MACs and bytes per entry: read them back from the rows.
    std::vector<Measurement> rows;
    for (auto& [k, m] : store.table(device, KeyLevel::Op, o.dtype, o.threads, o.batch))
      if (m.macs && m.bytes) rows.push_back(m);
    auto solve = [](const std::vector<const Measurement*>& ms) {
      // Least squares on (1, MMACs, MB) with a tiny ridge so a constant column cannot break it.
      double A[3][3] = {}, y[3] = {};
      for (const Measurement* m : ms) {
        const double x[3] = {1.0, double(*m->macs) * 1e-6, double(*m->bytes) * 1e-6};
        for (int r = 0; r < 3; ++r) {
          for (int c = 0; c < 3; ++c) A[r][c] += x[r] * x[c];
          y[r] += x[r] * m->latencyMs;
        }
      }
      for (int r = 0; r < 3; ++r) A[r][r] += 1e-12 + 1e-10 * A[r][r];
      for (int p = 0; p < 3; ++p)
        for (int r = p + 1; r < 3; ++r) {
          const double f = A[r][p] / A[p][p];
          for (int c = p; c < 3; ++c) A[r][c] -= f * A[p][c];
          y[r] -= f * y[p];
        }
      double b[3];
      for (int r = 2; r >= 0; --r) {
        double s = y[r];
        for (int c = r + 1; c < 3; ++c) s -= A[r][c] * b[c];
        b[r] = s / A[r][r];
      }
      Fit f;
      f.a = b[0];
      f.b = b[1] * 1e-6;
      f.c = b[2] * 1e-6;
      f.n = int(ms.size());
      return f;
    };
    std::map<std::string, std::vector<const Measurement*>> byType;
    std::vector<const Measurement*> all;
    for (const auto& m : rows) {
      byType[opTypeOfKey(m.key)].push_back(&m);
      all.push_back(&m);
    }
    if (all.size() >= 2) fits_[""] = solve(all);
    for (const auto& [t, ms] : byType)
      if (ms.size() >= 4) fits_[t] = solve(ms);
  }
}

double LutLatencyModel::fallbackMs(const rt::Plan& plan, size_t i) const {
  const std::string t = opTypeOfKey(plan.ops[i].key);
  auto it = fits_.find(t);
  if (it == fits_.end()) it = fits_.find("");
  if (it == fits_.end())
    throw Error("the fallback model for device '" + device_ + "' (" + path_ +
                ") needs at least 2 profiled op entries with MACs and bytes; profile the device first");
  const PlanOpCost c = planOpCost(plan, i);
  return std::max(0.0, it->second.a + it->second.b * double(c.macs) + it->second.c * double(c.bytes));
}

LatencyPrediction LutLatencyModel::predict(const Graph& g) const {
  const rt::Plan plan = lowerStructure(g);
  LatencyPrediction p;
  p.device = device_;
  p.method = "lut";
  p.overheadMs = overheadMs_;
  double energy = 0;
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    const std::string& key = plan.ops[i].key;
    OpLatency o;
    o.key = key;
    auto it = ops_.find(key);
    if (it != ops_.end()) {
      o.ms = it->second;
    } else if (options_.allowFallback) {
      o.ms = fallbackMs(plan, i);
      o.fallback = true;
      ++p.fallbackOps;
    } else {
      throw InputError("no latency for '" + key + "' on device '" + device_ + "' (" + path_ + ", " + options_.dtype +
                       ", " + std::to_string(options_.threads) + " thread" + (options_.threads == 1 ? "" : "s") +
                       ", batch " + std::to_string(options_.batch) + "); run `nas-lut profile --device " + device_ +
                       "` or allow the fallback model");
    }
    o.energyMj = opEnergy(plan, i, options_.energy).mj;
    energy += o.energyMj;
    p.latencyMs += o.ms;
    p.ops.push_back(std::move(o));
  }
  p.latencyMs += overheadMs_;
  p.fallbackUsed = p.fallbackOps > 0;
  p.energyMj = energy;
  p.energySource = "analytic";
  return p;
}

LatencyPrediction LutLatencyModel::predictArch(const SearchSpace& space, const ArchConfig& arch) const {
  auto it = arch_.find(archKey(space.spaceId(), arch.hashHex()));
  if (it != arch_.end() && it->second.source == Source::Imported) {
    LatencyPrediction p;
    p.device = device_;
    p.method = "arch-table";
    p.latencyMs = it->second.latencyMs;
    if (it->second.energyMj) {
      p.energyMj = it->second.energyMj;
      p.energySource = "imported";
    } else {  // the table has no energy: the analytic estimate of the same network
      const runtime::Plan plan = lowerStructure(space.toGraph(arch));
      double e = 0;
      for (size_t i = 0; i < plan.ops.size(); ++i) e += opEnergy(plan, i, options_.energy).mj;
      p.energyMj = e;
      p.energySource = "analytic";
    }
    return p;
  }
  if (ops_.empty() && !arch_.empty())
    throw InputError("no latency for architecture " + arch.hashHex() + " of space '" + space.spaceId() +
                     "' on device '" + device_ + "' (" + path_ + "): the device has whole-network entries only");
  return predict(space.toGraph(arch));
}

// --- FPGA ---

FpgaLatencyModel::FpgaLatencyModel(std::string device, const FpgaParams& p, const EnergyParams& e)
    : device_(std::move(device)), p_(p), e_(e) {
  if (p.peRows < 1 || p.peCols < 1 || p.clockMhz <= 0 || p.bandwidthGBs <= 0)
    throw InputError("fpga model '" + device_ + "': PE array, clock and bandwidth must be positive");
  const int pes = p.peRows * p.peCols;
  if (pes * p.dspPerPe > p.dspBudget)
    throw InputError("fpga model '" + device_ + "': a " + std::to_string(p.peRows) + "x" + std::to_string(p.peCols) +
                     " PE array needs " + std::to_string(pes * p.dspPerPe) + " DSPs, the budget is " +
                     std::to_string(p.dspBudget));
  if (pes * p.lutPerPe > p.lutBudget)
    throw InputError("fpga model '" + device_ + "': the PE array needs " + std::to_string(pes * p.lutPerPe) +
                     " LUTs, the budget is " + std::to_string(p.lutBudget));
}

LatencyPrediction FpgaLatencyModel::predict(const Graph& g) const {
  const rt::Plan plan = lowerStructure(g);
  LatencyPrediction out;
  out.device = device_;
  out.method = "fpga-analytic";
  out.energySource = "analytic";
  const double bytesPerCycle = p_.bandwidthGBs * 1e9 / (p_.clockMhz * 1e6);
  const double valueScale = double(p_.bytesPerValue) / 4.0;  // plan costs are fp32 bytes
  double energy = 0;
  auto tiles = [](int64_t a, int64_t b) { return (a + b - 1) / b; };
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    const rt::PlanOp& op = plan.ops[i];
    const auto& in = plan.tensors[op.inputs[0]].shape;
    const auto& o = plan.tensors[op.output].shape;
    const PlanOpCost c = planOpCost(plan, i);
    int64_t compute = 0, bufferBytes = 0;
    const int64_t n = o[0];
    switch (op.type) {
      case rt::OpType::Conv2d: {
        const int64_t cg = in[1] / op.groups, mg = op.outChannels / op.groups;
        compute = n * op.groups * tiles(mg, p_.peRows) * tiles(cg * op.kernelH * op.kernelW, p_.peCols) * o[2] * o[3];
        bufferBytes = (in[1] * op.kernelH * in[3] + int64_t(p_.peRows) * cg * op.kernelH * op.kernelW) * p_.bytesPerValue;
        break;
      }
      case rt::OpType::DepthwiseConv2d:
        compute = n * tiles(in[1], p_.peRows) * tiles(int64_t(op.kernelH) * op.kernelW, p_.peCols) * o[2] * o[3];
        bufferBytes = in[1] * op.kernelH * in[3] * p_.bytesPerValue;
        break;
      case rt::OpType::Linear: {
        const int64_t f = rt::shapeElements(in) / in[0];
        compute = n * tiles(op.outChannels, p_.peRows) * tiles(f, p_.peCols);
        bufferBytes = f * p_.bytesPerValue;
        break;
      }
      case rt::OpType::SqueezeExcite:
        compute = n * (tiles(op.outChannels, p_.peRows) * tiles(in[1], p_.peCols) +
                       tiles(in[1], p_.peRows) * tiles(op.outChannels, p_.peCols)) +
                  tiles(rt::shapeElements(in), p_.peRows) * 2;
        bufferBytes = in[1] * p_.bytesPerValue;
        break;
      default:  // elementwise, pools, concat: one value per PE row per cycle
        compute = tiles(rt::shapeElements(o), p_.peRows) *
                  std::max<int64_t>(1, int64_t(op.kernelH) * op.kernelW * (op.type == rt::OpType::AvgPool ||
                                                                          op.type == rt::OpType::MaxPool));
        bufferBytes = in.size() == 4 ? in[1] * in[3] * p_.bytesPerValue : 0;
        break;
    }
    const double memory = double(c.bytes) * valueScale / bytesPerCycle;
    const double cycles = std::max(double(compute), memory) + p_.layerSetupCycles;
    OpLatency ol;
    ol.key = op.key;
    ol.ms = cycles / (p_.clockMhz * 1e3);
    ol.energyMj = opEnergy(plan, i, e_).mj;
    const int64_t bram = (bufferBytes + 4607) / 4608;  // BRAM36 = 4.5 KB
    ol.note = "cycles=" + fmt(cycles, 8) + (double(compute) >= memory ? " compute-bound" : " memory-bound") +
              " dsp=" + std::to_string(p_.peRows * p_.peCols * p_.dspPerPe) + " bram36=" + std::to_string(bram) +
              (bram > p_.bram36Budget ? " (over budget: tiled)" : "");
    out.latencyMs += ol.ms;
    energy += ol.energyMj;
    out.ops.push_back(std::move(ol));
  }
  out.energyMj = energy;
  return out;
}

// --- GPU roofline ---

GpuRooflineModel::GpuRooflineModel(std::string device, const GpuParams& p, const EnergyParams& e)
    : device_(std::move(device)), p_(p), e_(e) {
  if (p.peakTflops <= 0 || p.bandwidthGBs <= 0 || p.efficiency <= 0 || p.launchUs < 0)
    throw InputError("gpu model '" + device_ + "': peak, efficiency and bandwidth must be positive");
}

LatencyPrediction GpuRooflineModel::predict(const Graph& g) const {
  const rt::Plan plan = lowerStructure(g);
  LatencyPrediction out;
  out.device = device_;
  out.method = "gpu-roofline";
  out.energySource = "analytic";
  double energy = 0;
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    const PlanOpCost c = planOpCost(plan, i);
    const double computeMs = 2.0 * double(c.macs) / (p_.peakTflops * p_.efficiency * 1e12) * 1e3;
    const double memoryMs = double(c.bytes) / (p_.bandwidthGBs * 1e9) * 1e3;
    OpLatency ol;
    ol.key = plan.ops[i].key;
    ol.ms = std::max(computeMs, memoryMs) + p_.launchUs * 1e-3;
    ol.energyMj = opEnergy(plan, i, e_).mj;
    ol.note = computeMs >= memoryMs ? "compute-bound" : "memory-bound";
    out.latencyMs += ol.ms;
    energy += ol.energyMj;
    out.ops.push_back(std::move(ol));
  }
  out.energyMj = energy;
  return out;
}

std::unique_ptr<LatencyModel> makeLatencyModel(LatencyStore* store, const std::string& device,
                                               const LutModelOptions& options) {
  if (device == "analytic:fpga") return std::make_unique<FpgaLatencyModel>(device);
  if (device == "analytic:gpu") return std::make_unique<GpuRooflineModel>(device);
  if (device.rfind("analytic:", 0) == 0)
    throw InputError("unknown analytic device '" + device + "'; use analytic:fpga or analytic:gpu");
  if (!store) throw InputError("device '" + device + "' needs a latency table (--db)");
  return std::make_unique<LutLatencyModel>(*store, device, options);
}

}  // namespace hwnas
