#include "search_spaces/supernet.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "trainer/ops.h"
#include "trainer/training.h"

namespace hwnas {

using elastic::BnMode;
using elastic::ElasticConvBn;
using elastic::ElasticSqueezeExcite;
using elastic::ForwardContext;

// One block position of a stage: the weights of every block type the stage allows, at the
// largest input, hidden and output widths. Children are named <type>.expand, .depthwise, .se,
// .project (mbconv, fused_mbconv) and conv.conv (plain conv), without the type prefix when the
// stage allows one type only.
class ElasticBlock : public nn::Module {
 public:
  ElasticBlock(const SupernetStage& st, int maxCin, Rng& rng) {
    const bool multi = st.types.size() > 1;
    const int maxHidden = maxCin * st.maxExpand();
    for (const auto& type : st.types) {
      const std::string pre = multi ? type + "." : "";
      if (type == "conv") {
        plain_ = registerModule(pre + "conv", std::make_shared<ElasticConvBn>(maxCin, st.maxOut(), st.kernelChoices, false, rng));
        continue;
      }
      const bool fused = type == "fused_mbconv";
      Parts& p = fused ? fusedParts_ : mbParts_;
      if (fused) {
        p.expand = registerModule(pre + "expand", std::make_shared<ElasticConvBn>(maxCin, maxHidden, st.kernelChoices, false, rng));
      } else {
        if (st.maxExpand() > 1)
          p.expand = registerModule(pre + "expand", std::make_shared<ElasticConvBn>(maxCin, maxHidden, std::vector<int>{1}, false, rng));
        p.depthwise = registerModule(pre + "depthwise",
                                     std::make_shared<ElasticConvBn>(maxHidden, maxHidden, st.kernelChoices, true, rng));
        p.expandOneAllowed = st.expandChoices.front() == 1;
      }
      if (st.seAllowed) p.se = registerModule(pre + "se", std::make_shared<ElasticSqueezeExcite>(maxHidden, rng));
      p.project = registerModule(pre + "project", std::make_shared<ElasticConvBn>(maxHidden, st.maxOut(), std::vector<int>{1}, false, rng));
    }
  }
  Variable forward(const Variable&) override { throw Error("ElasticBlock::forward(x) needs the block's spec"); }

  Variable forward(const Variable& x, const SubnetPlan::Block& b, const std::string& name, ForwardContext& ctx) const {
    const nn::BlockSpec& s = b.spec;
    if (s.type == "conv") return plain_->forward(x, s.out, s.kernel, s.stride, s.act, name + ".conv", ctx);
    const Parts& p = s.type == "fused_mbconv" ? fusedParts_ : mbParts_;
    const int hidden = b.cin * s.expand;
    Variable h = x;
    if (s.type == "fused_mbconv") {
      h = p.expand->forward(h, hidden, s.kernel, s.stride, s.act, name + ".expand", ctx);
    } else {
      if (s.expand != 1) h = p.expand->forward(h, hidden, 1, 1, s.act, name + ".expand", ctx);
      h = p.depthwise->forward(h, hidden, s.kernel, s.stride, s.act, name + ".depthwise", ctx);
    }
    if (s.se) h = p.se->forward(h, name + ".se", ctx);
    h = p.project->forward(h, s.out, 1, 1, ops::Act::Identity, name + ".project", ctx);
    const bool residual = s.stride == 1 && b.cin == s.out;
    return residual ? ops::add(x, h) : h;
  }

  void sortChannels() {
    for (Parts* p : {&mbParts_, &fusedParts_}) {
      if (!p->project || p->expandOneAllowed || !p->expand) continue;
      const Tensor& w = p->project->weight.value();  // [out, hidden, 1, 1]
      const int64_t out = w.size(0), hidden = w.size(1);
      std::vector<double> importance(hidden, 0.0);
      for (int64_t o = 0; o < out; ++o)
        for (int64_t c = 0; c < hidden; ++c) importance[c] += std::abs((double)w[o * hidden + c]);
      std::vector<int64_t> perm(hidden);
      std::iota(perm.begin(), perm.end(), 0);
      std::stable_sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) { return importance[a] > importance[b]; });
      p->expand->permuteOutputs(perm);
      if (p->depthwise) p->depthwise->permuteOutputs(perm);
      if (p->se) p->se->permuteChannels(perm);
      p->project->permuteInputs(perm);
    }
  }

 private:
  struct Parts {
    std::shared_ptr<ElasticConvBn> expand, depthwise, project;
    std::shared_ptr<ElasticSqueezeExcite> se;
    bool expandOneAllowed = false;
  };
  Parts mbParts_, fusedParts_;
  std::shared_ptr<ElasticConvBn> plain_;
};

Supernet::Supernet(SupernetDef def, uint64_t seed) : def_(std::move(def)) {
  def_.normalize();
  Rng rng(seed);
  stem_ = registerModule("stem", std::make_shared<ElasticConvBn>(def_.inChannels, def_.stemOutChoices.back(),
                                                                 std::vector<int>{def_.stemKernel}, false, rng));
  int maxC = def_.stemOutChoices.back();
  for (size_t s = 0; s < def_.stages.size(); ++s) {
    const SupernetStage& st = def_.stages[s];
    stages_.emplace_back();
    for (int j = 0; j < st.maxDepth(); ++j) {
      stages_.back().push_back(registerModule("stages." + std::to_string(s) + ".blocks." + std::to_string(j),
                                              std::make_shared<ElasticBlock>(st, maxC, rng)));
      maxC = st.maxOut();
    }
  }
  if (def_.headOutChoices.back() > 0) {
    head_ = registerModule("head", std::make_shared<ElasticConvBn>(maxC, def_.headOutChoices.back(), std::vector<int>{1}, false, rng));
    maxC = def_.headOutChoices.back();
  }
  classifier_ = registerModule("classifier", std::make_shared<elastic::ElasticLinear>(maxC, def_.numClasses, rng));
}

