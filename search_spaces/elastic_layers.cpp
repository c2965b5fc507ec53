#include "search_spaces/elastic_layers.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "trainer/kernels/activation.h"
#include "trainer/ops_fused.h"
#include "trainer/ops_slice.h"

namespace hwnas::elastic {

namespace {

// PyTorch's default initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as nn::Conv2d.
Tensor uniformTensor(Shape shape, double bound, Rng& rng) {
  Tensor t = Tensor::empty(std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = (float)rng.uniform(-bound, bound);
  return t;
}

Tensor identity(int n) {
  Tensor t = Tensor::zeros({n, n});
  for (int i = 0; i < n; ++i) t[(int64_t)i * n + i] = 1.f;
  return t;
}

// BN (+ activation) with the batch's statistics; the running tensors are scratch.
Variable batchStatsBnAct(const Variable& y, const Variable& g, const Variable& b, ops::Act act, float eps) {
  const int64_t c = y.shape()[1];
  Tensor scratchMean = Tensor::zeros({c}), scratchVar = Tensor::full({c}, 1.f);
  if (act == ops::Act::Identity) return ops::batchNorm(y, g, b, scratchMean, scratchVar, true, 0.1f, eps);
  return ops::batchNormAct(y, g, b, scratchMean, scratchVar, true, act, 0.1f, eps);
}

void accumulateBatchStats(const Tensor& y, BnAccumulator& acc) {
  const int64_t n = y.size(0), c = y.size(1), hw = y.numel() / (n * c);
  if (acc.meanSum.empty()) acc.meanSum.assign(c, 0.0), acc.varSum.assign(c, 0.0);
  if ((int64_t)acc.meanSum.size() != c) throw ShapeError("BN calibration: a layer changed width between batches");
  const double count = (double)n * (double)hw;
  for (int64_t ch = 0; ch < c; ++ch) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) {
      const float* p = y.data() + (i * c + ch) * hw;
      for (int64_t k = 0; k < hw; ++k) s += p[k];
    }
    const double mean = s / count;
    double v = 0;
    for (int64_t i = 0; i < n; ++i) {
      const float* p = y.data() + (i * c + ch) * hw;
      for (int64_t k = 0; k < hw; ++k) v += (p[k] - mean) * (p[k] - mean);
    }
    acc.meanSum[ch] += mean * (double)n;
    acc.varSum[ch] += v / count * (double)n;
  }
  acc.count += n;
}

const BnStats::Layer& statsFor(const ForwardContext& ctx, const std::string& bnName, int64_t channels) {
  if (!ctx.stats) throw InputError("supernet: evaluation needs the subnet's BnStats (calibrateBatchNorm)");
  auto it = ctx.stats->layers.find(bnName);
  if (it == ctx.stats->layers.end())
    throw InputError("supernet: the BnStats have no layer '" + bnName + "'; they belong to another subnet");
  if (it->second.mean.numel() != channels || it->second.var.numel() != channels)
    throw InputError("supernet: BnStats layer '" + bnName + "' has " + std::to_string(it->second.mean.numel()) +
                     " channels, the subnet has " + std::to_string(channels));
  return it->second;
}

}  // namespace

void permuteDim(Tensor& t, int dim, const std::vector<int64_t>& perm) {
  const int64_t d0 = t.size(0);
  const int64_t d1 = t.dim() > 1 ? t.size(1) : 1;
  const int64_t inner = t.numel() / (d0 * d1);
  if ((int64_t)perm.size() != (dim == 0 ? d0 : d1)) throw ShapeError("permuteDim: permutation length mismatch");
  Tensor src = t.clone();
  if (dim == 0) {
    const int64_t row = t.numel() / d0;
    for (int64_t i = 0; i < d0; ++i) std::memcpy(t.data() + i * row, src.data() + perm[i] * row, sizeof(float) * row);
  } else {
    for (int64_t r = 0; r < d0; ++r)
      for (int64_t i = 0; i < d1; ++i)
        std::memcpy(t.data() + (r * d1 + i) * inner, src.data() + (r * d1 + perm[i]) * inner, sizeof(float) * inner);
  }
}

