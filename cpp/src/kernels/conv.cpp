// Convolution (Conv1D/Conv2D, channels-last) as im2col + the shared GEMM: forward with the
// bias and relu in the GEMM epilogue, backward as two GEMMs (patchesᵀ·dz for the kernel,
// dz·Wᵀ then col2im for the input). Patches are built a few samples at a time in a
// per-thread buffer that stays in cache, never for the whole batch.
#include <algorithm>
#include <cstring>
#include <vector>

#include "dropnet/kernels.hpp"

DROPNET_ISA_BEGIN

namespace {

// Samples whose weight and bias gradients are summed as one chain; the parts are then
// added in order. Fixed by the batch alone, so any thread count gives the same bits.
constexpr index_t kGradParts = 8;
// Rows of patches per GEMM call: enough for the micro-kernel to stream, few enough to
// stay in L2 (an im2col buffer of 256 KiB).
constexpr index_t kMinRows = 256;
constexpr index_t kPatchBytes = 256 << 10;

constexpr index_t ceil_div(index_t a, index_t b) { return (a + b - 1) / b; }

// Samples per GEMM call: a few when each has few output positions (small images), else one.
template <class T>
index_t samples_per_call(const WindowGeometry& g, index_t n) {
  const index_t P = std::max<index_t>(g.positions(), 1);
  const index_t by_rows = ceil_div(kMinRows, P);
  const index_t by_bytes = std::max<index_t>(1, kPatchBytes / (P * g.patch() * index_t(sizeof(T))));
  return std::max<index_t>(1, std::min({by_rows, by_bytes, n}));
}

// A per-thread scratch buffer (slot 0: patches, slot 1: patch gradients) that grows and
// is kept across calls, so training steps allocate nothing.
template <class T>
T* scratch(int slot, index_t count) {
  static thread_local std::vector<T> buf[2];
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

// One sample's patches: row p = oh·out_w + ow holds (i, j, c) in kernel order, zero
// where the window covers padding.
template <class T>
void im2col(const WindowGeometry& g, const T* x, T* cols) {
  const index_t C = g.channels, K = g.patch(), run = g.k_w * C;
  for (index_t oh = 0; oh < g.out_h; ++oh)
    for (index_t ow = 0; ow < g.out_w; ++ow) {
      T* row = cols + (oh * g.out_w + ow) * K;
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

// dx (one sample) = Σ over windows of the patch gradients, in window order.
template <class T>
void col2im(const WindowGeometry& g, const T* dcols, T* dx) {
  const index_t C = g.channels, K = g.patch();
  std::fill(dx, dx + g.in_size(), T(0));
  for (index_t oh = 0; oh < g.out_h; ++oh)
    for (index_t ow = 0; ow < g.out_w; ++ow) {
      const T* row = dcols + (oh * g.out_w + ow) * K;
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

// The patch matrix of samples [s0, s0 + ns): the input itself for pointwise windows,
// else built in the calling thread's slot-0 buffer.
template <class T>
const T* patches(const WindowGeometry& g, const T* x, index_t s0, index_t ns) {
  if (g.pointwise()) return x + s0 * g.in_size();
  const index_t per = g.positions() * g.patch();
  T* buf = scratch<T>(0, ns * per);
  for (index_t s = 0; s < ns; ++s) im2col(g, x + (s0 + s) * g.in_size(), buf + s * per);
  return buf;
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
  const index_t per = samples_per_call<T>(t, n), calls = ceil_div(n, per);
  parallel_for(calls, calls > 1 && use_threads(n * P * K * C / 4), [&](index_t c) {
    const index_t s0 = c * per, ns = std::min(per, n - s0);
    gemm<T>(false, false, ns * P, C, K, patches(t, dz, s0, ns), K, wf.data(), C, dx + s0 * P * C, C,
            false);
  });
}

}  // namespace

template <class T>
void conv_forward(const WindowGeometry& g, index_t F, const T* x, const T* W, const T* b, T* z,
                  T* y, index_t n, Act act, double alpha) {
  const index_t P = g.positions(), K = g.patch();
  const bool relu_in_place = act == Act::relu && y == z;
  const bool act_done = (act == Act::linear || relu_in_place) && y == z;
  const index_t per = samples_per_call<T>(g, n), calls = ceil_div(n, per);
  // Rows are independent, so splitting samples across threads never changes results; a
  // single call (one big image) lets the GEMM split its rows instead.
  parallel_for(calls, calls > 1 && use_threads(n * P * K * F / 4), [&](index_t c) {
    const index_t s0 = c * per, ns = std::min(per, n - s0), rows = ns * P;
    T* zo = z + s0 * P * F;
    gemm_bias<T>(rows, F, K, patches(g, x, s0, ns), K, W, F, b, relu_in_place, zo, F);
    if (!act_done)
      for (index_t r = 0; r < rows; ++r)
        activation_forward_span<T>(act, alpha, zo + r * F, y + (s0 * P + r) * F, F);
  });
}

template <class T>
void conv_backward(const WindowGeometry& g, index_t F, const T* x, const T* W, const T* z,
                   const T* y, const T* dy, T* dz, T* dW, T* db, T* dx, index_t n, Act act,
                   double alpha) {
  const index_t P = g.positions(), K = g.patch(), S = g.in_size();
  const index_t work = n * P * K * F / 4;
  if (dz != dy) activation_backward<T>(act, alpha, z, y, dy, dz, n * P, F);
  const index_t per = samples_per_call<T>(g, n);

  if (dW || db) {
    // Part p sums samples [p·n/parts, (p+1)·n/parts) as one chain (part 0 straight into
    // dW and db); the other parts are added afterwards in order.
    const index_t parts = std::min(n, kGradParts);
    const index_t stride = K * F + F;
    std::vector<T> partial(sz(std::max<index_t>(parts - 1, 0) * stride));
    parallel_for(parts, parts > 1 && use_threads(work), [&](index_t p) {
      const index_t s_begin = p * n / parts, s_end = (p + 1) * n / parts;
      T* pw = p == 0 ? dW : partial.data() + (p - 1) * stride;
      T* pb = p == 0 ? db : partial.data() + (p - 1) * stride + K * F;
      if (pb) std::fill(pb, pb + F, T(0));
      for (index_t s0 = s_begin; s0 < s_end; s0 += per) {
        const index_t ns = std::min(per, s_end - s0), rows = ns * P;
        const T* d = dz + s0 * P * F;
        if (pw)
          gemm<T>(true, false, K, F, rows, patches(g, x, s0, ns), K, d, F, pw, F, s0 > s_begin);
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
    const index_t calls = ceil_div(n, per);
    parallel_for(calls, calls > 1 && use_threads(work), [&](index_t c) {
      const index_t s0 = c * per, ns = std::min(per, n - s0), rows = ns * P;
      const T* d = dz + s0 * P * F;
      if (g.pointwise()) {
        gemm<T>(false, false, rows, K, F, d, F, wt.data(), K, dx + s0 * S, K, false);
        return;
      }
      T* dcols = scratch<T>(1, rows * K);
      gemm<T>(false, false, rows, K, F, d, F, wt.data(), K, dcols, K, false);
      for (index_t s = 0; s < ns; ++s) col2im(g, dcols + s * P * K, dx + (s0 + s) * S);
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
