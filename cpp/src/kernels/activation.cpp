// Activation functions, forward and backward: serial span kernels (used inside fused
// dense loops) and drivers over row-major (rows × cols) blocks that split rows across
// threads. Softmax runs along each row.
#include <algorithm>
#include <cmath>

#include "dropnet/kernels.hpp"

DROPNET_ISA_BEGIN

namespace {
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;

template <class T>
inline T sigmoid(T z) {
  if (z >= T(0)) return T(1) / (T(1) + std::exp(-z));
  const T e = std::exp(z);
  return e / (T(1) + e);
}

template <class T>
inline T softplus(T z) {
  return std::log1p(std::exp(-std::fabs(z))) + std::max(z, T(0));
}

// Keras 3's hard sigmoid: relu6(z + 3) / 6.
template <class T>
inline T hard_sigmoid(T z) {
  return std::min(std::max(z + T(3), T(0)), T(6)) / T(6);
}

// The standard normal distribution function, for the exact GELU.
template <class T>
inline T normal_cdf(T z) {
  return T(0.5) * (T(1) + std::erf(z * T(0.70710678118654752440)));
}

template <class T>
void softmax_row(const T* z, T* y, index_t n) {
  const T m = *std::max_element(z, z + n);
  T s = T(0);
  for (index_t j = 0; j < n; ++j) {
    y[j] = std::exp(z[j] - m);
    s += y[j];
  }
  const T inv = T(1) / s;
  for (index_t j = 0; j < n; ++j) y[j] *= inv;
}

template <class T>
void softmax_row_backward(const T* y, const T* dy, T* dz, index_t n) {
  T dot = T(0);
  for (index_t j = 0; j < n; ++j) dot += dy[j] * y[j];
  for (index_t j = 0; j < n; ++j) dz[j] = y[j] * (dy[j] - dot);
}

// Rows per parallel chunk so each thread gets a contiguous, sizeable piece.
inline bool split_rows(index_t rows, index_t cols) {
  return rows > 1 && use_threads(rows * cols * 4);
}
}  // namespace

template <class T>
void activation_forward_span(Act act, double alpha_d, const T* z, T* y, index_t n) {
  const T alpha = T(alpha_d);
  switch (act) {
    case Act::linear:
      if (y != z) std::copy(z, z + n, y);
      return;
    case Act::relu:
#pragma omp simd
      for (index_t i = 0; i < n; ++i) y[i] = z[i] > T(0) || z[i] != z[i] ? z[i] : T(0);  // NaN kept
      return;
    case Act::leaky_relu:
#pragma omp simd
      for (index_t i = 0; i < n; ++i) y[i] = z[i] > T(0) ? z[i] : alpha * z[i];
      return;
    case Act::sigmoid:
      for (index_t i = 0; i < n; ++i) y[i] = sigmoid(z[i]);
      return;
    case Act::tanh:
      for (index_t i = 0; i < n; ++i) y[i] = std::tanh(z[i]);
      return;
    case Act::elu:
      for (index_t i = 0; i < n; ++i) y[i] = z[i] > T(0) ? z[i] : alpha * std::expm1(z[i]);
      return;
    case Act::selu:
      for (index_t i = 0; i < n; ++i)
        y[i] = z[i] > T(0) ? T(kSeluScale) * z[i] : T(kSeluScale * kSeluAlpha) * std::expm1(z[i]);
      return;
    case Act::softplus:
      for (index_t i = 0; i < n; ++i) y[i] = softplus(z[i]);
      return;
    case Act::softmax:
      softmax_row(z, y, n);
      return;
    case Act::hard_sigmoid:
      for (index_t i = 0; i < n; ++i) y[i] = hard_sigmoid(z[i]);
      return;
    case Act::softsign:
      for (index_t i = 0; i < n; ++i) y[i] = z[i] / (std::fabs(z[i]) + T(1));
      return;
    case Act::silu:
      for (index_t i = 0; i < n; ++i) y[i] = z[i] * sigmoid(z[i]);
      return;
    case Act::gelu:
      for (index_t i = 0; i < n; ++i) y[i] = z[i] * normal_cdf(z[i]);
      return;
    case Act::exponential:
      for (index_t i = 0; i < n; ++i) y[i] = std::exp(z[i]);
      return;
    case Act::relu6:
      for (index_t i = 0; i < n; ++i) y[i] = std::min(std::max(z[i], T(0)), T(6));
      return;
    case Act::mish:
      for (index_t i = 0; i < n; ++i) y[i] = z[i] * std::tanh(softplus(z[i]));
      return;
    case Act::hard_silu:
      for (index_t i = 0; i < n; ++i) y[i] = z[i] * hard_sigmoid(z[i]);
      return;
  }
}

