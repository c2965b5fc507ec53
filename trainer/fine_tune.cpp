#include "trainer/fine_tune.h"

#include <chrono>
#include <cstring>

#include "core/error.h"
#include "trainer/ops.h"

namespace hwnas {

TrainOptions defaultFineTuneTrainOptions() {
  TrainOptions o;
  o.epochs = 1;
  o.lr = 0.01;
  o.optimizer = "sgd";
  o.schedule = "cosine";
  return o;
}

namespace {

ImageDataset firstN(const ImageDataset& data, int64_t n) {
  if (n <= 0 || n >= data.n) return data;
  std::vector<int64_t> first(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) first[size_t(i)] = i;
  return data.subset(first, data.name);
}

// Restores a module's train/eval mode on scope exit.
class ModeGuard {
 public:
  explicit ModeGuard(nn::Module& m) : m_(m), was_(m.isTraining()) {}
  ~ModeGuard() { m_.train(was_); }
  ModeGuard(const ModeGuard&) = delete;
  ModeGuard& operator=(const ModeGuard&) = delete;

 private:
  nn::Module& m_;
  bool was_;
};

}  // namespace

FineTuneResult fineTune(GraphModule& model, const DataSplits& data, const FineTuneOptions& o,
                        const std::function<void(const TrainProgress&)>& onProgress) {
  checkTrainOptions(o.train);
  if (o.teacher) {
    if (!(o.alpha >= 0.f && o.alpha <= 1.f))
      throw InputError("fine-tune: distillation alpha " + std::to_string(o.alpha) + " is not in [0, 1]");
    if (!(o.temperature > 0.f))
      throw InputError("fine-tune: distillation temperature " + std::to_string(o.temperature) + " must be > 0");
  }
  if (o.train.trainLimit < 0 || o.train.evalLimit < 0) throw InputError("--train-limit and --eval-limit must be >= 0");

  DataSplits d;
  d.mean = data.mean;
  d.std = data.std;
  d.train = firstN(data.train, o.train.trainLimit);
  d.val = firstN(data.val, o.train.evalLimit);
  if (o.reportTest) d.test = firstN(data.test, o.train.evalLimit);

  FineTuneResult result;
  TrainHooks hooks;
  Tensor cache;  // [train images, classes] teacher logits
  std::unique_ptr<ModeGuard> teacherMode;
  using Clock = std::chrono::steady_clock;
  const Shape& out = model.graph().node(model.graph().outputIds()[0]).shape;
  const int64_t classes = out.size() == 2 ? out[1] : -1;
  if (o.teacher) {
    teacherMode = std::make_unique<ModeGuard>(*o.teacher);
    o.teacher->eval();
    auto checkLogits = [classes](const Tensor& t, int64_t rows) {
      if (t.dim() != 2 || t.size(0) != rows || t.size(1) != classes)
        throw InputError("fine-tune: the teacher gives logits " + shapeToString(t.shape()) + " for " +
                         std::to_string(rows) + " images; the student gives [" + std::to_string(rows) + ", " +
                         std::to_string(classes) + "]: the teacher must have the student's classes");
    };
    if (o.cacheTeacher) {
      const auto t0 = Clock::now();
      NoGradGuard noGrad;
      const int64_t n = d.train.n, bs = o.train.evalBatchSize;
      for (int64_t b = 0; b < n; b += bs) {
        const int64_t e = std::min(n, b + bs);
        Tensor logits = o.teacher->forward(Variable(toTensor(d.train, b, e, d.mean, d.std))).value();
        ++result.teacherForwards;
        checkLogits(logits, e - b);
        if (!cache.defined()) cache = Tensor::empty({n, classes});
        std::memcpy(cache.data() + b * classes, logits.data(), sizeof(float) * size_t((e - b) * classes));
      }
      result.teacherSeconds += std::chrono::duration<double>(Clock::now() - t0).count();
    }
    hooks.loss = [&, checkLogits](const Variable& logits, const Batch& batch) {
      Tensor teacher;
      if (o.cacheTeacher) {
        const int64_t k = cache.size(1);
        teacher = Tensor::empty({int64_t(batch.index.size()), k});
        for (size_t i = 0; i < batch.index.size(); ++i)
          std::memcpy(teacher.data() + int64_t(i) * k, cache.data() + batch.index[i] * k, sizeof(float) * size_t(k));
      } else {
        const auto t0 = Clock::now();
        NoGradGuard noGrad;
        teacher = o.teacher->forward(Variable(batch.x)).value();
        ++result.teacherForwards;
        checkLogits(teacher, int64_t(batch.y.size()));
        result.teacherSeconds += std::chrono::duration<double>(Clock::now() - t0).count();
      }
      return ops::kdLoss(logits, teacher, batch.y, o.temperature, o.alpha);
    };
  }
  if (!model.weightMasks().empty()) hooks.afterStep = [&model] { model.applyMasks(); };

  result.train = trainModel(model, d, o.train, o.checkpointDir, false, onProgress, hooks);
  result.valAccuracy = result.train.valAccuracy;
  result.testAccuracy = o.reportTest ? result.train.testAccuracy : -1;
  return result;
}

}  // namespace hwnas
