#include "search_spaces/nb201_supernet.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "trainer/data_loader.h"
#include "trainer/training.h"

namespace hwnas {

using elastic::BnMode;
using elastic::ElasticConvBn;
using elastic::ForwardContext;

namespace {

enum Op { kNone = 0, kSkip = 1, kConv1 = 2, kConv3 = 3, kPool = 4 };
constexpr int kFrom[Nb201Space::kEdges] = {0, 0, 1, 0, 1, 2};
constexpr int kTo[Nb201Space::kEdges] = {1, 2, 2, 3, 3, 3};

std::string edgeName(const std::string& cell, int k) {
  return cell + ".edge_" + std::to_string(kTo[k]) + "_" + std::to_string(kFrom[k]);
}

// NB201's nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False): the zero-padded
// average rescaled by 9 / (taps inside the image).
Variable avgPool3NoPad(const Variable& x) {
  ops::Pool2dParams p;
  p.kernelH = p.kernelW = 3;
  p.strideH = p.strideW = 1;
  p.padH = p.padW = 1;
  Variable y = ops::avgPool2d(x, p);
  const Shape& s = y.shape();
  const int64_t h = s[2], w = s[3], planes = s[0] * s[1];
  Tensor f = Tensor::empty(s);
  for (int64_t i = 0; i < h; ++i)
    for (int64_t j = 0; j < w; ++j) {
      const int64_t rows = std::min<int64_t>(i + 1, h - 1) - std::max<int64_t>(i - 1, 0) + 1;
      const int64_t cols = std::min<int64_t>(j + 1, w - 1) - std::max<int64_t>(j - 1, 0) + 1;
      const float v = 9.f / (float)(rows * cols);
      for (int64_t pl = 0; pl < planes; ++pl) f[(pl * h + i) * w + j] = v;
    }
  return ops::mul(y, Variable(f));
}

Variable zerosLike(const Variable& x) { return Variable(Tensor::zeros(x.shape())); }

int numCells(const Nb201Shape& s) { return 3 * s.cellsPerStage + 2; }
bool isReduction(const Nb201Shape& s, int cell) { return cell == s.cellsPerStage || cell == 2 * s.cellsPerStage + 1; }

// The cell computation shared by the supernet and the standalone model: `op(k, src)` runs edge
// k's op (conv or pool) on src; skip and none are handled here.
template <class EdgeOp>
Variable runCell(const Variable& x, const Nb201Space::Edges& e, const EdgeOp& op) {
  Variable node[4] = {x, Variable(), Variable(), Variable()};
  bool zero[4] = {false, true, true, true};
  for (int j = 1; j <= 3; ++j) {
    Variable sum;
    for (int k = 0; k < Nb201Space::kEdges; ++k) {
      if (kTo[k] != j || e[k] == kNone) continue;
      const int i = kFrom[k];
      const Variable src = zero[i] ? zerosLike(x) : node[i];
      Variable term = e[k] == kSkip ? src : op(k, src);
      sum = sum.defined() ? ops::add(sum, term) : term;
    }
    if (sum.defined()) {
      node[j] = sum;
      zero[j] = false;
    }
  }
  return zero[3] ? zerosLike(x) : node[3];
}

}  // namespace

Nb201Shape Nb201Shape::of(const Nb201Space& space) {
  const Json d = space.definition();
  Nb201Shape s;
  s.inChannels = d.at("input").at("channels").get<int>();
  s.numClasses = d.at("input").at("classes").get<int>();
  s.resolution = d.at("input").at("resolution").get<int>();
  s.channels = d.at("cell").at("channels").get<int>();
  s.cellsPerStage = d.at("cell").at("cells_per_stage").get<int>();
  return s;
}

std::string nb201SubnetKey(const ArchConfig& arch) { return "nb201:" + Nb201Space::archStr(arch); }

// ---------------------------------------------------------------------------------------------

Nb201Model::Nb201Model(const Nb201Shape& shape, const ArchConfig& arch, uint64_t seed)
    : shape_(shape), edges_(Nb201Space::edges(arch)) {
  Rng rng(seed);
  const int C = shape_.channels;
  stem_ = registerModule("stem", std::make_shared<nn::ConvBnAct>(shape_.inChannels, C, 3, 1, 1, ops::Act::Identity, rng));
  int c = C;
  for (int i = 0; i < numCells(shape_); ++i) {
    const std::string n = "cells." + std::to_string(i);
    Cell cell;
    if (isReduction(shape_, i)) {
      cell.reduction = true;
      cell.convA = registerModule(n + ".conv_a", std::make_shared<nn::ConvBnAct>(c, 2 * c, 3, 2, 1, ops::Act::Identity, rng));
      cell.convB = registerModule(n + ".conv_b", std::make_shared<nn::ConvBnAct>(2 * c, 2 * c, 3, 1, 1, ops::Act::Identity, rng));
      cell.downsample = registerModule(n + ".downsample.conv", std::make_shared<nn::Conv2d>(c, 2 * c, 1, 1, 1, false, rng));
      c *= 2;
    } else {
      cell.edgeConv.resize(Nb201Space::kEdges);
      for (int k = 0; k < Nb201Space::kEdges; ++k)
        if (edges_[k] == kConv1 || edges_[k] == kConv3)
          cell.edgeConv[k] = registerModule(edgeName(n, k),
                                            std::make_shared<nn::ConvBnAct>(c, c, edges_[k] == kConv1 ? 1 : 3, 1, 1,
                                                                            ops::Act::Identity, rng));
    }
    cells_.push_back(cell);
  }
  lastBn_ = registerModule("lastact.bn", std::make_shared<nn::BatchNorm2d>(c));
  classifier_ = registerModule("classifier", std::make_shared<nn::Linear>(c, shape_.numClasses, true, rng));
}

Variable Nb201Model::forward(const Variable& x) {
  Variable h = stem_->forward(x);
  for (auto& cell : cells_) {
    if (cell.reduction) {
      ops::Pool2dParams p;  // 2x2, stride 2
      Variable b = cell.convB->forward(ops::relu(cell.convA->forward(ops::relu(h))));
      h = ops::add(cell.downsample->forward(ops::avgPool2d(h, p)), b);
      continue;
    }
    h = runCell(h, edges_, [&](int k, const Variable& src) {
      if (edges_[k] == kPool) return avgPool3NoPad(src);
      return cell.edgeConv[k]->forward(ops::relu(src));
    });
  }
  h = lastBn_->forwardAct(h, ops::Act::ReLU);
  return classifier_->forward(ops::flatten(ops::globalAvgPool(h)));
}

// ---------------------------------------------------------------------------------------------

Nb201Supernet::Nb201Supernet(const Nb201Space& space, uint64_t seed) : shape_(Nb201Shape::of(space)) {
  Rng rng(seed);
  const int C = shape_.channels;
  stem_ = registerModule("stem", std::make_shared<ElasticConvBn>(shape_.inChannels, C, std::vector<int>{3}, false, rng));
  int c = C;
  for (int i = 0; i < numCells(shape_); ++i) {
    const std::string n = "cells." + std::to_string(i);
    Cell cell;
    if (isReduction(shape_, i)) {
      cell.reduction = true;
      cell.convA = registerModule(n + ".conv_a", std::make_shared<ElasticConvBn>(c, 2 * c, std::vector<int>{3}, false, rng));
      cell.convB = registerModule(n + ".conv_b", std::make_shared<ElasticConvBn>(2 * c, 2 * c, std::vector<int>{3}, false, rng));
      // As nn::Conv2d's default initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
      Tensor w = Tensor::empty({2 * c, c, 1, 1});
      const double bound = 1.0 / std::sqrt((double)c);
      for (int64_t q = 0; q < w.numel(); ++q) w[q] = (float)rng.uniform(-bound, bound);
      cell.downsample = registerParameter(n + ".downsample.conv.weight", w);
      c *= 2;
    } else {
      for (int k = 0; k < Nb201Space::kEdges; ++k) {
        const std::string en = edgeName(n, k);
        cell.conv1.push_back(registerModule(en + ".nor_conv_1x1", std::make_shared<ElasticConvBn>(c, c, std::vector<int>{1}, false, rng)));
        cell.conv3.push_back(registerModule(en + ".nor_conv_3x3", std::make_shared<ElasticConvBn>(c, c, std::vector<int>{3}, false, rng)));
      }
    }
    cells_.push_back(cell);
  }
  lastBn_ = registerModule("lastact", std::make_shared<elastic::ElasticBatchNorm>(c));
  classifier_ = registerModule("classifier", std::make_shared<elastic::ElasticLinear>(c, shape_.numClasses, rng));
}

Variable Nb201Supernet::forward(const Variable&) {
  throw Error("Nb201Supernet::forward(x) needs the subnet: use forward(x, arch, bnStats)");
}

Variable Nb201Supernet::run(const Variable& x, const Nb201Space::Edges& e, ForwardContext& ctx) const {
  const Shape& xs = x.shape();
  if (xs.size() != 4 || xs[1] != shape_.inChannels || xs[2] != shape_.resolution || xs[3] != shape_.resolution)
    throw ShapeError("NB201 supernet expects input [N, " + std::to_string(shape_.inChannels) + ", " +
                     std::to_string(shape_.resolution) + ", " + std::to_string(shape_.resolution) + "], got " +
                     shapeToString(xs));
  int c = shape_.channels;
  Variable h = stem_->forward(x, c, 3, 1, ops::Act::Identity, "stem", ctx);
  for (size_t i = 0; i < cells_.size(); ++i) {
    const Cell& cell = cells_[i];
    const std::string n = "cells." + std::to_string(i);
    if (cell.reduction) {
      Variable a = cell.convA->forward(ops::relu(h), 2 * c, 3, 2, ops::Act::Identity, n + ".conv_a", ctx);
      Variable b = cell.convB->forward(ops::relu(a), 2 * c, 3, 1, ops::Act::Identity, n + ".conv_b", ctx);
      if (ctx.capture) (*ctx.capture)[n + ".downsample.conv.weight"] = cell.downsample.value();
      ops::Pool2dParams pool;  // 2x2, stride 2
      ops::Conv2dParams p;     // 1x1
      h = ops::add(ops::conv2d(ops::avgPool2d(h, pool), cell.downsample, Variable(), p), b);
      c *= 2;
      continue;
    }
    h = runCell(h, e, [&](int k, const Variable& src) {
      if (e[k] == kPool) return avgPool3NoPad(src);
      const auto& conv = e[k] == kConv1 ? cell.conv1[k] : cell.conv3[k];
      return conv->forward(ops::relu(src), c, e[k] == kConv1 ? 1 : 3, 1, ops::Act::Identity, edgeName(n, k), ctx);
    });
  }
  h = lastBn_->forward(h, ops::Act::ReLU, "lastact.bn", ctx);
  return classifier_->forward(ops::flatten(ops::globalAvgPool(h)), "classifier", ctx);
}

Variable Nb201Supernet::forward(const Variable& x, const ArchConfig& arch, const BnStats* bnStats, Rng*) const {
  const Nb201Space::Edges e = Nb201Space::edges(arch);
  ForwardContext ctx;
  if (isTraining()) {
    ctx.mode = BnMode::Batch;
  } else {
    if (!bnStats)
      throw InputError("NB201 supernet: evaluating " + Nb201Space::archStr(arch) +
                       " needs its BnStats; call calibrateBatchNorm(arch, batches) first");
    if (bnStats->key != nb201SubnetKey(arch))
      throw InputError("NB201 supernet: the BnStats were calibrated for another subnet than " + Nb201Space::archStr(arch));
    ctx.mode = BnMode::Stats;
    ctx.stats = bnStats;
  }
  return run(x, e, ctx);
}

BnStats Nb201Supernet::calibrateBatchNorm(const ArchConfig& arch, const std::vector<Tensor>& batches) const {
  if (batches.empty()) throw InputError("calibrateBatchNorm: no batches");
  const Nb201Space::Edges e = Nb201Space::edges(arch);
  NoGradGuard noGrad;
  std::map<std::string, elastic::BnAccumulator> acc;
  ForwardContext ctx;
  ctx.mode = BnMode::Calibrate;
  ctx.calib = &acc;
  BnStats stats;
  stats.key = nb201SubnetKey(arch);
  for (const Tensor& b : batches) {
    run(Variable(b), e, ctx);
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

std::shared_ptr<Nb201Model> Nb201Supernet::extract(const ArchConfig& arch, const BnStats& bnStats) const {
  if (bnStats.key != nb201SubnetKey(arch))
    throw InputError("NB201 supernet: extract: the BnStats were calibrated for another subnet than " +
                     Nb201Space::archStr(arch));
  std::map<std::string, Tensor> state;
  {
    NoGradGuard noGrad;
    ForwardContext ctx;
    ctx.mode = BnMode::Stats;
    ctx.stats = &bnStats;
    ctx.capture = &state;
    run(Variable(Tensor::zeros({1, shape_.inChannels, shape_.resolution, shape_.resolution})), Nb201Space::edges(arch), ctx);
  }
  for (auto& [name, t] : state) t = t.clone();
  for (const auto& [name, layer] : bnStats.layers) {
    state[name + ".running_mean"] = layer.mean.clone();
    state[name + ".running_var"] = layer.var.clone();
  }
  auto model = std::make_shared<Nb201Model>(shape_, arch, 0);
  loadStateDict(*model, state, "NB201 supernet extract of " + Nb201Space::archStr(arch));
  model->eval();
  return model;
}

Nb201Sampler nb201Sampler() {
  Nb201Space space;
  Nb201Sampler s;
  s.largest = space.largest();
  s.smallest = space.smallest();
  s.sample = [](Rng& rng) { return Nb201Space().sample(rng); };
  return s;
}

SubnetEvaluation evaluateSubnet(Nb201Supernet& net, const ArchConfig& arch, const DataSplits& data,
                                int64_t calibrationImages, int batchSize, uint64_t seed) {
  const int res = net.shape().resolution;
  SubnetEvaluation r;
  auto batches = calibrationBatches(data.train, data.mean, data.std, calibrationImages, std::min(batchSize, 256), res, res, seed);
  r.bnStats = net.calibrateBatchNorm(arch, batches);
  if (data.val.n == 0) return r;
  const bool wasTraining = net.isTraining();
  net.eval();
  NoGradGuard noGrad;
  int64_t correct = 0;
  try {
    for (int64_t b = 0; b < data.val.n; b += batchSize) {
      const int64_t e = std::min<int64_t>(data.val.n, b + batchSize);
      Tensor x = toTensor(data.val, b, e, data.mean, data.std);
      const Variable logits = net.forward(Variable(x), arch, &r.bnStats);
      const Tensor& l = logits.value();
      const int64_t k = l.size(1);
      for (int64_t i = 0; i < e - b; ++i) {
        const float* row = l.data() + i * k;
        correct += (std::max_element(row, row + k) - row) == data.val.labels[b + i];
      }
    }
  } catch (...) {
    net.train(wasTraining);
    throw;
  }
  net.train(wasTraining);
  r.valAccuracy = (double)correct / (double)data.val.n;
  return r;
}

}  // namespace hwnas
