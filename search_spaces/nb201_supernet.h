// The NAS-Bench-201 cell space as a single-path one-shot supernet (SPOS, Guo et al. 2020; the
// weight-sharing baselines of the NB201 paper): every edge of every cell holds the weights of
// both parametric ops (nor_conv_1x1, nor_conv_3x3: ReLU-conv-BN), and a subnet, an ArchConfig
// of Nb201Space, picks one op per edge for all cells; training samples subnets uniformly
// (trainSupernet with method "uniform"). Invariant, as Supernet: forward, calibrateBatchNorm
// and extract are pure functions of their arguments and the weights; no shared BN statistics.
//
// Semantics follow NB201's InferCell: a node whose incoming edges are all `none` is a zero
// tensor, and ops reading it still run on zeros (BN of a zero conv output is not zero);
// avg_pool_3x3 does not count padding (count_include_pad=False).
#pragma once
#include <memory>
#include <vector>

#include "search_spaces/elastic_layers.h"
#include "search_spaces/nb201_space.h"
#include "search_spaces/supernet_train.h"

namespace hwnas {

// NB201's network shape, read from a space's definition().
struct Nb201Shape {
  int inChannels = 3, numClasses = 10, resolution = 32, channels = 16, cellsPerStage = 5;
  static Nb201Shape of(const Nb201Space& space);
};

// The standalone network of one NB201 architecture (a trainer module). Parameter names:
// stem.{conv,bn}, cells.<i>.edge_<to>_<from>.{conv,bn} for convolution edges,
// cells.<i>.conv_a / conv_b / downsample.conv for the reduction cells, lastact.bn, classifier.
class Nb201Model : public nn::Module {
 public:
  Nb201Model(const Nb201Shape& shape, const ArchConfig& arch, uint64_t seed);
  Variable forward(const Variable& x) override;
  const Nb201Space::Edges& edges() const { return edges_; }

 private:
  struct Cell {
    bool reduction = false;
    std::vector<std::shared_ptr<nn::ConvBnAct>> edgeConv;  // per edge; null unless a conv op
    std::shared_ptr<nn::ConvBnAct> convA, convB;
    std::shared_ptr<nn::Conv2d> downsample;
  };
  Nb201Shape shape_;
  Nb201Space::Edges edges_;
  std::shared_ptr<nn::ConvBnAct> stem_;
  std::vector<Cell> cells_;
  std::shared_ptr<nn::BatchNorm2d> lastBn_;
  std::shared_ptr<nn::Linear> classifier_;
};

class Nb201Supernet : public nn::Module {
 public:
  Nb201Supernet(const Nb201Space& space, uint64_t seed);
  const Nb201Shape& shape() const { return shape_; }

  Variable forward(const Variable& x) override;  // throws: the subnet must be given
  // The subnet's logits for x [N, C, resolution, resolution]. Training mode: BN with the
  // batch's statistics; eval mode: BN with bnStats from calibrateBatchNorm(arch, ...).
  Variable forward(const Variable& x, const ArchConfig& arch, const BnStats* bnStats, Rng* dropoutRng = nullptr) const;
  BnStats calibrateBatchNorm(const ArchConfig& arch, const std::vector<Tensor>& batches) const;
  // A standalone Nb201Model with the subnet's weights and BN statistics, in eval mode; its
  // outputs equal forward(x, arch, &bnStats) in eval mode.
  std::shared_ptr<Nb201Model> extract(const ArchConfig& arch, const BnStats& bnStats) const;

 private:
  struct Cell {
    bool reduction = false;
    std::vector<std::shared_ptr<elastic::ElasticConvBn>> conv1, conv3;  // per edge
    std::shared_ptr<elastic::ElasticConvBn> convA, convB;
    Variable downsample;  // [out, in, 1, 1], no BN (NB201's ResNet block)
  };
  Variable run(const Variable& x, const Nb201Space::Edges& e, elastic::ForwardContext& ctx) const;

  Nb201Shape shape_;
  std::shared_ptr<elastic::ElasticConvBn> stem_;
  std::vector<Cell> cells_;
  std::shared_ptr<elastic::ElasticBatchNorm> lastBn_;
  std::shared_ptr<elastic::ElasticLinear> classifier_;
};

// Uniform over the 15,625 archs; largest = every edge nor_conv_3x3, smallest = every edge none.
using Nb201Sampler = BasicSubnetSampler<ArchConfig>;
Nb201Sampler nb201Sampler();

// The cell supernet's training (method "uniform" only), evaluation and key, as for Supernet.
SupernetTrainResult trainSupernet(Nb201Supernet& net, const DataSplits& data, const SupernetTrainOptions& options,
                                  const Nb201Sampler& sampler, const std::string& checkpointDir, bool resume,
                                  const std::function<void(const TrainProgress&)>& onProgress = nullptr);
SubnetEvaluation evaluateSubnet(Nb201Supernet& net, const ArchConfig& arch, const DataSplits& data,
                                int64_t calibrationImages = 2000, int batchSize = 500, uint64_t seed = 0);
std::string nb201SubnetKey(const ArchConfig& arch);  // "nb201:" + arch_str

}  // namespace hwnas
