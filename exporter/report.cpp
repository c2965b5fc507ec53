#include "exporter/report.h"

#include <algorithm>
#include <iomanip>
#include <sstream>

namespace hwnas {
namespace {

std::string fixed(double v, int digits) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

std::string pct(double acc) { return acc < 0 ? "-" : fixed(100.0 * acc, 2); }

std::string delta(double acc, double base) {
  if (acc < 0 || base < 0) return "-";
  const double d = 100.0 * (acc - base);
  return (d >= 0 ? "+" : "") + fixed(d, 2);
}

}  // namespace

Json ExportReport::toJson() const {
  Json j;
  j["format"] = "hwnas-export-report";
  j["version"] = 1;
  j["model"] = model;
  j["recipe"] = recipe;
  j["target"] = target;
  j["seed"] = seed;
  j["threads"] = threads;
  j["artifacts"] = artifacts;
  Json steps = Json::array();
  for (const ExportStep& s : this->steps) {
    Json e;
    e["name"] = s.name;
    e["detail"] = s.detail;
    e["seconds"] = s.seconds;
    const StepMetrics& m = s.metrics;
    e["val_accuracy"] = m.valAccuracy < 0 ? Json() : Json(m.valAccuracy);
    e["test_accuracy"] = m.testAccuracy < 0 ? Json() : Json(m.testAccuracy);
    e["accuracy_how"] = m.accuracyHow;
    e["size_bytes"] = m.sizeBytes;
    e["size_of"] = m.sizeOf;
    e["macs"] = m.macs;
    e["params"] = m.params;
    Json lat = Json::object();
    for (const auto& [b, l] : m.measured)
      lat["batch" + std::to_string(b)] = {{"median_ms", l.medianMs}, {"min_ms", l.minMs}, {"max_ms", l.maxMs}, {"repeats", l.repeats}};
    e["measured_latency"] = lat;
    e["measured_how"] = m.measuredHow;
    Json pred = Json::object();
    for (const auto& [d, ms] : m.predictedMs) pred[d] = ms;
    e["predicted_latency_ms"] = pred;
    e["notes"] = m.notes;
    steps.push_back(e);
  }
  j["steps"] = steps;
  return j;
}

std::string ExportReport::toMarkdown() const {
  std::ostringstream o;
  o << "# nas-export report: " << model << "\n\n";
  o << "Recipe `" << recipe << "`, target `" << target << "`, seed " << seed << ", " << threads << " thread(s).\n\n";
  const double baseTest = steps.empty() ? -1 : steps.front().metrics.testAccuracy;
  const double baseSize = steps.empty() ? 0 : double(steps.front().metrics.sizeBytes);
  const double baseMacs = steps.empty() ? 0 : double(steps.front().metrics.macs);
  o << "## Accuracy and size\n\n";
  o << "| step | val % | test % | test vs input | size (bytes) | size x | MACs | MACs x | params |\n";
  o << "|---|---|---|---|---|---|---|---|---|\n";
  for (const ExportStep& s : steps) {
    const StepMetrics& m = s.metrics;
    o << "| " << s.name << " | " << pct(m.valAccuracy) << " | " << pct(m.testAccuracy) << " | "
      << delta(m.testAccuracy, baseTest) << " | " << m.sizeBytes << " (" << m.sizeOf << ") | "
      << (baseSize > 0 ? fixed(double(m.sizeBytes) / baseSize, 3) : "-") << " | " << m.macs << " | "
      << (m.macs > 0 ? fixed(baseMacs / double(m.macs), 2) : "-") << " | " << m.params << " |\n";
  }
  o << "\n## Latency (ms)\n\nMeasured on this CPU with the hwnas runtime (median of repeats, min-max in brackets); "
       "predicted at batch 1 by the latency models named.\n\n";
  std::vector<int> batches;
  std::vector<std::string> devices;
  for (const ExportStep& s : steps) {
    for (const auto& kv : s.metrics.measured)
      if (std::find(batches.begin(), batches.end(), kv.first) == batches.end()) batches.push_back(kv.first);
    for (const auto& kv : s.metrics.predictedMs)
      if (std::find(devices.begin(), devices.end(), kv.first) == devices.end()) devices.push_back(kv.first);
  }
  o << "| step | plan |";
  for (int b : batches) o << " batch " << b << " |";
  for (const auto& d : devices) o << " " << d << " |";
  o << "\n|---|---|";
  for (size_t i = 0; i < batches.size() + devices.size(); ++i) o << "---|";
  o << "\n";
  for (const ExportStep& s : steps) {
    o << "| " << s.name << " | " << (s.metrics.measuredHow.empty() ? "-" : s.metrics.measuredHow) << " |";
    for (int b : batches) {
      auto it = s.metrics.measured.find(b);
      if (it == s.metrics.measured.end()) o << " - |";
      else o << " " << fixed(it->second.medianMs, 3) << " [" << fixed(it->second.minMs, 3) << "-" << fixed(it->second.maxMs, 3) << "] |";
    }
    for (const auto& d : devices) {
      auto it = s.metrics.predictedMs.find(d);
      o << " " << (it == s.metrics.predictedMs.end() ? "-" : fixed(it->second, 4)) << " |";
    }
    o << "\n";
  }
  o << "\n## Steps\n\n";
  for (const ExportStep& s : steps) {
    o << "- **" << s.name << "**" << (s.detail.empty() ? "" : ": " + s.detail) << " (" << fixed(s.seconds, 1) << " s)";
    if (!s.metrics.accuracyHow.empty()) o << "; accuracy: " << s.metrics.accuracyHow;
    o << "\n";
    for (const auto& n : s.metrics.notes) o << "  - " << n << "\n";
  }
  if (!artifacts.empty()) {
    o << "\n## Artifacts\n\n";
    for (const auto& a : artifacts) o << "- `" << a << "`\n";
  }
  return o.str();
}

}  // namespace hwnas
