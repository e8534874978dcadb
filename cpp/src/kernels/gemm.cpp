// General matrix multiply shared by dense layers (and later conv and LSTM): cache-blocked
// drivers over packed or in-place panels around the register-tile micro-kernels of
// gemm_ukernel.hpp, a dot-product path for narrow outputs, and the plain reference.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "dropnet/dispatch.hpp"
#include "dropnet/gemm_ukernel.hpp"
#include "dropnet/kernels.hpp"

DROPNET_ISA_BEGIN

namespace {

// ---- Tiled path for N >= kDotMaxN.
//
// C(M×N) = [C +] op(A)·op(B); op(A) is M×K (A[i*lda + k], or A[k*lda + i] when trans_a),
// op(B) is K×N (B[k*ldb + j], or B[j*ldb + k] when trans_b), C is M×N with stride ldc.
// Every C[i][j] is one fma chain (mul + add in the baseline build) over k = 0..K-1 in
// order, started from C (accumulate) or zero. The micro-kernel holds an R×NR tile of
// chains in registers; when k is split into blocks of KC, the next block reloads the
// partial sums from C, which are stored in T, so the chain continues unchanged. Hence
// every blocking, path and thread count gives the same bits as gemm_ref.
//
// Two paths, chosen by M, N, K and the transpositions (both run the same chains):
// * direct: one row panel (M <= MR), small op(B) or very short k: A is read in place
//   through strides and B in place (a dense K×N copy first when trans_b), whole k in one
//   pass per tile;
// * packed: k in blocks of KC, columns in blocks of NC. Per (NC, KC) block the team packs
//   op(B) into NR-column panels (shared), then each thread packs an MC×KC block of op(A)
//   into R-row panels (its own buffer) and sweeps the micro-kernel over it, B panels
//   outer so one B panel stays in L1 while A panels stream from L2.
// Threads (OpenMP, schedule(static), above the use_threads threshold) split independent
// blocks of rows and, when there are too few row blocks, of columns; no k is split.
// Scratch is per call: one packed B block shared by the team, one A block per thread.
using gemm_detail::run_tile;
using gemm_detail::Tile;
using gemm_detail::TileArgs;

constexpr index_t kDotMaxN = 8;

// Block sizes of the packed path, chosen once per process from this CPU's caches (the
// OS's figures, dispatch.cpp), never from a table of parts:
// * KC: with the AVX-512 kernel, which prefetches its panels ahead, an R×KC panel of
//   packed A fills three quarters of L1d and the KC×NR panel of B streams past it from L2;
//   the other kernels do not prefetch, so their B panel is the one kept in L1d (half of it);
// * MC: an MC×KC block of packed A takes a twelfth of L2, so it stays there beside the B
//   panels that each of its R-row panels meets in turn;
// * NC: a KC×NC block of packed B takes half of the thread's share of the last level, up
//   to 3072 columns.
// On a 48 KiB L1d / 2 MiB L2 core that is KC 768, MC 48 for AVX-512 float, the best of
// those measured there. Blocking never changes a result (every k block continues the
// chains from C), only how fast it comes.
struct Blocking {
  index_t kc, mc, nc;
};

inline index_t round_to(index_t v, index_t step, index_t lo, index_t hi) {
  return std::clamp(v / step * step, lo, hi);
}

template <class T>
Blocking choose_blocking() {
  constexpr index_t MR = Tile<T>::MR, NR = Tile<T>::NR, bytes = sizeof(T);
  const CacheSizes& caches = cpu_caches();
  Blocking b{};
#ifdef DROPNET_GEMM_AVX512
  b.kc = round_to(caches.l1d * 3 / 4 / (MR * bytes), 64, 128, 1024);
#else
  b.kc = round_to(caches.l1d / 2 / (NR * bytes), 64, 128, 1024);
#endif
  b.mc = round_to(caches.l2 / 12 / (b.kc * bytes), MR, MR, 32 * MR);
  b.nc = round_to(caches.l3_per_core / 2 / (b.kc * bytes), NR, 8 * NR, 3072);
  return b;
}

template <class T>
const Blocking& blocking() {
  static const Blocking b = choose_blocking<T>();
  return b;
}

constexpr index_t ceil_div(index_t a, index_t b) { return (a + b - 1) / b; }

// Splits an mu × nu grid of work units into mt × nt tasks for `threads` threads, rows
// first: columns are split only when there are fewer row units than threads.
inline void split_tasks(index_t mu, index_t nu, int threads, index_t& mt, index_t& nt) {
  mt = mu;
  nt = 1;
  if (threads <= 1) return;
  if (mu < 2 * threads) nt = std::min(nu, ceil_div(2 * threads, std::max<index_t>(mu, 1)));
}

// The direct path when op(B) fits in L2 with room to spare (its panels are re-read from
// there for every row panel), or k is too short for packing to pay off, or op(B) is
// narrow: with a few column panels each element of A feeds only a few FMAs, so packing
// A would cost more than reading it in place (im2col products: N = filters, K = patch).
template <class T>
bool use_direct(index_t N, index_t K) {
  const index_t bytes = N * K * static_cast<index_t>(sizeof(T));
  return K <= 4 || bytes <= (64 << 10) || (N <= 64 && bytes <= (512 << 10));
}

// dst (cols × rows) = transpose of src (rows × cols, leading dimension ld), in 8×8 blocks
// so both sides move along cache lines.
template <class T>
void transpose_into(const T* src, index_t ld, index_t rows, index_t cols, T* dst) {
  constexpr index_t kB = 8;
  for (index_t i0 = 0; i0 < rows; i0 += kB) {
    const index_t i1 = std::min(rows, i0 + kB);
    for (index_t j0 = 0; j0 < cols; j0 += kB) {
      const index_t j1 = std::min(cols, j0 + kB);
      for (index_t i = i0; i < i1; ++i)
        for (index_t j = j0; j < j1; ++j) dst[j * rows + i] = src[i * ld + j];
    }
  }
}

template <class T>
void gemm_direct(bool trans_a, bool trans_b, index_t M, index_t N, index_t K, const T* A,
                 index_t lda, const T* B, index_t ldb, T* C, index_t ldc, bool accumulate,
                 const T* bias = nullptr, bool relu = false) {
  constexpr int MR = Tile<T>::MR, NR = Tile<T>::NR;
  // A dense K×N copy of op(B) when trans_b: in a per-thread buffer reused across calls when
  // small (small models transpose a weight matrix every step), else in one freed on return
  // (it lives as long as the call reads it), so no thread keeps a large matrix's copy after
  // the model is gone.
  std::vector<T> large;
  if (trans_b) {
    constexpr std::size_t kKeep = (std::size_t(1) << 20) / sizeof(T);
    static thread_local std::vector<T> bt;
    const std::size_t need = sz(K) * sz(N);
    std::vector<T>& buf = need <= kKeep ? bt : large;
    if (buf.size() < need) buf.resize(need);
    transpose_into(B, ldb, N, K, buf.data());
    B = buf.data();
    ldb = N;
  }
  const index_t a_rs = trans_a ? 1 : lda, a_ks = trans_a ? lda : 1;
  const index_t mu = ceil_div(M, MR), nu = ceil_div(N, NR);
  const int threads = use_threads(M * N * K / 4) ? max_threads() : 1;
  index_t mt, nt;
  split_tasks(mu, nu, threads, mt, nt);
  parallel_for(mt * nt, threads > 1, [&](index_t task) {
    const index_t tm = task / nt, tn = task % nt;
    const index_t u0 = tm * mu / mt, u1 = (tm + 1) * mu / mt;
    const index_t v0 = tn * nu / nt, v1 = (tn + 1) * nu / nt;
    for (index_t u = u0; u < u1; ++u) {
      const index_t i = u * MR;
      const int r = static_cast<int>(std::min<index_t>(MR, M - i));
      for (index_t v = v0; v < v1; ++v) {
        const index_t j = v * NR;
        const int nr = static_cast<int>(std::min<index_t>(NR, N - j));
        const TileArgs<T> t{K,
                            A + i * a_rs,
                            a_rs,
                            a_ks,
                            B + j,
                            ldb,
                            C + i * ldc + j,
                            ldc,
                            nr,
                            accumulate,
                            bias ? bias + j : nullptr,
                            relu};
        run_tile<T, false>(r, nr == NR, t);
      }
    }
  });
}

// A packed op(B) block (kc × nc from row pc, column jc) is a row of NR-column panels,
// panel p holding b[p*NR*kc + k*NR + j], zero beyond column nc.
constexpr index_t kPackRows = 8;

// Rows k0..k0+kPackRows (clipped to kc) of an untransposed block into every panel. A few
// source rows at a time: reads stream along rows and each panel receives a contiguous
// run (one row at a time would scatter stores to panels 4 KiB-aliased in L1).
template <class T>
void pack_b_rows(const T* B, index_t ldb, index_t nc, index_t kc, index_t k0, T* bp) {
  constexpr int NR = Tile<T>::NR;
  const index_t k1 = std::min(kc, k0 + kPackRows);
  for (index_t j0 = 0; j0 < nc; j0 += NR) {
    const index_t nr = std::min<index_t>(NR, nc - j0);
    for (index_t k = k0; k < k1; ++k) {
      const T* __restrict src = B + k * ldb + j0;
      T* __restrict dst = bp + j0 * kc + k * NR;
      if (nr == NR) {
        for (int j = 0; j < NR; ++j) dst[j] = src[j];
      } else {
        for (index_t j = 0; j < nr; ++j) dst[j] = src[j];
        for (index_t j = nr; j < NR; ++j) dst[j] = T(0);
      }
    }
  }
}

// One panel of a transposed block: op(B)[k][j] = B[j*ldb + k], contiguous runs over k.
template <class T>
void pack_b_panel_trans(const T* B, index_t ldb, index_t pc, index_t j0, index_t nr, index_t kc,
                        T* bp) {
  constexpr int NR = Tile<T>::NR;
  for (index_t j = 0; j < nr; ++j) {
    const T* src = B + (j0 + j) * ldb + pc;
    for (index_t k = 0; k < kc; ++k) bp[k * NR + j] = src[k];
  }
  for (index_t k = 0; k < kc; ++k)
    for (index_t j = nr; j < NR; ++j) bp[k * NR + j] = T(0);
}

// Rows i0..i0+r of op(A) over k = pc..pc+kc into one panel, a[k*r + i].
template <class T>
void pack_a_panel(bool trans_a, const T* A, index_t lda, index_t i0, int r, index_t pc, index_t kc,
                  T* ap) {
  if (trans_a) {
    for (index_t k = 0; k < kc; ++k) {
      const T* src = A + (pc + k) * lda + i0;
      for (int i = 0; i < r; ++i) ap[k * r + i] = src[i];
    }
  } else {
    for (int i = 0; i < r; ++i) {
      const T* src = A + (i0 + i) * lda + pc;
      for (index_t k = 0; k < kc; ++k) ap[k * r + i] = src[k];
    }
  }
}

// Hints the rows × cols tile of C at c into cache ahead of its micro-kernel call.
template <class T>
inline void prefetch_tile(const T* c, index_t ldc, index_t rows, index_t cols) {
  for (index_t r = 0; r < rows; ++r) {
    __builtin_prefetch(c + r * ldc, 1, 3);
    __builtin_prefetch(c + r * ldc + cols - 1, 1, 3);
  }
}

// Packing buffer aligned to a cache line (no panel row load splits across two lines) and
// left uninitialized: packing writes every element that the kernels read.
template <class T>
class PackBuffer {
 public:
  explicit PackBuffer(index_t n) : raw_(new T[sz(n) + kPad]) {
    const auto addr = reinterpret_cast<std::uintptr_t>(raw_.get());
    data_ = raw_.get() + (kAlign - addr % kAlign) % kAlign / sizeof(T);
  }
  T* data() { return data_; }

