// Naive reference losses over logits [N,K], templated on the element type: cross-entropy with
// label smoothing (as torch.nn.functional.cross_entropy) and the distillation loss of ops.h.
// Each returns the batch-mean loss and, when grad is not null, d(loss)/d(logits).
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

namespace hwnas::kernels {

// logp[k] = x[k]*scale - logsumexp(x*scale), computed stably.
template <class T>
void logSoftmaxRowRef(const T* x, int64_t K, T scale, T* logp) {
  T m = x[0] * scale;
  for (int64_t k = 1; k < K; ++k) m = std::max(m, x[k] * scale);
  T s = 0;
  for (int64_t k = 0; k < K; ++k) s += std::exp(x[k] * scale - m);
  T lse = m + std::log(s);
  for (int64_t k = 0; k < K; ++k) logp[k] = x[k] * scale - lse;
}

// Target distribution: (1-eps)*onehot(label) + eps/K.
template <class T>
T crossEntropyRef(const T* logits, int64_t N, int64_t K, const int32_t* labels, T eps, T* grad) {
  std::vector<T> logp(K);
  T total = 0;
  for (int64_t n = 0; n < N; ++n) {
    logSoftmaxRowRef(logits + n * K, K, T(1), logp.data());
    T sumLogp = 0;
    for (int64_t k = 0; k < K; ++k) sumLogp += logp[k];
    total += -(T(1) - eps) * logp[labels[n]] - eps / T(K) * sumLogp;
    if (grad)
      for (int64_t k = 0; k < K; ++k) {
        T target = eps / T(K) + (k == labels[n] ? T(1) - eps : T(0));
        grad[n * K + k] = (std::exp(logp[k]) - target) / T(N);
      }
  }
  return total / T(N);
}

// alpha*T^2*KL(softmax(teacher/T) || softmax(student/T)) (batch mean) + (1-alpha)*CE(student, labels).
template <class T>
T kdLossRef(const T* student, const T* teacher, int64_t N, int64_t K, const int32_t* labels, T temperature, T alpha,
            T* grad) {
  std::vector<T> ls(K), lt(K), lp(K);
  T total = 0;
  const T invT = T(1) / temperature;
  for (int64_t n = 0; n < N; ++n) {
    logSoftmaxRowRef(student + n * K, K, invT, ls.data());
    logSoftmaxRowRef(teacher + n * K, K, invT, lt.data());
    logSoftmaxRowRef(student + n * K, K, T(1), lp.data());
    T kl = 0;
    for (int64_t k = 0; k < K; ++k) {
      T pt = std::exp(lt[k]);
      if (pt > T(0)) kl += pt * (lt[k] - ls[k]);
    }
    total += alpha * temperature * temperature * kl - (T(1) - alpha) * lp[labels[n]];
    if (grad)
      for (int64_t k = 0; k < K; ++k) {
        T soft = alpha * temperature * (std::exp(ls[k]) - std::exp(lt[k]));
        T hard = (T(1) - alpha) * (std::exp(lp[k]) - (k == labels[n] ? T(1) : T(0)));
        grad[n * K + k] = (soft + hard) / T(N);
      }
  }
  return total / T(N);
}

}  // namespace hwnas::kernels
