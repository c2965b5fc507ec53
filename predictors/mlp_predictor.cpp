// MLP on the project's trainer: nn::Linear layers, ReLU, autograd, AdamW. The squared-error
// gradient is seeded into backward() directly (the trainer has no MSE op; d/dpred of
// mean((pred - y)^2) is 2 (pred - y) / batch). Prediction uses the copied float weights in a
// plain double-accumulating loop, so it needs no trainer state and load() predicts the same bits.
#include <cmath>

#include "core/error.h"
#include "core/json_util.h"
#include "predictors/models.h"
#include "trainer/nn.h"
#include "trainer/optim.h"

namespace hwnas {

MlpParams MlpPredictor::parseParams(const JsonReader& spec) {
  spec.checkKeys({"kind", "hidden", "epochs", "lr", "weight_decay", "batch"});
  MlpParams p;
  if (spec.has("hidden")) p.hidden = spec["hidden"].asIntList();
  for (int h : p.hidden)
    if (h < 1) spec["hidden"].fail("hidden layer sizes must be >= 1");
  p.epochs = spec.getInt("epochs", p.epochs);
  p.lr = spec.getDouble("lr", p.lr);
  p.weightDecay = spec.getDouble("weight_decay", p.weightDecay);
  p.batch = spec.getInt("batch", p.batch);
  if (p.epochs < 1) spec["epochs"].fail("epochs must be >= 1");
  if (!(p.lr > 0)) spec["lr"].fail("lr must be > 0");
  if (!(p.weightDecay >= 0)) spec["weight_decay"].fail("weight_decay must be >= 0");
  if (p.batch < 1) spec["batch"].fail("batch must be >= 1");
  return p;
}

Json MlpPredictor::paramsJson(const MlpParams& p) {
  return Json{{"kind", "mlp"}, {"hidden", p.hidden}, {"epochs", p.epochs},
              {"lr", p.lr},    {"weight_decay", p.weightDecay}, {"batch", p.batch}};
}

void MlpPredictor::fit(const FeatureMatrix& x, const std::vector<double>& y, Rng& rng) {
  checkFitInput("mlp", x, y);
  const int n = int(x.size()), d = int(x[0].size());
  width_ = d;
  xMean_.assign(d, 0.0);
  xScale_.assign(d, 1.0);
  for (int j = 0; j < d; ++j) {
    double m = 0, v = 0;
    for (int i = 0; i < n; ++i) m += x[i][j];
    m /= n;
    for (int i = 0; i < n; ++i) v += (x[i][j] - m) * (x[i][j] - m);
    v /= n;
    xMean_[j] = m;
    if (v > 1e-12) xScale_[j] = std::sqrt(v);
  }
  yMean_ = 0;
  for (double t : y) yMean_ += t;
  yMean_ /= n;
  double vy = 0;
  for (double t : y) vy += (t - yMean_) * (t - yMean_);
  yScale_ = vy > 1e-24 ? std::sqrt(vy / n) : 1.0;

  std::vector<float> xs(size_t(n) * d), ys(n);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < d; ++j) xs[size_t(i) * d + j] = float((x[i][j] - xMean_[j]) / xScale_[j]);
    ys[i] = float((y[i] - yMean_) / yScale_);
  }

  dims_.clear();
  dims_.push_back(d);
  for (int h : p_.hidden) dims_.push_back(h);
  dims_.push_back(1);
  Rng initRng = rng.split(0), orderRng = rng.split(1);
  std::vector<std::shared_ptr<nn::Linear>> layers;
  std::vector<std::pair<std::string, Variable>> named;
  for (size_t l = 0; l + 1 < dims_.size(); ++l) {
    layers.push_back(std::make_shared<nn::Linear>(dims_[l], dims_[l + 1], true, initRng));
    for (auto& [name, v] : layers.back()->namedParameters()) named.emplace_back("l" + std::to_string(l) + "." + name, v);
  }
  optim::AdamW opt(optim::makeParamGroups(named, float(p_.weightDecay), true));

  const int batch = std::min(p_.batch, n);
  const int stepsPerEpoch = (n + batch - 1) / batch;
  const int64_t totalSteps = int64_t(stepsPerEpoch) * p_.epochs;
  std::vector<int> order(n);
  for (int i = 0; i < n; ++i) order[i] = i;
  int64_t step = 0;
  for (int ep = 0; ep < p_.epochs; ++ep) {
    for (int i = n - 1; i > 0; --i) std::swap(order[i], order[orderRng.uniformInt(uint64_t(i) + 1)]);
    for (int s = 0; s < stepsPerEpoch; ++s, ++step) {
      const int lo = s * batch, hi = std::min(n, lo + batch), b = hi - lo;
      Tensor xb(Shape{b, d});
      std::vector<float> yb(b);
      for (int k = 0; k < b; ++k) {
        const int r = order[lo + k];
        std::copy(xs.begin() + size_t(r) * d, xs.begin() + size_t(r + 1) * d, xb.data() + size_t(k) * d);
        yb[k] = ys[r];
      }
      Variable h(xb);
      for (size_t l = 0; l < layers.size(); ++l) {
        h = layers[l]->forward(h);
        if (l + 1 < layers.size()) h = ops::relu(h);
      }
      Tensor seed(Shape{b, 1});
      for (int k = 0; k < b; ++k) seed[k] = 2.f * (h.value()[k] - yb[k]) / float(b);
      opt.zeroGrad();
      h.backward(seed);
      const double lr = p_.lr * 0.5 * (1.0 + std::cos(3.141592653589793 * double(step) / double(totalSteps)));
      opt.step(float(lr));
    }
  }
  weights_.clear();
  biases_.clear();
  for (auto& layer : layers) {
    weights_.push_back(layer->weight.value().toVector());
    biases_.push_back(layer->bias.value().toVector());
  }
  fitted_ = true;
}

