#include "runtime/probe/probe_plan.h"

#include <cmath>
#include <fstream>
#include <sstream>

namespace hwnas::runtime {

namespace {

std::string pairText(int a, int b) { return std::to_string(a) + "x" + std::to_string(b); }

bool parseInt64(const std::string& s, int64_t& v) {
  if (s.empty() || s.size() > 18) return false;
  size_t i = s[0] == '-' ? 1 : 0;
  if (i == s.size()) return false;
  int64_t x = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    x = x * 10 + (s[i] - '0');
  }
  v = s[0] == '-' ? -x : x;
  return true;
}

int parseIntField(const std::string& name, const std::string& value, const std::string& where, int lo) {
  int64_t v = 0;
  if (!parseInt64(value, v) || v < lo || v > (int64_t(1) << 30))
    throw ProbePlanError(where + ": " + name + "=" + value + " is not an integer >= " + std::to_string(lo));
  return int(v);
}

void parsePair(const std::string& name, const std::string& value, const std::string& where, int lo, int32_t& h,
               int32_t& w) {
  const size_t x = value.find('x');
  if (x == std::string::npos) {
    h = w = parseIntField(name, value, where, lo);
    return;
  }
  h = parseIntField(name, value.substr(0, x), where, lo);
  w = parseIntField(name, value.substr(x + 1), where, lo);
}

std::vector<int64_t> parseShape(const std::string& s, const std::string& where) {
  std::vector<int64_t> shape;
  size_t start = 0;
  while (true) {
    const size_t x = s.find('x', start);
    const std::string part = s.substr(start, x == std::string::npos ? std::string::npos : x - start);
    int64_t d = 0;
    if (!parseInt64(part, d) || d < 1 || d > (int64_t(1) << 30))
      throw ProbePlanError(where + ": bad shape '" + s + "' (expected dims >= 1 joined by 'x', e.g. 1x16x28x28)");
    shape.push_back(d);
    if (x == std::string::npos) break;
    start = x + 1;
  }
  if (shape.size() > 8) throw ProbePlanError(where + ": shape '" + s + "' has more than 8 dims");
  return shape;
}

template <typename E>
E parseName(const std::string& name, const std::string& value, const std::string& where, E count,
            const char* (*nameOf)(E)) {
  std::string known;
  for (int i = 0; i < int(count); ++i) {
    if (value == nameOf(E(i))) return E(i);
    known += std::string(i ? ", " : "") + nameOf(E(i));
  }
  throw ProbePlanError(where + ": unknown " + name + " '" + value + "' (known: " + known + ")");
}

std::vector<std::string> splitSpaces(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  std::string t;
  while (in >> t) out.push_back(t);
  return out;
}

// SplitMix64: a tiny deterministic generator for the weights.
struct Mix {
  uint64_t s;
  double uniform(double a) {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return a * (2.0 * (double(z >> 11) * (1.0 / 9007199254740992.0)) - 1.0);
  }
  std::vector<float> values(int64_t n, double a) {
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = float(uniform(a));
    return v;
  }
};

double fanScale(int64_t fanIn) { return std::sqrt(3.0 / double(fanIn < 1 ? 1 : fanIn)); }

}  // namespace

