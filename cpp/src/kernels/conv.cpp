// Convolution (Conv1D/Conv2D, channels-last) as products of the patch matrix with the
// shared GEMM's micro-kernels: forward with the bias and relu in the epilogue, backward as
// patchesᵀ·dz for the kernel and, for the input, dz·Wᵀ then col2im (or, with stride 1, a
// convolution of dz). With contiguous window rows (dil_w == 1) the micro-kernel reads the
// patches in place from a padded band of the input (see "Patches read in place"); else
// they are built by im2col a tile at a time in a per-thread buffer that stays in cache: a
// few whole samples when they are small, else a run of one sample's output positions, so
// the scratch never grows with the image.
#include <algorithm>
#include <cstring>
#include <vector>

#include "dropnet/gemm_ukernel.hpp"
#include "dropnet/kernels.hpp"

DROPNET_ISA_BEGIN

namespace {

using gemm_detail::run_tile;
using gemm_detail::TileArgs;

// Samples whose weight and bias gradients are summed as one chain; the parts are then
// added in order. Fixed by the batch alone, so any thread count gives the same bits.
constexpr index_t kGradParts = 8;
// Rows of patches per GEMM call: enough for the micro-kernel to stream, few enough to
// stay in L2 (an im2col buffer of 256 KiB).
constexpr index_t kMinRows = 256;
constexpr index_t kPatchBytes = 256 << 10;
// One sample's patches beyond this are cut into runs of positions of about this size: the
// bound on a thread's scratch, large enough that ordinary images (a 32x32x32 input under a
// 3x3 kernel: 1.2 MB) still go through the GEMM whole.
constexpr index_t kSplitBytes = 4 << 20;

constexpr index_t ceil_div(index_t a, index_t b) { return (a + b - 1) / b; }

// Rows [s0·P + p0, ...) of the patch matrix: samples [s0, s0 + ns) whole (np == P), or
// positions [p0, p0 + np) of sample s0 alone (ns == 1).
struct Tile {
  index_t s0, ns, p0, np;
  index_t rows() const { return ns * np; }
  index_t row0(index_t P) const { return s0 * P + p0; }
};

// How a batch is cut into tiles; depends on the geometry and the batch only (never on
// the thread count), so results are the same on any number of threads.
struct Tiling {
  index_t P = 1;          // positions per sample
  index_t per = 1;        // samples per tile (whole samples)
  index_t positions = 1;  // positions per tile (P for whole samples)
  index_t pieces = 1;     // tiles per sample (1 for whole samples)
  bool whole() const { return pieces == 1; }
  // Tiles of samples [s_begin, s_end), in order.
  index_t count(index_t s_begin, index_t s_end) const {
    return whole() ? ceil_div(s_end - s_begin, per) : (s_end - s_begin) * pieces;
  }
  Tile at(index_t s_begin, index_t s_end, index_t c) const {
    if (whole()) {
      const index_t s0 = s_begin + c * per;
      return {s0, std::min(per, s_end - s0), 0, P};
    }
    const index_t s0 = s_begin + c / pieces, p0 = (c % pieces) * positions;
    return {s0, 1, p0, std::min(positions, P - p0)};
  }
};

template <class T>
Tiling tiling(const WindowGeometry& g, index_t n) {
  Tiling t;
  t.P = std::max<index_t>(g.positions(), 1);
  const index_t row_bytes = g.patch() * index_t(sizeof(T));
  const index_t fit = std::max(kMinRows, kSplitBytes / std::max<index_t>(row_bytes, 1));
  if (t.P > fit) {  // one sample is more than a tile: a run of its positions per tile
    t.positions = fit;
    t.pieces = ceil_div(t.P, fit);
    return t;
  }
  // A few samples per tile when each has few output positions (small images), else one.
  const index_t by_rows = ceil_div(kMinRows, t.P);
  const index_t by_bytes = std::max<index_t>(1, kPatchBytes / (t.P * row_bytes));
  t.per = std::max<index_t>(1, std::min({by_rows, by_bytes, n}));
  t.positions = t.P;
  return t;
}

// A per-thread scratch buffer (slot 0: patches, slot 1: patch gradients, slot 2: a band
// of padded input) that grows to
// one tile and is kept across calls, so training steps allocate nothing.
template <class T>
T* scratch(int slot, index_t count) {
  static thread_local std::vector<T> buf[3];
  std::vector<T>& b = buf[slot];
  if (b.size() < sz(count)) b.resize(sz(count));
  return b.data();
}

// Input rows ih of window row i for output row oh (may be out of range = padding).
inline index_t in_row(const WindowGeometry& g, index_t oh, index_t i) {
  return oh * g.stride_h - g.pad_top + i * g.dil_h;
}
inline index_t in_col(const WindowGeometry& g, index_t ow, index_t j) {
  return ow * g.stride_w - g.pad_left + j * g.dil_w;
}

// Patches of one sample's output positions [p0, p0 + np): row p - p0 holds (i, j, c) in
// kernel order, zero where the window covers padding.
template <class T>
void im2col(const WindowGeometry& g, const T* x, index_t p0, index_t np, T* cols) {
  const index_t C = g.channels, K = g.patch(), run = g.k_w * C;
  index_t oh = p0 / g.out_w, ow = p0 % g.out_w;
  for (index_t p = p0; p < p0 + np; ++p, ow = ow + 1 == g.out_w ? (++oh, 0) : ow + 1) {
    T* row = cols + (p - p0) * K;
    const index_t iw0 = in_col(g, ow, 0), iw1 = in_col(g, ow, g.k_w - 1);
    const bool cols_inside = g.dil_w == 1 && iw0 >= 0 && iw1 < g.in_w;
    for (index_t i = 0; i < g.k_h; ++i) {
      T* dst = row + i * run;
      const index_t ih = in_row(g, oh, i);
      if (ih < 0 || ih >= g.in_h) {
        std::fill(dst, dst + run, T(0));
        continue;
      }
      const T* src = x + ih * g.in_w * C;
      if (cols_inside) {  // the window's row is one contiguous run of the input
        std::memcpy(dst, src + iw0 * C, sizeof(T) * sz(run));
        continue;
      }
      for (index_t j = 0; j < g.k_w; ++j) {
        const index_t iw = in_col(g, ow, j);
        if (iw < 0 || iw >= g.in_w)
          std::fill(dst + j * C, dst + (j + 1) * C, T(0));
        else
          std::memcpy(dst + j * C, src + iw * C, sizeof(T) * sz(C));
      }
    }
  }
}

// dx (one sample, cleared by the caller) += the patch gradients of positions
// [p0, p0 + np), in window order.
template <class T>
void col2im(const WindowGeometry& g, const T* dcols, index_t p0, index_t np, T* dx) {
  const index_t C = g.channels, K = g.patch();
  index_t oh = p0 / g.out_w, ow = p0 % g.out_w;
  for (index_t p = p0; p < p0 + np; ++p, ow = ow + 1 == g.out_w ? (++oh, 0) : ow + 1) {
    const T* row = dcols + (p - p0) * K;
    for (index_t i = 0; i < g.k_h; ++i) {
      const index_t ih = in_row(g, oh, i);
      if (ih < 0 || ih >= g.in_h) continue;
      for (index_t j = 0; j < g.k_w; ++j) {
        const index_t iw = in_col(g, ow, j);
        if (iw < 0 || iw >= g.in_w) continue;
        const T* src = row + (i * g.k_w + j) * C;
        T* dst = dx + (ih * g.in_w + iw) * C;
#pragma omp simd
        for (index_t c = 0; c < C; ++c) dst[c] += src[c];
      }
    }
  }
}

// The patch matrix of a tile: the input itself for pointwise windows, else built in the
// calling thread's slot-0 buffer.
template <class T>
const T* patches(const WindowGeometry& g, const T* x, const Tile& t) {
  if (g.pointwise()) return x + t.row0(g.positions()) * g.patch();  // patch() == channels
  const index_t K = g.patch();
  T* buf = scratch<T>(0, t.rows() * K);
  for (index_t s = 0; s < t.ns; ++s)
    im2col(g, x + (t.s0 + s) * g.in_size(), t.p0, t.np, buf + s * t.np * K);
  return buf;
}

// ---- Patches read in place (no im2col).
//
// With dil_w == 1 a window row is k_w·C consecutive values of the input, zero padding
// included once the padding is laid out around it: a band of output rows then reads its
// patch rows straight from a padded copy of the input rows it covers (or from the input
// itself when it needs no padding). The micro-kernel walks each patch row as k_h runs of
// k_w·C values (TileArgs::k_run / a_jump), and rows of one output row are evenly strided,
// so a register tile is a run of positions of one output row. Every output element is the
// same chain over k in the same order, with the same zeros, as through im2col + GEMM.

// Output rows per band: about this much padded input, which stays in L2 while a band's
// tiles run over it (the weight gradient sweeps it once per tile of kernel rows, its
// chains stored and reloaded between bands).
constexpr index_t kBandBytes = 64 << 10;

// In-place patches need contiguous window rows, a product whose chains run like the GEMM's
// (N >= 8; narrower outputs take the dot-product path, a different order) and output rows
// wide enough to fill a good part of a register tile.
template <class T>
bool direct_patches(const WindowGeometry& g, index_t N) {
  return g.dil_w == 1 && !g.pointwise() && N >= 8 && g.pad_top >= 0 && g.pad_left >= 0 &&
         2 * g.out_w >= gemm_detail::Tile<T>::MR;
}

// The padded input: wp pixels per row (pad_left, the input's in_w, the rest zero).
struct Padded {
  index_t wp;
  bool inside;  // no window reaches past the input: read it in place
};

inline Padded padded_layout(const WindowGeometry& g) {
  const index_t need_w = (g.out_w - 1) * g.stride_w + g.k_w;  // dil_w == 1
  const index_t need_h = (g.out_h - 1) * g.stride_h + (g.k_h - 1) * g.dil_h + 1;
  Padded p{};
  p.wp = std::max(g.pad_left + g.in_w, need_w);
  p.inside = g.pad_left == 0 && g.pad_top == 0 && need_w <= g.in_w && need_h <= g.in_h;
  if (p.inside) p.wp = g.in_w;
  return p;
}

// Padded rows [r0, r1) of one sample (padded row r = input row r - pad_top) with pitch
// wp·C: the input in place when it needs no padding, else a copy in slot 2.
template <class T>
const T* padded_band(const WindowGeometry& g, const Padded& p, const T* x, index_t r0, index_t r1) {
  const index_t C = g.channels, pitch = p.wp * C;
  if (p.inside) return x + r0 * pitch;
  T* buf = scratch<T>(2, (r1 - r0) * pitch);
  for (index_t r = r0; r < r1; ++r) {
    T* dst = buf + (r - r0) * pitch;
    const index_t ih = r - g.pad_top;
    if (ih < 0 || ih >= g.in_h) {
      std::fill(dst, dst + pitch, T(0));
      continue;
    }
    const index_t left = g.pad_left * C, w = g.in_w * C;
    std::fill(dst, dst + left, T(0));
    std::memcpy(dst + left, x + ih * w, sizeof(T) * sz(w));
    std::fill(dst + left + w, dst + pitch, T(0));
  }
  return buf;
}

// Output rows per band and the padded rows band [oh0, oh1) covers.
inline index_t band_rows(const WindowGeometry& g, const Padded& p, index_t bytes) {
  const index_t pitch_bytes = p.wp * g.channels * bytes * g.stride_h;
  return std::clamp<index_t>(kBandBytes / std::max<index_t>(pitch_bytes, 1), 1, g.out_h);
}
inline index_t band_first(const WindowGeometry& g, index_t oh0) { return oh0 * g.stride_h; }
inline index_t band_end(const WindowGeometry& g, index_t oh1) {
  return (oh1 - 1) * g.stride_h + (g.k_h - 1) * g.dil_h + 1;
}

// z (positions × F) of output rows [oh0, oh1) of one sample = patches · W (+ bias, relu),
// xp holding padded rows from band_first(oh0) on.
template <class T>
void direct_forward_band(const WindowGeometry& g, const Padded& p, index_t F, const T* xp,
                         index_t oh0, index_t oh1, const T* W, const T* bias, bool relu, T* z) {
  constexpr int MR = gemm_detail::Tile<T>::MR, NR = gemm_detail::Tile<T>::NR;
  const index_t C = g.channels, K = g.patch(), run = g.k_w * C, pitch = p.wp * C;
  const index_t tiles = ceil_div(g.out_w, MR);  // tiles per output row, sized evenly
  for (index_t j = 0; j < F; j += NR) {
    const int nr = static_cast<int>(std::min<index_t>(NR, F - j));
    for (index_t oh = oh0; oh < oh1; ++oh) {
      const T* a = xp + (oh - oh0) * g.stride_h * pitch;
      for (index_t u = 0; u < tiles; ++u) {
        const index_t w0 = u * g.out_w / tiles, w1 = (u + 1) * g.out_w / tiles;
        TileArgs<T> t{K,
                      a + w0 * g.stride_w * C,
                      g.stride_w * C,
                      1,
                      W + j,
                      F,
                      z + (oh * g.out_w + w0) * F + j,
                      F,
                      nr,
                      false,
                      bias ? bias + j : nullptr,
                      relu};
        t.k_run = run;
        t.a_jump = g.dil_h * pitch - run;
        run_tile<T, false>(static_cast<int>(w1 - w0), nr == NR, t);
      }
    }
  }
}

// The forward product of n samples with in-place patches; `after` (sample, oh0, oh1) runs
// on each band's rows once they are written.
template <class T, class After>
void direct_forward(const WindowGeometry& g, index_t F, const T* x, const T* W, const T* bias,
                    bool relu, T* z, index_t n, After&& after) {
  const Padded p = padded_layout(g);
  const index_t rows = band_rows(g, p, sizeof(T)), bands = ceil_div(g.out_h, rows);
  const index_t work = n * g.positions() * g.patch() * F / 4;
  parallel_for(n * bands, n * bands > 1 && use_threads(work), [&](index_t u) {
    const index_t s = u / bands, oh0 = u % bands * rows, oh1 = std::min(g.out_h, oh0 + rows);
    const T* xp = padded_band(g, p, x + s * g.in_size(), band_first(g, oh0), band_end(g, oh1));
    direct_forward_band(g, p, F, xp, oh0, oh1, W, bias, relu, z + s * g.positions() * F);
    after(s, oh0, oh1);
  });
}

// pw (patch × F) [+]= patchesᵀ · dz over the samples [s_begin, s_end), band after band: the
// chains over positions continue from pw (stored in T) between bands, so each is the one
// chain over the part's rows in order; accumulate false starts them from zero.
template <class T>
void direct_weight_grad(const WindowGeometry& g, index_t F, const T* x, const T* dz, T* pw,
                        index_t s_begin, index_t s_end) {
  constexpr int MR = gemm_detail::Tile<T>::MR, NR = gemm_detail::Tile<T>::NR;
  const Padded p = padded_layout(g);
  const index_t rows = band_rows(g, p, sizeof(T));
  const index_t C = g.channels, P = g.positions(), run = g.k_w * C, pitch = p.wp * C;
  const index_t tiles = ceil_div(run, MR);  // tiles of kernel rows per window row, even
  bool started = false;
  for (index_t s = s_begin; s < s_end; ++s)
    for (index_t oh0 = 0; oh0 < g.out_h; oh0 += rows) {
      const index_t oh1 = std::min(g.out_h, oh0 + rows);
      const T* xp = padded_band(g, p, x + s * g.in_size(), band_first(g, oh0), band_end(g, oh1));
      const T* d = dz + (s * P + oh0 * g.out_w) * F;
      for (index_t i = 0; i < g.k_h; ++i)
        for (index_t u = 0; u < tiles; ++u) {
          const index_t q0 = u * run / tiles, q1 = (u + 1) * run / tiles;
          for (index_t j = 0; j < F; j += NR) {
            const int nr = static_cast<int>(std::min<index_t>(NR, F - j));
            TileArgs<T> t{(oh1 - oh0) * g.out_w,
                          xp + i * g.dil_h * pitch + q0,
                          1,
                          g.stride_w * C,
                          d + j,
                          F,
                          pw + (i * run + q0) * F + j,
                          F,
                          nr,
                          started,
                          nullptr,
                          false};
            t.k_run = g.out_w;
            t.a_jump = g.stride_h * pitch - g.out_w * g.stride_w * C;
            run_tile<T, false>(static_cast<int>(q1 - q0), nr == NR, t);
          }
        }
      started = true;
    }
}

// With stride 1 the input gradient is itself a convolution: of dz, zero-padded by
// d·(k-1) - pad before, with the kernel flipped in space and its channel axes swapped,
// dx[a] = Σ_i dz[a - pad' + i·d] · W[k-1-i]ᵀ. Patches of dz and one product per few
// samples write dx directly, with no scatter-add and no clearing of dx.
template <class T>
void input_gradient_as_conv(const WindowGeometry& g, index_t F, const T* W, const T* dz, T* dx,
                            index_t n) {
  WindowGeometry t = g;
  t.in_h = g.out_h, t.in_w = g.out_w, t.channels = F;
  t.out_h = g.in_h, t.out_w = g.in_w;
  t.pad_top = (g.k_h - 1) * g.dil_h - g.pad_top;
  t.pad_left = (g.k_w - 1) * g.dil_w - g.pad_left;
  const index_t C = g.channels, K = t.patch(), P = t.positions();
  // wf[(i', j', f)][c] = W[k_h-1-i'][k_w-1-j'][c][f]
  std::vector<T> wf(sz(K * C));
  for (index_t i = 0; i < g.k_h; ++i)
    for (index_t j = 0; j < g.k_w; ++j)
      for (index_t c = 0; c < C; ++c)
        for (index_t f = 0; f < F; ++f)
          wf[sz((((g.k_h - 1 - i) * g.k_w + (g.k_w - 1 - j)) * F + f) * C + c)] =
              W[((i * g.k_w + j) * C + c) * F + f];
  if (direct_patches<T>(t, C)) {
    direct_forward(t, C, dz, wf.data(), static_cast<const T*>(nullptr), false, dx, n,
                   [](index_t, index_t, index_t) {});
    return;
  }
  const Tiling tl = tiling<T>(t, n);
  const index_t calls = tl.count(0, n);
  parallel_for(calls, calls > 1 && use_threads(n * P * K * C / 4), [&](index_t c) {
    const Tile tile = tl.at(0, n, c);
    gemm<T>(false, false, tile.rows(), C, K, patches(t, dz, tile), K, wf.data(), C,
            dx + tile.row0(P) * C, C, false);
  });
}

}  // namespace

