#include "search_spaces/nb201_space.h"

#include <algorithm>
#include <map>

#include "core/error.h"

namespace hwnas {

namespace {

enum Op { kNone = 0, kSkip = 1, kConv1 = 2, kConv3 = 3, kPool = 4 };
// edge k goes from node kFrom[k] to node kTo[k]
constexpr int kFrom[Nb201Space::kEdges] = {0, 0, 1, 0, 1, 2};
constexpr int kTo[Nb201Space::kEdges] = {1, 2, 2, 3, 3, 3};

int lexCode(const Nb201Space::Edges& e) {
  int c = 0;
  for (int k = 0; k < Nb201Space::kEdges; ++k) c = c * Nb201Space::kOps + e[k];
  return c;
}

Nb201Space::Edges fromLexCode(int c) {
  Nb201Space::Edges e{};
  for (int k = Nb201Space::kEdges - 1; k >= 0; --k) {
    e[k] = c % Nb201Space::kOps;
    c /= Nb201Space::kOps;
  }
  return e;
}

// CPython's Mersenne Twister (MT19937 seeded by init_by_array, as random.seed(int) does) and
// its random.shuffle, to reproduce NAS-Bench-201's architecture order bit for bit.
class PythonMt {
 public:
  explicit PythonMt(uint32_t seed) { initByArray(&seed, 1); }
  uint32_t next() {
    if (mti_ >= kN) twist();
    uint32_t y = mt_[mti_++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
  }
  // random._randbelow(n) via getrandbits (n < 2^32).
  uint32_t below(uint32_t n) {
    int k = 0;
    while ((uint64_t(1) << k) <= n) ++k;  // n.bit_length()
    uint32_t r = next() >> (32 - k);
    while (r >= n) r = next() >> (32 - k);
    return r;
  }
  template <class T>
  void shuffle(std::vector<T>& x) {
    for (size_t i = x.size() - 1; i >= 1; --i) std::swap(x[i], x[below(uint32_t(i + 1))]);
  }

 private:
  static constexpr int kN = 624, kM = 397;
  void initGenrand(uint32_t s) {
    mt_[0] = s;
    for (mti_ = 1; mti_ < kN; ++mti_) mt_[mti_] = 1812433253u * (mt_[mti_ - 1] ^ (mt_[mti_ - 1] >> 30)) + uint32_t(mti_);
  }
  void initByArray(const uint32_t* key, int len) {
    initGenrand(19650218u);
    int i = 1, j = 0;
    for (int k = std::max(kN, len); k > 0; --k) {
      mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1664525u)) + key[j] + uint32_t(j);
      ++i;
      ++j;
      if (i >= kN) {
        mt_[0] = mt_[kN - 1];
        i = 1;
      }
      if (j >= len) j = 0;
    }
    for (int k = kN - 1; k > 0; --k) {
      mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1566083941u)) - uint32_t(i);
      ++i;
      if (i >= kN) {
        mt_[0] = mt_[kN - 1];
        i = 1;
      }
    }
    mt_[0] = 0x80000000u;
    mti_ = kN;
  }
  void twist() {
    for (int k = 0; k < kN; ++k) {
      uint32_t y = (mt_[k] & 0x80000000u) | (mt_[(k + 1) % kN] & 0x7fffffffu);
      mt_[k] = mt_[(k + kM) % kN] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
    }
    mti_ = 0;
  }
  uint32_t mt_[kN];
  int mti_ = kN + 1;
};

struct IndexTables {
  std::vector<int> codeOfIndex, indexOfCode, isoRep;
  int isoClasses = 0;
};

