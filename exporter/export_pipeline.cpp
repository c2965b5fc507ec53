#include "exporter/export_pipeline.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <sstream>

#include "core/error.h"
#include "exporter/fold_bn.h"
#include "exporter/lowrank.h"
#include "exporter/model_io.h"
#include "exporter/onnx_export.h"
#include "exporter/pass.h"
#include "exporter/prune.h"
#include "exporter/quantize.h"
#include "latency_luts/latency_model.h"
#include "latency_luts/profiler.h"
#include "runtime/executor.h"
#include "trainer/data_loader.h"
#include "trainer/fine_tune.h"
#include "trainer/graph_module.h"
#include "trainer/training.h"
#include "trainer/weight_map.h"

namespace hwnas {
namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

runtime::Plan planOf(const ExportModel& m, const QuantSpec* quant, int64_t batch) {
  const Graph g = withBatch(m.graph, batch);
  return quant ? lowerQuantized(g, m.weights, *quant) : lower(g, m.weights);
}

// Accuracy (0..1) of the plan that ships on `data`, in chunks of 100 images.
double planAccuracy(const ExportModel& m, const QuantSpec* quant, const ImageDataset& data, const DataSplits& splits,
                    int threads) {
  if (data.n == 0) return -1;
  const int64_t chunk = 100;
  std::map<int64_t, std::unique_ptr<runtime::Executor>> exes;
  runtime::ExecutorOptions eo;
  eo.threads = threads;
  int64_t correct = 0;
  for (int64_t b = 0; b < data.n; b += chunk) {
    const int64_t e = std::min(data.n, b + chunk), n = e - b;
    auto& ex = exes[n];
    if (!ex) ex = std::make_unique<runtime::Executor>(planOf(m, quant, n), eo);
    const Tensor x = toTensor(data, b, e, splits.mean, splits.std);
    std::vector<float> in(x.data(), x.data() + x.numel());
    const std::vector<float> y = ex->run(in);
    const int64_t classes = int64_t(y.size()) / n;
    for (int64_t i = 0; i < n; ++i) {
      const float* row = y.data() + i * classes;
      const int64_t arg = int64_t(std::max_element(row, row + classes) - row);
      correct += arg == data.labels[size_t(b + i)];
    }
  }
  return double(correct) / double(data.n);
}

// Times every plan with the latency tables' interleaved timer (latency_luts/profiler.h): visits
// go round the plans, one timed run per visit, so a change in the machine's speed during the
// export (shared cores) hits every step alike and the ratios between steps hold.
std::vector<LatencySummary> timePlansInterleaved(const std::vector<runtime::Plan>& plans, int repeats, int threads) {
  TimingOptions to;
  to.threads = threads;
  to.warmup = 2;
  to.runs = repeats;
  to.burst = 1;
  to.preemptRetries = 0;  // every run counts: the report shows min, median and max
  to.perOp = false;
  std::vector<LatencySummary> out;
  for (NetworkTimes& t : timeInterleaved(plans, to)) {
    std::vector<double>& v = t.totalMs;
    std::sort(v.begin(), v.end());
    LatencySummary s;
    s.repeats = repeats;
    s.minMs = v.front();
    s.maxMs = v.back();
    s.medianMs = v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
    out.push_back(s);
  }
  return out;
}

struct State {
  ExportModel model;
  std::optional<QuantSpec> quant;
  std::map<std::string, std::vector<float>> masks;
  std::string accuracyHow = "fp32 runtime plan";
};

void dropStaleMasks(State& s) {
  for (auto it = s.masks.begin(); it != s.masks.end();) {
    auto w = s.model.weights.find(it->first);
    if (w == s.model.weights.end() || w->second.values.size() != it->second.size()) it = s.masks.erase(it);
    else ++it;
  }
}

Tensor maskTensor(const WeightTensor& w, const std::vector<float>& m) { return Tensor::fromVector(w.shape, m); }

}  // namespace

std::string onnxBytesOf(const ExportModel& model, const QuantSpec* quant) {
  OnnxExportOptions o;
  o.quant = quant;
  return exportOnnxBytes(model, o);
}

