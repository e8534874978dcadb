// Dropout family: counter-based keep masks (1 bit per mask element), broadcast along
// noise-shape axes, and the element-wise apply passes shared by forward and backward.
#include <algorithm>
#include <vector>

#include "dropnet/kernels.hpp"
#include "dropnet/philox.hpp"

DROPNET_ISA_BEGIN

index_t MaskGeometry::sample_size() const {
  index_t s = 1;
  for (int d = 0; d < rank; ++d) s *= shape[d];
  return s;
}
index_t MaskGeometry::mask_sample_size() const {
  index_t s = 1;
  for (int d = 0; d < rank; ++d) s *= noise[d];
  return s;
}
index_t MaskGeometry::mask_size() const { return (noise_batch ? n : 1) * mask_sample_size(); }

namespace {
bool elementwise(const MaskGeometry& g) {
  if (!g.noise_batch) return false;
  for (int d = 0; d < g.rank; ++d)
    if (g.noise[d] != g.shape[d]) return false;
  return true;
}

// For each element of one sample, the index of its mask element within the sample.
std::vector<index_t> broadcast_map(const MaskGeometry& g) {
  const index_t size = g.sample_size();
  std::vector<index_t> map(sz(size), 0);
  index_t mstride[6];
  index_t acc = 1;
  for (int d = g.rank - 1; d >= 0; --d) {
    mstride[d] = g.noise[d] == 1 ? 0 : acc;
    acc *= g.noise[d];
  }
  index_t idx[6] = {0, 0, 0, 0, 0, 0};
  for (index_t e = 0; e < size; ++e) {
    index_t m = 0;
    for (int d = 0; d < g.rank; ++d) m += idx[d] * mstride[d];
    map[sz(e)] = m;
    for (int d = g.rank - 1; d >= 0; --d) {
      if (++idx[d] < g.shape[d]) break;
      idx[d] = 0;
    }
  }
  return map;
}

template <class T, class F>
void for_each_element(const MaskGeometry& g, F f) {
  const index_t size = g.sample_size();
  if (elementwise(g)) {
    const index_t total = g.n * size;
    parallel_for(total, use_threads(total), [&](index_t i) { f(i, i); });
    return;
  }
  const std::vector<index_t> map = broadcast_map(g);
  const index_t msize = g.mask_sample_size();
  parallel_for(g.n, use_threads(g.n * size), [&](index_t r) {
    const index_t mrow = g.noise_batch ? r * msize : 0;
    for (index_t e = 0; e < size; ++e) f(r * size + e, mrow + map[sz(e)]);
  });
}

inline bool bit(const std::uint32_t* bits, index_t m) { return (bits[m >> 5] >> (m & 31)) & 1u; }

// f(w, word) for the keep words w = 0..words-1 of an aligned run: word w covers global
// elements 32w.. from Philox block b0 + 8w on, i.e. 8 whole blocks. Two words (16 blocks)
// per AVX-512 pass, an odd last word the 8-block pass.
template <class F>
void for_each_keep_word(const RngStream& rng, std::uint64_t b0, index_t words, std::uint32_t thr,
                        bool parallel, F f) {
#ifdef DROPNET_PHILOX_X16
  // Runs of 8 words (four 16-block chains at once), then pairs, then an odd last word.
  constexpr index_t kRun = 8;
  parallel_for(words / kRun, parallel, [&](index_t p) {
    std::uint64_t b[kRun / 2];
    philox_keep_bits64xv<kRun / 2>(rng, b0 + std::uint64_t(p * kRun) * 8, thr, b);
    for (index_t i = 0; i < kRun / 2; ++i) {
      f(p * kRun + 2 * i, std::uint32_t(b[i]));
      f(p * kRun + 2 * i + 1, std::uint32_t(b[i] >> 32));
    }
  });
  for (index_t w = words / kRun * kRun; w + 2 <= words; w += 2) {
    const std::uint64_t b = philox_keep_bits64(rng, b0 + std::uint64_t(w) * 8, thr);
    f(w, std::uint32_t(b));
    f(w + 1, std::uint32_t(b >> 32));
  }
  if (words % 2) f(words - 1, philox_keep_bits32(rng, b0 + std::uint64_t(words - 1) * 8, thr));
#else
  parallel_for(words, parallel,
               [&](index_t w) { f(w, philox_keep_bits32(rng, b0 + std::uint64_t(w) * 8, thr)); });
#endif
}
}  // namespace

