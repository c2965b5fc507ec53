#include "exporter/quantize.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <memory>

#include "core/error.h"
#include "core/lower.h"
#include "runtime/executor.h"

namespace hwnas {

namespace rt = runtime;

const char* calibrationMethodName(CalibrationMethod m) {
  switch (m) {
    case CalibrationMethod::Percentile: return "percentile";
    case CalibrationMethod::Entropy: return "entropy";
    case CalibrationMethod::MinMax: break;
  }
  return "minmax";
}

CalibrationMethod parseCalibrationMethod(const std::string& name) {
  for (auto m : {CalibrationMethod::MinMax, CalibrationMethod::Percentile, CalibrationMethod::Entropy})
    if (name == calibrationMethodName(m)) return m;
  throw InputError("unknown calibration method '" + name + "'; use minmax, percentile or entropy");
}

void activationParams(double lo, double hi, float& scale, int32_t& zeroPoint) {
  lo = std::min(lo, 0.0);
  hi = std::max(hi, 0.0);
  scale = float(std::max(hi - lo, 1e-8) / 255.0);
  zeroPoint = int32_t(std::max(-128.0, std::min(127.0, std::nearbyint(-128.0 - lo / double(scale)))));
}

double entropyThreshold(const std::vector<double>& hist, double max, int levels) {
  const int bins = int(hist.size());
  if (bins <= levels) return max;
  const double width = max / bins;
  double bestKl = std::numeric_limits<double>::infinity();
  int best = bins;
  std::vector<double> p, q;
  for (int i = levels; i <= bins; ++i) {
    // P: the first i bins, the outliers folded into the last one.
    p.assign(hist.begin(), hist.begin() + i);
    for (int j = i; j < bins; ++j) p[i - 1] += hist[j];
    // Q: the first i bins merged into `levels` groups, each group's mass spread evenly over
    // its non-empty bins.
    q.assign(size_t(i), 0.0);
    for (int g = 0; g < levels; ++g) {
      const int b0 = int(int64_t(g) * i / levels), b1 = int(int64_t(g + 1) * i / levels);
      double mass = 0;
      int nonzero = 0;
      for (int j = b0; j < b1; ++j) {
        mass += hist[j];
        nonzero += hist[j] > 0;
      }
      for (int j = b0; j < b1; ++j) q[j] = hist[j] > 0 ? mass / nonzero : 0;
    }
    double ps = 0, qs = 0;
    for (int j = 0; j < i; ++j) {
      ps += p[j];
      qs += q[j];
    }
    if (ps <= 0 || qs <= 0) continue;
    double kl = 0;
    for (int j = 0; j < i; ++j) {
      if (p[j] <= 0) continue;
      const double pj = p[j] / ps, qj = std::max(q[j] / qs, 1e-12);
      kl += pj * std::log(pj / qj);
    }
    if (kl < bestKl) {
      bestKl = kl;
      best = i;
    }
  }
  return best * width;
}

namespace {

struct Observed {
  double lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity();
  std::vector<double> hist;  // over [0, max(|lo|, |hi|)] of |x| (two-sided) or x (lo >= 0)
  double histMax = 0;
  bool oneSided() const { return lo >= 0; }
};

// Runs plan with the given tensors as its outputs over every batch; calls f(tensorIndex, values).
template <class F>
void runObserving(const rt::Plan& plan, const std::vector<int32_t>& tensors,
                  const std::vector<std::vector<float>>& batches, int threads, F&& f) {
  rt::Plan obs = plan;
  obs.outputs = tensors;
  const int64_t perImage = rt::shapeElements(plan.tensors[plan.inputs[0]].shape) / plan.batch();
  std::map<int64_t, std::unique_ptr<rt::Executor>> executors;
  for (size_t b = 0; b < batches.size(); ++b) {
    const int64_t n = int64_t(batches[b].size()) / perImage;
    auto& ex = executors[n];
    if (!ex) {
      rt::ExecutorOptions o;
      o.threads = threads;
      o.batch = n;
      ex = std::make_unique<rt::Executor>(obs, o);
    }
    std::vector<std::vector<float>> outs(tensors.size());
    std::vector<float*> ptrs;
    for (size_t i = 0; i < tensors.size(); ++i) {
      outs[i].resize(size_t(rt::shapeElements(ex->outputShape(i))));
      ptrs.push_back(outs[i].data());
    }
    ex->run({batches[b].data()}, ptrs);
    for (size_t i = 0; i < tensors.size(); ++i) f(i, outs[i]);
  }
}

void checkBatches(const rt::Plan& plan, const std::vector<std::vector<float>>& batches, const std::string& where) {
  if (plan.inputs.size() != 1) throw InputError(where + ": calibration needs a model with one input");
  if (batches.empty()) throw InputError(where + ": no calibration batches; pass at least one batch of images");
  const int64_t perImage = rt::shapeElements(plan.tensors[plan.inputs[0]].shape) / plan.batch();
  for (size_t b = 0; b < batches.size(); ++b)
    if (batches[b].empty() || int64_t(batches[b].size()) % perImage)
      throw InputError(where + ": calibration batch " + std::to_string(b) + " has " +
                       std::to_string(batches[b].size()) + " values, not a whole number of " +
                       rt::shapeText(plan.tensors[plan.inputs[0]].shape) + " images (" + std::to_string(perImage) +
                       " values each)");
}

bool isLayerOp(const rt::PlanOp& op) {
  return op.type == rt::OpType::Conv2d || op.type == rt::OpType::DepthwiseConv2d || op.type == rt::OpType::Linear;
}

}  // namespace

QuantSpec calibrate(const ExportModel& model, const std::vector<std::vector<float>>& batches,
                    const CalibrationOptions& options) {
  const std::string where = "calibrate '" + model.name + "'";
  if (options.bins < 256 || options.bins > (1 << 20))
    throw InputError(where + ": bins must be in [256, 1048576], got " + std::to_string(options.bins));
  if (!(options.percentile > 50 && options.percentile <= 100))
    throw InputError(where + ": percentile must be in (50, 100], got " + std::to_string(options.percentile));
  const rt::Plan plan = lower(model.graph, model.weights);
  const std::vector<std::string> sources = opSourceNodes(model.graph);
  checkBatches(plan, batches, where);
  for (const auto& name : options.layers) {
    const int id = model.graph.findNode(name);
    if (id < 0 || (model.graph.node(id).kind != OpKind::Conv2d && model.graph.node(id).kind != OpKind::Linear))
      throw InputError(where + ": layer '" + name + "' is not a conv2d or linear node of the model");
  }
  // The layers and the tensors they read and write.
  std::vector<size_t> layerOps;
  std::vector<int32_t> tensors;
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    if (!isLayerOp(plan.ops[i])) continue;
    if (!options.layers.empty() &&
        std::find(options.layers.begin(), options.layers.end(), sources[i]) == options.layers.end())
      continue;
    layerOps.push_back(i);
    for (int32_t t : {plan.ops[i].inputs[0], plan.ops[i].output})
      if (std::find(tensors.begin(), tensors.end(), t) == tensors.end()) tensors.push_back(t);
  }
  std::vector<Observed> obs(tensors.size());
  runObserving(plan, tensors, batches, options.threads, [&](size_t i, const std::vector<float>& v) {
    for (float x : v) {
      obs[i].lo = std::min(obs[i].lo, double(x));
      obs[i].hi = std::max(obs[i].hi, double(x));
    }
  });
  if (options.method != CalibrationMethod::MinMax) {
    for (auto& o : obs) {
      o.hist.assign(size_t(options.bins), 0.0);
      o.histMax = std::max({std::fabs(o.lo), std::fabs(o.hi), 1e-12});
    }
    // Percentile keeps two histograms' worth of sides: the negative values in a second one.
    std::vector<std::vector<double>> negHist(obs.size(), std::vector<double>(size_t(options.bins), 0.0));
    runObserving(plan, tensors, batches, options.threads, [&](size_t i, const std::vector<float>& v) {
      Observed& o = obs[i];
      const double scale = options.bins / o.histMax;
      if (options.method == CalibrationMethod::Entropy) {  // x over [lo, hi]
        const double es = options.bins / std::max(o.hi - o.lo, 1e-12);
        // Exact zeros (relu's, padding's) are left out: zero is exact at any range, and their
        // spike would make every coarser merge look costly to the KL search.
        for (float x : v)
          if (x != 0.f) o.hist[size_t(std::min(options.bins - 1, int((double(x) - o.lo) * es)))] += 1;
        return;
      }
      for (float x : v) {
        const double a = std::fabs(double(x));
        const int b = std::min(options.bins - 1, int(a * scale));
        if (x < 0 && options.method == CalibrationMethod::Percentile)
          negHist[i][b] += 1;
        else
          o.hist[b] += 1;
      }
    });
    for (size_t i = 0; i < obs.size(); ++i) {
      Observed& o = obs[i];
      const double width = o.histMax / options.bins;
      if (options.method == CalibrationMethod::Percentile) {
        // The smallest edge that keeps `percentile` % of the values of each side inside it.
        auto edge = [&](const std::vector<double>& h) {
          double total = 0;
          for (double c : h) total += c;
          if (total <= 0) return 0.0;
          double acc = 0;
          for (int b = 0; b < options.bins; ++b) {
            acc += h[b];
            if (acc >= total * options.percentile / 100.0) return (b + 1) * width;
          }
          return o.histMax;
        };
        o.hi = std::min(o.hi, edge(o.hist));
        o.lo = std::max(o.lo, -edge(negHist[i]));
      } else if (std::find(plan.outputs.begin(), plan.outputs.end(), tensors[i]) == plan.outputs.end()) {
        // (The network's outputs, the logits, keep their min-max range: clipping them changes
        // the argmax, which is what a classifier is for.)
        // Each end of the range on its own: the KL search over the histogram read from the low
        // end clips the high tail, read from the high end it clips the low tail (a bounded
        // side, relu's 0 or the input's background, keeps its value).
        const double span = o.hi - o.lo;
        if (span > 0) {
          const double hiT = entropyThreshold(o.hist, span, 256);
          std::vector<double> rev(o.hist.rbegin(), o.hist.rend());
          const double loT = entropyThreshold(rev, span, 256);
          const double lo = o.hi - loT, hi = o.lo + hiT;
          if (lo < hi) {
            o.lo = std::max(o.lo, lo);
            o.hi = std::min(o.hi, hi);
          }
        }
      }
    }
  }
  QuantSpec spec;
  spec.calibration = calibrationMethodName(options.method);
  auto params = [&](int32_t t, float& s, int32_t& zp) {
    const size_t i = size_t(std::find(tensors.begin(), tensors.end(), t) - tensors.begin());
    activationParams(obs[i].lo, obs[i].hi, s, zp);
  };
  for (size_t i : layerOps) {
    const rt::PlanOp& op = plan.ops[i];
    LayerQuant q;
    q.weightScales = weightScalesOf(op.weight, op.outChannels);
    params(op.inputs[0], q.inputScale, q.inputZeroPoint);
    params(op.output, q.outputScale, q.outputZeroPoint);
    spec.layers[sources[i]] = q;
  }
  return spec;
}

