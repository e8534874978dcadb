// Dense layer forward (bias + GEMM + activation) and backward (weight, bias, input grads).
#include <algorithm>

#include "dropnet/kernels.hpp"

DROPNET_ISA_BEGIN

// z = b + x·W, starting each output's multiply-add chain from its bias, then y = act(z).
// x (N×F), W (F×U), b (U) or null, z and y (N×U). Rows are independent.
template <class T>
void dense_forward(const T* x, const T* W, const T* b, T* z, T* y, index_t N, index_t F,
                   index_t U, Act act, double alpha) {
  if (b) {
    for (index_t i = 0; i < N; ++i) std::copy(b, b + U, z + i * U);
  }
  gemm<T>(false, false, N, U, F, x, F, W, U, z, U, b != nullptr);
  if (act != Act::linear || y != z) activation_forward<T>(act, alpha, z, y, N, U);
}

// dW (F×U) = xᵀ·dz, a chain over the batch rows in order; db (U) = column sums of dz in
// row order; dx (N×F) = dz·Wᵀ. Every sum runs in a fixed order whatever the thread count.
template <class T>
void dense_backward(const T* x, const T* W, const T* dz, T* dW, T* db, T* dx, index_t N,
                    index_t F, index_t U) {
  if (dW) gemm<T>(true, false, F, U, N, x, F, dz, U, dW, U, false);
  if (db) {
    std::fill(db, db + U, T(0));
    for (index_t i = 0; i < N; ++i) {
      const T* r = dz + i * U;
#pragma omp simd
      for (index_t j = 0; j < U; ++j) db[j] += r[j];
    }
  }
  if (dx) gemm<T>(false, true, N, F, U, dz, U, W, U, dx, F, false);
}

#define DROPNET_INSTANTIATE_DENSE(T)                                                       \
  template void dense_forward<T>(const T*, const T*, const T*, T*, T*, index_t, index_t,   \
                                 index_t, Act, double);                                   \
  template void dense_backward<T>(const T*, const T*, const T*, T*, T*, T*, index_t, index_t, \
                                  index_t);
DROPNET_INSTANTIATE_DENSE(float)
DROPNET_INSTANTIATE_DENSE(double)

DROPNET_ISA_END
