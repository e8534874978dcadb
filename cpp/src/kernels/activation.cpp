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
      for (index_t i = 0; i < n; ++i)
        y[i] = std::log1p(std::exp(-std::fabs(z[i]))) + std::max(z[i], T(0));
      return;
    case Act::softmax:
      softmax_row(z, y, n);
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
