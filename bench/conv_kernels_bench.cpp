// Times the fast conv2d/linear kernels on every conv layer of the reference net (refnet,
// ../shared/anchors/refnet_def.py) at batch 128 (training: forward + backward) and batch 1
// (inference: forward only), against the naive reference kernels measured in the same run.
//
// usage: conv_kernels_bench [threads=2] [reps=9] [layer-name-filter]
#include <tbb/global_control.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "core/rng.h"
#include "trainer/kernels/conv.h"
#include "trainer/kernels/conv_ref.h"

using namespace hwnas;
using kernels::ConvGeometry;

namespace {

struct Layer {
  std::string name;
  int64_t cin, hw, cout, k, stride, groups;
  bool inputGrad;  // false for the stem: the image needs no gradient
};

ConvGeometry geometry(const Layer& l, int64_t batch) {
  ConvGeometry g;
  g.n = batch;
  g.cin = l.cin;
  g.h = g.w = l.hw;
  g.cout = l.cout;
  g.kh = g.kw = l.k;
  g.strideH = g.strideW = (int)l.stride;
  g.padH = g.padW = (int)(l.k / 2);
  g.groups = (int)l.groups;
  g.oh = kernels::convOutSize(g.h, g.kh, g.strideH, g.padH, 1);
  g.ow = kernels::convOutSize(g.w, g.kw, g.strideW, g.padW, 1);
  return g;
}

// Best (minimum) wall time in ms of fn over reps runs, after one warm-up run: the machine is
// shared, and the minimum filters out runs that were preempted.
double bestMs(int reps, const std::function<void()>& fn) {
  fn();
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return *std::min_element(t.begin(), t.end());
}

std::vector<float> randomData(int64_t n, Rng& rng) {
  std::vector<float> v((size_t)n);
  for (auto& x : v) x = (float)rng.uniform(-1.0, 1.0);
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 9;
  const std::string only = argc > 3 ? argv[3] : "";  // run only layers whose name contains this
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, (size_t)threads);

  // Every conv of refnet in network order: stem, 6 inverted-residual blocks (expand 4), head.
  std::vector<Layer> layers = {{"stem 1->16 3x3 @28", 1, 28, 16, 3, 1, 1, false}};
  int64_t cin = 16, hw = 28;
  const int64_t blocks[6][3] = {{24, 3, 2}, {24, 3, 1}, {40, 5, 2}, {40, 5, 1}, {80, 3, 2}, {80, 3, 1}};
  for (const auto& b : blocks) {
    const int64_t cout = b[0], k = b[1], s = b[2], h = cin * 4, ohw = (hw + 2 * (k / 2) - k) / s + 1;
    auto tag = [](int64_t a, int64_t c, int64_t x) {
      return std::to_string(a) + "->" + std::to_string(c) + " @" + std::to_string(x);
    };
    layers.push_back({"pw " + tag(cin, h, hw), cin, hw, h, 1, 1, 1, true});
    layers.push_back({"dw " + std::to_string(k) + "x" + std::to_string(k) + " s" + std::to_string(s) + " " +
                          std::to_string(h) + "ch @" + std::to_string(hw),
                      h, hw, h, k, s, h, true});
    layers.push_back({"pw " + tag(h, cout, ohw), h, ohw, cout, 1, 1, 1, true});
    cin = cout;
    hw = ohw;
  }
  layers.push_back({"pw " + std::to_string(cin) + "->256 @" + std::to_string(hw), cin, hw, 256, 1, 1, 1, true});