template <class T>
void conv_forward(const WindowGeometry& g, index_t F, const T* x, const T* W, const T* b, T* z,
                  T* y, index_t n, Act act, double alpha) {
  const index_t P = g.positions(), K = g.patch();
  const bool relu_in_place = act == Act::relu && y == z;
  const bool act_done = (act == Act::linear || relu_in_place) && y == z;
  if (direct_patches<T>(g, F)) {
    direct_forward(g, F, x, W, b, relu_in_place, z, n, [&](index_t s, index_t oh0, index_t oh1) {
      if (act_done) return;
      const index_t r0 = s * P + oh0 * g.out_w, r1 = s * P + oh1 * g.out_w;
      for (index_t r = r0; r < r1; ++r)
        activation_forward_span<T>(act, alpha, z + r * F, y + r * F, F);
    });
    return;
  }
  const Tiling tl = tiling<T>(g, n);
  const index_t calls = tl.count(0, n);
  // Rows are independent, so splitting them across threads never changes results; a
  // single call lets the GEMM split its rows instead.
  parallel_for(calls, calls > 1 && use_threads(n * P * K * F / 4), [&](index_t c) {
    const Tile t = tl.at(0, n, c);
    const index_t rows = t.rows(), r0 = t.row0(P);
    T* zo = z + r0 * F;
    gemm_bias<T>(rows, F, K, patches(g, x, t), K, W, F, b, relu_in_place, zo, F);
    if (!act_done)
      for (index_t r = 0; r < rows; ++r)
        activation_forward_span<T>(act, alpha, zo + r * F, y + (r0 + r) * F, F);
  });
}