 private:
  static constexpr std::size_t kAlign = 64, kPad = kAlign / sizeof(T);
  std::unique_ptr<T[]> raw_;
  T* data_;
};

template <class T>
void gemm_packed(bool trans_a, bool trans_b, index_t M, index_t N, index_t K, const T* A,
                 index_t lda, const T* B, index_t ldb, T* C, index_t ldc, bool accumulate) {
  constexpr int MR = Tile<T>::MR, NR = Tile<T>::NR;
  const Blocking& blk = blocking<T>();
  const index_t KC = blk.kc, NC = blk.nc;
  const int threads = use_threads(M * N * K / 4) ? max_threads() : 1;
  // Row blocks of whole MR-row panels: at most MC rows each, and (when M allows it) a
  // multiple of the thread count, sized evenly so no thread gets a block more.
  const index_t panels = ceil_div(M, MR);
  index_t mu = ceil_div(panels * MR, blk.mc);
  if (threads > 1 && panels >= threads) mu = ceil_div(mu, threads) * threads;
  mu = std::min(mu, panels);
  const index_t mc = ceil_div(panels, mu) * MR;  // rows in the largest block
  const index_t nc_max = std::min(NC, ceil_div(N, NR) * NR);
  PackBuffer<T> bpack(KC * nc_max);
  const TeamMode mode = team_mode();
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    FollowFlush follow(mode);
    PackBuffer<T> apack(KC * mc);
    for (index_t jc = 0; jc < N; jc += NC) {
      const index_t nc = std::min(NC, N - jc);
      const index_t nu = ceil_div(nc, NR);
      index_t mt, nt;
      split_tasks(mu, nu, threads, mt, nt);
      for (index_t pc = 0; pc < K; pc += KC) {
        const index_t kc = std::min(KC, K - pc);
        const bool load_c = accumulate || pc > 0;
        if (!trans_b) {
#pragma omp for schedule(static)
          for (index_t k0 = 0; k0 < kc; k0 += kPackRows)
            pack_b_rows(B + pc * ldb + jc, ldb, nc, kc, k0, bpack.data());
        } else {
#pragma omp for schedule(static)
          for (index_t p = 0; p < nu; ++p)
            pack_b_panel_trans(B, ldb, pc, jc + p * NR, std::min<index_t>(NR, nc - p * NR), kc,
                               bpack.data() + p * NR * kc);
        }
#pragma omp for schedule(static)
        for (index_t task = 0; task < mt * nt; ++task) {
          const index_t tm = task / nt, tn = task % nt;
          const index_t ic = tm * panels / mt * MR;
          const index_t m_blk = std::min((tm + 1) * panels / mt * MR, M) - ic;
          const index_t v0 = tn * nu / nt, v1 = (tn + 1) * nu / nt;
          for (index_t i = 0; i < m_blk; i += MR) {
            const int r = static_cast<int>(std::min<index_t>(MR, m_blk - i));
            pack_a_panel(trans_a, A, lda, ic + i, r, pc, kc, apack.data() + i * kc);
          }
          for (index_t v = v0; v < v1; ++v) {
            const index_t j = jc + v * NR;
            const int nr = static_cast<int>(std::min<index_t>(NR, N - j));
            const T* bp = bpack.data() + v * NR * kc;
            for (index_t i = 0; i < m_blk; i += MR) {
              const int r = static_cast<int>(std::min<index_t>(MR, m_blk - i));
              // The next tile's rows of C come from far caches or memory; fetch them
              // while this tile computes, since its chains must start from them.
              if (i + MR < m_blk)
                prefetch_tile(C + (ic + i + MR) * ldc + j, ldc,
                              std::min<index_t>(MR, m_blk - i - MR), nr);
              else if (v + 1 < v1)
                prefetch_tile(C + ic * ldc + j + NR, ldc, std::min<index_t>(MR, m_blk),
                              std::min<index_t>(NR, N - j - NR));
              const TileArgs<T> t{kc,
                                  apack.data() + i * kc,
                                  1,
                                  r,
                                  bp,
                                  NR,
                                  C + (ic + i) * ldc + j,
                                  ldc,
                                  nr,
                                  load_c,
                                  nullptr,
                                  false};
              run_tile<T, true>(r, nr == NR, t);
            }
          }
        }
      }
    }
  }
}