void dropout_mask(const MaskGeometry& g, double rate, std::uint64_t seed, std::uint64_t stream,
                  std::uint32_t* bits) {
  const index_t count = g.mask_size();
  const index_t words = (count + 31) / 32;
  const std::uint64_t base = std::uint64_t(g.noise_batch ? g.row0 * g.mask_sample_size() : 0);
  const std::uint64_t threshold = keep_threshold(rate);
  const RngStream rng(seed, stream);
  if (threshold == 0 || threshold >= (std::uint64_t(1) << 32)) {
    std::fill(bits, bits + words, threshold == 0 ? ~std::uint32_t(0) : std::uint32_t(0));
    return;
  }
  const std::uint32_t thr = std::uint32_t(threshold);
  if (base % 32 == 0) {
    for_each_keep_word(rng, base >> 2, words, thr, use_threads(count),
                       [&](index_t w, std::uint32_t word) { bits[w] = word; });
    return;
  }
  parallel_for(words, use_threads(count), [&](index_t w) {
    const index_t e0 = w * 32, e1 = std::min(count, e0 + 32);
    std::uint32_t out = 0;
    std::uint64_t cached = ~std::uint64_t(0);
    Philox4x32 blk{};
    for (index_t e = e0; e < e1; ++e) {
      const std::uint64_t gidx = base + std::uint64_t(e);
      if ((gidx >> 2) != cached) {
        cached = gidx >> 2;
        blk = rng.block(cached);
      }
      out |= std::uint32_t(blk.v[gidx & 3] >= thr) << (e - e0);
    }
    bits[w] = out;
  });
}

// Element-wise masks (mask index == element index): y = keep ? a·x + c : a·fill + c over
// 32-element words, written branch-free on locals so the compiler vectorizes it.
template <class T>
inline void select_word(std::uint32_t b, const T* __restrict xw, T* __restrict yw, T divisor, T a,
                        T c, T fill) {
  T t[32];
  std::uint32_t keep[32];
#pragma omp simd
  for (int k = 0; k < 32; ++k) {
    t[k] = xw[k] / divisor;
    keep[k] = (b >> k) & 1u;
  }
#pragma omp simd
  for (int k = 0; k < 32; ++k) yw[k] = a * (keep[k] ? t[k] : fill) + c;
}

template <class T>
void select_affine(index_t total, const std::uint32_t* bits, const T* x, T* y, T divisor, T a, T c,
                   T fill) {
  const index_t full = total / 32;
  if (use_threads(total)) {
    parallel_for(full, true, [&](index_t w) {
      select_word(bits[w], x + w * 32, y + w * 32, divisor, a, c, fill);
    });
  } else {
    for (index_t w = 0; w < full; ++w)
      select_word(bits[w], x + w * 32, y + w * 32, divisor, a, c, fill);
  }
  for (index_t i = full * 32; i < total; ++i) {
    const bool keep = (bits[full] >> (i - full * 32)) & 1u;
    y[i] = a * (keep ? x[i] / divisor : fill) + c;
  }
}

namespace {
// The one axis a per-sample mask varies along when every other axis is broadcast (spatial
// dropout: channels last or first), or -1.
int single_mask_axis(const MaskGeometry& g) {
  if (!g.noise_batch) return -1;
  int axis = -1;
  for (int d = 0; d < g.rank; ++d) {
    if (g.noise[d] == 1 || g.shape[d] == 1) continue;
    if (g.noise[d] != g.shape[d] || axis >= 0) return -1;
    axis = d;
  }
  return axis;
}

}  // namespace

template <class T>
void dropout_apply(const MaskGeometry& g, const std::uint32_t* bits, T keep_prob, T dropped,
                   const T* x, T* y) {
  if (elementwise(g)) {
    if (dropped == T(0))
      return select_affine<T>(g.n * g.sample_size(), bits, x, y, keep_prob, T(1), T(0), T(0));
  }
  const int axis = single_mask_axis(g);
  if (axis >= 0) {
    // Sample r is outer × mid × inner elements with mid mask bits r·mid + m: whole runs of
    // `inner` elements share a bit (channels first), or each position's `mid` channels
    // take the sample's keep flags (channels last).
    const index_t size = g.sample_size(), mid = g.shape[axis];
    index_t inner = 1;
    for (int d = axis + 1; d < g.rank; ++d) inner *= g.shape[d];
    const index_t outer = size / (mid * inner);
    parallel_for(g.n, use_threads(g.n * size), [&](index_t r) {
      const T* xs = x + r * size;
      T* ys = y + r * size;
      if (inner > 1) {
        for (index_t o = 0; o < outer; ++o)
          for (index_t m = 0; m < mid; ++m) {
            const index_t off = (o * mid + m) * inner;
            if (bit(bits, r * mid + m)) {
#pragma omp simd
              for (index_t k = 0; k < inner; ++k) ys[off + k] = xs[off + k] / keep_prob;
            } else {
              std::fill(ys + off, ys + off + inner, dropped);
            }
          }
        return;
      }
      static thread_local std::vector<unsigned char> keep;
      keep.resize(sz(mid));
      for (index_t m = 0; m < mid; ++m) keep[sz(m)] = bit(bits, r * mid + m);
      const unsigned char* kp = keep.data();
      for (index_t o = 0; o < outer; ++o) {
        const T* xo = xs + o * mid;
        T* yo = ys + o * mid;
#pragma omp simd
        for (index_t m = 0; m < mid; ++m) yo[m] = kp[m] ? xo[m] / keep_prob : dropped;
      }
    });
    return;
  }
  for_each_element<T>(
      g, [&](index_t i, index_t m) { y[i] = bit(bits, m) ? x[i] / keep_prob : dropped; });
}

