#include "nas/search_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>

#include "core/fs_util.h"
#include "search_spaces/nb201_space.h"

namespace hwnas {

std::vector<std::string> paretoAxes(const SearchProblem& problem) {
  std::vector<std::string> axes;
  for (const auto& m : problem.minimize()) axes.push_back(m.label());
  if (axes.empty())
    for (const auto& c : problem.constraints())
      if (std::find(axes.begin(), axes.end(), c.metric.label()) == axes.end()) axes.push_back(c.metric.label());
  return axes;
}

namespace {
double val(const QueryRow& r, const std::string& k) { return r.metrics.at(k).get<double>(); }

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}
}  // namespace

std::vector<size_t> paretoFront(const std::vector<QueryRow>& rows, const std::vector<std::string>& axes) {
  std::vector<size_t> cand;
  std::set<std::string> seen;
  for (size_t i = 0; i < rows.size(); ++i)
    if (rows[i].queried && rows[i].violation <= 0.0 && seen.insert(rows[i].hash).second) cand.push_back(i);
  auto dominates = [&](size_t a, size_t b) {
    bool strict = rows[a].accuracy > rows[b].accuracy;
    if (rows[a].accuracy < rows[b].accuracy) return false;
    for (const auto& k : axes) {
      double x = val(rows[a], k), y = val(rows[b], k);
      if (x > y) return false;
      if (x < y) strict = true;
    }
    return strict;
  };
  std::vector<size_t> front;
  for (size_t a : cand) {
    bool dom = false;
    for (size_t b : cand)
      if (b != a && dominates(b, a)) {
        dom = true;
        break;
      }
    if (!dom) front.push_back(a);
  }
  std::stable_sort(front.begin(), front.end(), [&](size_t a, size_t b) {
    if (!axes.empty() && val(rows[a], axes[0]) != val(rows[b], axes[0])) return val(rows[a], axes[0]) < val(rows[b], axes[0]);
    return rows[a].accuracy > rows[b].accuracy;
  });
  return front;
}

Json archSummary(const SearchProblem& problem, const QueryRow& row) {
  Json j;
  j["arch"] = row.arch.json();
  j["hash"] = row.hash;
  if (problem.space().kind() == "nb201") {
    j["index"] = Nb201Space::index(row.arch);
    j["arch_str"] = Nb201Space::archStr(row.arch);
  }
  j["metrics"] = row.metrics;
  if (problem.hasReport()) {
    auto r = problem.reportAccuracy(row.arch);
    j["report"] = {{problem.reportName(), r ? Json(*r) : Json(nullptr)}};
  }
  j["seq"] = row.seq;
  return j;
}

Json bestArchJson(const SearchProblem& problem, const SearchOutcome& o) {
  Json j;
  j["space_id"] = problem.space().spaceId();
  j["strategy"] = problem.settings().strategy;
  j["seed"] = problem.seed();
  j["queries"] = o.queries;
  j["objective"] = problem.accuracyName();
  if (!o.best) {
    j["found"] = false;
    return j;
  }
  j["found"] = true;
  Json s = archSummary(problem, o.rows[*o.best]);
  for (auto it = s.begin(); it != s.end(); ++it) j[it.key()] = it.value();
  int64_t q = 0;  // the query count at which the best was first queried
  for (size_t i = 0; i <= *o.best; ++i) q += o.rows[i].counted ? 1 : 0;
  j["found_at_query"] = q;
  return j;
}

Json paretoJson(const SearchProblem& problem, const SearchOutcome& o) {
  auto axes = paretoAxes(problem);
  Json j;
  j["objective"] = problem.accuracyName();
  j["axes"] = axes;
  j["front"] = Json::array();
  for (size_t i : paretoFront(o.rows, axes)) j["front"].push_back(archSummary(problem, o.rows[i]));
  return j;
}

std::string paretoCsv(const SearchProblem& problem, const SearchOutcome& o) {
  auto axes = paretoAxes(problem);
  bool nb = problem.space().kind() == "nb201";
  std::ostringstream s;
  s << "hash," << (nb ? "index,arch_str," : "arch,") << problem.accuracyName();
  for (const auto& a : axes) s << "," << a;
  if (problem.hasReport()) s << "," << problem.reportName();
  s << "\n";
  s.precision(17);
  for (size_t i : paretoFront(o.rows, axes)) {
    const auto& r = o.rows[i];
    s << r.hash << ",";
    if (nb)
      s << Nb201Space::index(r.arch) << "," << Nb201Space::archStr(r.arch);
    else {
      std::string c = r.arch.canonical(), q;
      for (char ch : c) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
      s << "\"" << q << "\"";
    }
    s << "," << r.accuracy;
    for (const auto& a : axes) s << "," << val(r, a);
    if (problem.hasReport()) {
      auto v = problem.reportAccuracy(r.arch);
      s << ",";
      if (v) s << *v;
    }
    s << "\n";
  }
  return s.str();
}