std::vector<Prediction> MlpPredictor::predict(const FeatureMatrix& x) const {
  checkPredictInput("mlp", fitted_, width_, x);
  std::vector<Prediction> out(x.size());
  std::vector<double> a, b;
  for (size_t i = 0; i < x.size(); ++i) {
    a.resize(width_);
    for (int j = 0; j < width_; ++j) a[j] = double(float((x[i][j] - xMean_[j]) / xScale_[j]));
    for (size_t l = 0; l < weights_.size(); ++l) {
      const int in = dims_[l], outD = dims_[l + 1];
      b.assign(outD, 0.0);
      for (int o = 0; o < outD; ++o) {
        double s = biases_[l][o];
        const float* w = weights_[l].data() + size_t(o) * in;
        for (int k = 0; k < in; ++k) s += double(w[k]) * a[k];
        b[o] = (l + 1 < weights_.size() && s < 0) ? 0.0 : s;
      }
      a.swap(b);
    }
    out[i].mean = yMean_ + yScale_ * a[0];
  }
  return out;
}

Json MlpPredictor::toJson() const {
  if (!fitted_) throw InputError("mlp save: the predictor has not been fitted");
  Json layers = Json::array();
  for (size_t l = 0; l < weights_.size(); ++l) layers.push_back(Json{{"weight", weights_[l]}, {"bias", biases_[l]}});
  return predictorFile("mlp", paramsJson(p_),
                       Json{{"dims", dims_}, {"x_mean", xMean_}, {"x_scale", xScale_}, {"y_mean", yMean_},
                            {"y_scale", yScale_}, {"layers", layers}});
}

void MlpPredictor::save(const std::string& path) const { writeJsonFile(path, toJson(), -1); }

std::unique_ptr<MlpPredictor> MlpPredictor::fromJson(const JsonReader& r) {
  auto p = std::make_unique<MlpPredictor>(parseParams(r["params"]));
  const JsonReader st = r["state"];
  st.checkKeys({"dims", "x_mean", "x_scale", "y_mean", "y_scale", "layers"});
  p->dims_ = st["dims"].asIntList();
  p->xMean_ = st["x_mean"].asDoubleList();
  p->xScale_ = st["x_scale"].asDoubleList();
  p->yMean_ = st.getDouble("y_mean");
  p->yScale_ = st.getDouble("y_scale");
  if (p->dims_.size() < 2 || p->dims_.back() != 1) st["dims"].fail("expected [width, hidden..., 1]");
  p->width_ = p->dims_[0];
  if ((int)p->xMean_.size() != p->width_ || (int)p->xScale_.size() != p->width_)
    st["x_mean"].fail("length differs from the input width " + std::to_string(p->width_));
  const JsonReader layers = st["layers"];
  if (layers.size() + 1 != p->dims_.size()) st["layers"].fail("expected one entry per layer in dims");
  for (size_t l = 0; l < layers.size(); ++l) {
    const JsonReader L = layers[l];
    L.checkKeys({"weight", "bias"});
    std::vector<float> w, b;
    for (double v : L["weight"].asDoubleList()) w.push_back(float(v));
    for (double v : L["bias"].asDoubleList()) b.push_back(float(v));
    if (w.size() != size_t(p->dims_[l]) * p->dims_[l + 1] || b.size() != size_t(p->dims_[l + 1]))
      L.fail("weight/bias sizes do not match dims");
    p->weights_.push_back(std::move(w));
    p->biases_.push_back(std::move(b));
  }
  p->fitted_ = true;
  return p;
}

}  // namespace hwnas
