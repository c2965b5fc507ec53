#include "trainer/fine_tune.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>

#include <tbb/global_control.h>

#include "core/error.h"
#include "trainer/data_loader.h"
#include "trainer/weight_map.h"

using namespace hwnas;

namespace {

const std::string kRefnet = std::string(HWNAS_SOURCE_DIR) + "/configs/models/refnet.yaml";

// Fashion-MNIST, loaded once for the whole suite: 1,024 training and 500 validation images.
const DataSplits& fmnist() {
  static const DataSplits d = [] {
    TrainOptions o;
    o.trainLimit = 1024;
    o.evalLimit = 500;
    return loadDataSplits(o);
  }();
  return d;
}

// A small CNN as a Graph (conv-bn-relu x2, pool, linear) with seeded PyTorch-style weights.
Graph smallGraph() {
  Graph g;
  int x = g.addInput("input", {1, 1, 28, 28});
  int h = g.addAct("c1.act", g.addBatchNorm("c1.bn", g.addConv2d("c1", x, 8, 3, 2)), ActKind::Relu);
  h = g.addAct("c2.act", g.addBatchNorm("c2.bn", g.addConv2d("c2", h, 16, 3, 2)), ActKind::Relu);
  g.addLinear("fc", g.addFlatten("flat", g.addGlobalAvgPool("gap", h)), 10, true);
  return g;
}

WeightMap smallWeights(const Graph& g, uint64_t seed) {
  Rng rng(seed);
  WeightMap w;
  for (const Node& n : g.nodes()) {
    auto uni = [&](const std::string& k, const Shape& s, double b) {
      WeightTensor t{s, std::vector<float>(size_t(numel(s)))};
      for (float& v : t.values) v = float(rng.uniform(-b, b));
      w[n.name + k] = t;
    };
    auto full = [&](const std::string& k, int64_t c, float v) { w[n.name + k] = {{c}, std::vector<float>(size_t(c), v)}; };
    if (n.kind == OpKind::Conv2d) {
      const int64_t cin = g.node(n.inputs[0]).shape[1];
      uni(".weight", {n.attrs.outChannels, cin, 3, 3}, 1.0 / std::sqrt(double(cin * 9)));
    } else if (n.kind == OpKind::BatchNorm) {
      const int64_t c = g.node(n.inputs[0]).shape[1];
      full(".weight", c, 1.f), full(".bias", c, 0.f), full(".running_mean", c, 0.f), full(".running_var", c, 1.f);
    } else if (n.kind == OpKind::Linear) {
      uni(".weight", {10, 16}, 0.25);
      uni(".bias", {10}, 0.25);
    }
  }
  return w;
}

// A teacher that counts its forward calls.
class CountingModule : public nn::Module {
 public:
  explicit CountingModule(std::shared_ptr<nn::Module> inner) : inner_(registerModule("inner", inner)) {}
  Variable forward(const Variable& x) override {
    ++calls;
    return inner_->forward(x);
  }
  int calls = 0;

 private:
  std::shared_ptr<nn::Module> inner_;
};

}  // namespace

TEST(FineTune, DamagedRefnetRecoversAccuracy) {
  // Kept small for CI (2 x 40 refnet steps of 16 images): 640 training images, 300 validation images.
  const DataSplits& data = fmnist();
  auto model = buildModel(loadModelDef(kRefnet), 1);
  TrainOptions t;
  t.epochs = 1;
  t.batchSize = 16;  // small batches: enough steps for the BN running statistics to settle
  t.lr = 0.003;
  t.optimizer = "adamw";
  t.schedule = "constant";
  t.seed = 1;
  t.trainLimit = 640;
  t.evalLimit = 300;
  DataSplits small;
  small.mean = data.mean, small.std = data.std;
  small.train = data.train.subset([] {
    std::vector<int64_t> v(640);
    for (int i = 0; i < 640; ++i) v[size_t(i)] = i;
    return v;
  }(), "train640");
  small.val = data.val.subset([] {
    std::vector<int64_t> v(300);
    for (int i = 0; i < 300; ++i) v[size_t(i)] = i;
    return v;
  }(), "val300");
  trainModel(*model, small, t, "", false);
  GraphModule gm(model->toGraph(1), weightMapOf(*model));
  const double trained = evaluateAccuracy(gm, small.val, data.mean, data.std, 300);
  // Damage: noise of 1.5 x each conv weight tensor's RMS.
  Rng rng(2);
  for (auto& [name, v] : gm.namedParameters()) {
    if (v.shape().size() != 4) continue;
    Tensor& w = v.value();
    double ss = 0;
    for (int64_t i = 0; i < w.numel(); ++i) ss += double(w[i]) * w[i];
    const double rms = std::sqrt(ss / double(w.numel()));
    for (int64_t i = 0; i < w.numel(); ++i) w[i] += float(1.5 * rms * rng.normal());
  }
  const double damaged = evaluateAccuracy(gm, small.val, data.mean, data.std, 300);
  FineTuneOptions f;
  f.train = t;
  f.train.lr = 0.002;
  f.train.seed = 3;
  FineTuneResult r = fineTune(gm, small, f);
  std::printf("refnet val accuracy: trained %.3f, damaged %.3f, fine-tuned %.3f\n", trained, damaged, r.valAccuracy);
  EXPECT_GT(trained, 0.5);
  EXPECT_LT(damaged, trained - 0.15);
  EXPECT_GT(r.valAccuracy, damaged + 0.15);
  EXPECT_EQ(r.testAccuracy, -1);  // not asked
  EXPECT_EQ(r.train.steps, 40);
}