template <class T>
void activation_backward_span(Act act, double alpha_d, const T* z, const T* y, const T* dy, T* dz,
                              index_t n) {
  const T alpha = T(alpha_d);
  switch (act) {
    case Act::linear:
      if (dz != dy) std::copy(dy, dy + n, dz);
      return;
    case Act::relu:
#pragma omp simd
      for (index_t i = 0; i < n; ++i) dz[i] = y[i] > T(0) ? dy[i] : T(0);
      return;
    case Act::leaky_relu:
#pragma omp simd
      for (index_t i = 0; i < n; ++i) dz[i] = y[i] > T(0) ? dy[i] : alpha * dy[i];
      return;
    case Act::sigmoid:
#pragma omp simd
      for (index_t i = 0; i < n; ++i) dz[i] = dy[i] * y[i] * (T(1) - y[i]);
      return;
    case Act::tanh:
#pragma omp simd
      for (index_t i = 0; i < n; ++i) dz[i] = dy[i] * (T(1) - y[i] * y[i]);
      return;
    case Act::elu:
#pragma omp simd
      for (index_t i = 0; i < n; ++i) dz[i] = y[i] > T(0) ? dy[i] : dy[i] * (y[i] + alpha);
      return;
    case Act::selu:
#pragma omp simd
      for (index_t i = 0; i < n; ++i)
        dz[i] = y[i] > T(0) ? T(kSeluScale) * dy[i] : dy[i] * (y[i] + T(kSeluScale * kSeluAlpha));
      return;
    case Act::softplus:
      for (index_t i = 0; i < n; ++i) dz[i] = dy[i] * sigmoid(z[i]);
      return;
    case Act::softmax:
      softmax_row_backward(y, dy, dz, n);
      return;
    case Act::hard_sigmoid:  // 1/6 between the kinks at ±3
      for (index_t i = 0; i < n; ++i) dz[i] = y[i] > T(0) && y[i] < T(1) ? dy[i] / T(6) : T(0);
      return;
    case Act::softsign:  // 1 / (1 + |z|)² = (1 − |y|)²
      for (index_t i = 0; i < n; ++i) {
        const T d = T(1) - std::fabs(y[i]);
        dz[i] = dy[i] * d * d;
      }
      return;
    case Act::silu:  // σ(z)(1 + z(1 − σ(z)))
      for (index_t i = 0; i < n; ++i) {
        const T s = sigmoid(z[i]);
        dz[i] = dy[i] * s * (T(1) + z[i] * (T(1) - s));
      }
      return;
    case Act::gelu:  // Φ(z) + z·φ(z)
      for (index_t i = 0; i < n; ++i)
        dz[i] = dy[i] * (normal_cdf(z[i]) +
                         z[i] * T(0.39894228040143267794) * std::exp(T(-0.5) * z[i] * z[i]));
      return;
    case Act::exponential:
      for (index_t i = 0; i < n; ++i) dz[i] = dy[i] * y[i];
      return;
    case Act::relu6:
      for (index_t i = 0; i < n; ++i) dz[i] = y[i] > T(0) && y[i] < T(6) ? dy[i] : T(0);
      return;
    case Act::mish:  // tanh(sp(z)) + z·(1 − tanh²(sp(z)))·σ(z)
      for (index_t i = 0; i < n; ++i) {
        const T t = std::tanh(softplus(z[i]));
        dz[i] = dy[i] * (t + z[i] * (T(1) - t * t) * sigmoid(z[i]));
      }
      return;
    case Act::hard_silu:  // hs(z) + z/6 between the kinks at ±3
      for (index_t i = 0; i < n; ++i) {
        const T inside = z[i] > T(-3) && z[i] < T(3) ? z[i] / T(6) : T(0);
        dz[i] = dy[i] * (hard_sigmoid(z[i]) + inside);
      }
      return;
  }
}

template <class T>
void activation_forward(Act act, double alpha, const T* z, T* y, index_t rows, index_t cols) {
  if (act == Act::linear && y == z) return;
  parallel_for(rows, split_rows(rows, cols), [&](index_t r) {
    activation_forward_span<T>(act, alpha, z + r * cols, y + r * cols, cols);
  });
}

template <class T>
void activation_backward(Act act, double alpha, const T* z, const T* y, const T* dy, T* dz,
                         index_t rows, index_t cols) {
  parallel_for(rows, split_rows(rows, cols), [&](index_t r) {
    const index_t o = r * cols;
    activation_backward_span<T>(act, alpha, z ? z + o : nullptr, y ? y + o : nullptr, dy + o,
                                dz + o, cols);
  });
}

#define DROPNET_INSTANTIATE_ACT(T)                                                             \
  template void activation_forward_span<T>(Act, double, const T*, T*, index_t);                \
  template void activation_backward_span<T>(Act, double, const T*, const T*, const T*, T*,     \
                                            index_t);                                          \
  template void activation_forward<T>(Act, double, const T*, T*, index_t, index_t);            \
  template void activation_backward<T>(Act, double, const T*, const T*, const T*, T*, index_t, \
                                       index_t);
DROPNET_INSTANTIATE_ACT(float)
DROPNET_INSTANTIATE_ACT(double)

DROPNET_ISA_END
