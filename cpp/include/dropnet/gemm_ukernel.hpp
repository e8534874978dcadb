// GEMM micro-kernels: one R×NR tile of C = C + A·B over a run of k, with A and B either
// packed into panels or read in place through strides. AVX-512 in the x86-64-v4 build,
// AVX2+FMA in the x86-64-v3 build, plain C++ (vectorized by the compiler) in the baseline
// build. Included by gemm.cpp and conv.cpp (which reads its patches in place).
#pragma once
#include <algorithm>
#include <cmath>

#include "dropnet/common.hpp"

#if defined(__AVX512F__) && defined(__AVX512VL__) && defined(__AVX512BW__) && \
    defined(__AVX512DQ__) && defined(__FMA__)
#include <immintrin.h>
#define DROPNET_GEMM_AVX512 1
#define DROPNET_GEMM_SIMD 1
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define DROPNET_GEMM_AVX2 1
#define DROPNET_GEMM_SIMD 1
#endif

DROPNET_ISA_BEGIN
namespace gemm_detail {

// One step c + a·b of a multiply-add chain, as every N >= 8 path computes it: fused
// where the build's ISA has a fast fma (x86-64-v3), multiply then add otherwise. Spelled
// out so the reference cannot drift: an in-order vectorized reduction of `acc += a * b`
// would multiply separately and add, leaving only some steps fused.
template <class T>
inline T madd(T a, T b, T c) {
#if defined(__FP_FAST_FMA) && defined(__FP_FAST_FMAF)
  return std::fma(a, b, c);
#else
  return c + a * b;
#endif
}

// Tile shape per element type: MR rows × NR columns of C held in registers.
template <class T>
struct Tile;
#if defined(DROPNET_GEMM_AVX512)
template <>
struct Tile<float> {
  static constexpr int MR = 12, NR = 32;  // 24 zmm accumulators; 12 rows of C fit the
                                          // 12-way L1 sets when ldc is a power of two
};
template <>
struct Tile<double> {
  static constexpr int MR = 12, NR = 16;
};
#elif defined(DROPNET_GEMM_AVX2)
template <>
struct Tile<float> {
  static constexpr int MR = 6, NR = 16;  // 12 ymm accumulators
};
template <>
struct Tile<double> {
  static constexpr int MR = 6, NR = 8;
};
#else
template <>
struct Tile<float> {
  static constexpr int MR = 4, NR = 8;  // 8 xmm accumulators of the 16 SSE2 registers
};
template <>
struct Tile<double> {
  static constexpr int MR = 4, NR = 4;
};
#endif

// Operands of one tile. Packed: a holds R rows per k (a[k*R + r]) and b holds NR columns
// per k (b[k*NR + j], zero beyond the valid columns). In place: a[r*a_rs + k*a_ks] and
// b[k*b_ks + j] with only the nr valid columns readable. In place, k may also run in runs
// of k_run steps, a moving a_jump further after each run (a convolution's window rows in
// the padded input); 0 means one run of K.
template <class T>
struct TileArgs {
  index_t K;
  const T* a;
  index_t a_rs, a_ks;
  const T* b;
  index_t b_ks;
  T* c;
  index_t ldc;
  int nr;         // valid columns, 1..NR
  bool load_c;    // continue the chains from C; otherwise start from zero
  const T* bias;  // added to each row as the chains are stored (the whole k done), or null
  bool relu;      // then max(·, 0), NaN kept, like the activation kernel
  index_t k_run = 0;
  index_t a_jump = 0;
};

#ifdef DROPNET_GEMM_SIMD

// Thin wrappers so one kernel body serves every vector width and element type: W lanes,
// a lane mask type M (lanes l with first + l < n) for the edges, masked loads that never
// touch the masked-off lanes' memory and masked stores that leave it unwritten.
#ifdef DROPNET_GEMM_AVX512
struct VecF {
  using T = float;
  using V = __m512;
  using M = __mmask16;
  static constexpr int W = 16;
  static V zero() { return _mm512_setzero_ps(); }
  static V load(const T* p) { return _mm512_loadu_ps(p); }
  static V bcast(const T* p) { return _mm512_set1_ps(*p); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  // max(z, 0) with +0 for -0; NaN stays NaN (max_ps alone would give its second operand).
  static V relu(V a) {
    return _mm512_mask_mov_ps(_mm512_max_ps(a, zero()), _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q), a);
  }
  static void store(T* p, V v) { _mm512_storeu_ps(p, v); }
  static M all() { return M(0xFFFF); }
  static M mask(int first, int n) {
    const int k = std::clamp(n - first, 0, W);
    return M((1u << k) - 1u);
  }
  static V mload(const T* p, M m) { return _mm512_maskz_loadu_ps(m, p); }
  static void mstore(T* p, M m, V v) { _mm512_mask_storeu_ps(p, m, v); }
};
struct VecD {
  using T = double;
  using V = __m512d;
  using M = __mmask8;
  static constexpr int W = 8;
  static V zero() { return _mm512_setzero_pd(); }
  static V load(const T* p) { return _mm512_loadu_pd(p); }
  static V bcast(const T* p) { return _mm512_set1_pd(*p); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  static V add(V a, V b) { return _mm512_add_pd(a, b); }
  // max(z, 0) with +0 for -0; NaN stays NaN (max_pd alone would give its second operand).
  static V relu(V a) {
    return _mm512_mask_mov_pd(_mm512_max_pd(a, zero()), _mm512_cmp_pd_mask(a, a, _CMP_UNORD_Q), a);
  }
  static void store(T* p, V v) { _mm512_storeu_pd(p, v); }
  static M all() { return M(0xFF); }
  static M mask(int first, int n) {
    const int k = std::clamp(n - first, 0, W);
    return M((1u << k) - 1u);
  }
  static V mload(const T* p, M m) { return _mm512_maskz_loadu_pd(m, p); }
  static void mstore(T* p, M m, V v) { _mm512_mask_storeu_pd(p, m, v); }
};
#else
struct VecF {
  using T = float;
  using V = __m256;
  using M = __m256i;
  static constexpr int W = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const T* p) { return _mm256_loadu_ps(p); }
  static V bcast(const T* p) { return _mm256_broadcast_ss(p); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  // max(z, 0) with +0 for -0; NaN stays NaN (max_ps alone would give its second operand).
  static V relu(V a) {
    return _mm256_blendv_ps(_mm256_max_ps(a, zero()), a, _mm256_cmp_ps(a, a, _CMP_UNORD_Q));
  }
  static void store(T* p, V v) { _mm256_storeu_ps(p, v); }
  static M all() { return _mm256_set1_epi32(-1); }
  static M mask(int first, int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n - first),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static V mload(const T* p, M m) { return _mm256_maskload_ps(p, m); }
  static void mstore(T* p, M m, V v) { _mm256_maskstore_ps(p, m, v); }
};
struct VecD {
  using T = double;
  using V = __m256d;
  using M = __m256i;
  static constexpr int W = 4;
  static V zero() { return _mm256_setzero_pd(); }
  static V load(const T* p) { return _mm256_loadu_pd(p); }
  static V bcast(const T* p) { return _mm256_broadcast_sd(p); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static V add(V a, V b) { return _mm256_add_pd(a, b); }
  // max(z, 0) with +0 for -0; NaN stays NaN (max_pd alone would give its second operand).
  static V relu(V a) {
    return _mm256_blendv_pd(_mm256_max_pd(a, zero()), a, _mm256_cmp_pd(a, a, _CMP_UNORD_Q));
  }
  static void store(T* p, V v) { _mm256_storeu_pd(p, v); }
  static M all() { return _mm256_set1_epi32(-1); }
  static M mask(int first, int n) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n - first), _mm256_setr_epi64x(0, 1, 2, 3));
  }
  static V mload(const T* p, M m) { return _mm256_maskload_pd(p, m); }
  static void mstore(T* p, M m, V v) { _mm256_maskstore_pd(p, m, v); }
};
#endif

