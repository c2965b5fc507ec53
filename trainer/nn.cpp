#include "trainer/nn.h"

#include <cmath>

#include "core/error.h"
#include "trainer/kernels/activation.h"
#include "trainer/ops_fused.h"

namespace hwnas::nn {

Variable Module::registerParameter(const std::string& name, Tensor init) {
  params_.emplace_back(name, Variable(std::move(init), true));
  return params_.back().second;
}

Tensor Module::registerBuffer(const std::string& name, Tensor init) {
  buffers_.emplace_back(name, std::move(init));
  return buffers_.back().second;
}

void Module::collect(const std::string& prefix, std::vector<std::pair<std::string, Variable>>* params,
                     std::vector<std::pair<std::string, Tensor>>* buffers) const {
  if (params)
    for (const auto& [n, v] : params_) params->emplace_back(prefix + n, v);
  if (buffers)
    for (const auto& [n, t] : buffers_) buffers->emplace_back(prefix + n, t);
  for (const auto& [n, c] : children_) c->collect(prefix + n + ".", params, buffers);
}

std::vector<std::pair<std::string, Variable>> Module::namedParameters() const {
  std::vector<std::pair<std::string, Variable>> out;
  collect("", &out, nullptr);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::namedBuffers() const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect("", nullptr, &out);
  return out;
}

std::vector<Variable> Module::parameters() const {
  std::vector<Variable> out;
  for (auto& [n, v] : namedParameters()) out.push_back(v);
  return out;
}

int64_t Module::numParameters() const {
  int64_t n = 0;
  for (auto& [name, v] : namedParameters()) n += v.value().numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, c] : children_) c->train(on);
}