template <class T>
void dropout_forward(const MaskGeometry& g, double rate, std::uint64_t seed, std::uint64_t stream,
                     std::uint32_t* bits, T keep_prob, const T* x, T* y) {
  const index_t count = g.mask_size();
  const std::uint64_t base = std::uint64_t(g.row0 * g.mask_sample_size());
  const std::uint64_t threshold = keep_threshold(rate);
  if (!elementwise(g) || base % 32 != 0 || threshold == 0 ||
      threshold >= (std::uint64_t(1) << 32)) {
    dropout_mask(g, rate, seed, stream, bits);
    dropout_apply<T>(g, bits, keep_prob, T(0), x, y);
    return;
  }
  // One pass: each word's 32 keep bits are drawn and applied to its 32 elements at once,
  // so the random-number arithmetic overlaps the streaming of x and y. The same words as
  // dropout_mask, the same values as dropout_apply.
  const std::uint32_t thr = std::uint32_t(threshold);
  const RngStream rng(seed, stream);
  const index_t words = (count + 31) / 32, full = count / 32;
  for_each_keep_word(rng, base >> 2, words, thr, use_threads(count),
                     [&](index_t w, std::uint32_t word) {
                       bits[w] = word;
                       if (w < full)
                         select_word(word, x + w * 32, y + w * 32, keep_prob, T(1), T(0), T(0));
                     });
  for (index_t i = full * 32; i < count; ++i) {
    const bool keep = (bits[full] >> (i - full * 32)) & 1u;
    y[i] = keep ? x[i] / keep_prob : T(0);
  }
}

template <class T>
void alpha_dropout_apply(const MaskGeometry& g, const std::uint32_t* bits, T a, T b, T alpha_p,
                         const T* x, T* y) {
  if (elementwise(g))
    return select_affine<T>(g.n * g.sample_size(), bits, x, y, T(1), a, b, alpha_p);
  for_each_element<T>(
      g, [&](index_t i, index_t m) { y[i] = a * (bit(bits, m) ? x[i] : alpha_p) + b; });
}

template <class T>
void normal_noise(index_t count, index_t first, double mean, double std, std::uint64_t seed,
                  std::uint64_t stream, T* eps) {
  const RngStream rng(seed, stream);
  parallel_for(count, use_threads(count * 16), [&](index_t i) {
    const std::uint64_t gidx = std::uint64_t(first + i);
    const Philox4x32 blk = rng.block(gidx >> 2);
    const unsigned lane = unsigned(gidx & 3);
    double z0, z1;
    box_muller(blk.v[lane & 2u], blk.v[(lane & 2u) + 1], z0, z1);
    eps[i] = T(mean + std * ((lane & 1u) ? z1 : z0));
  });
}

Philox4x32 philox_block(std::uint32_t c0, std::uint32_t c1, std::uint32_t c2, std::uint32_t c3,
                        std::uint32_t k0, std::uint32_t k1) {
  return philox4x32_10(c0, c1, c2, c3, k0, k1);
}

#define DROPNET_INSTANTIATE_DROPOUT(T)                                                           \
  template void dropout_apply<T>(const MaskGeometry&, const std::uint32_t*, T, T, const T*, T*); \
  template void dropout_forward<T>(const MaskGeometry&, double, std::uint64_t, std::uint64_t,    \
                                   std::uint32_t*, T, const T*, T*);                             \
  template void alpha_dropout_apply<T>(const MaskGeometry&, const std::uint32_t*, T, T, T,       \
                                       const T*, T*);                                            \
  template void normal_noise<T>(index_t, index_t, double, double, std::uint64_t, std::uint64_t, T*);
DROPNET_INSTANTIATE_DROPOUT(float)
DROPNET_INSTANTIATE_DROPOUT(double)

DROPNET_ISA_END