// R rows × 2 vectors of C; each lane is one fma chain over k in order. Columns past nr
// are masked off (kFullN false), so in-place B and C are never touched out of bounds.
template <class S, int R, bool kPacked, bool kFullN>
inline void gemm_rx2v(const TileArgs<typename S::T>& t) {
  using T = typename S::T;
  using V = typename S::V;
  constexpr int W = S::W;
  typename S::M m0 = S::all(), m1 = m0;
  if constexpr (!kFullN) {
    m0 = S::mask(0, t.nr);
    m1 = S::mask(W, t.nr);
  }
  V c0[R], c1[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    if (!t.load_c) {
      c0[r] = S::zero();
      c1[r] = S::zero();
    } else if constexpr (kFullN) {
      c0[r] = S::load(t.c + r * t.ldc);
      c1[r] = S::load(t.c + r * t.ldc + W);
    } else {
      c0[r] = S::mload(t.c + r * t.ldc, m0);
      c1[r] = S::mload(t.c + r * t.ldc + W, m1);
    }
  }
  const T* a = t.a;
  const T* b = t.b;
  const index_t a_rs = kPacked ? 1 : t.a_rs;
  const index_t a_ks = kPacked ? R : t.a_ks;
  const index_t b_ks = kPacked ? 2 * W : t.b_ks;
  // k steps [0, kn) from a and b, which move on with them.
  auto steps = [&](index_t kn) {
#pragma GCC unroll 4
    for (index_t k = 0; k < kn; ++k) {
#ifdef DROPNET_GEMM_AVX512
      // Packed panels outgrow L1 at this width: hint the k-steps a few ahead.
      if constexpr (kPacked) {
        __builtin_prefetch(a + 16 * R, 0, 3);
        __builtin_prefetch(b + 8 * 2 * W, 0, 3);
        __builtin_prefetch(b + 8 * 2 * W + W, 0, 3);
      }
#endif
      V b0, b1;
      if constexpr (kPacked || kFullN) {
        b0 = S::load(b);
        b1 = S::load(b + W);
      } else {
        b0 = S::mload(b, m0);
        b1 = S::mload(b + W, m1);
      }
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const V av = S::bcast(a + r * a_rs);
        c0[r] = S::fmadd(av, b0, c0[r]);
        c1[r] = S::fmadd(av, b1, c1[r]);
      }
      a += a_ks;
      b += b_ks;
    }
  };
  if (kPacked || t.k_run <= 0) {
    steps(t.K);
  } else {
    for (index_t k0 = 0; k0 < t.K; k0 += t.k_run) {
      steps(std::min(t.k_run, t.K - k0));
      a += t.a_jump;
    }
  }
  if (t.bias) {
    V bias0, bias1;
    if constexpr (kFullN) {
      bias0 = S::load(t.bias);
      bias1 = S::load(t.bias + W);
    } else {
      bias0 = S::mload(t.bias, m0);
      bias1 = S::mload(t.bias + W, m1);
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      c0[r] = S::add(c0[r], bias0);
      c1[r] = S::add(c1[r], bias1);
    }
  }
  if (t.relu) {
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      c0[r] = S::relu(c0[r]);
      c1[r] = S::relu(c1[r]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    if constexpr (kFullN) {
      S::store(t.c + r * t.ldc, c0[r]);
      S::store(t.c + r * t.ldc + W, c1[r]);
    } else {
      S::mstore(t.c + r * t.ldc, m0, c0[r]);
      S::mstore(t.c + r * t.ldc + W, m1, c1[r]);
    }
  }
}