static Tensor uniformTensor(Shape shape, double bound, Rng& rng) {
  Tensor t = Tensor::empty(std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = (float)rng.uniform(-bound, bound);
  return t;
}

Conv2d::Conv2d(int cin, int cout, int kernel, int stride, int groups, bool hasBias, Rng& rng, int dilation) {
  if (cin % groups || cout % groups)
    throw ShapeError("conv2d: channels " + std::to_string(cin) + "->" + std::to_string(cout) +
                     " not divisible by groups " + std::to_string(groups));
  p_.strideH = p_.strideW = stride;
  p_.padH = p_.padW = dilation * (kernel - 1) / 2;
  p_.dilationH = p_.dilationW = dilation;
  p_.groups = groups;
  const double bound = 1.0 / std::sqrt((double)(cin / groups) * kernel * kernel);
  weight = registerParameter("weight", uniformTensor({cout, cin / groups, kernel, kernel}, bound, rng));
  if (hasBias) bias = registerParameter("bias", uniformTensor({cout}, bound, rng));
}

Variable Conv2d::forward(const Variable& x) { return ops::conv2d(x, weight, bias, p_); }

BatchNorm2d::BatchNorm2d(int channels, float momentum_, float eps_) : momentum(momentum_), eps(eps_) {
  gamma = registerParameter("weight", Tensor::full({channels}, 1.f));
  beta = registerParameter("bias", Tensor::zeros({channels}));
  runningMean = registerBuffer("running_mean", Tensor::zeros({channels}));
  runningVar = registerBuffer("running_var", Tensor::full({channels}, 1.f));
}

Variable BatchNorm2d::forward(const Variable& x) {
  return ops::batchNorm(x, gamma, beta, runningMean, runningVar, isTraining(), momentum, eps);
}

Variable BatchNorm2d::forwardAct(const Variable& x, ops::Act act) {
  if (act == ops::Act::Identity) return forward(x);
  return ops::batchNormAct(x, gamma, beta, runningMean, runningVar, isTraining(), act, momentum, eps);
}

Linear::Linear(int in, int out, bool hasBias, Rng& rng) {
  const double bound = 1.0 / std::sqrt((double)in);
  weight = registerParameter("weight", uniformTensor({out, in}, bound, rng));
  if (hasBias) bias = registerParameter("bias", uniformTensor({out}, bound, rng));
}

Variable Linear::forward(const Variable& x) { return ops::linear(x, weight, bias); }

ConvBnAct::ConvBnAct(int cin, int cout, int kernel, int stride, int groups, ops::Act act_, Rng& rng) : act(act_) {
  conv = registerModule("conv", std::make_shared<Conv2d>(cin, cout, kernel, stride, groups, false, rng));
  bn = registerModule("bn", std::make_shared<BatchNorm2d>(cout));
}

Variable ConvBnAct::forward(const Variable& x) {
  if (isTraining() || gradModeEnabled()) return bn->forwardAct(conv->forward(x), act);
  // Inference: fold BN into the convolution (w' = w*s, b' = beta - mean*s with
  // s = gamma/sqrt(var+eps)) and apply the activation in place: one pass over the output.
  const Tensor& w = conv->weight.value();
  const int64_t cout = w.size(0), per = w.numel() / cout;
  Tensor wf = Tensor::empty(w.shape()), bf = Tensor::empty({cout});
  for (int64_t c = 0; c < cout; ++c) {
    const float s = bn->gamma.value()[c] / std::sqrt(bn->runningVar[c] + bn->eps);
    for (int64_t i = 0; i < per; ++i) wf[c * per + i] = w[c * per + i] * s;
    const float b0 = conv->bias.defined() ? conv->bias.value()[c] : 0.f;
    bf[c] = bn->beta.value()[c] + (b0 - bn->runningMean[c]) * s;
  }
  Variable y = ops::conv2d(x, Variable(wf), Variable(bf), conv->params());
  if (act != ops::Act::Identity) kernels::activationForward(y.value().data(), y.value().numel(), act, y.value().data());
  return y;
}

SqueezeExcite::SqueezeExcite(int channels, int reduced, Rng& rng) {
  reduce = registerModule("reduce", std::make_shared<Conv2d>(channels, reduced, 1, 1, 1, true, rng));
  expand = registerModule("expand", std::make_shared<Conv2d>(reduced, channels, 1, 1, 1, true, rng));
}

Variable SqueezeExcite::forward(const Variable& x) {
  Variable s = ops::globalAvgPool(x);
  s = ops::relu(reduce->forward(s));
  s = ops::hardSigmoid(expand->forward(s));
  return ops::mul(x, s);
}

int makeDivisible(double v, int divisor) {
  int r = std::max(divisor, (int)(v + divisor / 2.0) / divisor * divisor);
  if (r < 0.9 * v) r += divisor;
  return r;
}

MBConv::MBConv(int cin, const BlockSpec& s, Rng& rng) {
  if (s.out <= 0 || s.kernel <= 0 || s.stride <= 0 || s.expand <= 0)
    throw InputError("block: out, kernel, stride and expand must be positive");
  const int hidden = cin * s.expand;
  residual = s.stride == 1 && cin == s.out && s.type != "conv";
  if (s.type == "conv") {
    plain = registerModule("conv", std::make_shared<ConvBnAct>(cin, s.out, s.kernel, s.stride, 1, s.act, rng));
    return;
  }
  if (s.type == "fused_mbconv") {
    expandConv = registerModule("expand", std::make_shared<ConvBnAct>(cin, hidden, s.kernel, s.stride, 1, s.act, rng));
  } else if (s.type == "mbconv") {
    if (s.expand != 1)
      expandConv = registerModule("expand", std::make_shared<ConvBnAct>(cin, hidden, 1, 1, 1, s.act, rng));
    depthwise =
        registerModule("depthwise", std::make_shared<ConvBnAct>(hidden, hidden, s.kernel, s.stride, hidden, s.act, rng));
  } else {
    throw InputError("unknown block type '" + s.type + "' (known: mbconv, fused_mbconv, conv)");
  }
  if (s.se) se = registerModule("se", std::make_shared<SqueezeExcite>(hidden, makeDivisible(hidden / 4.0), rng));
  project = registerModule("project", std::make_shared<ConvBnAct>(hidden, s.out, 1, 1, 1, ops::Act::Identity, rng));
}

Variable MBConv::forward(const Variable& x) {
  if (plain) return plain->forward(x);
  Variable h = x;
  if (expandConv) h = expandConv->forward(h);
  if (depthwise) h = depthwise->forward(h);
  if (se) h = se->forward(h);
  h = project->forward(h);
  return residual ? ops::add(x, h) : h;
}

void Sequential::add(const std::string& name, ModulePtr m) {
  layers_.push_back(m);
  registerModule(name, std::move(m));
}

Variable Sequential::forward(const Variable& x) {
  Variable h = x;
  for (auto& l : layers_) h = l->forward(h);
  return h;
}

}  // namespace hwnas::nn

