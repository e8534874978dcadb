// General matrix multiply shared by dense layers (and later conv and LSTM): a blocked
// driver over rows with an inner loop the compiler vectorizes for the build's ISA.
#include <algorithm>
#include <cstring>
#include <vector>

#include "dropnet/kernels.hpp"

DROPNET_ISA_BEGIN

namespace {

// Reads op(B)[k][j] into a dense K×N row-major panel when B is transposed, so the inner
// loop always streams contiguous rows of B.
template <class T>
const T* dense_b(bool trans_b, index_t N, index_t K, const T* B, index_t ldb,
                 std::vector<T>& scratch) {
  if (!trans_b && ldb == N) return B;
  scratch.resize(sz(K) * sz(N));
  for (index_t k = 0; k < K; ++k)
    for (index_t j = 0; j < N; ++j)
      scratch[sz(k * N + j)] = trans_b ? B[j * ldb + k] : B[k * ldb + j];
  return scratch.data();
}

// One row of C: c[j] = c[j] + a_k * b[k][j] for k in order, per column block so the
// running row stays in registers/L1. Each c[j] is a single in-order chain over k.
template <class T>
inline void gemm_row(const T* a, index_t a_stride, const T* Bd, index_t N, index_t K, T* c) {
  constexpr index_t NB = 256;
  for (index_t j0 = 0; j0 < N; j0 += NB) {
    const index_t jn = std::min(NB, N - j0);
    T* cr = c + j0;
    for (index_t k = 0; k < K; ++k) {
      const T av = a[k * a_stride];
      const T* br = Bd + k * N + j0;
#pragma omp simd
      for (index_t j = 0; j < jn; ++j) cr[j] += av * br[j];
    }
  }
}

// Narrow outputs (N < kDotMaxN, e.g. a single sigmoid unit): each C[i][j] is a dot
// product over k, summed in kLanes interleaved partial sums combined in a fixed tree.
// The path depends only on N, never on M or the thread count, so rows stay independent.
constexpr index_t kDotMaxN = 8;
constexpr int kLanes = 8;

template <class T>
inline T dot_lanes(const T* a, const T* b, index_t K) {
  T acc[kLanes] = {};
  index_t k = 0;
  for (; k + kLanes <= K; k += kLanes)
#pragma omp simd
    for (int l = 0; l < kLanes; ++l) acc[l] += a[k + l] * b[k + l];
  for (int l = 0; k + l < K; ++l) acc[l] += a[k + l] * b[k + l];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

template <class T>
void gemm_dot(bool trans_a, bool trans_b, index_t M, index_t N, index_t K, const T* A,
              index_t lda, const T* B, index_t ldb, T* C, index_t ldc, bool accumulate) {
  // op(B) columns as contiguous rows (N×K), and op(A) rows contiguous when A is transposed.
  std::vector<T> bt(sz(N * K));
  for (index_t j = 0; j < N; ++j)
    for (index_t k = 0; k < K; ++k) bt[sz(j * K + k)] = trans_b ? B[j * ldb + k] : B[k * ldb + j];
  std::vector<T> at;
  if (trans_a) {
    at.resize(sz(M * K));
    for (index_t k = 0; k < K; ++k)
      for (index_t i = 0; i < M; ++i) at[sz(i * K + k)] = A[k * lda + i];
  }
  const T* Ar = trans_a ? at.data() : A;
  const index_t ars = trans_a ? K : lda;
#pragma omp parallel for schedule(static) if (use_threads(M * N * K / 4) && M > 1)
  for (index_t i = 0; i < M; ++i)
    for (index_t j = 0; j < N; ++j) {
      const T d = dot_lanes(Ar + i * ars, bt.data() + j * K, K);
      C[i * ldc + j] = accumulate ? C[i * ldc + j] + d : d;
    }
}

}  // namespace

template <class T>
void gemm_ref(bool trans_a, bool trans_b, index_t M, index_t N, index_t K, const T* A,
              index_t lda, const T* B, index_t ldb, T* C, index_t ldc, bool accumulate) {
  if (N < kDotMaxN) {
    // The reference keeps the optimized kernel's summation order for narrow outputs.
    for (index_t i = 0; i < M; ++i)
      for (index_t j = 0; j < N; ++j) {
        std::vector<T> a(sz(K)), b(sz(K));
        for (index_t k = 0; k < K; ++k) {
          a[sz(k)] = trans_a ? A[k * lda + i] : A[i * lda + k];
          b[sz(k)] = trans_b ? B[j * ldb + k] : B[k * ldb + j];
        }
        const T d = dot_lanes(a.data(), b.data(), K);
        C[i * ldc + j] = accumulate ? C[i * ldc + j] + d : d;
      }
    return;
  }
  for (index_t i = 0; i < M; ++i)
    for (index_t j = 0; j < N; ++j) {
      T acc = accumulate ? C[i * ldc + j] : T(0);
      for (index_t k = 0; k < K; ++k) {
        const T a = trans_a ? A[k * lda + i] : A[i * lda + k];
        const T b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
        acc += a * b;
      }
      C[i * ldc + j] = acc;
    }
}

template <class T>
void gemm(bool trans_a, bool trans_b, index_t M, index_t N, index_t K, const T* A, index_t lda,
          const T* B, index_t ldb, T* C, index_t ldc, bool accumulate) {
  if (M <= 0 || N <= 0) return;
  if (!accumulate)
    for (index_t i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, T(0));
  if (K <= 0) return;
  if (N < kDotMaxN) {
    gemm_dot(trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc, accumulate);
    return;
  }
  std::vector<T> scratch;
  const T* Bd = dense_b(trans_b, N, K, B, ldb, scratch);
  const index_t a_stride = trans_a ? lda : 1;
  const bool par = use_threads(M * N * K / 4) && M > 1;
#pragma omp parallel for schedule(static) if (par)
  for (index_t i = 0; i < M; ++i) {
    const T* a = trans_a ? A + i : A + i * lda;
    gemm_row(a, a_stride, Bd, N, K, C + i * ldc);
  }
}

#define DROPNET_INSTANTIATE_GEMM(T)                                                          \
  template void gemm<T>(bool, bool, index_t, index_t, index_t, const T*, index_t, const T*,  \
                        index_t, T*, index_t, bool);                                         \
  template void gemm_ref<T>(bool, bool, index_t, index_t, index_t, const T*, index_t,        \
                            const T*, index_t, T*, index_t, bool);
DROPNET_INSTANTIATE_GEMM(float)
DROPNET_INSTANTIATE_GEMM(double)

DROPNET_ISA_END