uint64_t probeHash(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string formatProbeOp(const ProbeOp& p) {
  const PlanOp& op = p.op;
  std::string s = std::string(opTypeName(op.type)) + " key=" + p.key + " in=";
  for (size_t i = 0; i < p.inputs.size(); ++i) s += (i ? "," : "") + shapeText(p.inputs[i]);
  s += " out=" + std::to_string(op.outChannels) + " k=" + pairText(op.kernelH, op.kernelW) +
       " s=" + pairText(op.strideH, op.strideW) + " p=" + pairText(op.padH, op.padW) +
       " d=" + pairText(op.dilationH, op.dilationW) + " g=" + std::to_string(op.groups) +
       " act=" + actName(op.act) + " gate=" + actName(op.gate) + " bcast=" + (op.broadcastChannels ? "1" : "0");
  return s;
}

std::string formatProbePlan(const ProbePlan& p) {
  std::ostringstream o;
  o << "# hwnas profiling plan: run it on the board with `hwnas-probe plan.txt results.json`,\n"
    << "# then `nas-lut import --db lut.db --device NAME results.json` (docs/latency.md).\n"
    << "format hwnas-probe-plan\n"
    << "version " << p.version << "\n"
    << "space_id " << (p.spaceId.empty() ? "-" : p.spaceId) << "\n";
  if (!p.spaceName.empty()) o << "space " << p.spaceName << "\n";
  o << "dtype " << p.dtype << "\n"
    << "batch " << p.batch << "\n"
    << "threads " << p.threads << "\n"
    << "repeats " << p.repeats << "\n"
    << "warmup " << p.warmup << "\n"
    << "ops " << p.ops.size() << "\n";
  for (const auto& op : p.ops) {
    if (op.key.empty() || op.key.find_first_of(" \t\r\n") != std::string::npos)
      throw ProbePlanError("probe plan: op key '" + op.key + "' is empty or contains white space");
    o << "op " << formatProbeOp(op) << "\n";
  }
  o << "end\n";
  return o.str();
}

ProbeOp parseProbeOp(const std::string& fields, const std::string& where) {
  const auto tokens = splitSpaces(fields);
  if (tokens.empty()) throw ProbePlanError(where + ": an op line needs a type and key=..., in=...");
  ProbeOp p;
  PlanOp& op = p.op;
  op.type = parseName<OpType>("op type", tokens[0], where, OpType::Count, opTypeName);
  bool haveIn = false;
  for (size_t i = 1; i < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    const size_t eq = t.find('=');
    if (eq == std::string::npos || eq == 0)
      throw ProbePlanError(where + ": '" + t + "' is not a name=value field");
    const std::string name = t.substr(0, eq), value = t.substr(eq + 1);
    if (name == "key") {
      if (value.empty()) throw ProbePlanError(where + ": empty key");
      p.key = value;
    } else if (name == "in") {
      size_t start = 0;
      while (true) {
        const size_t c = value.find(',', start);
        p.inputs.push_back(parseShape(value.substr(start, c == std::string::npos ? std::string::npos : c - start), where));
        if (c == std::string::npos) break;
        start = c + 1;
      }
      haveIn = true;
    } else if (name == "out") {
      op.outChannels = parseIntField(name, value, where, 0);
    } else if (name == "k") {
      parsePair(name, value, where, 1, op.kernelH, op.kernelW);
    } else if (name == "s") {
      parsePair(name, value, where, 1, op.strideH, op.strideW);
    } else if (name == "p") {
      parsePair(name, value, where, 0, op.padH, op.padW);
    } else if (name == "d") {
      parsePair(name, value, where, 1, op.dilationH, op.dilationW);
    } else if (name == "g") {
      op.groups = parseIntField(name, value, where, 1);
    } else if (name == "act") {
      op.act = parseName<Act>("activation", value, where, Act::Count, actName);
    } else if (name == "gate") {
      op.gate = parseName<Act>("gate activation", value, where, Act::Count, actName);
    } else if (name == "bcast") {
      if (value != "0" && value != "1") throw ProbePlanError(where + ": bcast must be 0 or 1, got '" + value + "'");
      op.broadcastChannels = value == "1";
    } else {
      throw ProbePlanError(where + ": unknown field '" + name +
                           "' (known: key, in, out, k, s, p, d, g, act, gate, bcast)");
    }
  }
  if (p.key.empty()) throw ProbePlanError(where + ": the op has no key=...");
  if (!haveIn) throw ProbePlanError(where + ": the op has no in=<shape>");
  for (const auto& s : p.inputs)
    if (s[0] != 1) throw ProbePlanError(where + ": input shapes are batch 1 (the header's batch is the run batch)");
  oneOpPlan(p, where);  // the attributes must fit the shapes
  return p;
}

ProbePlan parseProbePlan(const std::string& text, const std::string& where) {
  ProbePlan plan;
  std::istringstream in(text);
  std::string line;
  int lineNo = 0;
  bool sawFormat = false, sawVersion = false, sawEnd = false;
  int64_t declaredOps = -1;
  auto at = [&] { return where + ":" + std::to_string(lineNo); };
  auto headerInt = [&](const std::vector<std::string>& t, int lo) {
    if (t.size() != 2) throw ProbePlanError(at() + ": '" + t[0] + "' takes one value");
    return parseIntField(t[0], t[1], at(), lo);
  };
  while (std::getline(in, line)) {
    ++lineNo;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto t = splitSpaces(line);
    if (t.empty() || t[0][0] == '#') continue;
    if (sawEnd) throw ProbePlanError(at() + ": text after 'end'");
    if (!sawFormat) {
      if (t.size() != 2 || t[0] != "format" || t[1] != "hwnas-probe-plan")
        throw ProbePlanError(at() + ": expected 'format hwnas-probe-plan' as the first line; is this a plan written by "
                                    "`nas-lut plan`?");
      sawFormat = true;
      continue;
    }
    const std::string& k = t[0];
    if (k == "version") {
      plan.version = headerInt(t, 1);
      if (plan.version > kProbePlanVersion)
        throw ProbePlanError(at() + ": plan format version " + std::to_string(plan.version) +
                             " is newer than this hwnas-probe reads (" + std::to_string(kProbePlanVersion) +
                             "); rebuild hwnas-probe from the same hwnas as nas-lut");
      sawVersion = true;
    } else if (!sawVersion) {
      throw ProbePlanError(at() + ": expected 'version N' after the format line");
    } else if (k == "space_id" || k == "space") {
      if (t.size() != 2) throw ProbePlanError(at() + ": '" + k + "' takes one value");
      (k == "space_id" ? plan.spaceId : plan.spaceName) = t[1] == "-" ? "" : t[1];
    } else if (k == "dtype") {
      if (t.size() != 2 || t[1] != "f32")
        throw ProbePlanError(at() + ": dtype must be f32 (the probe times fp32 kernels)");
      plan.dtype = t[1];
    } else if (k == "batch") {
      plan.batch = headerInt(t, 1);
    } else if (k == "threads") {
      plan.threads = headerInt(t, 1);
    } else if (k == "repeats") {
      plan.repeats = headerInt(t, 1);
    } else if (k == "warmup") {
      plan.warmup = headerInt(t, 0);
    } else if (k == "ops") {
      declaredOps = headerInt(t, 0);
    } else if (k == "op") {
      if (declaredOps < 0) throw ProbePlanError(at() + ": 'ops N' must come before the op lines");
      const size_t pos = line.find("op");
      plan.ops.push_back(parseProbeOp(line.substr(pos + 2), at()));
    } else if (k == "end") {
      if (t.size() != 1) throw ProbePlanError(at() + ": 'end' takes no value");
      sawEnd = true;
    } else {
      throw ProbePlanError(at() + ": unknown line '" + (line.size() > 60 ? line.substr(0, 60) + "..." : line) +
                           "' (expected a header key, 'op ...' or 'end')");
    }
  }
  if (!sawFormat) throw ProbePlanError(where + ": empty plan (no 'format hwnas-probe-plan' line)");
  if (!sawEnd)
    throw ProbePlanError(where + ": no 'end' line: the plan is truncated (" + std::to_string(plan.ops.size()) +
                         " op lines read); copy it again");
  if (declaredOps != int64_t(plan.ops.size()))
    throw ProbePlanError(where + ": the header says ops " + std::to_string(declaredOps) + " but " +
                         std::to_string(plan.ops.size()) + " op lines follow");
  return plan;
}

ProbePlan loadProbePlan(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw ProbePlanError(path + ": cannot open the plan file");
  std::ostringstream s;
  s << f.rdbuf();
  return parseProbePlan(s.str(), path);
}

ProbeOp probeOpOf(const Plan& plan, size_t index) {
  const PlanOp& src = plan.ops.at(index);
  ProbeOp p;
  p.key = src.key;
  p.op = src;
  p.op.weight.clear();
  p.op.bias.clear();
  p.op.weight2.clear();
  p.op.bias2.clear();
  p.op.inputs.clear();
  p.op.output = -1;
  for (int32_t t : src.inputs) p.inputs.push_back(withBatch(plan.tensors.at(size_t(t)).shape, 1));
  return p;
}

Plan oneOpPlan(const ProbeOp& p, const std::string& where) {
  Plan plan;
  PlanOp op = p.op;
  op.key = p.key;
  op.name = "probe";
  op.inputs.clear();
  for (const auto& s : p.inputs) {
    op.inputs.push_back(int32_t(plan.tensors.size()));
    plan.inputs.push_back(int32_t(plan.tensors.size()));
    plan.tensors.push_back({s});
  }
  const auto& x = p.inputs.at(0);
  const int64_t c = x.size() > 1 ? x[1] : 1;
  Mix rng{probeHash(p.key)};
  switch (op.type) {
    case OpType::Conv2d:
    case OpType::DepthwiseConv2d: {
      const int64_t groups = op.type == OpType::DepthwiseConv2d ? c : op.groups;
      const int64_t per = (groups > 0 ? c / groups : c) * op.kernelH * op.kernelW;
      op.weight = rng.values(int64_t(op.outChannels) * per, fanScale(per));
      op.bias = rng.values(op.outChannels, 0.1);
      break;
    }
    case OpType::Linear: {
      const int64_t f = shapeElements(x) / x[0];
      op.weight = rng.values(int64_t(op.outChannels) * f, fanScale(f));
      op.bias = rng.values(op.outChannels, 0.1);
      break;
    }
    case OpType::SqueezeExcite: {
      const int64_t r = op.outChannels;
      op.weight = rng.values(r * c, fanScale(c));
      op.bias = rng.values(r, 0.1);
      op.weight2 = rng.values(c * r, fanScale(r));
      op.bias2 = rng.values(c, 0.1);
      break;
    }
    default: break;
  }
  try {
    op.output = int32_t(plan.tensors.size());
    plan.tensors.push_back({Plan::inferShape(op, p.inputs)});
    plan.outputs.push_back(op.output);
    plan.ops.push_back(std::move(op));
    plan.validate(where);
  } catch (const ProbePlanError&) {
    throw;
  } catch (const RuntimeError& e) {
    throw ProbePlanError(where + ": op '" + p.key + "' cannot be built: " + e.what());
  }
  return plan;
}

}  // namespace hwnas::runtime
