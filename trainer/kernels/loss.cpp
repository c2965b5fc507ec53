#include "trainer/kernels/loss.h"

#include <cmath>
#include <vector>

#include "trainer/kernels/parallel.h"

namespace hwnas::kernels {

namespace {

constexpr int64_t kRowGrain = 64;

// logp[k] = x[k]*scale - logsumexp(x*scale) in double.
void logSoftmaxRow(const float* x, int64_t K, double scale, double* logp) {
  double m = x[0] * scale;
  for (int64_t k = 1; k < K; ++k) m = std::max(m, x[k] * scale);
  double s = 0;
  for (int64_t k = 0; k < K; ++k) s += std::exp(x[k] * scale - m);
  const double lse = m + std::log(s);
  for (int64_t k = 0; k < K; ++k) logp[k] = x[k] * scale - lse;
}

double sumInOrder(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

}  // namespace

float crossEntropyForward(const float* logits, int64_t N, int64_t K, const int32_t* labels, float eps, float* grad) {
  std::vector<double> rowLoss(N);
  const double e = eps;
  parallelChunks(N, kRowGrain, [&](int64_t n0, int64_t n1) {
    std::vector<double> logp(K);
    for (int64_t n = n0; n < n1; ++n) {
      logSoftmaxRow(logits + n * K, K, 1.0, logp.data());
      double sumLogp = 0;
      for (int64_t k = 0; k < K; ++k) sumLogp += logp[k];
      const int32_t y = labels[n];
      rowLoss[n] = -(1.0 - e) * logp[y] - e / double(K) * sumLogp;
      if (grad)
        for (int64_t k = 0; k < K; ++k) {
          double target = e / double(K) + (k == y ? 1.0 - e : 0.0);
          grad[n * K + k] = (float)((std::exp(logp[k]) - target) / double(N));
        }
    }
  });
  return (float)(sumInOrder(rowLoss) / double(N));
}

float kdLossForward(const float* student, const float* teacher, int64_t N, int64_t K, const int32_t* labels,
                    float temperature, float alpha, float* grad) {
  std::vector<double> rowLoss(N);
  const double T = temperature, a = alpha;
  parallelChunks(N, kRowGrain, [&](int64_t n0, int64_t n1) {
    std::vector<double> ls(K), lt(K), lp(K);
    for (int64_t n = n0; n < n1; ++n) {
      logSoftmaxRow(student + n * K, K, 1.0 / T, ls.data());
      logSoftmaxRow(teacher + n * K, K, 1.0 / T, lt.data());
      logSoftmaxRow(student + n * K, K, 1.0, lp.data());
      double kl = 0;
      for (int64_t k = 0; k < K; ++k) {
        double pt = std::exp(lt[k]);
        if (pt > 0) kl += pt * (lt[k] - ls[k]);
      }
      const int32_t y = labels[n];
      rowLoss[n] = a * T * T * kl - (1.0 - a) * lp[y];
      if (grad)
        for (int64_t k = 0; k < K; ++k) {
          double soft = a * T * (std::exp(ls[k]) - std::exp(lt[k]));
          double hard = (1.0 - a) * (std::exp(lp[k]) - (k == y ? 1.0 : 0.0));
          grad[n * K + k] = (float)((soft + hard) / double(N));
        }
    }
  });
  return (float)(sumInOrder(rowLoss) / double(N));
}

}  // namespace hwnas::kernels