namespace hwnas::nn {

ActKind toActKind(ops::Act a) {
  switch (a) {
    case ops::Act::Identity: return ActKind::Identity;
    case ops::Act::ReLU: return ActKind::Relu;
    case ops::Act::ReLU6: return ActKind::Relu6;
    case ops::Act::HardSwish: return ActKind::HSwish;
    case ops::Act::HardSigmoid: return ActKind::HSigmoid;
    case ops::Act::SiLU: return ActKind::Silu;
    case ops::Act::Sigmoid: return ActKind::Sigmoid;
  }
  throw Error("toActKind: unknown activation");
}

int Module::toGraph(Graph&, int, const std::string& name) const {
  throw Error("module '" + name + "' has no graph form");
}

int Conv2d::toGraph(Graph& g, int input, const std::string& name) const {
  const Shape& w = weight.shape();
  if (p_.strideH != p_.strideW || p_.padH != p_.padW || p_.dilationH != p_.dilationW || w[2] != w[3])
    throw Error("conv '" + name + "': the graph form needs square kernels, strides and padding");
  return g.addConv2d(name, input, w[0], (int)w[2], p_.strideH, p_.padH, p_.groups, bias.defined(), p_.dilationH);
}

int BatchNorm2d::toGraph(Graph& g, int input, const std::string& name) const {
  return g.addBatchNorm(name, input, eps);
}

int Linear::toGraph(Graph& g, int input, const std::string& name) const {
  return g.addLinear(name, input, weight.shape()[0], bias.defined());
}

int ConvBnAct::toGraph(Graph& g, int input, const std::string& name) const {
  int h = bn->toGraph(g, conv->toGraph(g, input, join(name, "conv")), join(name, "bn"));
  return act == ops::Act::Identity ? h : g.addAct(join(name, "act"), h, toActKind(act));
}

int SqueezeExcite::toGraph(Graph& g, int input, const std::string& name) const {
  return g.addSqueezeExcite(name, input, reduce->weight.shape()[0], ActKind::Relu, ActKind::HSigmoid);
}

int MBConv::toGraph(Graph& g, int input, const std::string& name) const {
  if (plain) return plain->toGraph(g, input, join(name, "conv"));
  int h = input;
  if (expandConv) h = expandConv->toGraph(g, h, join(name, "expand"));
  if (depthwise) h = depthwise->toGraph(g, h, join(name, "depthwise"));
  if (se) h = se->toGraph(g, h, join(name, "se"));
  h = project->toGraph(g, h, join(name, "project"));
  return residual ? g.addAdd(join(name, "add"), input, h) : h;
}

int Sequential::toGraph(Graph& g, int input, const std::string& name) const {
  int h = input;
  for (size_t i = 0; i < layers_.size(); ++i) h = layers_[i]->toGraph(g, h, join(name, std::to_string(i)));
  return h;
}

int GlobalAvgPoolFlatten::toGraph(Graph& g, int input, const std::string& name) const {
  return g.addFlatten(join(name, "flatten"), g.addGlobalAvgPool(join(name, "pool"), input));
}

}  // namespace hwnas::nn