#ifdef DROPNET_GEMM_AVX512
// The named kernels: up to 12 rows (R) × 32 floats or × 16 doubles.
template <int R, bool kPacked, bool kFullN>
inline void gemm_12x32__avx512(const TileArgs<float>& t) {
  gemm_rx2v<VecF, R, kPacked, kFullN>(t);
}
template <int R, bool kPacked, bool kFullN>
inline void gemm_12x16__avx512(const TileArgs<double>& t) {
  gemm_rx2v<VecD, R, kPacked, kFullN>(t);
}

template <int R, bool kPacked, bool kFullN>
inline void gemm_tile(const TileArgs<float>& t) {
  gemm_12x32__avx512<R, kPacked, kFullN>(t);
}
template <int R, bool kPacked, bool kFullN>
inline void gemm_tile(const TileArgs<double>& t) {
  gemm_12x16__avx512<R, kPacked, kFullN>(t);
}
#else
// The named kernels: up to 6 rows (R) × 16 floats or × 8 doubles.
template <int R, bool kPacked, bool kFullN>
inline void gemm_6x16__avx2(const TileArgs<float>& t) {
  gemm_rx2v<VecF, R, kPacked, kFullN>(t);
}
template <int R, bool kPacked, bool kFullN>
inline void gemm_6x8__avx2(const TileArgs<double>& t) {
  gemm_rx2v<VecD, R, kPacked, kFullN>(t);
}