ElasticConvBn::ElasticConvBn(int maxIn_, int maxOut_, std::vector<int> kernels_, bool depthwise_, Rng& rng)
    : kernels(std::move(kernels_)), depthwise(depthwise_), maxIn(maxIn_), maxOut(maxOut_) {
  std::sort(kernels.begin(), kernels.end());
  if (kernels.empty()) throw InputError("elastic conv: no kernel choices");
  if (depthwise && maxIn != maxOut) throw ShapeError("elastic depthwise conv: in and out channels differ");
  const int k = kernels.back();
  const int inPerGroup = depthwise ? 1 : maxIn;
  const double bound = 1.0 / std::sqrt((double)inPerGroup * k * k);
  weight = registerParameter("conv.weight", uniformTensor({maxOut, inPerGroup, k, k}, bound, rng));
  gamma = registerParameter("bn.weight", Tensor::full({maxOut}, 1.f));
  beta = registerParameter("bn.bias", Tensor::zeros({maxOut}));
  for (size_t i = 0; i + 1 < kernels.size(); ++i)
    transforms.push_back(registerParameter(
        "transform_" + std::to_string(kernels[i + 1]) + "to" + std::to_string(kernels[i]), identity(kernels[i] * kernels[i])));
}

Variable ElasticConvBn::forward(const Variable&) {
  throw Error("ElasticConvBn::forward(x) needs the subnet's shape; use forward(x, out, kernel, ...)");
}

Variable ElasticConvBn::effectiveWeight(int in, int out, int kernel) const {
  const int K = kernels.back();
  auto pos = std::find(kernels.begin(), kernels.end(), kernel);
  if (pos == kernels.end()) throw InputError("elastic conv: kernel " + std::to_string(kernel) + " is not a choice");
  if (out > maxOut || in > maxIn || out <= 0 || in <= 0)
    throw InputError("elastic conv: " + std::to_string(in) + "->" + std::to_string(out) + " channels exceed the supernet's " +
                     std::to_string(maxIn) + "->" + std::to_string(maxOut));
  if (depthwise && in != out) throw ShapeError("elastic depthwise conv: in and out channels differ");
  const int64_t inW = depthwise ? 1 : in;
  Variable w = ops::sliceLeading(weight, {out, inW, K, K});
  int cur = K;
  // Chained as OFA: 7 -> 5 -> 3, each step a centre crop and a learned k^2 x k^2 map.
  for (int i = (int)kernels.size() - 2; i >= 0 && kernels[i] >= kernel; --i) {
    const int k = kernels[i], off = (cur - k) / 2;
    w = ops::slice(w, {0, 0, off, off}, {out, inW, k, k});
    w = ops::reshape(w, {out * inW, (int64_t)k * k});
    w = ops::linear(w, transforms[i], Variable());
    w = ops::reshape(w, {out, inW, k, k});
    cur = k;
  }
  return w;
}