const IndexTables& tables() {
  static const IndexTables t = [] {
    IndexTables t;
    t.codeOfIndex.resize(Nb201Space::kArchs);
    for (int i = 0; i < Nb201Space::kArchs; ++i) t.codeOfIndex[i] = i;
    PythonMt mt(88);  // NB201's generate_meta_info: random.seed(88); random.shuffle(archs)
    mt.shuffle(t.codeOfIndex);
    t.indexOfCode.resize(Nb201Space::kArchs);
    for (int i = 0; i < Nb201Space::kArchs; ++i) t.indexOfCode[t.codeOfIndex[i]] = i;
    std::map<std::string, int> firstIndex;
    t.isoRep.resize(Nb201Space::kArchs);
    for (int i = 0; i < Nb201Space::kArchs; ++i) {
      std::string key = Nb201Space::isoKey(Nb201Space::fromEdges(fromLexCode(t.codeOfIndex[i])));
      auto it = firstIndex.emplace(key, i).first;
      t.isoRep[i] = it->second;
    }
    t.isoClasses = int(firstIndex.size());
    return t;
  }();
  return t;
}

[[noreturn]] void archFail(const std::string& path, const std::string& msg) { throw InputError("arch: " + path + ": " + msg); }

int opId(const std::string& name, const std::string& path) {
  const auto& ops = Nb201Space::opNames();
  auto it = std::find(ops.begin(), ops.end(), name);
  if (it == ops.end())
    archFail(path, "unknown op '" + name + "'; ops: none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3");
  return int(it - ops.begin());
}

}  // namespace

const std::vector<std::string>& Nb201Space::opNames() {
  static const std::vector<std::string> ops = {"none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"};
  return ops;
}

Nb201Space::Nb201Space(const YamlNode& root) {
  root.checkKeys({"kind", "name", "input", "cell"});
  name_ = root.getString("name", "nb201");
  if (name_.empty()) root["name"].fail("must not be empty");
  if (auto in = root.find("input")) {
    in->checkKeys({"channels", "classes", "resolution"});
    inChannels_ = in->getInt("channels", 3);
    if (inChannels_ < 1 || inChannels_ > 64) (*in)["channels"].fail("must be between 1 and 64");
    numClasses_ = in->getInt("classes", 10);
    if (numClasses_ < 1) (*in)["classes"].fail("must be >= 1");
    resolution_ = in->getInt("resolution", 32);
    if (resolution_ < 4 || resolution_ > 4096 || resolution_ % 4 != 0)
      (*in)["resolution"].fail("must be a multiple of 4 between 4 and 4096 (two stride-2 reductions follow the stem, "
                               "and each one's conv and pooled shortcut must agree in size)");
  }
  if (auto cell = root.find("cell")) {
    cell->checkKeys({"channels", "cells_per_stage"});
    channels_ = cell->getInt("channels", 16);
    if (channels_ < 1 || channels_ > 1024) (*cell)["channels"].fail("must be between 1 and 1024");
    cellsPerStage_ = cell->getInt("cells_per_stage", 5);
    if (cellsPerStage_ < 1 || cellsPerStage_ > 64) (*cell)["cells_per_stage"].fail("must be between 1 and 64");
  }
}

Json Nb201Space::definition() const {
  return {{"kind", "nb201"},
          {"name", name_},
          {"input", {{"channels", inChannels_}, {"classes", numClasses_}, {"resolution", resolution_}}},
          {"cell", {{"channels", channels_}, {"cells_per_stage", cellsPerStage_}}},
          {"ops", opNames()}};
}

Json Nb201Space::choices() const {
  Json macro = {{"resolution", {resolution_}},
                {"stage_channels", {channels_, 2 * channels_, 4 * channels_}},
                {"cells_per_stage", cellsPerStage_}};
  Json edgeNames = Json::array();
  for (int k = 0; k < kEdges; ++k) edgeNames.push_back(std::to_string(kTo[k]) + "<-" + std::to_string(kFrom[k]));
  Json micro = {{"edges", edgeNames}, {"ops", opNames()}};
  return {{"macro", macro}, {"micro", micro}};
}