// Narrow outputs (N < kDotMaxN, e.g. a single sigmoid unit): each C[i][j] is a dot
// product over k, summed in kLanes interleaved partial sums combined in a fixed tree.
// The path depends only on N, never on M or the thread count, so rows stay independent.
constexpr int kLanes = 8;

// The fixed tree that combines one output's kLanes partial sums, lane l at c[l * stride].
template <class T>
inline T sum_lanes(const T* c, index_t stride = 1) {
  return ((c[0] + c[stride]) + (c[2 * stride] + c[3 * stride])) +
         ((c[4 * stride] + c[5 * stride]) + (c[6 * stride] + c[7 * stride]));
}

template <class T>
inline T dot_lanes(const T* a, const T* b, index_t K) {
  T acc[kLanes] = {};
  index_t k = 0;
  for (; k + kLanes <= K; k += kLanes)
#pragma omp simd
    for (int l = 0; l < kLanes; ++l) acc[l] += a[k + l] * b[k + l];
  for (int l = 0; k + l < K; ++l) acc[l] += a[k + l] * b[k + l];
  return sum_lanes(acc);
}

// dot_lanes for R rows of A at once (row r at a + r*lda) against one b: the same
// arithmetic per row, but R independent chains, so the loop is not bound by the latency
// of one chain's multiply-adds, and each b chunk is loaded once for all R rows.
template <class T, int R>
inline void dot_lanes_rows(const T* a, index_t lda, const T* b, index_t K, T* out) {
  T acc[R][kLanes] = {};
  index_t k = 0;
  for (; k + kLanes <= K; k += kLanes)
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma omp simd
      for (int l = 0; l < kLanes; ++l) acc[r][l] += a[r * lda + k + l] * b[k + l];
  for (int r = 0; r < R; ++r) {
    for (int l = 0; k + l < K; ++l) acc[r][l] += a[r * lda + k + l] * b[k + l];
    out[r] = sum_lanes(acc[r]);
  }
}