Variable Supernet::forward(const Variable&) {
  throw Error("Supernet::forward(x) needs the subnet: use forward(x, subnet, bnStats)");
}

Variable Supernet::run(const Variable& x, const ModelDef& subnet, ForwardContext& ctx, Rng* dropoutRng) const {
  const Shape& xs = x.shape();
  if (xs.size() != 4 || xs[1] != def_.inChannels)
    throw ShapeError("supernet '" + def_.name + "' expects input [N, " + std::to_string(def_.inChannels) +
                     ", H, W], got " + shapeToString(xs));
  const SubnetPlan plan = resolveSubnet(def_, subnet);
  Variable h = stem_->forward(x, subnet.stemOut, subnet.stemKernel, subnet.stemStride, subnet.stemAct, "stem", ctx);
  for (size_t i = 0; i < plan.blocks.size(); ++i) {
    const SubnetPlan::Block& b = plan.blocks[i];
    h = stages_[b.stage][b.index]->forward(h, b, "blocks." + std::to_string(i), ctx);
  }
  if (subnet.headOut > 0) h = head_->forward(h, subnet.headOut, 1, 1, subnet.headAct, "head", ctx);
  h = ops::flatten(ops::globalAvgPool(h));
  if (dropoutRng && subnet.dropout > 0 && ctx.mode == BnMode::Batch) h = ops::dropout(h, (float)subnet.dropout, true, *dropoutRng);
  return classifier_->forward(h, "classifier", ctx);
}

Variable Supernet::forward(const Variable& x, const ModelDef& subnet, const BnStats* bnStats, Rng* dropoutRng) const {
  ForwardContext ctx;
  if (isTraining()) {
    ctx.mode = BnMode::Batch;
  } else {
    if (!bnStats)
      throw InputError("supernet '" + def_.name + "': evaluating subnet '" + subnet.name +
                       "' needs its BnStats; call calibrateBatchNorm(subnet, batches) first");
    if (bnStats->key != subnetKey(subnet))
      throw InputError("supernet '" + def_.name + "': the BnStats were calibrated for another subnet than '" +
                       subnet.name + "'");
    ctx.mode = BnMode::Stats;
    ctx.stats = bnStats;
  }
  return run(x, subnet, ctx, dropoutRng);
}

BnStats Supernet::calibrateBatchNorm(const ModelDef& subnet, const std::vector<Tensor>& batches) const {
  if (batches.empty()) throw InputError("calibrateBatchNorm: no batches");
  NoGradGuard noGrad;
  std::map<std::string, elastic::BnAccumulator> acc;
  ForwardContext ctx;
  ctx.mode = BnMode::Calibrate;
  ctx.calib = &acc;
  BnStats stats;
  stats.key = subnetKey(subnet);
  for (const Tensor& b : batches) {
    run(Variable(b), subnet, ctx, nullptr);
    stats.images += b.size(0);
  }
  for (const auto& [name, a] : acc) {
    const int64_t c = (int64_t)a.meanSum.size();
    BnStats::Layer layer{Tensor::empty({c}), Tensor::empty({c})};
    for (int64_t i = 0; i < c; ++i) {
      layer.mean[i] = (float)(a.meanSum[i] / (double)a.count);
      layer.var[i] = (float)(a.varSum[i] / (double)a.count);
    }
    stats.layers.emplace(name, std::move(layer));
  }
  return stats;
}

std::shared_ptr<Model> Supernet::extract(const ModelDef& subnet, const BnStats& bnStats) const {
  if (bnStats.key != subnetKey(subnet))
    throw InputError("supernet '" + def_.name + "': extract: the BnStats were calibrated for another subnet than '" +
                     subnet.name + "'");
  std::map<std::string, Tensor> state;
  {
    // One small forward pass records the effective weights: the very tensors forward() uses.
    NoGradGuard noGrad;
    ForwardContext ctx;
    ctx.mode = BnMode::Stats;
    ctx.stats = &bnStats;
    ctx.capture = &state;
    run(Variable(Tensor::zeros({1, subnet.inChannels, subnet.height, subnet.width})), subnet, ctx, nullptr);
  }
  for (auto& [name, t] : state) t = t.clone();
  for (const auto& [name, layer] : bnStats.layers) {
    state[name + ".running_mean"] = layer.mean.clone();
    state[name + ".running_var"] = layer.var.clone();
  }
  auto model = buildModel(subnet, 0);
  loadStateDict(*model, state, "supernet '" + def_.name + "' extract of '" + subnet.name + "'");
  model->eval();
  return model;
}

void Supernet::sortChannelsByImportance() {
  for (auto& stage : stages_)
    for (auto& b : stage) b->sortChannels();
}

}  // namespace hwnas
