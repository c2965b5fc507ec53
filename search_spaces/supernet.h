// Supernet: the Once-for-All style weight-sharing network of an MBConv-family space. Every
// subnet (a ModelDef that resolves against the SupernetDef) runs on slices of the shared
// weights. Invariant: forward, calibrateBatchNorm and extract are pure functions of their
// arguments and the weights; there is no "active subnet" and no shared BN statistic, so
// several subnets may be evaluated concurrently (under NoGradGuard).
#pragma once
#include <memory>
#include <vector>

#include "search_spaces/elastic_layers.h"
#include "search_spaces/supernet_def.h"
#include "trainer/model_def.h"

namespace hwnas {

class ElasticBlock;

class Supernet : public nn::Module {
 public:
  // Builds the weights at their largest shapes, initialised from `seed` (PyTorch's defaults
  // at the largest fan-in; kernel transformations start as identities). normalize()s `def`.
  Supernet(SupernetDef def, uint64_t seed);

  const SupernetDef& def() const { return def_; }
  ModelDef largest() const { return def_.largest(); }
  ModelDef smallest() const { return def_.smallest(); }

  // Not used: a supernet needs the subnet. Throws.
  Variable forward(const Variable& x) override;
  // The subnet's logits for x [N, C, H, W] (any H, W: elastic resolution is the input's size).
  // Training mode (train()): BN uses the batch's statistics and writes nothing; dropout only
  // when dropoutRng is given. Eval mode: BN uses bnStats, which must come from
  // calibrateBatchNorm for this subnet (InputError otherwise).
  Variable forward(const Variable& x, const ModelDef& subnet, const BnStats* bnStats, Rng* dropoutRng = nullptr) const;

  // Runs the subnet on each batch without gradients, normalising with the batch's statistics,
  // and returns per-layer mean and (biased) variance averaged over the batches weighted by
  // batch size (OFA's set_running_statistics). Nothing shared is written.
  BnStats calibrateBatchNorm(const ModelDef& subnet, const std::vector<Tensor>& batches) const;

  // A standalone trainer Model (buildModel(subnet)) with the subnet's weights copied (sliced,
  // kernel-transformed) and BN running statistics from bnStats, in eval mode. Its eval outputs
  // equal forward(x, subnet, &bnStats) in eval mode.
  std::shared_ptr<Model> extract(const ModelDef& subnet, const BnStats& bnStats) const;

  // OFA's channel reordering before expansion becomes elastic: in every inverted-residual block
  // the hidden channels are sorted by the L1 norm of the projection weights that read them
  // (largest first), permuting the expand conv's outputs, the depthwise conv, SE and BN to
  // match. The largest subnet's function is unchanged. Blocks whose stage allows expand 1 for
  // mbconv (hidden = the block's input) are left as they are.
  void sortChannelsByImportance();

 private:
  Variable run(const Variable& x, const ModelDef& subnet, elastic::ForwardContext& ctx, Rng* dropoutRng) const;

  SupernetDef def_;
  std::shared_ptr<elastic::ElasticConvBn> stem_, head_;
  std::vector<std::vector<std::shared_ptr<ElasticBlock>>> stages_;
  std::shared_ptr<elastic::ElasticLinear> classifier_;
};

}  // namespace hwnas
