// What the recurrent kernels (LSTM, GRU, SimpleRNN) share: the gate nonlinearities over
// spans, their derivatives through the saved outputs, the batch split of the time loops,
// the bias gradient's fixed-order column sums, and the sequence plumbing of the GRU and
// SimpleRNN (masked inputs in processed order, step masks, outputs, input gradients).
// Included by per-ISA kernel sources only, after dropnet/kernels.hpp.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

DROPNET_ISA_BEGIN

// ---- Gate nonlinearities. float: exp by Cody-Waite reduction and Cephes's degree-6
// polynomial (relative error ~1e-7 on the clamped range), written branch-free so the gate
// loops vectorize; double (used for checking) calls the library.
inline float exp_gate(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  const float magic = 12582912.0f;  // 1.5·2^23: adding it rounds to an integer
  const float n = (x * 1.44269504088896341f + magic) - magic;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = p * r * r + r + 1.0f;
  const std::int32_t bits = (std::int32_t(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return e * scale;
}
inline double exp_gate(double x) { return std::exp(x); }

template <class T>
inline T sigmoid_gate(T x) {
  return T(1) / (T(1) + exp_gate(-x));
}

inline float tanh_gate(float x) {
  const float ax = std::fabs(x);
  // |x| < 0.625: odd polynomial (no cancellation); else 1 - 2/(e^{2|x|} + 1) with the sign.
  const float s = x * x;
  float p = -5.70498872745e-3f;
  p = p * s + 2.06390887954e-2f;
  p = p * s - 5.37397155531e-2f;
  p = p * s + 1.33314422036e-1f;
  p = p * s - 3.33332819422e-1f;
  const float small = x + x * s * p;
  const float big = 1.0f - 2.0f / (exp_gate(2.0f * ax) + 1.0f);
  return ax < 0.625f ? small : std::copysign(big, x);
}
inline double tanh_gate(double x) { return std::tanh(x); }

// y[0, n) = act(x[0, n)), in place allowed; the switch is outside the loop so each case
// vectorizes.
template <class T>
void gate_span(Act a, const T* x, T* y, index_t n) {
  switch (a) {
    case Act::sigmoid:
#pragma omp simd
      for (index_t k = 0; k < n; ++k) y[k] = sigmoid_gate(x[k]);
      return;
    case Act::tanh:
#pragma omp simd
      for (index_t k = 0; k < n; ++k) y[k] = tanh_gate(x[k]);
      return;
    case Act::relu:
#pragma omp simd
      for (index_t k = 0; k < n; ++k) y[k] = x[k] > T(0) || x[k] != x[k] ? x[k] : T(0);
      return;
    default:
      if (y != x) std::copy(x, x + n, y);
  }
}

// d[0, n) = act'(x) through y = act(x) values in y[0, n).
template <class T>
void gate_grad_span(Act a, const T* y, T* d, index_t n) {
  switch (a) {
    case Act::sigmoid:
#pragma omp simd
      for (index_t k = 0; k < n; ++k) d[k] = y[k] * (T(1) - y[k]);
      return;
    case Act::tanh:
#pragma omp simd
      for (index_t k = 0; k < n; ++k) d[k] = T(1) - y[k] * y[k];
      return;
    case Act::relu:
#pragma omp simd
      for (index_t k = 0; k < n; ++k) d[k] = y[k] > T(0) ? T(1) : T(0);
      return;
    default:
      std::fill(d, d + n, T(1));
  }
}

// Rows [s0, s1) of the batch per task: a contiguous block per thread.
template <class F>
void for_blocks(index_t n, index_t work, F&& f) {
  const index_t blocks = use_threads(work) ? std::min<index_t>(n, max_threads()) : 1;
  parallel_for(blocks, blocks > 1, [&](index_t b) { f(b * n / blocks, (b + 1) * n / blocks); });
}

// out[j] = Σ_r src[r·ld + j] over rows [0, rows), for columns [0, cols): columns split
// across threads, each summing its rows in order (the same bits on any thread count).
template <class T>
void column_sums(index_t rows, index_t cols, const T* src, index_t ld, T* out) {
  constexpr index_t kCols = 32;
  parallel_for((cols + kCols - 1) / kCols, use_threads(rows * cols), [&](index_t blk) {
    const index_t j0 = blk * kCols, j1 = std::min(cols, j0 + kCols);
    std::fill(out + j0, out + j1, T(0));
    for (index_t r = 0; r < rows; ++r) {
#pragma omp simd
      for (index_t j = j0; j < j1; ++j) out[j] += src[r * ld + j];
    }
  });
}

// ---- sequences of the recurrent kernels (RnnGeometry): samples batch-major, steps in
// processed order (reversed with go_backwards).

// Step t (processed order) of sample s takes part: its step mask, read in input order.
template <class T>
inline bool step_kept(const RnnGeometry& g, const T* step_mask, index_t s, index_t t) {
  return !step_mask || step_mask[s * g.steps + (g.go_backwards ? g.steps - 1 - t : t)] != T(0);
}

inline index_t rnn_input_copies(const RnnGeometry& g) { return std::max(1, g.input_masks); }

// xm (copies, n, T, D): copy q of sample s is x ⊙ in_mask (s, q) in processed order, the
// mask the same at every step; one plain copy without masks.
template <class T>
void masked_inputs(const RnnGeometry& g, const T* x, const T* in_mask, T* xm, index_t n) {
  const index_t Tn = g.steps, D = g.features, copies = rnn_input_copies(g);
  parallel_for(n, use_threads(n * Tn * D * copies), [&](index_t s) {
    for (index_t q = 0; q < copies; ++q) {
      const T* m = in_mask ? in_mask + (s * g.input_masks + q) * D : nullptr;
      for (index_t t = 0; t < Tn; ++t) {
        const T* src = x + (s * Tn + (g.go_backwards ? Tn - 1 - t : t)) * D;
        T* dst = xm + ((q * n + s) * Tn + t) * D;
        if (m) {
#pragma omp simd
          for (index_t k = 0; k < D; ++k) dst[k] = src[k] * m[k];
        } else {
          std::copy(src, src + D, dst);
        }
      }
    }
  });
}

// Row s's first kept step in processed order (g.steps when none): its output is zero
// before that step.
template <class T>
index_t first_kept(const RnnGeometry& g, const T* step_mask, index_t s) {
  index_t first = 0;
  while (first < g.steps && !step_kept(g, step_mask, s, first)) ++first;
  return first;
}

// The layer's output from the states h (n, T, U) of every processed step: the sequence or
// the last step, zero where no step of the row has been taken yet; h_last (or null) gets
// each row's final state.
template <class T>
void rnn_outputs(const RnnGeometry& g, const T* step_mask, const T* h, T* y, T* h_last, index_t n) {
  const index_t Tn = g.steps, U = g.units;
  for (index_t s = 0; s < n; ++s) {
    const T* hs = h + s * Tn * U;
    if (h_last) std::copy(hs + (Tn - 1) * U, hs + Tn * U, h_last + s * U);
    const index_t first = first_kept(g, step_mask, s);
    if (g.return_sequences) {
      T* ys = y + s * Tn * U;
      std::fill(ys, ys + first * U, T(0));
      std::copy(hs + first * U, hs + Tn * U, ys + first * U);
    } else if (first < Tn) {
      std::copy(hs + (Tn - 1) * U, hs + Tn * U, y + s * U);
    } else {
      std::fill(y + s * U, y + (s + 1) * U, T(0));
    }
  }
}

// The gradient reaching step t's state of row s from the output, or null: dy of that step
// (the last one only without return_sequences), none before the row's first kept step
// `first` (the output is zero there, whatever the state).
template <class T>
inline const T* output_gradient(const RnnGeometry& g, const T* dy, index_t s, index_t t,
                                index_t first) {
  if (t < first) return nullptr;
  if (g.return_sequences) return dy + (s * g.steps + t) * g.units;
  return t == g.steps - 1 ? dy + s * g.units : nullptr;
}

// Backward's bookkeeping for rows [s0, s0 + nb) of a block: each row's first kept step, and
// the state gradients started from those reaching the final states (zeros without).
template <class T>
void start_state_gradients(const RnnGeometry& g, const T* step_mask, const T* d_last, index_t s0,
                           index_t nb, std::vector<index_t>& first, std::vector<T>& dstate) {
  first.resize(sz(nb));
  for (index_t r = 0; r < nb; ++r) first[sz(r)] = first_kept(g, step_mask, s0 + r);
  if (d_last)
    std::copy(d_last + s0 * g.units, d_last + (s0 + nb) * g.units, dstate.begin());
  else
    std::fill(dstate.begin(), dstate.end(), T(0));
}

// hp (n·T, U): each row's state before step t (h0 at t = 0; zeros with h0 null), times
// recurrent mask q (or unmasked with rec_mask null): the left operand of the recurrent
// kernel's gradient.
template <class T>
void previous_states(const RnnGeometry& g, const T* h0, const T* h, const T* rec_mask, index_t q,
                     T* hp, index_t n) {
  const index_t Tn = g.steps, U = g.units;
  parallel_for(n, use_threads(n * Tn * U), [&](index_t s) {
    const T* m = rec_mask ? rec_mask + (s * g.gates + q) * U : nullptr;
    for (index_t t = 0; t < Tn; ++t) {
      const T* src = t > 0 ? h + (s * Tn + t - 1) * U : h0 ? h0 + s * U : nullptr;
      T* dst = hp + (s * Tn + t) * U;
      if (!src) {
        std::fill(dst, dst + U, T(0));
      } else if (m) {
#pragma omp simd
        for (index_t k = 0; k < U; ++k) dst[k] = src[k] * m[k];
      } else {
        std::copy(src, src + U, dst);
      }
    }
  });
}

// dx from the pre-activation gradients dz (n·T, gates·U) of the input products: dz · Wᵀ
// (per gate when each gate has its own input mask), masked, back in input time order.
template <class T>
void rnn_input_gradient(const RnnGeometry& g, const T* W, const T* in_mask, const T* dz, T* dx,
                        index_t n) {
  const index_t Tn = g.steps, D = g.features, GU = g.gates * g.units, rows = n * Tn;
  const index_t passes = g.input_masks > 1 ? g.gates : 1, width = GU / passes;
  std::vector<T> wt(sz(GU * D)), part(sz(passes * rows * D));
  for (index_t k = 0; k < D; ++k)
    for (index_t j = 0; j < GU; ++j) wt[sz(j * D + k)] = W[k * GU + j];
  for (index_t q = 0; q < passes; ++q)
    gemm<T>(false, false, rows, D, width, dz + q * width, GU, wt.data() + q * width * D, D,
            part.data() + q * rows * D, D, false);
  parallel_for(n, use_threads(rows * D * passes), [&](index_t s) {
    for (index_t t = 0; t < Tn; ++t) {
      const index_t row = s * Tn + t;
      T* dst = dx + (s * Tn + (g.go_backwards ? Tn - 1 - t : t)) * D;
      for (index_t k = 0; k < D; ++k) {
        T acc = T(0);
        for (index_t q = 0; q < passes; ++q) {
          const T v = part[sz((q * rows + row) * D + k)];
          const T* m = in_mask ? in_mask + (s * g.input_masks + q) * D : nullptr;
          acc += m ? v * m[k] : v;
        }
        dst[k] = acc;
      }
    }
  });
}

// dW = Σ over (sample, step) rows of xm ᵀ · dz, per gate when each has its own input copy.
template <class T>
void rnn_kernel_gradient(const RnnGeometry& g, const T* xm, const T* dz, T* dW, index_t n) {
  const index_t D = g.features, U = g.units, GU = g.gates * U, rows = n * g.steps;
  if (rnn_input_copies(g) == 1) {
    gemm<T>(true, false, D, GU, rows, xm, D, dz, GU, dW, GU, false);
    return;
  }
  for (index_t q = 0; q < g.gates; ++q)
    gemm<T>(true, false, D, U, rows, xm + q * rows * D, D, dz + q * U, GU, dW + q * U, GU, false);
}

// R transposed (gates·U × U), so the recurrent gradient of each step is a plain product.
template <class T>
std::vector<T> transposed_recurrent(const RnnGeometry& g, const T* R) {
  const index_t U = g.units, GU = g.gates * U;
  std::vector<T> rt(sz(GU * U));
  for (index_t k = 0; k < U; ++k)
    for (index_t j = 0; j < GU; ++j) rt[sz(j * U + k)] = R[k * GU + j];
  return rt;
}

DROPNET_ISA_END