// Columns i0..i0+W of op(A) = Aᵀ (A's rows k hold them side by side) against one column
// of op(B), written as one output per column: dot_lanes' arithmetic for each column
// (lane l sums the k ≡ l (mod 8) terms in order, the lanes combine in the same tree),
// with the kLanes partial sums of all W columns held in registers; out gets W values.
template <class T, int W>
inline void dot_lanes_cols(const T* A, index_t lda, index_t i0, int width, const T* b,
                           index_t b_step, index_t K, T* out) {
  T acc[kLanes][W] = {};
  const T* a = A + i0;
  if (width == W) {
    index_t k = 0;
    // k in runs of kLanes, so each lane's index is a constant and its sums stay in registers.
    for (; k + kLanes <= K; k += kLanes) {
#pragma GCC unroll 8
      for (int l = 0; l < kLanes; ++l) {
        const T bk = b[(k + l) * b_step];
        const T* ak = a + (k + l) * lda;
#pragma omp simd
        for (int i = 0; i < W; ++i) acc[l][i] += ak[i] * bk;
      }
    }
#pragma GCC unroll 8
    for (int l = 0; l < kLanes; ++l) {
      if (k + l >= K) break;
      const T bk = b[(k + l) * b_step];
      const T* ak = a + (k + l) * lda;
#pragma omp simd
      for (int i = 0; i < W; ++i) acc[l][i] += ak[i] * bk;
    }
  } else {
    for (index_t k = 0; k < K; ++k) {
      const T bk = b[k * b_step];
      const T* ak = a + k * lda;
      for (int i = 0; i < width; ++i) acc[k % kLanes][i] += ak[i] * bk;
    }
  }
#pragma omp simd
  for (int i = 0; i < W; ++i) out[i] = sum_lanes(&acc[0][i], W);
}