TEST(FineTune, CachedAndUncachedTeacherGiveIdenticalLossesCachedRunsTheTeacherOnce) {
  const DataSplits& data = fmnist();
  const Graph g = smallGraph();
  auto teacherNet = std::make_shared<GraphModule>(g, smallWeights(g, 7));
  auto run = [&](bool cache, int* teacherCalls, int64_t* forwards) {
    GraphModule student(g, smallWeights(g, 8));
    CountingModule teacher(teacherNet);
    FineTuneOptions f;
    f.train.epochs = 3;
    f.train.batchSize = 128;
    f.train.lr = 0.05;
    f.train.seed = 5;
    f.train.trainLimit = 512;
    f.teacher = &teacher;
    f.alpha = 0.7f;
    f.temperature = 3.f;
    f.cacheTeacher = cache;
    std::vector<double> losses;
    FineTuneResult r = fineTune(student, data, f, [&](const TrainProgress& p) { losses.push_back(p.loss); });
    *teacherCalls = teacher.calls;
    *forwards = r.teacherForwards;
    return std::make_pair(losses, weightMapOf(student));
  };
  int cachedCalls = 0, liveCalls = 0;
  int64_t cachedForwards = 0, liveForwards = 0;
  auto cached = run(true, &cachedCalls, &cachedForwards);
  auto live = run(false, &liveCalls, &liveForwards);
  ASSERT_EQ(cached.first.size(), 12u);  // 3 epochs x 512 / 128
  // The teacher's kernels round differently at batch 500 (cache) and 128 (live), so the
  // losses agree to float rounding, not bit for bit.
  double maxDiff = 0;
  for (size_t i = 0; i < cached.first.size(); ++i) maxDiff = std::max(maxDiff, std::fabs(cached.first[i] - live.first[i]));
  std::printf("cached vs live teacher: max loss difference %.3g\n", maxDiff);
  for (size_t i = 0; i < cached.first.size(); ++i) EXPECT_NEAR(cached.first[i], live.first[i], 1e-6) << i;
  for (auto& [name, t] : cached.second)
    for (size_t i = 0; i < t.values.size(); ++i)
      ASSERT_NEAR(t.values[i], live.second.at(name).values[i], 1e-5) << name << " " << i;
  // evalBatchSize 500: two forwards for 512 images, then none; live: one per step.
  EXPECT_EQ(cachedCalls, 2);
  EXPECT_EQ(cachedForwards, 2);
  EXPECT_EQ(liveCalls, 12);
  EXPECT_EQ(liveForwards, 12);
}