std::string paretoSvg(const SearchProblem& problem, const SearchOutcome& o) {
  auto axes = paretoAxes(problem);
  if (axes.empty()) axes.push_back("");  // accuracy only: one panel over the query number
  const double W = 420, H = 320, ml = 60, mr = 20, mt = 30, mb = 50;
  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W * axes.size() << "\" height=\"" << H
    << "\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  std::vector<size_t> pts;
  std::set<std::string> seen;
  for (size_t i = 0; i < o.rows.size(); ++i)
    if (o.rows[i].queried && o.rows[i].violation <= 0.0 && seen.insert(o.rows[i].hash).second) pts.push_back(i);
  for (size_t p = 0; p < axes.size(); ++p) {
    const std::string& ax = axes[p];
    auto xOf = [&](size_t i) { return ax.empty() ? double(o.rows[i].seq) : val(o.rows[i], ax); };
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (size_t i : pts) {
      x0 = std::min(x0, xOf(i));
      x1 = std::max(x1, xOf(i));
      y0 = std::min(y0, o.rows[i].accuracy);
      y1 = std::max(y1, o.rows[i].accuracy);
    }
    double budget = NAN;
    for (const auto& c : problem.constraints())
      if (c.metric.label() == ax) budget = c.max;
    if (!std::isnan(budget)) {
      x0 = std::min(x0, budget);
      x1 = std::max(x1, budget);
    }
    if (pts.empty()) x0 = y0 = 0, x1 = y1 = 1;
    if (x1 <= x0) x1 = x0 + 1;
    if (y1 <= y0) y1 = y0 + 1;
    double padX = 0.05 * (x1 - x0), padY = 0.05 * (y1 - y0);
    x0 -= padX, x1 += padX, y0 -= padY, y1 += padY;
    const double ox = W * double(p);
    auto px = [&](double x) { return ox + ml + (x - x0) / (x1 - x0) * (W - ml - mr); };
    auto py = [&](double y) { return mt + (y1 - y) / (y1 - y0) * (H - mt - mb); };
    s << "<g>\n<line x1=\"" << ox + ml << "\" y1=\"" << H - mb << "\" x2=\"" << ox + W - mr << "\" y2=\"" << H - mb
      << "\" stroke=\"black\"/>\n<line x1=\"" << ox + ml << "\" y1=\"" << mt << "\" x2=\"" << ox + ml << "\" y2=\"" << H - mb
      << "\" stroke=\"black\"/>\n";
    for (int t = 0; t <= 4; ++t) {
      double xv = x0 + (x1 - x0) * t / 4, yv = y0 + (y1 - y0) * t / 4;
      s << "<line x1=\"" << px(xv) << "\" y1=\"" << H - mb << "\" x2=\"" << px(xv) << "\" y2=\"" << H - mb + 4
        << "\" stroke=\"black\"/><text x=\"" << px(xv) << "\" y=\"" << H - mb + 16 << "\" text-anchor=\"middle\">" << num(xv)
        << "</text>\n";
      s << "<line x1=\"" << ox + ml - 4 << "\" y1=\"" << py(yv) << "\" x2=\"" << ox + ml << "\" y2=\"" << py(yv)
        << "\" stroke=\"black\"/><text x=\"" << ox + ml - 6 << "\" y=\"" << py(yv) + 4 << "\" text-anchor=\"end\">" << num(yv)
        << "</text>\n";
    }
    s << "<text x=\"" << ox + (ml + W - mr) / 2 << "\" y=\"" << H - 12 << "\" text-anchor=\"middle\">"
      << (ax.empty() ? "proposal" : ax) << "</text>\n";
    s << "<text transform=\"translate(" << ox + 14 << "," << (mt + H - mb) / 2 << ") rotate(-90)\" text-anchor=\"middle\">"
      << problem.accuracyName() << "</text>\n";
    s << "<text x=\"" << ox + ml << "\" y=\"18\">" << problem.settings().strategy << ", " << o.queries << " queries</text>\n";
    if (!std::isnan(budget))
      s << "<line x1=\"" << px(budget) << "\" y1=\"" << mt << "\" x2=\"" << px(budget) << "\" y2=\"" << H - mb
        << "\" stroke=\"gray\" stroke-dasharray=\"4,3\"/>\n";
    for (size_t i : pts)
      s << "<circle cx=\"" << px(xOf(i)) << "\" cy=\"" << py(o.rows[i].accuracy) << "\" r=\"2.5\" fill=\"#9aa5b1\"/>\n";
    if (!ax.empty()) {
      auto f = paretoFront(o.rows, {ax});
      s << "<polyline fill=\"none\" stroke=\"#d1495b\" stroke-width=\"1.5\" points=\"";
      for (size_t k = 0; k < f.size(); ++k) {
        if (k) s << px(xOf(f[k])) << "," << py(o.rows[f[k - 1]].accuracy) << " ";
        s << px(xOf(f[k])) << "," << py(o.rows[f[k]].accuracy) << " ";
      }
      s << "\"/>\n";
      for (size_t i : f)
        s << "<circle cx=\"" << px(xOf(i)) << "\" cy=\"" << py(o.rows[i].accuracy) << "\" r=\"3.5\" fill=\"#d1495b\"/>\n";
    }
    if (o.best)
      s << "<circle cx=\"" << px(xOf(*o.best)) << "\" cy=\"" << py(o.rows[*o.best].accuracy)
        << "\" r=\"6\" fill=\"none\" stroke=\"#00798c\" stroke-width=\"2\"/>\n";
    s << "</g>\n";
  }
  s << "</svg>\n";
  return s.str();
}

void writeSearchOutputs(const std::string& dir, const SearchProblem& problem, const SearchOutcome& outcome) {
  writeJsonFile(dir + "/best_arch.json", bestArchJson(problem, outcome));
  writeJsonFile(dir + "/pareto.json", paretoJson(problem, outcome));
  writeFileAtomic(dir + "/pareto.csv", paretoCsv(problem, outcome));
  writeFileAtomic(dir + "/pareto.svg", paretoSvg(problem, outcome));
}

}  // namespace hwnas
