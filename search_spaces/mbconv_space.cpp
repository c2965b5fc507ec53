#include "search_spaces/mbconv_space.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/key_check.h"
#include "trainer/nn.h"

namespace hwnas {

namespace {

const char* const kDimNames[kMicroDims] = {"type", "kernel", "expand", "se", "act"};
const std::vector<std::string> kBlockTypes = {"mbconv", "fused_mbconv", "conv", "skip"};

std::string listText(const std::vector<Json>& c) {
  std::string s;
  for (size_t i = 0; i < c.size(); ++i) s += (i ? ", " : "") + (c[i].is_string() ? c[i].get<std::string>() : c[i].dump());
  return s;
}

std::vector<Json> intJson(const std::vector<int>& v) { return std::vector<Json>(v.begin(), v.end()); }

// A scalar or a non-empty list of integers in [lo, hi], sorted and de-duplicated.
std::vector<int> readIntChoices(const YamlNode& n, int lo, int hi, bool odd = false) {
  std::vector<YamlNode> items;
  if (n.isSequence()) {
    items = n.items();
    if (items.empty()) n.fail("empty choice list; give at least one value");
  } else {
    items.push_back(n);
  }
  std::vector<int> out;
  for (const YamlNode& i : items) {
    int v = i.asInt();
    if (v < lo || v > hi) i.fail("must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " + std::to_string(v));
    if (odd && v % 2 == 0) i.fail("kernel sizes must be odd (same padding), got " + std::to_string(v));
    out.push_back(v);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<Json> readBoolChoices(const YamlNode& n) {
  std::vector<YamlNode> items;
  if (n.isSequence()) {
    items = n.items();
    if (items.empty()) n.fail("empty choice list; give at least one value");
  } else {
    items.push_back(n);
  }
  bool seen[2] = {false, false};
  for (const YamlNode& i : items) seen[i.asBool() ? 1 : 0] = true;
  std::vector<Json> out;
  if (seen[0]) out.push_back(false);
  if (seen[1]) out.push_back(true);
  return out;
}

// Strings in the YAML's order (read as smallest to largest), de-duplicated; `canon` maps each
// accepted spelling to its canonical name or fails at the item.
std::vector<Json> readStringChoices(const YamlNode& n, const std::function<std::string(const YamlNode&)>& canon) {
  std::vector<YamlNode> items;
  if (n.isSequence()) {
    items = n.items();
    if (items.empty()) n.fail("empty choice list; give at least one value");
  } else {
    items.push_back(n);
  }
  std::vector<Json> out;
  for (const YamlNode& i : items) {
    std::string v = canon(i);
    if (std::find(out.begin(), out.end(), Json(v)) == out.end()) out.push_back(v);
  }
  return out;
}

std::string canonAct(const YamlNode& n) {
  try {
    return ops::actName(ops::actFromName(n.asString()));
  } catch (const ConfigError&) {
    throw;
  } catch (const InputError& e) {
    n.fail(e.what());
  }
}

ops::Act readAct(const YamlNode& n) { return ops::actFromName(canonAct(n)); }

std::vector<Json> readDim(const YamlNode& n, MicroDim d) {
  switch (d) {
    case MicroDim::Type:
      return readStringChoices(n, [](const YamlNode& i) { return i.asEnum(kBlockTypes); });
    case MicroDim::Kernel:
      return intJson(readIntChoices(n, 1, 15, true));
    case MicroDim::Expand:
      return intJson(readIntChoices(n, 1, 16));
    case MicroDim::Se:
      return readBoolChoices(n);
    case MicroDim::Act:
      return readStringChoices(n, canonAct);
    default:
      break;
  }
  n.fail("internal: unknown micro dim");
}

std::array<bool, kMicroDims> readShare(const YamlNode& n) {
  std::array<bool, kMicroDims> s{};
  std::vector<std::string> names(kDimNames, kDimNames + kMicroDims);
  std::vector<YamlNode> items = n.isSequence() ? n.items() : std::vector<YamlNode>{n};
  for (const YamlNode& i : items) {
    std::string v = i.asEnum(names);
    s[std::find(names.begin(), names.end(), v) - names.begin()] = true;
  }
  return s;
}

const Json& pickUniform(const std::vector<Json>& c, Rng& rng) { return c[rng.uniformInt(c.size())]; }

// A uniformly chosen element of `c` other than `current` (or `current` if there is none).
Json pickOther(const std::vector<Json>& c, const Json& current, Rng& rng) {
  if (c.size() <= 1) return current;
  auto it = std::find(c.begin(), c.end(), current);
  if (it == c.end()) return pickUniform(c, rng);
  size_t cur = size_t(it - c.begin());
  size_t i = rng.uniformInt(c.size() - 1);
  if (i >= cur) ++i;
  return c[i];
}

[[noreturn]] void archFail(const std::string& path, const std::string& msg) {
  throw InputError("arch: " + (path.empty() ? std::string("(root)") : path) + ": " + msg);
}

void checkObjectKeys(const Json& j, const std::string& path, const std::vector<std::string>& keys) {
  if (!j.is_object()) archFail(path, std::string("expected an object, got ") + j.type_name());
  for (auto it = j.begin(); it != j.end(); ++it)
    if (std::find(keys.begin(), keys.end(), it.key()) == keys.end()) {
      if (keys.empty())
        archFail(path, "unknown key '" + it.key() + "'; this part of the space has no decisions, so it takes no keys");
      archFail(path, unknownKeyMessage(it.key(), keys));
    }
  for (const auto& k : keys)
    if (!j.contains(k)) archFail(path, "missing key '" + k + "'");
}

void checkChoice(const Json& v, const std::vector<Json>& c, const std::string& path) {
  if (std::find(c.begin(), c.end(), v) == c.end()) archFail(path, v.dump() + " is not a choice; choices: " + listText(c));
}

}  // namespace

const char* microDimName(MicroDim d) { return kDimNames[int(d)]; }

int MbconvSpace::scaleChannels(int channels, int widthPercent) {
  if (widthPercent == 100 || channels <= 0) return channels;
  return nn::makeDivisible(channels * widthPercent / 100.0, 8);
}

MbconvSpace::MbconvSpace(const YamlNode& root) {
  root.checkKeys({"kind", "name", "input", "macro", "micro"});
  name_ = root.getString("name");
  if (name_.empty()) root["name"].fail("must not be empty");
  YamlNode in = root["input"];
  in.checkKeys({"channels", "classes"});
  inChannels_ = in.getInt("channels", 3);
  if (inChannels_ < 1 || inChannels_ > 64) in["channels"].fail("must be between 1 and 64");
  numClasses_ = in.getInt("classes", 10);
  if (numClasses_ < 1) in["classes"].fail("must be >= 1");

  // micro: defaults for every stage
  std::array<std::vector<Json>, kMicroDims> microDefault;
  std::array<bool, kMicroDims> shareDefault{};
  microDefault[int(MicroDim::Type)] = {"mbconv"};
  microDefault[int(MicroDim::Kernel)] = {3};
  microDefault[int(MicroDim::Expand)] = {1};
  microDefault[int(MicroDim::Se)] = {false};
  microDefault[int(MicroDim::Act)] = {"relu6"};
  if (auto micro = root.find("micro")) {
    micro->checkKeys({"type", "kernel", "expand", "se", "act", "share"});
    for (int d = 0; d < kMicroDims; ++d)
      if (micro->has(kDimNames[d])) microDefault[d] = readDim((*micro)[kDimNames[d]], MicroDim(d));
    if (micro->has("share")) shareDefault = readShare((*micro)["share"]);
  }

  YamlNode macro = root["macro"];
  macro.checkKeys({"resolution", "width", "stem", "stages", "head"});
  resolution_ = readIntChoices(macro["resolution"], 1, 4096);
  width_ = macro.has("width") ? readIntChoices(macro["width"], 1, 400) : std::vector<int>{100};
  YamlNode stem = macro["stem"];
  stem.checkKeys({"out", "kernel", "stride", "act"});
  stemOut_ = stem.getInt("out");
  if (stemOut_ < 1 || stemOut_ > 4096) stem["out"].fail("must be between 1 and 4096");
  stemKernel_ = stem.has("kernel") ? readIntChoices(stem["kernel"], 1, 15, true).at(0) : 3;
  if (stem.has("kernel") && !stem["kernel"].isScalar()) stem["kernel"].fail("the stem kernel is one integer, not a choice list");
  stemStride_ = stem.getInt("stride", 1);
  if (stemStride_ < 1 || stemStride_ > 4) stem["stride"].fail("must be between 1 and 4");
  stemAct_ = stem.has("act") ? readAct(stem["act"]) : ops::Act::ReLU6;

  YamlNode stagesNode = macro["stages"];
  std::vector<YamlNode> stageItems = stagesNode.items();
  if (stageItems.empty()) stagesNode.fail("empty stage list; give at least one stage");
  const int minRes = resolution_.front();
  int64_t strideProduct = stemStride_;
  if (minRes / strideProduct < 1)
    stem["stride"].fail("stem stride " + std::to_string(stemStride_) + " shrinks the smallest resolution " +
                        std::to_string(minRes) + " below 1x1");
  for (const YamlNode& sn : stageItems) {
    sn.checkKeys({"stride", "blocks", "depth", "out", "type", "kernel", "expand", "se", "act", "share"});
    MbconvStage s;
    s.stride = sn.getInt("stride", 1);
    if (s.stride < 1 || s.stride > 4) sn["stride"].fail("must be between 1 and 4, got " + std::to_string(s.stride));
    if (!sn.has("blocks") && !sn.has("depth")) sn.fail("a stage needs 'blocks' (its most blocks) or 'depth' (choices)");
    if (sn.has("blocks")) {
      s.blocks = sn.getInt("blocks");
      if (s.blocks < 1 || s.blocks > 64) sn["blocks"].fail("must be between 1 and 64, got " + std::to_string(s.blocks));
    }
    if (sn.has("depth")) {
      s.depth = readIntChoices(sn["depth"], 1, 64);
      if (!sn.has("blocks")) s.blocks = s.depth.back();
      if (s.depth.back() > s.blocks)
        sn["depth"].fail("depth " + std::to_string(s.depth.back()) + " is larger than the stage's " +
                         std::to_string(s.blocks) + " blocks; raise 'blocks' or drop the depth");
    } else {
      s.depth = {s.blocks};
    }
    s.out = readIntChoices(sn["out"], 1, 4096);
    for (int d = 0; d < kMicroDims; ++d)
      s.micro[d] = sn.has(kDimNames[d]) ? readDim(sn[kDimNames[d]], MicroDim(d)) : microDefault[d];
    s.shared = sn.has("share") ? readShare(sn["share"]) : shareDefault;
    const auto& types = s.micro[int(MicroDim::Type)];
    std::vector<Json> first;
    for (const Json& t : types)
      if (t != "skip") first.push_back(t);
    if (first.empty()) {
      const YamlNode& at = sn.has("type") ? sn["type"] : root["micro"]["type"];
      at.fail("only 'skip' is offered, but the first block of a stage (its stride and channel change) is never skipped; "
              "add a block type");
    }
    if (s.shared[int(MicroDim::Type)] && first.size() != types.size()) {
      const YamlNode& at = sn.has("share") ? sn["share"] : root["micro"]["share"];
      at.fail("'type' offers 'skip', which cannot be shared by a whole stage (its first block is never skipped); "
              "choose the type per block (remove 'type' from share) or use 'depth' to drop blocks");
    }
    strideProduct *= s.stride;
    if (minRes / strideProduct < 1) {
      const YamlNode& at = sn.has("stride") ? sn["stride"] : sn;
      at.fail("the stride product " + std::to_string(strideProduct) + " shrinks the smallest input resolution " +
              std::to_string(minRes) + "x" + std::to_string(minRes) + " below 1x1; lower a stride or the stage count");
    }
    firstTypeChoices_.push_back(first);
    stages_.push_back(s);
  }
  if (auto head = macro.find("head")) {
    head->checkKeys({"out", "act", "dropout"});
    headOut_ = head->getInt("out", 0);
    if (headOut_ < 0 || headOut_ > 16384) (*head)["out"].fail("must be between 0 (no head conv) and 16384");
    headAct_ = head->has("act") ? readAct((*head)["act"]) : ops::Act::ReLU6;
    dropout_ = head->getDouble("dropout", 0.0);
    if (dropout_ < 0 || dropout_ >= 1) (*head)["dropout"].fail("must be in [0, 1)");
  }
  cardinality_ = computeCardinality();
}

const std::vector<Json>& MbconvSpace::blockChoices(int stage, MicroDim d, int index) const {
  if (d == MicroDim::Type && index == 0) return firstTypeChoices_.at(stage);
  return stages_.at(stage).micro[int(d)];
}

std::vector<MicroDim> MbconvSpace::blockDims(int stage, int index) const {
  std::vector<MicroDim> dims;
  for (int d = 0; d < kMicroDims; ++d)
    if (!stages_[stage].shared[d] && blockChoices(stage, MicroDim(d), index).size() > 1) dims.push_back(MicroDim(d));
  return dims;
}

bool MbconvSpace::stageHasBlocks(int stage) const {
  for (int i = 0; i < stages_[stage].blocks; ++i)
    if (!blockDims(stage, i).empty()) return true;
  return false;
}

BigUInt MbconvSpace::computeCardinality() const {
  BigUInt total = BigUInt(width_.size());
  for (int si = 0; si < (int)stages_.size(); ++si) {
    const MbconvStage& s = stages_[si];
    BigUInt stageCount = BigUInt(s.out.size());
    for (int d = 0; d < kMicroDims; ++d)
      if (s.shared[d]) stageCount *= BigUInt(s.micro[d].size());
    BigUInt depthSum = 0, prefix = 1;
    int di = 0;
    for (int i = 1; i <= s.blocks; ++i) {
      for (MicroDim d : blockDims(si, i - 1)) prefix *= BigUInt(blockChoices(si, d, i - 1).size());
      if (di < (int)s.depth.size() && s.depth[di] == i) {
        depthSum += prefix;
        ++di;
      }
    }
    total *= stageCount * depthSum;
  }
  return total;
}

Json MbconvSpace::definition() const {
  Json j;
  j["kind"] = "mbconv";
  j["name"] = name_;
  j["input"] = {{"channels", inChannels_}, {"classes", numClasses_}};
  j["resolution"] = resolution_;
  j["width"] = width_;
  j["stem"] = {{"out", stemOut_}, {"kernel", stemKernel_}, {"stride", stemStride_}, {"act", ops::actName(stemAct_)}};
  Json st = Json::array();
  for (const auto& s : stages_) {
    Json o{{"stride", s.stride}, {"blocks", s.blocks}, {"depth", s.depth}, {"out", s.out}};
    Json share = Json::array();
    for (int d = 0; d < kMicroDims; ++d) {
      o[kDimNames[d]] = s.micro[d];
      if (s.shared[d]) share.push_back(kDimNames[d]);
    }
    o["share"] = share;
    st.push_back(o);
  }
  j["stages"] = st;
  // dropout as integer parts per million: the definition is hashed, so it holds no floats
  j["head"] = {{"out", headOut_}, {"act", ops::actName(headAct_)}, {"dropout_ppm", (int64_t)std::llround(dropout_ * 1e6)}};
  return j;
}

Json MbconvSpace::choices() const {
  Json macro, micro;
  macro["resolution"] = resolution_;
  macro["width_percent"] = width_;
  Json ms = Json::array(), mi = Json::array();
  for (int si = 0; si < (int)stages_.size(); ++si) {
    const auto& s = stages_[si];
    ms.push_back({{"stride", s.stride}, {"blocks", s.blocks}, {"depth", s.depth}, {"out", s.out}});
    Json o, shared = Json::array();
    for (int d = 0; d < kMicroDims; ++d) {
      o[kDimNames[d]] = s.micro[d];
      if (s.shared[d]) shared.push_back(kDimNames[d]);
    }
    o["shared"] = shared;
    mi.push_back(o);
  }
  macro["stages"] = ms;
  micro["stages"] = mi;
  return {{"macro", macro}, {"micro", micro}};
}

Json MbconvSpace::buildBlock(int si, int index, const Chooser& choose) const {
  Json b = Json::object();
  for (MicroDim d : blockDims(si, index)) b[kDimNames[int(d)]] = choose(blockChoices(si, d, index));
  return b;
}

Json MbconvSpace::buildArch(const Chooser& choose) const {
  Json a = Json::object();
  if (resolution_.size() > 1) a["resolution"] = choose(intJson(resolution_));
  if (width_.size() > 1) a["width"] = choose(intJson(width_));
  Json st = Json::array();
  for (int si = 0; si < (int)stages_.size(); ++si) {
    const MbconvStage& s = stages_[si];
    Json o = Json::object();
    int depth = s.depth.front();
    if (s.depth.size() > 1) {
      o["depth"] = choose(intJson(s.depth));
      depth = o["depth"].get<int>();
    }
    if (s.out.size() > 1) o["out"] = choose(intJson(s.out));
    for (int d = 0; d < kMicroDims; ++d)
      if (s.shared[d] && s.micro[d].size() > 1) o[kDimNames[d]] = choose(s.micro[d]);
    if (stageHasBlocks(si)) {
      Json blocks = Json::array();
      for (int i = 0; i < depth; ++i) blocks.push_back(buildBlock(si, i, choose));
      o["blocks"] = blocks;
    }
    st.push_back(o);
  }
  a["stages"] = st;
  return a;
}

std::vector<DecisionSlot> MbconvSpace::decisionSlots() const {
  std::vector<DecisionSlot> slots;
  auto add = [&](std::string path, std::vector<Json> choices) {
    if (choices.size() > 1) slots.push_back({std::move(path), std::move(choices)});
  };
  add("resolution", intJson(resolution_));
  add("width", intJson(width_));
  for (int si = 0; si < (int)stages_.size(); ++si) {
    const MbconvStage& s = stages_[si];
    const std::string sp = indexKeyPath("stages", si);
    add(joinKeyPath(sp, "depth"), intJson(s.depth));
    add(joinKeyPath(sp, "out"), intJson(s.out));
    for (int d = 0; d < kMicroDims; ++d)
      if (s.shared[d]) add(joinKeyPath(sp, kDimNames[d]), s.micro[d]);
    if (!stageHasBlocks(si)) continue;
    for (int i = 0; i < s.blocks; ++i) {
      const std::string bp = indexKeyPath(joinKeyPath(sp, "blocks"), i);
      for (MicroDim d : blockDims(si, i)) add(joinKeyPath(bp, kDimNames[int(d)]), blockChoices(si, d, i));
    }
  }
  return slots;
}

std::vector<int> MbconvSpace::decisionIndices(const ArchConfig& arch) const {
  validate(arch);
  const Json& a = arch.json();
  std::vector<int> idx;
  auto pick = [&](const Json& value, const std::vector<Json>& choices) {
    if (choices.size() < 2) return;
    const auto it = std::find(choices.begin(), choices.end(), value);
    idx.push_back(int(it - choices.begin()));  // validate() guarantees it is there
  };
  if (resolution_.size() > 1) pick(a["resolution"], intJson(resolution_));
  if (width_.size() > 1) pick(a["width"], intJson(width_));
  for (int si = 0; si < (int)stages_.size(); ++si) {
    const MbconvStage& s = stages_[si];
    const Json& o = a["stages"][si];
    int depth = s.depth.front();
    if (s.depth.size() > 1) {
      pick(o["depth"], intJson(s.depth));
      depth = o["depth"].get<int>();
    }
    if (s.out.size() > 1) pick(o["out"], intJson(s.out));
    for (int d = 0; d < kMicroDims; ++d)
      if (s.shared[d] && s.micro[d].size() > 1) pick(o[kDimNames[d]], s.micro[d]);
    if (!stageHasBlocks(si)) continue;
    for (int i = 0; i < s.blocks; ++i)
      for (MicroDim d : blockDims(si, i)) {
        if (i < depth)
          pick(o["blocks"][i][kDimNames[int(d)]], blockChoices(si, d, i));
        else if (blockChoices(si, d, i).size() > 1)
          idx.push_back(-1);  // the block is left out by the chosen depth
      }
  }
  return idx;
}

void MbconvSpace::validate(const ArchConfig& arch) const {
  const Json& a = arch.json();
  std::vector<std::string> rootKeys;
  if (resolution_.size() > 1) rootKeys.push_back("resolution");
  if (width_.size() > 1) rootKeys.push_back("width");
  rootKeys.push_back("stages");
  checkObjectKeys(a, "", rootKeys);
  if (resolution_.size() > 1) checkChoice(a["resolution"], intJson(resolution_), "resolution");
  if (width_.size() > 1) checkChoice(a["width"], intJson(width_), "width");
  const Json& st = a["stages"];
  if (!st.is_array() || st.size() != stages_.size())
    archFail("stages", "expected a list of " + std::to_string(stages_.size()) + " stage objects");
  for (int si = 0; si < (int)stages_.size(); ++si) {
    const MbconvStage& s = stages_[si];
    const std::string sp = indexKeyPath("stages", si);
    const Json& o = st[si];
    std::vector<std::string> keys;
    if (s.depth.size() > 1) keys.push_back("depth");
    if (s.out.size() > 1) keys.push_back("out");
    for (int d = 0; d < kMicroDims; ++d)
      if (s.shared[d] && s.micro[d].size() > 1) keys.push_back(kDimNames[d]);
    const bool hasBlocks = stageHasBlocks(si);
    if (hasBlocks) keys.push_back("blocks");
    checkObjectKeys(o, sp, keys);
    int depth = s.depth.front();
    if (s.depth.size() > 1) {
      checkChoice(o["depth"], intJson(s.depth), joinKeyPath(sp, "depth"));
      depth = o["depth"].get<int>();
    }
    if (s.out.size() > 1) checkChoice(o["out"], intJson(s.out), joinKeyPath(sp, "out"));
    for (int d = 0; d < kMicroDims; ++d)
      if (s.shared[d] && s.micro[d].size() > 1) checkChoice(o[kDimNames[d]], s.micro[d], joinKeyPath(sp, kDimNames[d]));
    if (!hasBlocks) continue;
    const Json& blocks = o["blocks"];
    const std::string bp = joinKeyPath(sp, "blocks");
    if (!blocks.is_array() || (int)blocks.size() != depth)
      archFail(bp, "expected a list of " + std::to_string(depth) + " block objects (one per block of depth " +
                       std::to_string(depth) + ")");
    for (int i = 0; i < depth; ++i) {
      const std::string p = indexKeyPath(bp, i);
      std::vector<std::string> bkeys;
      for (MicroDim d : blockDims(si, i)) bkeys.push_back(kDimNames[int(d)]);
      checkObjectKeys(blocks[i], p, bkeys);
      for (MicroDim d : blockDims(si, i))
        checkChoice(blocks[i][kDimNames[int(d)]], blockChoices(si, d, i), joinKeyPath(p, kDimNames[int(d)]));
    }
  }
}

ArchConfig MbconvSpace::sample(Rng& rng) const {
  return ArchConfig(buildArch([&](const std::vector<Json>& c) { return pickUniform(c, rng); }));
}

ArchConfig MbconvSpace::largest() const {
  return ArchConfig(buildArch([](const std::vector<Json>& c) { return c.back(); }));
}

ArchConfig MbconvSpace::smallest() const {
  return ArchConfig(buildArch([](const std::vector<Json>& c) { return c.front(); }));
}

ArchConfig MbconvSpace::mutate(const ArchConfig& arch, double prob, Rng& rng) const {
  validate(arch);
  Json a = arch.json();
  auto maybe = [&](Json& v, const std::vector<Json>& c) {
    if (rng.bernoulli(prob)) v = pickOther(c, v, rng);
  };
  if (resolution_.size() > 1) maybe(a["resolution"], intJson(resolution_));
  if (width_.size() > 1) maybe(a["width"], intJson(width_));
  for (int si = 0; si < (int)stages_.size(); ++si) {
    const MbconvStage& s = stages_[si];
    Json& o = a["stages"][si];
    int depth = s.depth.front();
    if (s.depth.size() > 1) {
      maybe(o["depth"], intJson(s.depth));
      depth = o["depth"].get<int>();
    }
    if (s.out.size() > 1) maybe(o["out"], intJson(s.out));
    for (int d = 0; d < kMicroDims; ++d)
      if (s.shared[d] && s.micro[d].size() > 1) maybe(o[kDimNames[d]], s.micro[d]);
    if (!stageHasBlocks(si)) continue;
    Json old = o["blocks"];
    Json blocks = Json::array();
    for (int i = 0; i < depth; ++i) {
      if (i < (int)old.size()) {
        Json b = old[i];
        for (MicroDim d : blockDims(si, i)) maybe(b[kDimNames[int(d)]], blockChoices(si, d, i));
        blocks.push_back(b);
      } else {
        blocks.push_back(buildBlock(si, i, [&](const std::vector<Json>& c) { return pickUniform(c, rng); }));
      }
    }
    o["blocks"] = blocks;
  }
  return ArchConfig(std::move(a));
}

ArchConfig MbconvSpace::crossover(const ArchConfig& pa, const ArchConfig& pb, Rng& rng) const {
  validate(pa);
  validate(pb);
  const Json& a = pa.json();
  const Json& b = pb.json();
  Json c = a;
  auto mix = [&](Json& dst, const Json& fromB) {
    if (rng.bernoulli(0.5)) dst = fromB;
  };
  if (resolution_.size() > 1) mix(c["resolution"], b["resolution"]);
  if (width_.size() > 1) mix(c["width"], b["width"]);
  for (int si = 0; si < (int)stages_.size(); ++si) {
    const MbconvStage& s = stages_[si];
    Json& o = c["stages"][si];
    const Json& ob = b["stages"][si];
    int depth = s.depth.front();
    if (s.depth.size() > 1) {
      mix(o["depth"], ob["depth"]);
      depth = o["depth"].get<int>();
    }
    if (s.out.size() > 1) mix(o["out"], ob["out"]);
    for (int d = 0; d < kMicroDims; ++d)
      if (s.shared[d] && s.micro[d].size() > 1) mix(o[kDimNames[d]], ob[kDimNames[d]]);
    if (!stageHasBlocks(si)) continue;
    const Json& ba = a["stages"][si]["blocks"];
    const Json& bb = ob["blocks"];
    Json blocks = Json::array();
    for (int i = 0; i < depth; ++i) {
      if (i < (int)ba.size() && i < (int)bb.size()) {
        Json blk = ba[i];
        for (MicroDim d : blockDims(si, i)) mix(blk[kDimNames[int(d)]], bb[i][kDimNames[int(d)]]);
        blocks.push_back(blk);
      } else {
        blocks.push_back(i < (int)ba.size() ? ba[i] : bb[i]);
      }
    }
    o["blocks"] = blocks;
  }
  return ArchConfig(std::move(c));
}

std::vector<Json> MbconvSpace::stageVariants(int si) const {
  const MbconvStage& s = stages_[si];
  std::vector<Json> out;
  // One "slot" per decision: where it goes and its choices; an odometer walks all combinations.
  struct Slot {
    int block;  // -1: stage level
    std::string key;
    const std::vector<Json>* choices;
  };
  std::vector<std::vector<Json>> owned;  // keeps int choice lists alive
  owned.reserve(2 + s.depth.size());
  owned.push_back(intJson(s.out));
  const bool hasBlocks = stageHasBlocks(si);
  for (int depth : s.depth) {
    std::vector<Slot> slots;
    if (s.out.size() > 1) slots.push_back({-1, "out", &owned[0]});
    for (int d = 0; d < kMicroDims; ++d)
      if (s.shared[d] && s.micro[d].size() > 1) slots.push_back({-1, kDimNames[d], &s.micro[d]});
    for (int i = 0; i < depth; ++i)
      for (MicroDim d : blockDims(si, i)) slots.push_back({i, kDimNames[int(d)], &blockChoices(si, d, i)});
    std::vector<size_t> idx(slots.size(), 0);
    while (true) {
      Json o = Json::object();
      if (s.depth.size() > 1) o["depth"] = depth;
      if (hasBlocks) o["blocks"] = Json::array();
      for (int i = 0; hasBlocks && i < depth; ++i) o["blocks"].push_back(Json::object());
      for (size_t k = 0; k < slots.size(); ++k) {
        const Json& v = (*slots[k].choices)[idx[k]];
        if (slots[k].block < 0)
          o[slots[k].key] = v;
        else
          o["blocks"][slots[k].block][slots[k].key] = v;
      }
      out.push_back(std::move(o));
      bool advanced = false;
      for (size_t k = slots.size(); k-- > 0;) {
        if (++idx[k] < slots[k].choices->size()) {
          advanced = true;
          break;
        }
        idx[k] = 0;
      }
      if (!advanced) break;
    }
  }
  return out;
}

void MbconvSpace::enumerate(const std::function<bool(const ArchConfig&)>& fn) const {
  if (!enumerable())
    throw InputError("space '" + name_ + "' has " + cardinality() + " architectures, more than the " +
                     std::to_string(kMaxEnumerable) + " that can be enumerated; sample it instead");
  std::vector<std::vector<Json>> levels;  // resolution, width, then each stage's variants
  levels.push_back(intJson(resolution_));
  levels.push_back(intJson(width_));
  for (int si = 0; si < (int)stages_.size(); ++si) levels.push_back(stageVariants(si));
  std::vector<size_t> idx(levels.size(), 0);
  while (true) {
    Json a = Json::object();
    if (resolution_.size() > 1) a["resolution"] = levels[0][idx[0]];
    if (width_.size() > 1) a["width"] = levels[1][idx[1]];
    Json st = Json::array();
    for (size_t si = 2; si < levels.size(); ++si) st.push_back(levels[si][idx[si]]);
    a["stages"] = st;
    if (!fn(ArchConfig(std::move(a)))) return;
    size_t k = levels.size();
    bool done = true;
    while (k > 0) {
      --k;
      if (++idx[k] < levels[k].size()) {
        done = false;
        break;
      }
      idx[k] = 0;
    }
    if (done) return;
  }
}

ModelDef MbconvSpace::toModelDef(const ArchConfig& arch) const {
  validate(arch);
  const Json& a = arch.json();
  const int res = resolution_.size() > 1 ? a["resolution"].get<int>() : resolution_.front();
  const int width = width_.size() > 1 ? a["width"].get<int>() : width_.front();
  ModelDef m;
  m.name = name_;
  m.inChannels = inChannels_;
  m.height = m.width = res;
  m.numClasses = numClasses_;
  m.stemOut = scaleChannels(stemOut_, width);
  m.stemKernel = stemKernel_;
  m.stemStride = stemStride_;
  m.stemAct = stemAct_;
  for (int si = 0; si < (int)stages_.size(); ++si) {
    const MbconvStage& s = stages_[si];
    const Json& o = a["stages"][si];
    const int depth = s.depth.size() > 1 ? o["depth"].get<int>() : s.depth.front();
    const int out = scaleChannels(s.out.size() > 1 ? o["out"].get<int>() : s.out.front(), width);
    for (int i = 0; i < depth; ++i) {
      auto value = [&](MicroDim d) -> Json {
        const char* key = kDimNames[int(d)];
        if (s.shared[int(d)]) return s.micro[int(d)].size() > 1 ? o[key] : s.micro[int(d)].front();
        const auto& c = blockChoices(si, d, i);
        return c.size() > 1 ? o["blocks"][i][key] : c.front();
      };
      std::string type = value(MicroDim::Type).get<std::string>();
      if (type == "skip") continue;
      nn::BlockSpec b;
      b.type = type;
      b.out = out;
      b.kernel = value(MicroDim::Kernel).get<int>();
      b.stride = i == 0 ? s.stride : 1;
      b.expand = value(MicroDim::Expand).get<int>();
      b.se = value(MicroDim::Se).get<bool>();
      b.act = ops::actFromName(value(MicroDim::Act).get<std::string>());
      m.blocks.push_back(b);
    }
  }
  m.headOut = scaleChannels(headOut_, width);
  m.headAct = headAct_;
  m.dropout = dropout_;
  return m;
}

Graph MbconvSpace::toGraph(const ArchConfig& arch) const { return modelGraph(toModelDef(arch)); }

}  // namespace hwnas

namespace hwnas {

namespace {

// Stage-out index vectors holding every pair (outs[s-1][a], outs[s][b]) of adjacent stages:
// the whole product when it is small, else a greedy pairwise cover.
std::vector<std::vector<int>> adjacentPairCover(const std::vector<int>& counts) {
  const size_t n = counts.size();
  std::vector<std::vector<int>> vectors;
  double product = 1;
  for (int c : counts) product *= double(c);
  if (product <= 512) {
    std::vector<int> v(n, 0);
    while (true) {
      vectors.push_back(v);
      size_t i = 0;
      while (i < n && ++v[i] == counts[i]) v[i++] = 0;
      if (i == n) break;
    }
    return vectors;
  }
  // covered[s][a * counts[s] + b]: the pair (stage s-1 at a, stage s at b) is in some vector
  std::vector<std::vector<char>> covered(n);
  for (size_t s = 1; s < n; ++s) covered[s].assign(size_t(counts[s - 1]) * size_t(counts[s]), 0);
  auto isNew = [&](size_t s, int a, int b) { return !covered[s][size_t(a) * size_t(counts[s]) + size_t(b)]; };
  for (size_t s = 1; s < n; ++s)
    for (int a = 0; a < counts[s - 1]; ++a)
      for (int b = 0; b < counts[s]; ++b) {
        if (!isNew(s, a, b)) continue;
        std::vector<int> v(n, 0);
        v[s - 1] = a, v[s] = b;
        for (size_t t = s + 1; t < n; ++t) {  // extend right, preferring an uncovered pair
          v[t] = 0;
          for (int c = 0; c < counts[t]; ++c)
            if (isNew(t, v[t - 1], c)) {
              v[t] = c;
              break;
            }
        }
        for (size_t t = s - 1; t-- > 0;) {  // extend left
          v[t] = 0;
          for (int c = 0; c < counts[t]; ++c)
            if (isNew(t + 1, c, v[t + 1])) {
              v[t] = c;
              break;
            }
        }
        for (size_t t = 1; t < n; ++t) covered[t][size_t(v[t - 1]) * size_t(counts[t]) + size_t(v[t])] = 1;
        vectors.push_back(std::move(v));
      }
  return vectors;
}

// Decodes `index` (mixed radix over the dims' choice counts) into `out`, first dim fastest.
void setMixedRadix(Json& out, size_t index, const std::vector<std::pair<const char*, const std::vector<Json>*>>& dims) {
  for (const auto& [name, choices] : dims) {
    out[name] = (*choices)[index % choices->size()];
    index /= choices->size();
  }
}

}  // namespace

std::vector<ArchConfig> MbconvSpace::keyCoveringArchs() const {
  using Dims = std::vector<std::pair<const char*, const std::vector<Json>*>>;
  const size_t ns = stages_.size();
  std::vector<int> outCounts;
  std::vector<Dims> sharedDims(ns);
  std::vector<std::vector<Dims>> blockDimLists(ns);
  std::vector<size_t> sharedCount(ns, 1), stageCombos(ns, 1);
  size_t combos = 1;
  for (size_t si = 0; si < ns; ++si) {
    const MbconvStage& s = stages_[si];
    outCounts.push_back(int(s.out.size()));
    for (int d = 0; d < kMicroDims; ++d)
      if (s.shared[d] && s.micro[d].size() > 1) {
        sharedDims[si].push_back({kDimNames[d], &s.micro[d]});
        sharedCount[si] *= s.micro[d].size();
      }
    size_t perBlock = 1;
    if (stageHasBlocks(int(si)))
      for (int i = 0; i < s.depth.back(); ++i) {
        Dims dims;
        size_t count = 1;
        for (MicroDim d : blockDims(int(si), i)) {
          const std::vector<Json>& c = blockChoices(int(si), d, i);
          dims.push_back({kDimNames[int(d)], &c});
          count *= c.size();
        }
        blockDimLists[si].push_back(std::move(dims));
        perBlock = std::max(perBlock, count);
      }
    stageCombos[si] = sharedCount[si] * perBlock;
    combos = std::max(combos, stageCombos[si]);
  }
  std::vector<ArchConfig> archs;
  for (int res : resolution_)
    for (int width : width_)
      for (const std::vector<int>& outs : adjacentPairCover(outCounts))
        for (size_t t = 0; t < combos; ++t) {
          Json a = Json::object();
          if (resolution_.size() > 1) a["resolution"] = res;
          if (width_.size() > 1) a["width"] = width;
          Json st = Json::array();
          for (size_t si = 0; si < ns; ++si) {
            const MbconvStage& s = stages_[si];
            Json o = Json::object();
            if (s.depth.size() > 1) o["depth"] = s.depth.back();
            if (s.out.size() > 1) o["out"] = s.out[size_t(outs[si])];
            const size_t tt = t % stageCombos[si];
            setMixedRadix(o, tt % sharedCount[si], sharedDims[si]);
            if (stageHasBlocks(int(si))) {
              Json blocks = Json::array();
              for (const Dims& dims : blockDimLists[si]) {
                Json b = Json::object();
                setMixedRadix(b, tt / sharedCount[si], dims);
                blocks.push_back(std::move(b));
              }
              o["blocks"] = std::move(blocks);
            }
            st.push_back(std::move(o));
          }
          a["stages"] = std::move(st);
          ArchConfig arch(std::move(a));
          validate(arch);
          archs.push_back(std::move(arch));
        }
  return archs;
}

}  // namespace hwnas
