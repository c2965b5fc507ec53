// Nb201Space: the NAS-Bench-201 cell space: a 4-node cell whose 6 edges each take one of 5 ops
// (none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3), 15,625 architectures, in the
// standard macro skeleton (stem, 3 stages of N cells with C, 2C, 4C channels, residual
// reduction blocks between, BN-ReLU, global pool, linear). Invariant: an ArchConfig is exactly
// {"edges": [6 op ids]}; ids index opNames(); edges are ordered as in arch_str:
// 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2.
//
// The YAML (configs/spaces/nb201.yaml; every key but `kind` and `name` is optional):
//
//   kind: nb201
//   name: nb201
//   input: {channels: 3, classes: 10, resolution: 32}
//   cell: {channels: 16, cells_per_stage: 5}     # C and N of the NB201 paper
//
// index()/fromIndex() follow the official NAS-Bench-201 / NATS-Bench-tss numbering: the
// architectures in lexicographic edge order (first edge most significant, ops in opNames()
// order), shuffled by Python's random.shuffle after random.seed(88), as NB201's generator did.
// isoKey() is NATS's CellStructure.to_unique_str(consider_zero=True); isoRepIndex() is the
// smallest index with the same key (6,466 classes).
#pragma once
#include <array>
#include <string>
#include <vector>

#include "core/yaml_util.h"
#include "search_spaces/search_space.h"

namespace hwnas {

class Nb201Space : public SearchSpace {
 public:
  static constexpr int kEdges = 6;
  static constexpr int kOps = 5;
  static constexpr int kArchs = 15625;  // 5^6
  using Edges = std::array<int, kEdges>;

  // none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3
  static const std::vector<std::string>& opNames();

  Nb201Space() = default;  // the standard space: 3x32x32 inputs, 10 classes, C = 16, N = 5
  explicit Nb201Space(const YamlNode& root);

  std::string kind() const override { return "nb201"; }
  const std::string& name() const override { return name_; }
  Json definition() const override;
  Json choices() const override;
  void validate(const ArchConfig& arch) const override;
  // Also accepts {"edges": [6 op names]}, {"arch_str": "|op~0|+..."} and {"index": i}.
  ArchConfig normalize(const Json& arch) const override;
  ArchConfig sample(Rng& rng) const override;
  ArchConfig mutate(const ArchConfig& arch, double prob, Rng& rng) const override;
  ArchConfig crossover(const ArchConfig& a, const ArchConfig& b, Rng& rng) const override;
  std::string cardinality() const override { return std::to_string(kArchs); }
  // In official index order 0..15624.
  void enumerate(const std::function<bool(const ArchConfig&)>& fn) const override;
  ArchConfig largest() const override;   // every edge nor_conv_3x3
  ArchConfig smallest() const override;  // every edge none
  // The NB201 network (batch 1). A node that receives only `none` edges is a zero tensor: ops
  // reading it still run (as in PyTorch's InferCell), and the graph feeds them from the cell
  // input, which has the same shape, so MACs and params are exact.
  Graph toGraph(const ArchConfig& arch) const override;

  // Slots "edges[0]".."edges[5]" with the op names' indices as choices; the cell of 4 nodes.
  std::vector<DecisionSlot> decisionSlots() const override;
  std::vector<int> decisionIndices(const ArchConfig& arch) const override;
  std::optional<CellTopology> cellTopology() const override;

  static Edges edges(const ArchConfig& arch);  // InputError unless {"edges": [6 ids]}
  static ArchConfig fromEdges(const Edges& e);
  static std::string archStr(const ArchConfig& arch);
  static ArchConfig fromArchStr(const std::string& s);  // InputError naming the bad part
  static int index(const ArchConfig& arch);
  static ArchConfig fromIndex(int index);  // InputError outside [0, 15625)
  static std::string isoKey(const ArchConfig& arch);
  static int isoRepIndex(const ArchConfig& arch);
  static int numIsoClasses();

 private:
  std::string name_ = "nb201";
  int inChannels_ = 3, numClasses_ = 10, resolution_ = 32;
  int channels_ = 16, cellsPerStage_ = 5;
};

}  // namespace hwnas