Variable ElasticConvBn::forward(const Variable& x, int out, int kernel, int stride, ops::Act act,
                                const std::string& name, ForwardContext& ctx) const {
  const int in = (int)x.shape()[1];
  Variable w = effectiveWeight(in, out, kernel);
  ops::Conv2dParams p;
  p.strideH = p.strideW = stride;
  p.padH = p.padW = (kernel - 1) / 2;
  p.groups = depthwise ? in : 1;
  Variable g = ops::sliceLeading(gamma, {out}), b = ops::sliceLeading(beta, {out});
  if (ctx.capture) {
    (*ctx.capture)[name + ".conv.weight"] = w.value();
    (*ctx.capture)[name + ".bn.weight"] = g.value();
    (*ctx.capture)[name + ".bn.bias"] = b.value();
  }
  const std::string bnName = name + ".bn";
  switch (ctx.mode) {
    case BnMode::Stats: {
      const BnStats::Layer& st = statsFor(ctx, bnName, out);
      if (!gradModeEnabled()) {
        // Exactly nn::ConvBnAct's inference path (BN folded into the convolution), so an
        // extracted model gives bit-identical outputs.
        const Tensor& wv = w.value();
        const int64_t per = wv.numel() / out;
        Tensor wf = Tensor::empty(wv.shape()), bf = Tensor::empty({out});
        for (int64_t c = 0; c < out; ++c) {
          const float s = g.value()[c] / std::sqrt(st.var[c] + eps);
          for (int64_t i = 0; i < per; ++i) wf[c * per + i] = wv[c * per + i] * s;
          const float b0 = 0.f;
          bf[c] = b.value()[c] + (b0 - st.mean[c]) * s;
        }
        Variable y = ops::conv2d(x, Variable(wf), Variable(bf), p);
        if (act != ops::Act::Identity)
          kernels::activationForward(y.value().data(), y.value().numel(), act, y.value().data());
        return y;
      }
      Tensor mean = st.mean, var = st.var;  // eval mode reads them only
      Variable y = ops::conv2d(x, w, Variable(), p);
      if (act == ops::Act::Identity) return ops::batchNorm(y, g, b, mean, var, false, 0.1f, eps);
      return ops::batchNormAct(y, g, b, mean, var, false, act, 0.1f, eps);
    }
    case BnMode::Calibrate: {
      Variable y = ops::conv2d(x, w, Variable(), p);
      if (!ctx.calib) throw Error("elastic conv: calibration without an accumulator");
      accumulateBatchStats(y.value(), (*ctx.calib)[bnName]);
      return batchStatsBnAct(y, g, b, act, eps);
    }
    case BnMode::Batch:
    default:
      return batchStatsBnAct(ops::conv2d(x, w, Variable(), p), g, b, act, eps);
  }
}

void ElasticConvBn::permuteOutputs(const std::vector<int64_t>& perm) {
  permuteDim(weight.value(), 0, perm);
  permuteDim(gamma.value(), 0, perm);
  permuteDim(beta.value(), 0, perm);
}

void ElasticConvBn::permuteInputs(const std::vector<int64_t>& perm) {
  if (depthwise) throw Error("elastic conv: a depthwise conv's inputs are its outputs");
  permuteDim(weight.value(), 1, perm);
}

ElasticSqueezeExcite::ElasticSqueezeExcite(int maxC, Rng& rng)
    : maxChannels(maxC), maxReduced(nn::makeDivisible(maxC / 4.0)) {
  const double b1 = 1.0 / std::sqrt((double)maxChannels), b2 = 1.0 / std::sqrt((double)maxReduced);
  reduceWeight = registerParameter("reduce.weight", uniformTensor({maxReduced, maxChannels, 1, 1}, b1, rng));
  reduceBias = registerParameter("reduce.bias", uniformTensor({maxReduced}, b1, rng));
  expandWeight = registerParameter("expand.weight", uniformTensor({maxChannels, maxReduced, 1, 1}, b2, rng));
  expandBias = registerParameter("expand.bias", uniformTensor({maxChannels}, b2, rng));
}

Variable ElasticSqueezeExcite::forward(const Variable&) {
  throw Error("ElasticSqueezeExcite::forward(x) is not used; use forward(x, name, ctx)");
}