// dot_lanes_rows for the R = 1..kDotRows rows left at the end of M.
template <class T, int R = 1>
inline void dot_lanes_tail(index_t rows, const T* a, index_t lda, const T* b, index_t K, T* out) {
  if constexpr (R < 8) {
    if (rows != R) return dot_lanes_tail<T, R + 1>(rows, a, lda, b, K, out);
  }
  dot_lanes_rows<T, R>(a, lda, b, K, out);
}

template <class T>
void gemm_dot(bool trans_a, bool trans_b, index_t M, index_t N, index_t K, const T* A, index_t lda,
              const T* B, index_t ldb, T* C, index_t ldc, bool accumulate) {
  // op(B)[k][j] = b_j[k * b_step]: column j of op(B) at B + j*b_col.
  const index_t b_col = trans_b ? ldb : 1, b_step = trans_b ? 1 : ldb;
  if (trans_a) {
    // op(A) rows are columns of A: blocks of kCols columns read along A's rows.
    constexpr int kCols = std::max(Tile<T>::NR / 2, 2);
    const index_t blocks = ceil_div(M, kCols);
    for (index_t j = 0; j < N; ++j) {
      parallel_for(blocks, use_threads(M * K * 2) && blocks > 1, [&](index_t blk) {
        const index_t i0 = blk * kCols;
        const int width = static_cast<int>(std::min<index_t>(kCols, M - i0));
        T d[kCols];
        dot_lanes_cols<T, kCols>(A, lda, i0, width, B + j * b_col, b_step, K, d);
        for (int i = 0; i < width; ++i) {
          T* c = C + (i0 + i) * ldc + j;
          *c = accumulate ? *c + d[i] : d[i];
        }
      });
    }
    return;
  }
  // Columns of op(B) as contiguous runs over k: in place when they are already, else a copy.
  const bool in_place = b_step == 1;
  std::vector<T> bt;
  if (!in_place) {
    bt.resize(sz(N * K));
    for (index_t j = 0; j < N; ++j)
      for (index_t k = 0; k < K; ++k) bt[sz(j * K + k)] = B[j * b_col + k * b_step];
  }
  const T* bcols = in_place ? B : bt.data();
  const index_t bld = in_place ? b_col : K;
  // Groups of kDotRows rows, each group on one thread.
  constexpr index_t kDotRows = 8;
  const index_t groups = ceil_div(M, kDotRows);
  parallel_for(groups, use_threads(M * N * K / 4) && groups > 1, [&](index_t g) {
    const index_t i0 = g * kDotRows, rows = std::min(kDotRows, M - i0);
    for (index_t j = 0; j < N; ++j) {
      T d[kDotRows];
      const T* b = bcols + j * bld;
      if (rows == kDotRows)
        dot_lanes_rows<T, kDotRows>(A + i0 * lda, lda, b, K, d);
      else
        dot_lanes_tail<T>(rows, A + i0 * lda, lda, b, K, d);
      for (index_t r = 0; r < rows; ++r) {
        T* c = C + (i0 + r) * ldc + j;
        *c = accumulate ? *c + d[r] : d[r];
      }
    }
  });
}

}  // namespace

