// hwnas side of the refnet comparison (bench/compare_refnet.py runs it beside PyTorch).
// Usage: refnet_bench MODE [--threads T] [--steps S] [--model configs/models/refnet.yaml]
//   train: time S training steps at batch 128 (after 5 warm-up steps); prints train_img_per_s, peak_rss_mb
//   infer: eval-mode forward; prints infer_b1_ms (median of 7 rounds of 300) and infer_b64_img_per_s
// Output: one `key value` per line, as bench/refnet_torch.py prints.
#include <sys/resource.h>
#include <tbb/global_control.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "trainer/data_loader.h"
#include "trainer/dataset.h"
#include "trainer/model_def.h"
#include "trainer/optim.h"
#include "trainer/schedule.h"

using namespace hwnas;
using Clock = std::chrono::steady_clock;

static double seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: refnet_bench train|infer [--threads T] [--steps S] [--model M]\n");
    return 2;
  }
  std::string mode = argv[1];
  int threads = 2, steps = 60;
  std::string modelPath = std::string(HWNAS_SOURCE_DIR) + "/configs/models/refnet.yaml";
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--threads") threads = std::atoi(argv[i + 1]);
    else if (k == "--steps") steps = std::atoi(argv[i + 1]);
    else if (k == "--model") modelPath = argv[i + 1];
    else {
      std::fprintf(stderr, "refnet_bench: unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, threads);
  ModelDef def = loadModelDef(modelPath);
  auto model = buildModel(def, 0);
  if (mode == "train") {
    ImageDataset train = loadFashionMnist("", true);
    LoaderOptions lo;
    lo.batchSize = 128;
    lo.mean = {kFashionMnistMean};
    lo.std = {kFashionMnistStd};
    lo.dropLast = true;
    BatchLoader loader(train, lo);
    auto groups = optim::makeParamGroups(model->namedParameters(), 4e-5f, false);
    optim::Sgd opt(std::move(groups), 0.9f, true);
    optim::CosineSchedule sched(0.1f, steps + 5);
    model->train();
    Batch batch;
    Clock::time_point t0 = Clock::now();
    for (int s = 0; s < steps + 5; ++s) {
      if (s == 5) t0 = Clock::now();
      loader.get(0, s % loader.batchesPerEpoch(), batch);
      Variable loss = ops::crossEntropy(model->forward(Variable(batch.x)), batch.y, 0.f);
      opt.zeroGrad();
      loss.backward();
      opt.step(sched.lr(s));
    }
    const double dt = seconds(t0, Clock::now());
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    std::printf("train_img_per_s %.1f\n", 128.0 * steps / dt);
    std::printf("peak_rss_mb %.1f\n", ru.ru_maxrss / 1024.0);
  } else if (mode == "infer") {
    model->eval();
    NoGradGuard ng;
    Tensor x64 = Tensor::empty({64, 1, 28, 28});
    Rng rng(1);
    for (int64_t i = 0; i < x64.numel(); ++i) x64[i] = (float)rng.normal();
    Tensor x1 = Tensor::fromVector({1, 1, 28, 28}, std::vector<float>(x64.data(), x64.data() + 784));
    for (int i = 0; i < 50; ++i) model->forward(Variable(x1));
    std::vector<double> rounds;
    for (int r = 0; r < 7; ++r) {
      auto t0 = Clock::now();
      for (int i = 0; i < 300; ++i) model->forward(Variable(x1));
      rounds.push_back(seconds(t0, Clock::now()) / 300 * 1e3);
    }
    std::sort(rounds.begin(), rounds.end());
    std::printf("infer_b1_ms %.4f\n", rounds[3]);
    for (int i = 0; i < 5; ++i) model->forward(Variable(x64));
    auto t0 = Clock::now();
    const int n = 40;
    for (int i = 0; i < n; ++i) model->forward(Variable(x64));
    std::printf("infer_b64_img_per_s %.1f\n", 64.0 * n / seconds(t0, Clock::now()));
  } else {
    std::fprintf(stderr, "refnet_bench: unknown mode %s (train | infer)\n", mode.c_str());
    return 2;
  }
  return 0;
}