Variable ElasticSqueezeExcite::forward(const Variable& x, const std::string& name, ForwardContext& ctx) const {
  const int c = (int)x.shape()[1];
  const int r = nn::makeDivisible(c / 4.0);
  if (c > maxChannels || r > maxReduced)
    throw InputError("elastic squeeze-excite: " + std::to_string(c) + " channels exceed the supernet's " +
                     std::to_string(maxChannels));
  Variable rw = ops::sliceLeading(reduceWeight, {r, c, 1, 1}), rb = ops::sliceLeading(reduceBias, {r});
  Variable ew = ops::sliceLeading(expandWeight, {c, r, 1, 1}), eb = ops::sliceLeading(expandBias, {c});
  if (ctx.capture) {
    (*ctx.capture)[name + ".reduce.weight"] = rw.value();
    (*ctx.capture)[name + ".reduce.bias"] = rb.value();
    (*ctx.capture)[name + ".expand.weight"] = ew.value();
    (*ctx.capture)[name + ".expand.bias"] = eb.value();
  }
  ops::Conv2dParams p;
  Variable s = ops::globalAvgPool(x);
  s = ops::relu(ops::conv2d(s, rw, rb, p));
  s = ops::hardSigmoid(ops::conv2d(s, ew, eb, p));
  return ops::mul(x, s);
}

void ElasticSqueezeExcite::permuteChannels(const std::vector<int64_t>& perm) {
  permuteDim(reduceWeight.value(), 1, perm);
  permuteDim(expandWeight.value(), 0, perm);
  permuteDim(expandBias.value(), 0, perm);
}

ElasticLinear::ElasticLinear(int maxIn, int out, Rng& rng) {
  const double bound = 1.0 / std::sqrt((double)maxIn);
  weight = registerParameter("weight", uniformTensor({out, maxIn}, bound, rng));
  bias = registerParameter("bias", uniformTensor({out}, bound, rng));
}

Variable ElasticLinear::forward(const Variable& x) {
  ForwardContext ctx;
  return forward(x, "classifier", ctx);
}

Variable ElasticLinear::forward(const Variable& x, const std::string& name, ForwardContext& ctx) const {
  const int64_t in = x.shape()[1];
  if (in > weight.shape()[1])
    throw InputError("elastic linear: " + std::to_string(in) + " features exceed the supernet's " +
                     std::to_string(weight.shape()[1]));
  Variable w = ops::sliceLeading(weight, {weight.shape()[0], in});
  if (ctx.capture) {
    (*ctx.capture)[name + ".weight"] = w.value();
    (*ctx.capture)[name + ".bias"] = bias.value();
  }
  return ops::linear(x, w, bias);
}

ElasticBatchNorm::ElasticBatchNorm(int maxChannels) {
  gamma = registerParameter("weight", Tensor::full({maxChannels}, 1.f));
  beta = registerParameter("bias", Tensor::zeros({maxChannels}));
}

Variable ElasticBatchNorm::forward(const Variable&) {
  throw Error("ElasticBatchNorm::forward(x) is not used; use forward(x, act, name, ctx)");
}

Variable ElasticBatchNorm::forward(const Variable& x, ops::Act act, const std::string& name, ForwardContext& ctx) const {
  const int64_t c = x.shape()[1];
  if (c > gamma.shape()[0])
    throw InputError("elastic batch norm: " + std::to_string(c) + " channels exceed the supernet's " +
                     std::to_string(gamma.shape()[0]));
  Variable g = ops::sliceLeading(gamma, {c}), b = ops::sliceLeading(beta, {c});
  if (ctx.capture) {
    (*ctx.capture)[name + ".weight"] = g.value();
    (*ctx.capture)[name + ".bias"] = b.value();
  }
  switch (ctx.mode) {
    case BnMode::Stats: {
      const BnStats::Layer& st = statsFor(ctx, name, c);
      Tensor mean = st.mean, var = st.var;  // read only in eval mode
      if (act == ops::Act::Identity) return ops::batchNorm(x, g, b, mean, var, false, 0.1f, eps);
      return ops::batchNormAct(x, g, b, mean, var, false, act, 0.1f, eps);
    }
    case BnMode::Calibrate:
      if (!ctx.calib) throw Error("elastic batch norm: calibration without an accumulator");
      accumulateBatchStats(x.value(), (*ctx.calib)[name]);
      return batchStatsBnAct(x, g, b, act, eps);
    case BnMode::Batch:
    default:
      return batchStatsBnAct(x, g, b, act, eps);
  }
}

}  // namespace hwnas::elastic
