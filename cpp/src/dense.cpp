// Dense layer: fused forward (product, bias and activation in one pass over each output
// row while it is in cache) and backward (activation derivative fused with the bias
// gradient, then the two GEMMs for the weight and input gradients).
#include <algorithm>

#include "dropnet/kernels.hpp"

DROPNET_ISA_BEGIN

namespace {
// Fan-in up to which a row's outputs are accumulated in a stack block instead of by the
// general GEMM; wide outputs only (narrow ones take GEMM's dot-product path).
constexpr index_t kFusedMaxF = 64;
constexpr index_t kFusedMinU = 8;
constexpr index_t kBlock = 256;

// z[i, j0:j0+n] = Σ_k x[i,k]·W[k, j0+j] as one in-order chain per output, then + b.
template <class T>
inline void fused_row_block(const T* xr, const T* W, const T* b, index_t F, index_t U,
                            index_t j0, index_t n, T* zr) {
  T acc[kBlock];
  std::fill(acc, acc + n, T(0));
  for (index_t k = 0; k < F; ++k) {
    const T a = xr[k];
    const T* w = W + k * U + j0;
#pragma omp simd
    for (index_t j = 0; j < n; ++j) acc[j] += a * w[j];
  }
  if (b) {
#pragma omp simd
    for (index_t j = 0; j < n; ++j) zr[j0 + j] = acc[j] + b[j0 + j];
  } else {
    std::copy(acc, acc + n, zr + j0);
  }
}
}  // namespace

// x (N×F), W (F×U), b (U) or null, z and y (N×U). Every output is the in-order chain
// over k, then the bias, then the activation, whichever path runs; the path depends
// only on F and U, so each row's result is independent of N and the thread count.
template <class T>
void dense_forward(const T* x, const T* W, const T* b, T* z, T* y, index_t N, index_t F,
                   index_t U, Act act, double alpha) {
  const bool fused = F <= kFusedMaxF && U >= kFusedMinU;
  if (fused) {
    parallel_for(N, N > 1 && use_threads(N * F * U / 4), [&](index_t i) {
      const T* xr = x + i * F;
      T* zr = z + i * U;
      T* yr = y + i * U;
      for (index_t j0 = 0; j0 < U; j0 += kBlock) {
        const index_t n = std::min(kBlock, U - j0);
        fused_row_block(xr, W, b, F, U, j0, n, zr);
        if (act != Act::softmax) activation_forward_span<T>(act, alpha, zr + j0, yr + j0, n);
      }
      if (act == Act::softmax) activation_forward_span<T>(act, alpha, zr, yr, U);
    });
    return;
  }
  gemm<T>(false, false, N, U, F, x, F, W, U, z, U, false);
  parallel_for(N, N > 1 && use_threads(N * U * 4), [&](index_t i) {
    T* zr = z + i * U;
    if (b) {
#pragma omp simd
      for (index_t j = 0; j < U; ++j) zr[j] += b[j];
    }
    activation_forward_span<T>(act, alpha, zr, y + i * U, U);
  });
}

template <class T>
void dense_backward(const T* x, const T* W, const T* z, const T* y, const T* dy, T* dz, T* dW,
                    T* db, T* dx, index_t N, index_t F, index_t U, Act act, double alpha) {
  if (db) std::fill(db, db + U, T(0));
  // Rows in order so the bias gradient is the same sum whatever the thread count.
  for (index_t i = 0; i < N; ++i) {
    const index_t o = i * U;
    if (dz != dy) activation_backward_span<T>(act, alpha, z ? z + o : nullptr, y ? y + o : nullptr, dy + o, dz + o, U);
    if (db) {
      const T* r = dz + o;
#pragma omp simd
      for (index_t j = 0; j < U; ++j) db[j] += r[j];
    }
  }
  if (dW) gemm<T>(true, false, F, U, N, x, F, dz, U, dW, U, false);
  if (dx) gemm<T>(false, true, N, F, U, dz, U, W, U, dx, F, false);
}

#define DROPNET_INSTANTIATE_DENSE(T)                                                         \
  template void dense_forward<T>(const T*, const T*, const T*, T*, T*, index_t, index_t,     \
                                 index_t, Act, double);                                     \
  template void dense_backward<T>(const T*, const T*, const T*, const T*, const T*, T*, T*,  \
                                  T*, T*, index_t, index_t, index_t, Act, double);
DROPNET_INSTANTIATE_DENSE(float)
DROPNET_INSTANTIATE_DENSE(double)

DROPNET_ISA_END
