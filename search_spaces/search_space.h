// SearchSpace: the set of architectures a search explores, loaded from YAML (configs/spaces/),
// with sampling, mutation, crossover, enumeration, exact cardinality and costs via core Graph.
// Invariants: every ArchConfig it returns passes validate(); spaceId() is a pure function of
// the parsed definition; given the same Rng state, sample/mutate/crossover return the same arch.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/graph.h"
#include "core/json_util.h"
#include "core/rng.h"
#include "search_spaces/arch_config.h"

namespace hwnas {

// Per-image costs (batch 1) of one architecture.
struct ArchCost {
  int64_t params = 0;
  int64_t macs = 0;
  int64_t peakActivationBytes = 0;
};

// One enumerable decision of a space: where it sits in an ArchConfig and what it can take.
struct DecisionSlot {
  std::string path;           // key path in the ArchConfig, e.g. "edges[3]", "stages[1].blocks[2].kernel"
  std::vector<Json> choices;  // in the space's order; at least two
};

// The DAG of a cell space, for graph encodings. Node 0 is the cell input, node nodes-1 its
// output; edge i goes from edges[i].first to edges[i].second (first < second) and its op is
// the choice of decision slot edgeSlot[i], an index into ops.
struct CellTopology {
  int nodes = 0;
  std::vector<std::pair<int, int>> edges;
  std::vector<int> edgeSlot;
  std::vector<std::string> ops;
  int noneOp = -1;  // the op that removes its edge (a zero), or -1
};

class SearchSpace {
 public:
  // Spaces with at most this many architectures can be enumerated.
  static constexpr uint64_t kMaxEnumerable = 1000000;

  virtual ~SearchSpace() = default;

  virtual std::string kind() const = 0;  // "mbconv" | "nb201"
  virtual const std::string& name() const = 0;
  // The parsed, normalised definition (choice lists sorted, defaults filled in). Two YAML files
  // that differ only in layout, comments or defaults spelt out have the same definition.
  virtual Json definition() const = 0;
  // "<name>-<16 hex digits of fnv1a64(canonicalDump(definition()))>": results are keyed by
  // (spaceId, arch hash), so editing a space's choices gives it a new id.
  std::string spaceId() const;
  // The choices per level, for people: {"macro": {...}, "micro": {...}}.
  virtual Json choices() const = 0;

  // InputError naming the bad key path ("arch: stages[2].blocks[1].kernel: ...") unless `arch`
  // is exactly one architecture of this space in canonical form.
  virtual void validate(const ArchConfig& arch) const = 0;
  // Accepts the user-facing spellings a space allows (e.g. NB201's arch_str) and returns the
  // canonical ArchConfig; validates it. The default only validates.
  virtual ArchConfig normalize(const Json& arch) const;

  // One architecture, each decision drawn uniformly from its choices.
  virtual ArchConfig sample(Rng& rng) const = 0;
  // Each decision of `arch` is redrawn, with probability `prob`, to a different choice.
  virtual ArchConfig mutate(const ArchConfig& arch, double prob, Rng& rng) const = 0;
  // Uniform crossover: each decision comes from `a` or `b` with probability 1/2.
  virtual ArchConfig crossover(const ArchConfig& a, const ArchConfig& b, Rng& rng) const = 0;

  // The exact number of distinct ArchConfigs, as decimal text (it may exceed 64 bits).
  virtual std::string cardinality() const = 0;
  bool enumerable() const;  // cardinality() <= kMaxEnumerable
  // Calls fn for every architecture in a fixed order; stops early when fn returns false.
  // InputError if the space is not enumerable.
  virtual void enumerate(const std::function<bool(const ArchConfig&)>& fn) const = 0;

  // The architecture with every decision at its largest / smallest choice (the cost extremes
  // for the built-in spaces; for string choices "largest" means the last one listed).
  virtual ArchConfig largest() const = 0;
  virtual ArchConfig smallest() const = 0;

  // Every decision any architecture of the space can take, in a fixed order (decisions with a
  // single choice are left out). A decision only some archs take (a block beyond the chosen
  // depth) is listed too. The default throws InputError: the space does not list its decisions.
  virtual std::vector<DecisionSlot> decisionSlots() const;
  // Per slot of decisionSlots(): the index of arch's choice, or -1 where arch does not take
  // that decision. Validates first.
  virtual std::vector<int> decisionIndices(const ArchConfig& arch) const;
  // The cell DAG for cell spaces (NB201); nullopt for the others (the default).
  virtual std::optional<CellTopology> cellTopology() const { return std::nullopt; }

  // Architectures whose networks together hold every fused op key (core/lowering.h) that any
  // architecture of the space can produce, so a per-op table built from them has no gaps (the
  // board profiling plan of `nas-lut plan`). The default enumerates the space (InputError when
  // it is not enumerable); MbconvSpace builds a small cover from its structure.
  virtual std::vector<ArchConfig> keyCoveringArchs() const;

  // The network of `arch` as a Graph at batch 1 (validates first).
  virtual Graph toGraph(const ArchConfig& arch) const = 0;
  ArchCost cost(const ArchConfig& arch) const;
};

ArchCost graphCost(const Graph& g);

// Loads a space YAML and dispatches on its `kind:` key (mbconv | nb201). Missing file: IoError;
// any mistake in the file: ConfigError with file:line:col and key path.
std::unique_ptr<SearchSpace> loadSearchSpace(const std::string& path);
std::unique_ptr<SearchSpace> parseSearchSpace(const std::string& yamlText, const std::string& name = "<space>");

}  // namespace hwnas
