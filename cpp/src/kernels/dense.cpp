// Dense layer: forward (GEMM with the bias added in its epilogue, then the activation per
// row) and backward (activation derivative fused with the bias gradient, then the two
// GEMMs for the weight and input gradients).
#include <algorithm>

#include "dropnet/kernels.hpp"

DROPNET_ISA_BEGIN

// x (N×F), W (F×U), b (U) or null, z and y (N×U). Every output is the in-order chain
// over k (gemm's contract), then the bias (added in the GEMM's register epilogue where
// it can be), then the activation over each row while it is still in cache.
template <class T>
void dense_forward(const T* x, const T* W, const T* b, T* z, T* y, index_t N, index_t F, index_t U,
                   Act act, double alpha) {
  // In place (the usual case: backward needs only y), relu is applied in the epilogue too.
  const bool relu_in_place = act == Act::relu && y == z;
  gemm_bias<T>(N, U, F, x, F, W, U, b, relu_in_place, z, U);
  if ((act == Act::linear || relu_in_place) && y == z) return;
  parallel_for(N, N > 1 && use_threads(N * U * 4),
               [&](index_t i) { activation_forward_span<T>(act, alpha, z + i * U, y + i * U, U); });
}

template <class T>
void dense_backward(const T* x, const T* W, const T* z, const T* y, const T* dy, T* dz, T* dW,
                    T* db, T* dx, index_t N, index_t F, index_t U, Act act, double alpha) {
  if (db) std::fill(db, db + U, T(0));
  // Rows in order so the bias gradient is the same sum whatever the thread count.
  for (index_t i = 0; i < N; ++i) {
    const index_t o = i * U;
    if (dz != dy)
      activation_backward_span<T>(act, alpha, z ? z + o : nullptr, y ? y + o : nullptr, dy + o,
                                  dz + o, U);
    if (db) {
      const T* r = dz + o;
#pragma omp simd
      for (index_t j = 0; j < U; ++j) db[j] += r[j];
    }
  }
  if (dW) gemm<T>(true, false, F, U, N, x, F, dz, U, dW, U, false);
  if (dx) gemm<T>(false, true, N, F, U, dz, U, W, U, dx, F, false);
}

#define DROPNET_INSTANTIATE_DENSE(T)                                                              \
  template void dense_forward<T>(const T*, const T*, const T*, T*, T*, index_t, index_t, index_t, \
                                 Act, double);                                                    \
  template void dense_backward<T>(const T*, const T*, const T*, const T*, const T*, T*, T*, T*,   \
                                  T*, index_t, index_t, index_t, Act, double);
DROPNET_INSTANTIATE_DENSE(float)
DROPNET_INSTANTIATE_DENSE(double)

DROPNET_ISA_END