Nb201Space::Edges Nb201Space::edges(const ArchConfig& arch) {
  const Json& a = arch.json();
  for (auto it = a.begin(); it != a.end(); ++it)
    if (it.key() != "edges") archFail(it.key(), "unknown key; an NB201 arch is {\"edges\": [6 op ids 0..4]}");
  if (!a.contains("edges")) archFail("(root)", "missing key 'edges' (6 op ids 0..4, in arch_str order)");
  const Json& e = a["edges"];
  if (!e.is_array() || e.size() != kEdges) archFail("edges", "expected a list of 6 op ids (0..4)");
  Edges out{};
  for (int k = 0; k < kEdges; ++k) {
    const std::string p = "edges[" + std::to_string(k) + "]";
    if (!e[k].is_number_integer()) archFail(p, "expected an op id 0..4, got " + e[k].dump());
    int64_t v = e[k].get<int64_t>();
    if (v < 0 || v >= kOps) archFail(p, "op id " + std::to_string(v) + " out of range 0..4");
    out[k] = int(v);
  }
  return out;
}

ArchConfig Nb201Space::fromEdges(const Edges& e) {
  Json j = Json::object();
  j["edges"] = Json::array();
  for (int v : e) j["edges"].push_back(v);
  return ArchConfig(std::move(j));
}

void Nb201Space::validate(const ArchConfig& arch) const { edges(arch); }

ArchConfig Nb201Space::normalize(const Json& arch) const {
  if (!arch.is_object()) archFail("(root)", "expected an object");
  if (arch.size() == 1 && arch.contains("arch_str")) {
    if (!arch["arch_str"].is_string()) archFail("arch_str", "expected a string");
    return fromArchStr(arch["arch_str"].get<std::string>());
  }
  if (arch.size() == 1 && arch.contains("index")) {
    if (!arch["index"].is_number_integer()) archFail("index", "expected an integer 0..15624");
    int64_t i = arch["index"].get<int64_t>();
    if (i < 0 || i >= kArchs) archFail("index", std::to_string(i) + " is out of range 0..15624");
    return fromIndex(int(i));
  }
  if (arch.size() == 1 && arch.contains("edges") && arch["edges"].is_array()) {
    Json e = arch["edges"];
    for (size_t k = 0; k < e.size(); ++k)
      if (e[k].is_string()) e[k] = opId(e[k].get<std::string>(), "edges[" + std::to_string(k) + "]");
    ArchConfig a(Json{{"edges", e}});
    validate(a);
    return a;
  }
  ArchConfig a(arch);
  validate(a);
  return a;
}

ArchConfig Nb201Space::sample(Rng& rng) const {
  Edges e{};
  for (int& v : e) v = int(rng.uniformInt(kOps));
  return fromEdges(e);
}

ArchConfig Nb201Space::mutate(const ArchConfig& arch, double prob, Rng& rng) const {
  Edges e = edges(arch);
  for (int& v : e)
    if (rng.bernoulli(prob)) {
      int o = int(rng.uniformInt(kOps - 1));
      v = o >= v ? o + 1 : o;
    }
  return fromEdges(e);
}

ArchConfig Nb201Space::crossover(const ArchConfig& a, const ArchConfig& b, Rng& rng) const {
  Edges ea = edges(a), eb = edges(b);
  for (int k = 0; k < kEdges; ++k)
    if (rng.bernoulli(0.5)) ea[k] = eb[k];
  return fromEdges(ea);
}

void Nb201Space::enumerate(const std::function<bool(const ArchConfig&)>& fn) const {
  for (int i = 0; i < kArchs; ++i)
    if (!fn(fromIndex(i))) return;
}

ArchConfig Nb201Space::largest() const { return fromEdges({kConv3, kConv3, kConv3, kConv3, kConv3, kConv3}); }
ArchConfig Nb201Space::smallest() const { return fromEdges({kNone, kNone, kNone, kNone, kNone, kNone}); }