  const int64_t batch = 128, naiveBatch = 4;
  Rng rng(1);
  std::printf("conv kernels, refnet layers, %d threads, best of %d runs\n", threads, reps);
  std::printf("training: batch %lld forward + backward (grad input except the stem, grad weight); naive measured at\n"
              "batch %lld (forward + backward) and scaled to batch %lld for the ratio\n\n",
              (long long)batch, (long long)naiveBatch, (long long)batch);
  std::printf("%-24s %9s %9s %9s %8s %8s %8s %9s | %9s %8s\n", "layer", "MMACs", "fwd ms", "bwd ms", "fwd GF/s",
              "bwd GF/s", "all GF/s", "x naive", "b1 fwd us", "b1 GF/s");
  double totalFwd = 0, totalBwd = 0, totalB1 = 0;
  for (const Layer& l : layers) {
    if (!only.empty() && l.name.find(only) == std::string::npos) continue;
    const ConvGeometry g = geometry(l, batch);
    auto x = randomData(g.inputNumel(), rng), w = randomData(g.weightNumel(), rng),
         gy = randomData(g.outputNumel(), rng);
    std::vector<float> y((size_t)g.outputNumel()), gx((size_t)g.inputNumel()), gw((size_t)g.weightNumel());
    float* gxp = l.inputGrad ? gx.data() : nullptr;
    const double fwd = bestMs(reps, [&] { kernels::convForward(g, x.data(), w.data(), nullptr, y.data()); });
    const double bwd =
        bestMs(reps, [&] { kernels::convBackward(g, x.data(), w.data(), gy.data(), gxp, gw.data(), nullptr); });

    const ConvGeometry gn = geometry(l, naiveBatch);
    std::vector<float> yn((size_t)gn.outputNumel()), gxn((size_t)gn.inputNumel());
    const double naive = bestMs(1, [&] {
      kernels::convForwardRef<float>(gn, x.data(), w.data(), nullptr, yn.data());
      if (l.inputGrad) kernels::convBackwardDataRef<float>(gn, gy.data(), w.data(), gxn.data());
      kernels::convBackwardWeightRef<float>(gn, x.data(), gy.data(), gw.data(), nullptr);
    }) * (double)batch / naiveBatch;

    const ConvGeometry g1 = geometry(l, 1);
    const double b1 = bestMs(reps * 20, [&] { kernels::convForward(g1, x.data(), w.data(), nullptr, y.data()); });

    const double macs = (double)g.macs();
    const double bwdFlops = 2 * macs * (l.inputGrad ? 2 : 1);
    std::printf("%-24s %9.1f %9.3f %9.3f %8.1f %8.1f %8.1f %9.0f | %9.1f %8.1f\n", l.name.c_str(), macs / 1e6, fwd,
                bwd, 2 * macs / fwd / 1e6, bwdFlops / bwd / 1e6, (2 * macs + bwdFlops) / (fwd + bwd) / 1e6,
                naive / (fwd + bwd), b1 * 1e3, 2 * (double)g1.macs() / b1 / 1e6);
    totalFwd += fwd;
    totalBwd += bwd;
    totalB1 += b1;
  }
  // The classifier head.
  {
    const int64_t in = 256, out = 10;
    auto x = randomData(batch * in, rng), w = randomData(out * in, rng), gy = randomData(batch * out, rng);
    std::vector<float> y(batch * out), gx(batch * in), gw(out * in), gb(out);
    const double fwd = bestMs(reps, [&] { kernels::linearForward(batch, in, out, x.data(), w.data(), nullptr, y.data()); });
    const double bwd = bestMs(reps, [&] {
      kernels::linearBackward(batch, in, out, x.data(), w.data(), gy.data(), gx.data(), gw.data(), gb.data());
    });
    const double b1 = bestMs(reps * 20, [&] { kernels::linearForward(1, in, out, x.data(), w.data(), nullptr, y.data()); });
    std::printf("%-24s %9.1f %9.3f %9.3f %8s %8s %8s %9s | %9.1f\n", "linear 256->10", batch * in * out / 1e6, fwd, bwd,
                "", "", "", "", b1 * 1e3);
    totalFwd += fwd;
    totalBwd += bwd;
    totalB1 += b1;
  }
  std::printf("\nall refnet convs + linear, batch %lld: forward %.2f ms, backward %.2f ms, total %.2f ms "
              "(%.0f img/s for these kernels alone)\n",
              (long long)batch, totalFwd, totalBwd, totalFwd + totalBwd, batch * 1000.0 / (totalFwd + totalBwd));
  std::printf("batch-1 forward, all convs + linear: %.1f us\n", totalB1 * 1e3);
  return 0;
}