ExportPipelineResult runExportPipeline(const ExportModel& input, const ExportRecipe& recipe,
                                       const ExportPipelineOptions& options) {
  auto say = [&](const std::string& s) {
    if (options.progress) options.progress(s);
  };
  // Order check before any work: nothing but a quantize pass may come last among weight changers.
  for (size_t i = 0; i < recipe.passes.size(); ++i) {
    if (recipe.passes[i].pass != "quantize") continue;
    for (size_t j = i + 1; j < recipe.passes.size(); ++j)
      throw InputError(recipe.passes[j].where + ": passes[" + std::to_string(j) + "]: '" + recipe.passes[j].pass +
                       "' after quantize would change weights the int8 scales were chosen for; put quantize last");
  }
  bool needData = options.measureAccuracy;
  for (const PassSpec& p : recipe.passes) needData = needData || p.pass == "finetune" || p.pass == "quantize";
  DataSplits data;
  if (needData) {
    TrainOptions to;
    to.dataset = recipe.dataset;
    to.dataDir = recipe.dataDir;
    to.trainLimit = recipe.trainLimit;
    to.evalLimit = recipe.evalLimit;
    to.seed = options.seed;
    say("loading " + recipe.dataset);
    data = loadDataSplits(to);
  }
  std::unique_ptr<LatencyStore> store;
  if (!recipe.lut.empty()) store = std::make_unique<LatencyStore>(recipe.lut, true);
  std::vector<std::unique_ptr<LatencyModel>> predictors;
  for (const std::string& d : recipe.predict) predictors.push_back(makeLatencyModel(store.get(), d));

  State st;
  st.model = input;
  ExportPipelineResult result;
  ExportReport& rep = result.report;
  rep.model = input.name;
  rep.recipe = recipe.file.empty() ? recipe.name : recipe.file;
  rep.seed = options.seed;
  rep.threads = options.threads;

  struct PendingTiming {
    size_t step;  // index into rep.steps (the step being measured is pushed right after)
    int batch;
    runtime::Plan plan;
  };
  std::vector<PendingTiming> toTime;
  auto measure = [&](const std::string& stepName) {
    StepMetrics m;
    const QuantSpec* q = st.quant ? &*st.quant : nullptr;
    const GraphCost c = st.model.graph.cost();
    const int64_t batch = std::max<int64_t>(1, st.model.graph.node(st.model.graph.inputIds().at(0)).shape[0]);
    m.macs = c.macs / batch;
    m.params = c.params;
    m.sizeBytes = int64_t(onnxBytesOf(st.model, q).size());
    m.sizeOf = q ? "onnx int8 qdq" : "onnx fp32";
    if (options.measureAccuracy) {
      say(stepName + ": accuracy on " + std::to_string(data.val.n) + " validation and " + std::to_string(data.test.n) + " test images");
      m.valAccuracy = planAccuracy(st.model, q, data.val, data, options.threads);
      m.testAccuracy = planAccuracy(st.model, q, data.test, data, options.threads);
      m.accuracyHow = q ? "int8 runtime plan (lowerQuantized)" : "fp32 runtime plan";
    }
    if (options.measureLatency) {
      m.measuredHow = q ? "int8" : "fp32";
      // lowered now, timed at the end with every other step's plans (interleaved)
      for (int b : recipe.latencyBatches) toTime.push_back({rep.steps.size(), b, planOf(st.model, q, b)});
    }
    for (const auto& p : predictors) {
      try {
        m.predictedMs[p->device()] = p->predict(st.model.graph).latencyMs;
      } catch (const InputError& e) {
        m.notes.push_back("no prediction for " + p->device() + ": " + e.what());
      }
    }
    if (q && !predictors.empty()) m.notes.push_back("predicted latencies are for the fp32 graph (the models have no int8 rows)");
    if (!st.masks.empty()) {
      int64_t zeros = 0, total = 0;
      for (const auto& [n, mk] : st.masks) {
        total += int64_t(mk.size());
        for (float v : mk) zeros += v == 0.f;
      }
      m.notes.push_back("unstructured sparsity " + num(double(zeros) / double(total)) + " of the masked weights (" +
                        std::to_string(zeros) + " zeros; dense kernels: no speed-up, the zeros compress)");
    }
    return m;
  };

  auto teacherFor = [&](const DistillSpec& d) {
    if (d.teacher == "original") return std::make_unique<GraphModule>(input.graph, input.weights);
    const ExportModel t = loadExportModel(d.teacher);
    return std::make_unique<GraphModule>(t.graph, t.weights);
  };
  auto train = [&](GraphModule& gm, const PassSpec& p, const std::string& stepName) {
    FineTuneOptions fo;
    fo.train.dataset = recipe.dataset;
    fo.train.epochs = p.epochs;
    fo.train.maxSteps = p.maxSteps;
    fo.train.lr = p.lr;
    fo.train.batchSize = p.batchSize;
    fo.train.optimizer = p.optimizer;
    fo.train.seed = options.seed;
    std::unique_ptr<GraphModule> teacher;
    if (p.distill.enabled) {
      teacher = teacherFor(p.distill);
      fo.teacher = teacher.get();
      fo.alpha = float(p.distill.alpha);
      fo.temperature = float(p.distill.temperature);
      fo.cacheTeacher = p.distill.cache;
    }
    FineTuneResult r = fineTune(gm, data, fo, [&](const TrainProgress& tp) {
      if (tp.epochEnd)
        say(stepName + ": epoch " + std::to_string(tp.epoch) + " loss " + num(tp.loss) +
            (tp.valAccuracy >= 0 ? " val " + num(tp.valAccuracy) : ""));
    });
    std::ostringstream d;
    d << p.epochs << " epoch(s), lr " << p.lr << ", " << r.train.steps << " steps";
    if (p.distill.enabled)
      d << ", distilled from " << p.distill.teacher << " (alpha " << p.distill.alpha << ", T " << p.distill.temperature
        << (p.distill.cache ? ", cached teacher logits" : "") << ", " << r.teacherForwards << " teacher forwards)";
    return d.str();
  };
  auto moduleOf = [&]() {
    auto gm = std::make_unique<GraphModule>(st.model.graph, st.model.weights);
    for (const auto& [name, mk] : st.masks) gm->setWeightMask(name, maskTensor(st.model.weights.at(name), mk));
    return gm;
  };

  {
    ExportStep s;
    s.name = "input";
    s.detail = std::to_string(input.graph.size()) + " nodes";
    s.metrics = measure(s.name);
    rep.steps.push_back(s);
  }
  for (size_t i = 0; i < recipe.passes.size(); ++i) {
    const PassSpec& p = recipe.passes[i];
    ExportStep s;
    const auto t0 = Clock::now();
    std::ostringstream detail;
    if (p.pass == "fold_bn") {
      s.name = "fold_bn";
      say("pass " + std::to_string(i + 1) + ": fold_bn");
      FoldBnResult r = foldBatchNorm(st.model);
      st.model = std::move(r.model);
      detail << r.folded << " batchnorm(s) folded, " << r.kept << " kept";
    } else if (p.pass == "prune") {
      s.name = "prune(" + p.method + " " + num(p.sparsity) + (p.global ? " global" : " per_layer") + ")";
      say("pass " + std::to_string(i + 1) + ": " + s.name);
      if (p.method == "magnitude") {
        MagnitudePruneOptions o;
        o.sparsity = p.sparsity;
        o.global = p.global;
        MagnitudePruneResult r = pruneMagnitude(st.model, o);
        st.model = std::move(r.model);
        for (auto& [n, mk] : r.masks) {
          auto& cur = st.masks[n];
          if (cur.size() != mk.size()) cur = mk;
          else for (size_t k = 0; k < mk.size(); ++k) cur[k] *= mk[k];
        }
        detail << r.zeroed << " of " << r.prunable << " conv/linear weights zeroed";
      } else {
        ChannelPruneOptions o;
        o.importance = p.method;
        o.sparsity = p.sparsity;
        o.global = p.global;
        ChannelPruneResult r = pruneChannels(st.model, o);
        st.model = std::move(r.model);
        dropStaleMasks(st);
        int prunable = 0;
        for (const auto& g : r.groups) prunable += g.prunable;
        detail << r.channelsAfter << " of " << r.channelsBefore << " channels kept in " << prunable << " prunable groups";
        for (const auto& g : r.groups)
          if (!g.prunable && !g.producers.empty()) detail << "; left alone (" << g.reason << "): " << g.producers.front();
      }
    } else if (p.pass == "lowrank") {
      s.name = "lowrank(" + p.method + (p.energy > 0 ? " energy " + num(p.energy) : " " + num(p.macReduction) + "x MACs") + ")";
      say("pass " + std::to_string(i + 1) + ": " + s.name);
      LowRankOptions o;
      o.method = p.method;
      o.energy = p.energy;
      o.macReduction = p.macReduction;
      o.skip = p.skip;
      LowRankResult r = decomposeLowRank(st.model, o);
      st.model = std::move(r.model);
      dropStaleMasks(st);
      detail << r.layers.size() << " layer(s) decomposed at energy " << num(r.energy) << ":";
      for (const auto& l : r.layers)
        detail << " " << l.node << " r=" << l.rank << (p.method == "tucker2" ? "/" + std::to_string(l.rank2) : "") << " of " << l.fullRank;
    } else if (p.pass == "quantize" && p.method == "ptq") {
      s.name = "quantize(ptq " + p.calibration + ")";
      say("pass " + std::to_string(i + 1) + ": " + s.name);
      CalibrationOptions co;
      co.method = parseCalibrationMethod(p.calibration);
      co.threads = options.threads;
      std::vector<std::vector<float>> batches;
      const int64_t per = 64;
      for (int b = 0; b < p.batches && b * per < data.train.n; ++b) {
        const Tensor x = toTensor(data.train, b * per, std::min(data.train.n, (b + 1) * per), data.mean, data.std);
        batches.emplace_back(x.data(), x.data() + x.numel());
      }
      st.quant = calibrate(st.model, batches, co);
      detail << st.quant->layers.size() << " layers calibrated, " << batches.size() << " calibration batches of " << per << " training images";
      if (p.keepFp32 > 0) {
        say(s.name + ": per-layer sensitivity");
        const auto sens = layerSensitivity(st.model, *st.quant, batches, options.threads);
        st.quant = keepSensitiveLayersFp32(*st.quant, sens, p.keepFp32);
        detail << "; mixed precision, kept fp32 (most sensitive):";
        for (size_t k = 0; k < sens.size() && int(k) < p.keepFp32; ++k)
          detail << " " << sens[k].layer << " (rel. error " << num(sens[k].relativeError) << ")";
      }
    } else if (p.pass == "quantize") {  // qat
      s.name = "quantize(qat " + std::to_string(p.epochs) + " epoch(s))";
      say("pass " + std::to_string(i + 1) + ": " + s.name);
      auto gm = moduleOf();
      gm->enableFakeQuant();
      detail << "fake-quant training: " << train(*gm, p, s.name);
      st.quant = gm->quantSpec();
      st.model.weights = weightMapOf(*gm);
    } else {  // finetune
      s.name = "finetune(" + std::to_string(p.epochs) + " epoch(s)" + (p.distill.enabled ? ", distill" : "") + ")";
      say("pass " + std::to_string(i + 1) + ": " + s.name);
      auto gm = moduleOf();
      detail << train(*gm, p, s.name);
      st.model.weights = weightMapOf(*gm);
    }
    s.seconds = secondsSince(t0);
    s.detail = detail.str();
    s.metrics = measure(s.name);
    rep.steps.push_back(s);
  }
  if (!toTime.empty()) {
    say("latency: " + std::to_string(toTime.size()) + " plans, " + std::to_string(recipe.latencyRepeats) +
        " interleaved rounds");
    std::vector<runtime::Plan> plans;
    for (auto& t : toTime) plans.push_back(std::move(t.plan));
    const std::vector<LatencySummary> lat = timePlansInterleaved(plans, recipe.latencyRepeats, options.threads);
    for (size_t k = 0; k < toTime.size(); ++k) rep.steps[toTime[k].step].metrics.measured[toTime[k].batch] = lat[k];
  }
  result.model = std::move(st.model);
  result.quant = std::move(st.quant);
  result.masks = std::move(st.masks);
  return result;
}

}  // namespace hwnas
