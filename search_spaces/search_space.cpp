#include "search_spaces/search_space.h"

#include "core/error.h"
#include "core/yaml_util.h"
#include "search_spaces/big_uint.h"
#include "search_spaces/mbconv_space.h"
#include "search_spaces/nb201_space.h"

namespace hwnas {

std::string SearchSpace::spaceId() const { return name() + "-" + hashHex(fnv1a64(canonicalDump(definition()))); }

ArchConfig SearchSpace::normalize(const Json& arch) const {
  ArchConfig a(arch);
  validate(a);
  return a;
}

bool SearchSpace::enumerable() const {
  std::string c = cardinality();
  bool fits = false;
  uint64_t n = 0;
  if (c.size() <= 19) {
    n = std::stoull(c);
    fits = true;
  }
  return fits && n <= kMaxEnumerable;
}

ArchCost graphCost(const Graph& g) {
  GraphCost c = g.cost();
  return {c.params, c.macs, c.peakActivationBytes};
}

ArchCost SearchSpace::cost(const ArchConfig& arch) const { return graphCost(toGraph(arch)); }

std::vector<ArchConfig> SearchSpace::keyCoveringArchs() const {
  std::vector<ArchConfig> all;
  enumerate([&](const ArchConfig& a) {
    all.push_back(a);
    return true;
  });
  return all;
}

std::vector<DecisionSlot> SearchSpace::decisionSlots() const {
  throw InputError("search space '" + name() + "' (kind " + kind() +
                   ") does not list its decisions; encoders need decisionSlots()");
}

std::vector<int> SearchSpace::decisionIndices(const ArchConfig& arch) const {
  throw InputError("search space '" + name() + "' (kind " + kind() +
                   ") does not list its decisions; encoders need decisionIndices()");
}

namespace {

std::unique_ptr<SearchSpace> fromRoot(const YamlNode& root) {
  if (!root.isMap()) root.fail("a search space file must be a map with a 'kind' key (mbconv | nb201)");
  std::string kind = root["kind"].asEnum({"mbconv", "nb201"});
  if (kind == "nb201") return std::make_unique<Nb201Space>(root);
  return std::make_unique<MbconvSpace>(root);
}

}  // namespace

std::unique_ptr<SearchSpace> loadSearchSpace(const std::string& path) { return fromRoot(YamlNode::loadFile(path)); }

std::unique_ptr<SearchSpace> parseSearchSpace(const std::string& text, const std::string& name) {
  return fromRoot(YamlNode::loadString(text, name));
}

}  // namespace hwnas
