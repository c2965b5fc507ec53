// Naive reference kernels for the pointwise activations, templated on the element type so the
// tests can run them in f64. The per-element functions actValue<A>/actDeriv<A> are also the
// definitions the fast f32 kernels (activation.cpp, batch_norm.cpp) inline into their loops.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "trainer/ops.h"

namespace hwnas::kernels {

using ops::Act;

// f(x) for activation A.
template <Act A, class T>
inline T actValue(T x) {
  if constexpr (A == Act::Identity) {
    return x;
  } else if constexpr (A == Act::ReLU) {
    return x > T(0) ? x : T(0);
  } else if constexpr (A == Act::ReLU6) {
    return std::min(std::max(x, T(0)), T(6));
  } else if constexpr (A == Act::HardSwish) {
    return x * std::min(std::max(x + T(3), T(0)), T(6)) / T(6);
  } else if constexpr (A == Act::HardSigmoid) {
    return std::min(std::max(x + T(3), T(0)), T(6)) / T(6);
  } else if constexpr (A == Act::SiLU) {
    return x / (T(1) + std::exp(-x));
  } else {
    return T(1) / (T(1) + std::exp(-x));
  }
}

// f'(x) for activation A, with PyTorch's conventions at the kinks (ReLU: 0 at 0; ReLU6: 0 at 0
// and 6; HardSwish: x/3+0.5 on [-3,3]; HardSigmoid: 1/6 on the open interval (-3,3)).
template <Act A, class T>
inline T actDeriv(T x) {
  if constexpr (A == Act::Identity) {
    return T(1);
  } else if constexpr (A == Act::ReLU) {
    return x > T(0) ? T(1) : T(0);
  } else if constexpr (A == Act::ReLU6) {
    return (x > T(0) && x < T(6)) ? T(1) : T(0);
  } else if constexpr (A == Act::HardSwish) {
    return x < T(-3) ? T(0) : (x <= T(3) ? x / T(3) + T(0.5) : T(1));
  } else if constexpr (A == Act::HardSigmoid) {
    return (x > T(-3) && x < T(3)) ? T(1) / T(6) : T(0);
  } else if constexpr (A == Act::SiLU) {
    T s = T(1) / (T(1) + std::exp(-x));
    return s * (T(1) + x * (T(1) - s));
  } else {
    T s = T(1) / (T(1) + std::exp(-x));
    return s * (T(1) - s);
  }
}

// Calls f(ActTag<A>{}) for the runtime activation a (one switch, outside any loop); inside f,
// `constexpr Act A = decltype(tag)::value;` recovers the compile-time activation.
template <Act A>
using ActTag = std::integral_constant<Act, A>;

template <class F>
inline decltype(auto) dispatchAct(Act a, F&& f) {
  switch (a) {
    case Act::Identity: return f(ActTag<Act::Identity>{});
    case Act::ReLU: return f(ActTag<Act::ReLU>{});
    case Act::ReLU6: return f(ActTag<Act::ReLU6>{});
    case Act::HardSwish: return f(ActTag<Act::HardSwish>{});
    case Act::HardSigmoid: return f(ActTag<Act::HardSigmoid>{});
    case Act::SiLU: return f(ActTag<Act::SiLU>{});
    case Act::Sigmoid: break;
  }
  return f(ActTag<Act::Sigmoid>{});
}

template <class T>
inline T actValueRef(Act a, T x) {
  switch (a) {
    case Act::Identity: return actValue<Act::Identity>(x);
    case Act::ReLU: return actValue<Act::ReLU>(x);
    case Act::ReLU6: return actValue<Act::ReLU6>(x);
    case Act::HardSwish: return actValue<Act::HardSwish>(x);
    case Act::HardSigmoid: return actValue<Act::HardSigmoid>(x);
    case Act::SiLU: return actValue<Act::SiLU>(x);
    case Act::Sigmoid: break;
  }
  return actValue<Act::Sigmoid>(x);
}

template <class T>
inline T actDerivRef(Act a, T x) {
  switch (a) {
    case Act::Identity: return actDeriv<Act::Identity>(x);
    case Act::ReLU: return actDeriv<Act::ReLU>(x);
    case Act::ReLU6: return actDeriv<Act::ReLU6>(x);
    case Act::HardSwish: return actDeriv<Act::HardSwish>(x);
    case Act::HardSigmoid: return actDeriv<Act::HardSigmoid>(x);
    case Act::SiLU: return actDeriv<Act::SiLU>(x);
    case Act::Sigmoid: break;
  }
  return actDeriv<Act::Sigmoid>(x);
}

// y[i] = f(x[i]).
template <class T>
void activationForwardRef(const T* x, int64_t n, Act a, T* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = actValueRef(a, x[i]);
}

// gx[i] = gy[i] * f'(x[i]).
template <class T>
void activationBackwardRef(const T* x, const T* gy, int64_t n, Act a, T* gx) {
  for (int64_t i = 0; i < n; ++i) gx[i] = gy[i] * actDerivRef(a, x[i]);
}

}  // namespace hwnas::kernels