template <int R, bool kPacked, bool kFullN>
inline void gemm_tile(const TileArgs<float>& t) {
  gemm_6x16__avx2<R, kPacked, kFullN>(t);
}
template <int R, bool kPacked, bool kFullN>
inline void gemm_tile(const TileArgs<double>& t) {
  gemm_6x8__avx2<R, kPacked, kFullN>(t);
}
#endif

#else  // baseline

// R rows × NR columns in a local accumulator block the compiler keeps in SSE2 registers;
// multiply then add, since the baseline ISA has no fma.
template <class T, int R, bool kPacked, bool kFullN>
inline void gemm_rxnr__generic(const TileArgs<T>& t) {
  constexpr int NR = Tile<T>::NR;
  const int nr = kFullN ? NR : t.nr;
  T acc[R][NR];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < NR; ++j) acc[r][j] = (t.load_c && j < nr) ? t.c[r * t.ldc + j] : T(0);
  const T* a = t.a;
  const T* b = t.b;
  const index_t a_rs = kPacked ? 1 : t.a_rs;
  const index_t a_ks = kPacked ? R : t.a_ks;
  const index_t b_ks = kPacked ? NR : t.b_ks;
  const index_t run = kPacked || t.k_run <= 0 ? t.K : t.k_run;
  const index_t a_jump = kPacked ? 0 : t.a_jump;
  for (index_t k0 = 0; k0 < t.K; k0 += run) {
    const index_t kn = std::min(run, t.K - k0);
    for (index_t k = 0; k < kn; ++k) {
      T bk[NR];
      for (int j = 0; j < NR; ++j) bk[j] = (kPacked || j < nr) ? b[j] : T(0);
      for (int r = 0; r < R; ++r) {
        const T av = a[r * a_rs];
        for (int j = 0; j < NR; ++j) acc[r][j] = madd(av, bk[j], acc[r][j]);
      }
      a += a_ks;
      b += b_ks;
    }
    a += a_jump;
  }
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < nr; ++j) {
      T v = t.bias ? acc[r][j] + t.bias[j] : acc[r][j];
      if (t.relu) v = v > T(0) || v != v ? v : T(0);
      t.c[r * t.ldc + j] = v;
    }
}

template <int R, bool kPacked, bool kFullN>
inline void gemm_4x8__generic(const TileArgs<float>& t) {
  gemm_rxnr__generic<float, R, kPacked, kFullN>(t);
}
template <int R, bool kPacked, bool kFullN>
inline void gemm_4x4__generic(const TileArgs<double>& t) {
  gemm_rxnr__generic<double, R, kPacked, kFullN>(t);
}

template <int R, bool kPacked, bool kFullN>
inline void gemm_tile(const TileArgs<float>& t) {
  gemm_4x8__generic<R, kPacked, kFullN>(t);
}
template <int R, bool kPacked, bool kFullN>
inline void gemm_tile(const TileArgs<double>& t) {
  gemm_4x4__generic<R, kPacked, kFullN>(t);
}

#endif

// Runs the tile kernel for r (1..MR) rows; full selects the unmasked column path.
template <class T, bool kPacked>
inline void run_tile(int r, bool full, const TileArgs<T>& t) {
  static_assert(Tile<T>::MR <= 16, "run_tile dispatches up to 16 rows");
  switch (r) {
#define DROPNET_GEMM_CASE(R)             \
  case R:                                \
    if constexpr (R <= Tile<T>::MR) {    \
      if (full)                          \
        gemm_tile<R, kPacked, true>(t);  \
      else                               \
        gemm_tile<R, kPacked, false>(t); \
    }                                    \
    break;
    DROPNET_GEMM_CASE(1)
    DROPNET_GEMM_CASE(2)
    DROPNET_GEMM_CASE(3)
    DROPNET_GEMM_CASE(4)
    DROPNET_GEMM_CASE(5)
    DROPNET_GEMM_CASE(6)
    DROPNET_GEMM_CASE(7)
    DROPNET_GEMM_CASE(8)
    DROPNET_GEMM_CASE(9)
    DROPNET_GEMM_CASE(10)
    DROPNET_GEMM_CASE(11)
    DROPNET_GEMM_CASE(12)
    DROPNET_GEMM_CASE(13)
    DROPNET_GEMM_CASE(14)
    DROPNET_GEMM_CASE(15)
    DROPNET_GEMM_CASE(16)
#undef DROPNET_GEMM_CASE
    default:
      break;
  }
}

}  // namespace gemm_detail
DROPNET_ISA_END