TEST(FineTune, TheLossIsKdLossAgainstTheTeacher) {
  const DataSplits& data = fmnist();
  const Graph g = smallGraph();
  GraphModule teacher(g, smallWeights(g, 7));
  teacher.train();  // fineTune runs it in eval mode and restores the mode
  FineTuneOptions f;
  f.train.maxSteps = 1;
  f.train.batchSize = 64;
  f.train.seed = 9;
  f.train.trainLimit = 256;
  f.teacher = &teacher;
  f.alpha = 0.6f;
  f.temperature = 2.f;
  // The first step's loss by hand: the loader's first batch, the student in train mode.
  GraphModule ref(g, smallWeights(g, 8));
  LoaderOptions lo;
  lo.batchSize = 64;
  lo.shuffle = true;
  lo.dropLast = true;
  lo.mean = data.mean;
  lo.std = data.std;
  lo.seed = 9;
  ImageDataset first = data.train.subset([] {
    std::vector<int64_t> v(256);
    for (int i = 0; i < 256; ++i) v[size_t(i)] = i;
    return v;
  }(), "first");
  BatchLoader loader(first, lo);
  Batch b = loader.get(0, 0);
  Tensor tl;
  {
    teacher.eval();
    NoGradGuard ng;
    tl = teacher.forward(Variable(b.x)).value();
    teacher.train();
  }
  ref.train();
  Variable sl = ref.forward(Variable(b.x));
  const double kd = ops::kdLoss(sl, tl, b.y, 2.f, 0.6f).value()[0];
  const double ce = ops::crossEntropy(sl, b.y).value()[0];

  GraphModule student(g, smallWeights(g, 8));
  double loss = -1;
  fineTune(student, data, f, [&](const TrainProgress& p) { loss = p.loss; });
  EXPECT_NEAR(loss, kd, 1e-6);
  EXPECT_GT(std::fabs(kd - ce), 1e-3);
  EXPECT_TRUE(teacher.isTraining());

  f.alpha = 1.5f;
  EXPECT_THROW(fineTune(student, data, f), InputError);
  f.alpha = 0.5f;
  Graph g5;
  int x = g5.addInput("input", {1, 1, 28, 28});
  g5.addLinear("fc", g5.addFlatten("flat", g5.addGlobalAvgPool("gap", x)), 5, true);
  GraphModule five(g5, {{"fc.weight", {{5, 1}, std::vector<float>(5, 0.1f)}}, {"fc.bias", {{5}, std::vector<float>(5, 0.f)}}});
  f.teacher = &five;
  EXPECT_THROW(fineTune(student, data, f), InputError);
}

TEST(FineTune, MasksStayZeroAndQatFineTuneGivesAQuantSpec) {
  const DataSplits& data = fmnist();
  const Graph g = smallGraph();
  GraphModule student(g, smallWeights(g, 8));
  Tensor mask = Tensor::empty({16, 8, 3, 3});
  Rng rng(4);
  for (int64_t i = 0; i < mask.numel(); ++i) mask[i] = rng.bernoulli(0.3) ? 0.f : 1.f;
  student.setWeightMask("c2.weight", mask);
  student.enableFakeQuant();
  FineTuneOptions f;
  f.train.maxSteps = 4;
  f.train.batchSize = 64;
  f.train.lr = 0.05;
  f.train.weightDecay = 1e-3;
  f.train.trainLimit = 256;
  f.reportTest = true;
  FineTuneResult r = fineTune(student, data, f);
  EXPECT_EQ(r.train.steps, 4);
  EXPECT_GE(r.testAccuracy, 0.0);
  WeightMap w = weightMapOf(student);
  const auto& c2 = w.at("c2.weight").values;
  for (int64_t i = 0; i < mask.numel(); ++i)
    if (mask[i] == 0.f) {
      ASSERT_EQ(c2[size_t(i)], 0.f) << i;
    }
  QuantSpec spec = student.quantSpec();
  EXPECT_EQ(spec.layers.size(), 3u);
  EXPECT_EQ(spec.layers.at("c2").weightScales.size(), 16u);
  EXPECT_GT(spec.layers.at("c1").inputScale, 0.f);
}

TEST(FineTune, SameResultAtOneAndTwoThreads) {
  const DataSplits& data = fmnist();
  const Graph g = smallGraph();
  GraphModule teacher(g, smallWeights(g, 7));
  auto run = [&](int threads) {
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, size_t(threads));
    GraphModule student(g, smallWeights(g, 8));
    student.enableFakeQuant();
    FineTuneOptions f;
    f.train.maxSteps = 3;
    f.train.batchSize = 64;
    f.train.seed = 11;
    f.train.trainLimit = 256;
    f.teacher = &teacher;
    fineTune(student, data, f);
    return std::make_pair(weightMapOf(student), student.quantSpec().toJson().dump());
  };
  auto a = run(1), b = run(2);
  EXPECT_EQ(a.second, b.second);
  for (auto& [name, t] : a.first) EXPECT_EQ(t.values, b.first.at(name).values) << name;
}