std::string Nb201Space::archStr(const ArchConfig& arch) {
  Edges e = edges(arch);
  const auto& ops = opNames();
  std::string s;
  for (int k = 0; k < kEdges; ++k) {
    if (k > 0 && kFrom[k] == 0) s += "+";
    s += "|" + ops[e[k]] + "~" + std::to_string(kFrom[k]);
    if (k + 1 == kEdges || kFrom[k + 1] == 0) s += "|";
  }
  return s;
}

ArchConfig Nb201Space::fromArchStr(const std::string& s) {
  auto bad = [&](const std::string& why) -> InputError {
    return InputError("arch_str '" + s + "': " + why + "; expected |op~0|+|op~0|op~1|+|op~0|op~1|op~2|");
  };
  std::vector<std::string> nodes;
  size_t start = 0;
  while (true) {
    size_t p = s.find('+', start);
    nodes.push_back(s.substr(start, p == std::string::npos ? std::string::npos : p - start));
    if (p == std::string::npos) break;
    start = p + 1;
  }
  if (nodes.size() != 3) throw bad("expected 3 nodes separated by '+', got " + std::to_string(nodes.size()));
  Edges e{};
  int k = 0;
  for (size_t n = 0; n < nodes.size(); ++n) {
    const std::string& part = nodes[n];
    if (part.size() < 2 || part.front() != '|' || part.back() != '|') throw bad("node " + std::to_string(n + 1) + " must start and end with '|'");
    std::vector<std::string> items;
    size_t b = 1;
    while (b < part.size()) {
      size_t q = part.find('|', b);
      items.push_back(part.substr(b, q - b));
      b = q + 1;
    }
    if (items.size() != n + 1)
      throw bad("node " + std::to_string(n + 1) + " needs " + std::to_string(n + 1) + " inputs, got " + std::to_string(items.size()));
    for (size_t i = 0; i < items.size(); ++i, ++k) {
      size_t t = items[i].rfind('~');
      if (t == std::string::npos || items[i].substr(t + 1) != std::to_string(i))
        throw bad("'" + items[i] + "' should read op~" + std::to_string(i));
      const std::string op = items[i].substr(0, t);
      const auto& ops = opNames();
      auto it = std::find(ops.begin(), ops.end(), op);
      if (it == ops.end()) throw bad("unknown op '" + op + "'");
      e[k] = int(it - ops.begin());
    }
  }
  return fromEdges(e);
}

std::vector<DecisionSlot> Nb201Space::decisionSlots() const {
  std::vector<DecisionSlot> slots;
  for (int e = 0; e < kEdges; ++e) {
    DecisionSlot d;
    d.path = "edges[" + std::to_string(e) + "]";
    for (int o = 0; o < kOps; ++o) d.choices.push_back(o);
    slots.push_back(std::move(d));
  }
  return slots;
}

std::vector<int> Nb201Space::decisionIndices(const ArchConfig& arch) const {
  const Edges e = edges(arch);  // validates
  return std::vector<int>(e.begin(), e.end());
}

std::optional<CellTopology> Nb201Space::cellTopology() const {
  CellTopology t;
  t.nodes = 4;
  t.edges = {{0, 1}, {0, 2}, {1, 2}, {0, 3}, {1, 3}, {2, 3}};  // arch_str order
  t.edgeSlot = {0, 1, 2, 3, 4, 5};
  t.ops = opNames();
  t.noneOp = 0;
  return t;
}

int Nb201Space::index(const ArchConfig& arch) { return tables().indexOfCode[lexCode(edges(arch))]; }

ArchConfig Nb201Space::fromIndex(int index) {
  if (index < 0 || index >= kArchs) throw InputError("NB201 index " + std::to_string(index) + " is out of range 0..15624");
  return fromEdges(fromLexCode(tables().codeOfIndex[index]));
}

