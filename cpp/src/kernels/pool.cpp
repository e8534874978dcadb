// Max and average pooling over channels-last samples (1-D as H = 1; global pooling is a
// window over the whole map), forward and backward, vectorized along the channels.
// Padded cells never take part: max ignores them, average divides by the real cells.
#include <algorithm>
#include <vector>

#include "dropnet/kernels.hpp"

DROPNET_ISA_BEGIN

namespace {

// The real cells of window (oh, ow): input rows [i0, i1) and columns [j0, j1) of the
// window, i.e. those whose input coordinates fall inside the map.
struct Span {
  index_t i0, i1, j0, j1;
};

inline index_t first_inside(index_t start, index_t dil, index_t k) {
  // smallest i < k with start + i·dil >= 0
  if (start >= 0) return 0;
  return std::min(k, (-start + dil - 1) / dil);
}
inline index_t end_inside(index_t start, index_t dil, index_t k, index_t size) {
  // one past the largest i < k with start + i·dil < size
  if (start >= size) return 0;
  return std::min(k, (size - 1 - start) / dil + 1);
}

inline Span window_span(const WindowGeometry& g, index_t oh, index_t ow) {
  const index_t h0 = oh * g.stride_h - g.pad_top, w0 = ow * g.stride_w - g.pad_left;
  return {first_inside(h0, g.dil_h, g.k_h), end_inside(h0, g.dil_h, g.k_h, g.in_h),
          first_inside(w0, g.dil_w, g.k_w), end_inside(w0, g.dil_w, g.k_w, g.in_w)};
}

// Offset (in elements) of window cell (i, j) of window (oh, ow) in one sample.
inline index_t cell(const WindowGeometry& g, index_t oh, index_t ow, index_t i, index_t j) {
  const index_t ih = oh * g.stride_h - g.pad_top + i * g.dil_h;
  const index_t iw = ow * g.stride_w - g.pad_left + j * g.dil_w;
  return (ih * g.in_w + iw) * g.channels;
}

template <class T>
void pool_sample(PoolKind kind, const WindowGeometry& g, const T* x, T* y) {
  const index_t C = g.channels;
  for (index_t oh = 0; oh < g.out_h; ++oh)
    for (index_t ow = 0; ow < g.out_w; ++ow) {
      T* out = y + (oh * g.out_w + ow) * C;
      const Span s = window_span(g, oh, ow);
      bool first = true;
      for (index_t i = s.i0; i < s.i1; ++i)
        for (index_t j = s.j0; j < s.j1; ++j) {
          const T* in = x + cell(g, oh, ow, i, j);
          if (first) {
            std::copy(in, in + C, out);
            first = false;
          } else if (kind == PoolKind::max) {
#pragma omp simd
            for (index_t c = 0; c < C; ++c) out[c] = in[c] > out[c] ? in[c] : out[c];
          } else {
#pragma omp simd
            for (index_t c = 0; c < C; ++c) out[c] += in[c];
          }
        }
      if (kind == PoolKind::avg) {
        const T count = T((s.i1 - s.i0) * (s.j1 - s.j0));
#pragma omp simd
        for (index_t c = 0; c < C; ++c) out[c] /= count;
      }
    }
}

// dx of one sample; best/arg are per-channel scratch for max pooling. With relu_input, x
// is a ReLU's output and the ReLU's derivative (x > 0) is applied too.
template <class T>
void pool_sample_backward(PoolKind kind, const WindowGeometry& g, const T* x, const T* dy, T* dx,
                          bool relu_input, std::vector<T>& best, std::vector<index_t>& arg) {
  const index_t C = g.channels;
  std::fill(dx, dx + g.in_size(), T(0));
  for (index_t oh = 0; oh < g.out_h; ++oh)
    for (index_t ow = 0; ow < g.out_w; ++ow) {
      const T* d = dy + (oh * g.out_w + ow) * C;
      const Span s = window_span(g, oh, ow);
      if (kind == PoolKind::avg) {
        const T count = T((s.i1 - s.i0) * (s.j1 - s.j0));
        for (index_t i = s.i0; i < s.i1; ++i)
          for (index_t j = s.j0; j < s.j1; ++j) {
            const index_t off = cell(g, oh, ow, i, j);
            T* out = dx + off;
            if (relu_input) {
              const T* in = x + off;
#pragma omp simd
              for (index_t c = 0; c < C; ++c) out[c] += in[c] > T(0) ? d[c] / count : T(0);
            } else {
#pragma omp simd
              for (index_t c = 0; c < C; ++c) out[c] += d[c] / count;
            }
          }
        continue;
      }
      // The forward's scan: the first cell, then strictly greater values replace it.
      bool first = true;
      for (index_t i = s.i0; i < s.i1; ++i)
        for (index_t j = s.j0; j < s.j1; ++j) {
          const index_t off = cell(g, oh, ow, i, j);
          const T* in = x + off;
          T* bv = best.data();
          index_t* av = arg.data();
          if (first) {
#pragma omp simd
            for (index_t c = 0; c < C; ++c) {
              bv[c] = in[c];
              av[c] = off;
            }
            first = false;
            continue;
          }
#pragma omp simd
          for (index_t c = 0; c < C; ++c) {
            const bool gt = in[c] > bv[c];
            bv[c] = gt ? in[c] : bv[c];
            av[c] = gt ? off : av[c];
          }
        }
      // Each cell takes the gradient of the channels whose maximum it holds: a second
      // pass over the window, contiguous along channels (a scatter would not vectorize).
      const T* bv = best.data();
      const index_t* av = arg.data();
      for (index_t i = s.i0; i < s.i1; ++i)
        for (index_t j = s.j0; j < s.j1; ++j) {
          const index_t off = cell(g, oh, ow, i, j);
          T* out = dx + off;
#pragma omp simd
          for (index_t c = 0; c < C; ++c)
            out[c] += (av[c] == off && (!relu_input || bv[c] > T(0))) ? d[c] : T(0);
        }
    }
}

}  // namespace

template <class T>
void pool_forward(PoolKind kind, const WindowGeometry& g, const T* x, T* y, index_t n) {
  const index_t work = n * g.positions() * g.patch();
  parallel_for(n, n > 1 && use_threads(work), [&](index_t s) {
    pool_sample(kind, g, x + s * g.in_size(), y + s * g.positions() * g.channels);
  });
}

template <class T>
void pool_backward(PoolKind kind, const WindowGeometry& g, const T* x, const T* dy, T* dx,
                   index_t n, bool relu_input) {
  const index_t work = n * g.positions() * g.patch();
  const index_t O = g.positions() * g.channels;
  parallel_for(n, n > 1 && use_threads(work), [&](index_t s) {
    static thread_local std::vector<T> best;
    static thread_local std::vector<index_t> arg;
    if (best.size() < sz(g.channels)) {
      best.resize(sz(g.channels));
      arg.resize(sz(g.channels));
    }
    pool_sample_backward(kind, g, x + s * g.in_size(), dy + s * O, dx + s * g.in_size(), relu_input,
                         best, arg);
  });
}

#define DROPNET_INSTANTIATE_POOL(T)                                                                \
  template void pool_forward<T>(PoolKind, const WindowGeometry&, const T*, T*, index_t);           \
  template void pool_backward<T>(PoolKind, const WindowGeometry&, const T*, const T*, T*, index_t, \
                                 bool);
DROPNET_INSTANTIATE_POOL(float)
DROPNET_INSTANTIATE_POOL(double)

DROPNET_ISA_END