template <class T>
void conv_backward(const WindowGeometry& g, index_t F, const T* x, const T* W, const T* z,
                   const T* y, const T* dy, T* dz, T* dW, T* db, T* dx, index_t n, Act act,
                   double alpha) {
  const index_t P = g.positions(), K = g.patch(), S = g.in_size();
  const index_t work = n * P * K * F / 4;
  // dz is taken per part of the kernel gradient below, on the thread that then reads it
  // while it is still in cache; elementwise (per row for softmax), so the same bits.
  const bool act_in_parts = dz != dy && (dW || db);
  if (dz != dy && !act_in_parts) activation_backward<T>(act, alpha, z, y, dy, dz, n * P, F);
  const Tiling tl = tiling<T>(g, n);

  if (dW || db) {
    // Part p sums samples [p·n/parts, (p+1)·n/parts) as one chain, tile after tile (part 0
    // straight into dW and db); the other parts are added afterwards in order.
    const index_t parts = std::min(n, kGradParts);
    const index_t stride = K * F + F;
    std::vector<T> partial(sz(std::max<index_t>(parts - 1, 0) * stride));
    const bool direct = direct_patches<T>(g, F);
    parallel_for(parts, parts > 1 && use_threads(work), [&](index_t p) {
      const index_t s_begin = p * n / parts, s_end = (p + 1) * n / parts;
      if (act_in_parts) {
        const index_t o = s_begin * P * F;
        activation_backward<T>(act, alpha, z ? z + o : nullptr, y ? y + o : nullptr, dy + o, dz + o,
                               (s_end - s_begin) * P, F);
      }
      T* pw = p == 0 ? dW : partial.data() + (p - 1) * stride;
      T* pb = p == 0 ? db : partial.data() + (p - 1) * stride + K * F;
      if (pb) std::fill(pb, pb + F, T(0));
      if (direct) {
        if (pw) direct_weight_grad(g, F, x, dz, pw, s_begin, s_end);
        if (pb)
          for (index_t r = s_begin * P; r < s_end * P; ++r) {
#pragma omp simd
            for (index_t f = 0; f < F; ++f) pb[f] += dz[r * F + f];
          }
        return;
      }
      const index_t tiles = tl.count(s_begin, s_end);
      for (index_t c = 0; c < tiles; ++c) {
        const Tile t = tl.at(s_begin, s_end, c);
        const index_t rows = t.rows();
        const T* d = dz + t.row0(P) * F;
        if (pw) gemm<T>(true, false, K, F, rows, patches(g, x, t), K, d, F, pw, F, c > 0);
        if (pb)
          for (index_t r = 0; r < rows; ++r) {
#pragma omp simd
            for (index_t f = 0; f < F; ++f) pb[f] += d[r * F + f];
          }
      }
    });
    for (index_t p = 1; p < parts; ++p) {
      const T* part = partial.data() + (p - 1) * stride;
      if (dW)
        for (index_t k = 0; k < K * F; ++k) dW[k] += part[k];
      if (db)
        for (index_t f = 0; f < F; ++f) db[f] += part[K * F + f];
    }
  }

  if (dx && g.stride_h == 1 && g.stride_w == 1 && !g.pointwise()) {
    input_gradient_as_conv(g, F, W, dz, dx, n);
  } else if (dx) {
    // Wᵀ once (F × patch), so every call is a plain product.
    std::vector<T> wt(sz(K * F));
    for (index_t k = 0; k < K; ++k)
      for (index_t f = 0; f < F; ++f) wt[sz(f * K + k)] = W[k * F + f];
    // Whole samples per task (the tiles of one sample add into the same dx), in order.
    const index_t groups = tl.whole() ? tl.count(0, n) : n;
    parallel_for(groups, groups > 1 && use_threads(work), [&](index_t c) {
      const index_t s_begin = tl.whole() ? c * tl.per : c;
      const index_t s_end = tl.whole() ? std::min(n, s_begin + tl.per) : c + 1;
      if (!g.pointwise()) std::fill(dx + s_begin * S, dx + s_end * S, T(0));
      const index_t tiles = tl.count(s_begin, s_end);
      for (index_t k = 0; k < tiles; ++k) {
        const Tile t = tl.at(s_begin, s_end, k);
        const index_t rows = t.rows(), r0 = t.row0(P);
        const T* d = dz + r0 * F;
        if (g.pointwise()) {
          gemm<T>(false, false, rows, K, F, d, F, wt.data(), K, dx + r0 * K, K, false);
          continue;
        }
        T* dcols = scratch<T>(1, rows * K);
        gemm<T>(false, false, rows, K, F, d, F, wt.data(), K, dcols, K, false);
        for (index_t s = 0; s < t.ns; ++s)
          col2im(g, dcols + s * t.np * K, t.p0, t.np, dx + (t.s0 + s) * S);
      }
    });
  }
}

#define DROPNET_INSTANTIATE_CONV(T)                                                               \
  template void conv_forward<T>(const WindowGeometry&, index_t, const T*, const T*, const T*, T*, \
                                T*, index_t, Act, double);                                        \
  template void conv_backward<T>(const WindowGeometry&, index_t, const T*, const T*, const T*,    \
                                 const T*, const T*, T*, T*, T*, T*, index_t, Act, double);
DROPNET_INSTANTIATE_CONV(float)
DROPNET_INSTANTIATE_CONV(double)

DROPNET_ISA_END
