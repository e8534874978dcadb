// Activation functions, forward and backward, over row-major (rows × cols) blocks.
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

template <class T, class F>
inline void for_each_index(index_t n, F f) {
#pragma omp parallel for schedule(static) if (use_threads(n * 8))
  for (index_t i = 0; i < n; ++i) f(i);
}
}  // namespace

template <class T>
void activation_forward(Act act, double alpha_d, const T* z, T* y, index_t rows, index_t cols) {
  const index_t n = rows * cols;
  const T alpha = T(alpha_d);
  switch (act) {
    case Act::linear:
      if (y != z) std::copy(z, z + n, y);
      return;
    case Act::relu:
#pragma omp simd
      for (index_t i = 0; i < n; ++i) y[i] = z[i] > T(0) ? z[i] : T(0);
      return;
    case Act::leaky_relu:
#pragma omp simd
      for (index_t i = 0; i < n; ++i) y[i] = z[i] > T(0) ? z[i] : alpha * z[i];
      return;
    case Act::sigmoid:
      for_each_index<T>(n, [&](index_t i) { y[i] = sigmoid(z[i]); });
      return;
    case Act::tanh:
      for_each_index<T>(n, [&](index_t i) { y[i] = std::tanh(z[i]); });
      return;
    case Act::elu:
      for_each_index<T>(n, [&](index_t i) { y[i] = z[i] > T(0) ? z[i] : alpha * std::expm1(z[i]); });
      return;
    case Act::selu:
      for_each_index<T>(n, [&](index_t i) {
        y[i] = z[i] > T(0) ? T(kSeluScale) * z[i] : T(kSeluScale * kSeluAlpha) * std::expm1(z[i]);
      });
      return;
    case Act::softplus:
      for_each_index<T>(n, [&](index_t i) {
        y[i] = std::log1p(std::exp(-std::fabs(z[i]))) + std::max(z[i], T(0));
      });
      return;
    case Act::softmax:
#pragma omp parallel for schedule(static) if (use_threads(n * 8))
      for (index_t r = 0; r < rows; ++r) {
        const T* zr = z + r * cols;
        T* yr = y + r * cols;
        const T m = *std::max_element(zr, zr + cols);
        T s = T(0);
        for (index_t j = 0; j < cols; ++j) {
          yr[j] = std::exp(zr[j] - m);
          s += yr[j];
        }
        const T inv = T(1) / s;
        for (index_t j = 0; j < cols; ++j) yr[j] *= inv;
      }
      return;
  }
}

template <class T>
void activation_backward(Act act, double alpha_d, const T* z, const T* y, const T* dy, T* dz,
                         index_t rows, index_t cols) {
  const index_t n = rows * cols;
  const T alpha = T(alpha_d);
  switch (act) {
    case Act::linear:
      if (dz != dy) std::copy(dy, dy + n, dz);
      return;
    case Act::relu:
#pragma omp simd
      for (index_t i = 0; i < n; ++i) dz[i] = z[i] > T(0) ? dy[i] : T(0);
      return;
    case Act::leaky_relu:
#pragma omp simd
      for (index_t i = 0; i < n; ++i) dz[i] = z[i] > T(0) ? dy[i] : alpha * dy[i];
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
      for (index_t i = 0; i < n; ++i) dz[i] = z[i] > T(0) ? dy[i] : dy[i] * (y[i] + alpha);
      return;
    case Act::selu:
#pragma omp simd
      for (index_t i = 0; i < n; ++i)
        dz[i] = z[i] > T(0) ? T(kSeluScale) * dy[i] : dy[i] * (y[i] + T(kSeluScale * kSeluAlpha));
      return;
    case Act::softplus:
      for_each_index<T>(n, [&](index_t i) { dz[i] = dy[i] * sigmoid(z[i]); });
      return;
    case Act::softmax:
      for (index_t r = 0; r < rows; ++r) {
        const T* yr = y + r * cols;
        const T* dyr = dy + r * cols;
        T* dzr = dz + r * cols;
        T dot = T(0);
        for (index_t j = 0; j < cols; ++j) dot += dyr[j] * yr[j];
        for (index_t j = 0; j < cols; ++j) dzr[j] = yr[j] * (dyr[j] - dot);
      }
      return;
  }
}

template void activation_forward<float>(Act, double, const float*, float*, index_t, index_t);
template void activation_forward<double>(Act, double, const double*, double*, index_t, index_t);
template void activation_backward<float>(Act, double, const float*, const float*, const float*,
                                         float*, index_t, index_t);
template void activation_backward<double>(Act, double, const double*, const double*,
                                          const double*, double*, index_t, index_t);

DROPNET_ISA_END