std::string Nb201Space::isoKey(const ArchConfig& arch) {
  // NATS-Bench CellStructure.to_unique_str(consider_zero=True), op for op.
  Edges e = edges(arch);
  const auto& ops = opNames();
  std::string nodes[4] = {"0", "", "", ""};
  for (int j = 1; j <= 3; ++j) {
    std::vector<std::string> cur;
    for (int k = 0; k < kEdges; ++k) {
      if (kTo[k] != j) continue;
      const std::string& in = nodes[kFrom[k]];
      if (e[k] == kNone || in == "#")
        cur.push_back("#");
      else if (e[k] == kSkip)
        cur.push_back(in);
      else
        cur.push_back("(" + in + ")@" + ops[e[k]]);
    }
    std::sort(cur.begin(), cur.end());
    std::string joined;
    for (size_t i = 0; i < cur.size(); ++i) joined += (i ? "+" : "") + cur[i];
    nodes[j] = joined;
  }
  return nodes[3];
}

int Nb201Space::isoRepIndex(const ArchConfig& arch) { return tables().isoRep[index(arch)]; }

int Nb201Space::numIsoClasses() { return tables().isoClasses; }

Graph Nb201Space::toGraph(const ArchConfig& arch) const {
  const Edges e = edges(arch);
  Graph g;
  int x = g.addInput("input", {1, inChannels_, resolution_, resolution_});
  auto reluConvBn = [&](const std::string& name, int in, int64_t cout, int kernel, int stride) {
    int h = g.addAct(name + ".relu", in, ActKind::Relu);
    h = g.addConv2d(name + ".conv", h, cout, kernel, stride, -1, 1, false);
    return g.addBatchNorm(name + ".bn", h);
  };
  x = g.addBatchNorm("stem.bn", g.addConv2d("stem.conv", x, channels_, 3, 1, -1, 1, false));
  int cellIndex = 0;
  int64_t c = channels_;
  for (int stage = 0; stage < 3; ++stage) {
    if (stage > 0) {
      const std::string n = "cells." + std::to_string(cellIndex++);
      const int64_t cout = c * 2;
      int a = reluConvBn(n + ".conv_a", x, cout, 3, 2);
      int b = reluConvBn(n + ".conv_b", a, cout, 3, 1);
      int d = g.addConv2d(n + ".downsample.conv", g.addAvgPool(n + ".downsample.pool", x, 2, 2, 0), cout, 1, 1, 0, 1, false);
      x = g.addAdd(n + ".add", d, b);
      c = cout;
    }
    for (int cell = 0; cell < cellsPerStage_; ++cell) {
      const std::string n = "cells." + std::to_string(cellIndex++);
      int node[4] = {x, -1, -1, -1};
      bool zero[4] = {false, true, true, true};
      for (int j = 1; j <= 3; ++j) {
        std::vector<int> terms;
        for (int k = 0; k < kEdges; ++k) {
          if (kTo[k] != j || e[k] == kNone) continue;
          const int i = kFrom[k];
          const int src = zero[i] ? x : node[i];  // a zero node has the input's shape
          const std::string en = n + ".edge_" + std::to_string(j) + "_" + std::to_string(i);
          if (e[k] == kSkip) {
            if (!zero[i]) terms.push_back(src);
          } else if (e[k] == kConv1 || e[k] == kConv3) {
            terms.push_back(reluConvBn(en, src, c, e[k] == kConv1 ? 1 : 3, 1));
          } else {
            terms.push_back(g.addAvgPool(en + ".pool", src, 3, 1, 1));
          }
        }
        if (terms.empty()) continue;  // stays zero
        int sum = terms[0];
        for (size_t t = 1; t < terms.size(); ++t)
          sum = g.addAdd(n + ".node" + std::to_string(j) + ".add" + std::to_string(t), sum, terms[t]);
        node[j] = sum;
        zero[j] = false;
      }
      if (!zero[3]) x = node[3];  // a zero cell output: later ops read the input's shape instead
    }
  }
  x = g.addAct("lastact.relu", g.addBatchNorm("lastact.bn", x), ActKind::Relu);
  x = g.addFlatten("flatten", g.addGlobalAvgPool("pool", x));
  g.addLinear("classifier", x, numClasses_, true);
  return g;
}

}  // namespace hwnas