template <class T>
void gemm_ref(bool trans_a, bool trans_b, index_t M, index_t N, index_t K, const T* A, index_t lda,
              const T* B, index_t ldb, T* C, index_t ldc, bool accumulate) {
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
        acc = gemm_detail::madd(a, b, acc);
      }
      C[i * ldc + j] = acc;
    }
}

template <class T>
void gemm(bool trans_a, bool trans_b, index_t M, index_t N, index_t K, const T* A, index_t lda,
          const T* B, index_t ldb, T* C, index_t ldc, bool accumulate) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate)
      for (index_t i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, T(0));
    return;
  }
  if (N < kDotMaxN) {
    gemm_dot(trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc, accumulate);
    return;
  }
  // One row panel reads each element of op(B) once: packing it would only add a copy.
  if (M <= Tile<T>::MR || use_direct<T>(N, K))
    gemm_direct(trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc, accumulate);
  else
    gemm_packed(trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc, accumulate);
}

template <class T>
void gemm_bias(index_t M, index_t N, index_t K, const T* A, index_t lda, const T* B, index_t ldb,
               const T* bias, bool relu, T* C, index_t ldc) {
  if (M <= 0 || N <= 0) return;
  // The direct path adds the bias (and clamps) as each tile's chains are stored.
  if (K > 0 && N >= kDotMaxN && (M <= Tile<T>::MR || use_direct<T>(N, K))) {
    gemm_direct(false, false, M, N, K, A, lda, B, ldb, C, ldc, false, bias, relu);
    return;
  }
  gemm(false, false, M, N, K, A, lda, B, ldb, C, ldc, false);
  if (!bias && !relu) return;
  parallel_for(M, M > 1 && use_threads(M * N * 4), [&](index_t i) {
    T* c = C + i * ldc;
    if (bias) {
#pragma omp simd
      for (index_t j = 0; j < N; ++j) c[j] += bias[j];
    }
    if (relu) {
#pragma omp simd
      for (index_t j = 0; j < N; ++j) c[j] = c[j] > T(0) || c[j] != c[j] ? c[j] : T(0);
    }
  });
}

template <class T>
GemmBlocking gemm_blocking() {
  const Blocking& b = blocking<T>();
  return GemmBlocking{Tile<T>::MR, Tile<T>::NR, b.kc, b.mc, b.nc};
}

#define DROPNET_INSTANTIATE_GEMM(T)                                                             \
  template void gemm<T>(bool, bool, index_t, index_t, index_t, const T*, index_t, const T*,     \
                        index_t, T*, index_t, bool);                                            \
  template void gemm_ref<T>(bool, bool, index_t, index_t, index_t, const T*, index_t, const T*, \
                            index_t, T*, index_t, bool);                                        \
  template void gemm_bias<T>(index_t, index_t, index_t, const T*, index_t, const T*, index_t,   \
                             const T*, bool, T*, index_t);                                      \
  template GemmBlocking gemm_blocking<T>();
DROPNET_INSTANTIATE_GEMM(float)
DROPNET_INSTANTIATE_GEMM(double)

DROPNET_ISA_END
