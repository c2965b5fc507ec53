// nas-space: inspect a search space: `info` (cardinality, choices, cost range), `sample`
// (random architectures with their costs, one JSON object per line) and `stats` (the costs of
// one model YAML or one architecture). Flags in, library calls (hwnas_space), JSON out.
#include <boost/program_options.hpp>
#include <iostream>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/fs_util.h"
#include "core/json_util.h"
#include "core/log.h"
#include "core/lower.h"
#include "search_spaces/mbconv_space.h"
#include "search_spaces/nb201_space.h"
#include "search_spaces/search_space.h"
#include "trainer/model_def.h"
#include "tools/tool_main.h"

namespace po = boost::program_options;
using namespace hwnas;

static const char* kExamples = R"(Commands:
  info    the space as JSON: space_id, cardinality (exact decimal text), choices per level,
          min/max params, MACs and peak activation bytes (the Graph's estimate: lowering every
          network of an enumerated space to the runtime planner is too slow; stats and sample
          report the planner's figure)
  sample  --n random architectures, one JSON object per line: arch, hash, params, macs,
          peak_activation_bytes (the runtime memory planner's arena at batch 1),
          graph_peak_activation_bytes (the Graph's estimate); NB201 adds arch_str and index
  stats   the costs of one network: --model M.yaml, or --space S.yaml --arch A.json

Examples:
  nas-space info --space configs/spaces/ofa_mbv3.yaml
  nas-space sample --space configs/spaces/fmnist_small.yaml --n 5 --seed 1
  nas-space stats --model configs/models/refnet.yaml
  nas-space stats --space configs/spaces/nb201.yaml --arch '{"index": 6111}'
  nas-space stats --space configs/spaces/fmnist_small.yaml --arch arch.json --write-model subnet.yaml

--arch takes a JSON file or inline JSON. NB201 archs may be {"edges": [6 op ids or names]},
{"arch_str": "|nor_conv_3x3~0|+..."} or {"index": i}.
Exit codes: 0 ok, 1 runtime failure, 2 bad input.
)";

namespace {

Json costJson(const ArchCost& c) {
  return {{"params", c.params}, {"macs", c.macs}, {"peak_activation_bytes", c.peakActivationBytes}};
}

// Costs of one network: peak_activation_bytes is the arena the runtime's memory planner lays
// out for it (what the deployed network allocates); the Graph's liveness estimate is kept beside
// it as graph_peak_activation_bytes.
Json networkCostJson(const Graph& g) {
  const ArchCost c = graphCost(g);
  Json j = costJson(c);
  j["peak_activation_bytes"] = runtimePeakActivationBytes(g);
  j["graph_peak_activation_bytes"] = c.peakActivationBytes;
  return j;
}

Json archLine(const SearchSpace& space, const ArchConfig& arch) {
  Json j = networkCostJson(space.toGraph(arch));
  j["arch"] = arch.json();
  j["hash"] = arch.hashHex();
  if (space.kind() == "nb201") {
    j["arch_str"] = Nb201Space::archStr(arch);
    j["index"] = Nb201Space::index(arch);
  }
  return j;
}

Json info(const SearchSpace& space) {
  Json j;
  j["name"] = space.name();
  j["kind"] = space.kind();
  j["space_id"] = space.spaceId();
  j["cardinality"] = space.cardinality();
  j["enumerable"] = space.enumerable();
  j["choices"] = space.choices();
  // Exact extremes by enumeration for small spaces; otherwise the costs of smallest() and
  // largest(), which bound every built-in space (costs grow with every choice's rank).
  ArchCost lo, hi;
  std::string method;
  if (space.enumerable() && std::stoull(space.cardinality()) <= 20000) {
    method = "enumerated";
    lo = {std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::max()};
    space.enumerate([&](const ArchConfig& a) {
      ArchCost c = space.cost(a);
      lo = {std::min(lo.params, c.params), std::min(lo.macs, c.macs), std::min(lo.peakActivationBytes, c.peakActivationBytes)};
      hi = {std::max(hi.params, c.params), std::max(hi.macs, c.macs), std::max(hi.peakActivationBytes, c.peakActivationBytes)};
      return true;
    });
  } else {
    method = "smallest/largest";
    lo = space.cost(space.smallest());
    hi = space.cost(space.largest());
  }
  j["params"] = {{"min", lo.params}, {"max", hi.params}};
  j["macs"] = {{"min", lo.macs}, {"max", hi.macs}};
  j["peak_activation_bytes"] = {{"min", lo.peakActivationBytes}, {"max", hi.peakActivationBytes}};
  j["cost_range_method"] = method;
  j["smallest"] = space.smallest().json();
  j["largest"] = space.largest().json();
  if (space.kind() == "nb201") j["isomorphism_classes"] = Nb201Space::numIsoClasses();
  if (auto* mb = dynamic_cast<const MbconvSpace*>(&space)) {
    // The same count without the input-resolution choice: the number of distinct networks
    // (OFA's "2 x 10^19" counts these).
    if (mb->resolutions().size() > 1) j["cardinality_per_resolution"] = mb->cardinalityPerResolution();
  }
  return j;
}

ArchConfig readArch(const SearchSpace& space, const std::string& arg) {
  Json j;
  if (!arg.empty() && (arg[0] == '{' || arg[0] == '['))
    j = parseJson(arg, "--arch");
  else
    j = readJsonFile(arg);
  try {
    return space.normalize(j);
  } catch (const ConfigError&) {
    throw;
  } catch (const InputError& e) {
    throw InputError((arg[0] == '{' ? std::string("--arch") : arg) + ": " + e.what());
  }
}

int run(int argc, char** argv) {
  Logger::instance().setProgramName("nas-space");
  std::string command, spacePath, modelPath, archArg, writeModel;
  int64_t n = 10;
  uint64_t seed = 0;
  po::options_description desc("nas-space: inspect a search space\n\nUsage: nas-space <info|sample|stats> [options]\n\nOptions");
  // clang-format off
  desc.add_options()
    ("help,h", "show this help")
    ("space", po::value(&spacePath), "search space YAML (configs/spaces/*.yaml)")
    ("n", po::value(&n)->default_value(10), "sample: how many architectures")
    ("seed", po::value(&seed)->default_value(0), "sample: random seed")
    ("model", po::value(&modelPath), "stats: a model YAML (configs/models/refnet.yaml)")
    ("arch", po::value(&archArg), "stats: an architecture of --space, as a JSON file or inline JSON")
    ("write-model", po::value(&writeModel), "stats: also write the architecture as a model YAML for nas-train (mbconv spaces)");
  // clang-format on
  po::options_description hidden;
  hidden.add_options()("command", po::value(&command));
  po::options_description all;
  all.add(desc).add(hidden);
  po::positional_options_description pos;
  pos.add("command", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw InputError(std::string(e.what()) + " (see nas-space --help)");
  }
  if (vm.count("help")) {
    std::cout << desc << "\n" << kExamples;
    return 0;
  }
  if (command.empty()) throw InputError("a command is required: info, sample or stats (see nas-space --help)");
  if (command == "info" || command == "sample") {
    if (spacePath.empty()) throw InputError(command + ": --space is required (e.g. --space configs/spaces/fmnist_small.yaml)");
    if (!modelPath.empty() || !archArg.empty() || !writeModel.empty())
      throw InputError(command + ": --model, --arch and --write-model belong to stats");
    auto space = loadSearchSpace(spacePath);
    if (command == "info") {
      std::cout << info(*space).dump(2) << std::endl;
      return 0;
    }
    if (n < 0 || n > 10000000) throw InputError("sample: --n must be between 0 and 10000000");
    Rng rng(seed);
    for (int64_t i = 0; i < n; ++i) std::cout << archLine(*space, space->sample(rng)).dump() << "\n";
    std::cout.flush();
    return 0;
  }
  if (command == "stats") {
    if (!modelPath.empty()) {
      if (!spacePath.empty() || !archArg.empty() || !writeModel.empty())
        throw InputError("stats: give either --model, or --space with --arch");
      ModelDef def = loadModelDef(modelPath);
      Json j = networkCostJson(modelGraph(def));
      j["model"] = def.name;
      std::cout << j.dump(2) << std::endl;
      return 0;
    }
    if (spacePath.empty() || archArg.empty())
      throw InputError("stats: give --model M.yaml, or --space S.yaml with --arch A.json");
    auto space = loadSearchSpace(spacePath);
    ArchConfig arch = readArch(*space, archArg);
    Json j = archLine(*space, arch);
    j["space_id"] = space->spaceId();
    if (!writeModel.empty()) {
      auto* mb = dynamic_cast<const MbconvSpace*>(space.get());
      if (!mb) throw InputError("stats: --write-model needs an mbconv space; '" + space->name() + "' is " + space->kind());
      writeFileAtomic(writeModel, mb->toModelDef(arch).toYaml());
    }
    std::cout << j.dump(2) << std::endl;
    return 0;
  }
  throw InputError("unknown command '" + command + "' (known: info, sample, stats; see nas-space --help)");
}

}  // namespace

int main(int argc, char** argv) { return hwnas::toolMain("nas-space", run, argc, argv); }