std::vector<LayerSensitivity> layerSensitivity(const ExportModel& model, const QuantSpec& spec,
                                               const std::vector<std::vector<float>>& batches, int threads) {
  const rt::Plan fp = lower(model.graph, model.weights);
  checkBatches(fp, batches, "layerSensitivity '" + model.name + "'");
  auto outputsOf = [&](const rt::Plan& plan) {
    std::vector<float> all;
    runObserving(plan, plan.outputs, batches, threads,
                 [&](size_t, const std::vector<float>& v) { all.insert(all.end(), v.begin(), v.end()); });
    return all;
  };
  const std::vector<float> ref = outputsOf(fp);
  double norm = 0;
  for (float v : ref) norm += double(v) * v;
  norm = std::sqrt(std::max(norm, 1e-30));
  std::vector<LayerSensitivity> out;
  for (const auto& [name, q] : spec.layers) {
    if (!q.int8) continue;
    QuantSpec one;
    one.calibration = spec.calibration;
    one.layers[name] = q;
    const std::vector<float> y = outputsOf(lowerQuantized(model.graph, model.weights, one));
    double err = 0;
    for (size_t i = 0; i < y.size(); ++i) err += (double(y[i]) - ref[i]) * (double(y[i]) - ref[i]);
    out.push_back({name, std::sqrt(err) / norm});
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const LayerSensitivity& a, const LayerSensitivity& b) { return a.relativeError > b.relativeError; });
  return out;
}

QuantSpec keepSensitiveLayersFp32(QuantSpec spec, const std::vector<LayerSensitivity>& sensitivity, int keepFp32) {
  if (keepFp32 < 0) throw InputError("keepSensitiveLayersFp32: the number of fp32 layers must be >= 0");
  for (int i = 0; i < keepFp32 && size_t(i) < sensitivity.size(); ++i) {
    auto it = spec.layers.find(sensitivity[size_t(i)].layer);
    if (it != spec.layers.end()) it->second.int8 = false;
  }
  return spec;
}

}  // namespace hwnas
