// SimpleRNN (Keras's: h = act(x W + b + h_prev R)) with variational dropout, step masks and
// carried initial states, built like the LSTM and GRU: the input projection of every step as
// one GEMM, a per-step recurrent GEMM and activation, BPTT with the weight gradients as
// GEMMs after the loop. Threads split the batch; results do not depend on the thread count.
#include <algorithm>
#include <vector>

#include "dropnet/kernels.hpp"
#include "recurrent.hpp"

DROPNET_ISA_BEGIN

namespace {

// Workspace views, batch-major. a (n, T, U): pre-activations → (backward) their gradients;
// h (n, T, U): the state after each step; h0 (n, U): the initial states; xm (n, T, D): the
// masked inputs in processed order.
template <class T>
struct SimpleRnnViews {
  T *a, *h, *h0, *xm;
  SimpleRnnViews(const RnnGeometry& g, T* ws, index_t n) {
    const index_t rows = n * g.steps;
    a = ws;
    h = a + rows * g.units;
    h0 = h + rows * g.units;
    xm = h0 + n * g.units;
  }
};

}  // namespace

index_t simple_rnn_workspace(const RnnGeometry& g, index_t n) {
  return n * g.steps * (2 * g.units + g.features) + n * g.units;
}

// One step: h = act(x̃ W + b + h̃_prev R), x̃ and h̃_prev under the input and recurrent
// masks. x (n, T, D); W (D, U); R (U, U); b (U) or null. Threads: blocks of samples.
template <class T>
void simple_rnn_forward(const RnnGeometry& g, const RnnArgs<T>& p, const RnnCarry<T>& carry,
                        const T* x, T* y, T* h_last, T* ws, index_t n) {
  const index_t Tn = g.steps, D = g.features, U = g.units, rows = n * Tn;
  SimpleRnnViews<T> v(g, ws, n);
  if (carry.h0)
    std::copy(carry.h0, carry.h0 + n * U, v.h0);
  else
    std::fill(v.h0, v.h0 + n * U, T(0));
  masked_inputs(g, x, p.in_mask, v.xm, n);
  gemm_bias<T>(rows, U, D, v.xm, D, p.W, U, p.b, false, v.a, U);
  for_blocks(n, rows * U * U / 4, [&](index_t s0, index_t s1) {
    const index_t nb = s1 - s0;
    std::vector<T> hm(p.rec_mask ? sz(nb * U) : 0);
    for (index_t t = 0; t < Tn; ++t) {
      const T* hp = t == 0 ? v.h0 + s0 * U : v.h + (s0 * Tn + t - 1) * U;
      const index_t ldh = t == 0 ? U : Tn * U;
      T* at = v.a + (s0 * Tn + t) * U;
      if (t > 0 || carry.h0) {
        const T* left = hp;
        index_t ld = ldh;
        if (p.rec_mask) {
          for (index_t r = 0; r < nb; ++r) {
            const T* m = p.rec_mask + (s0 + r) * U;
            const T* h = hp + r * ldh;
#pragma omp simd
            for (index_t k = 0; k < U; ++k) hm[sz(r * U + k)] = h[k] * m[k];
          }
          left = hm.data();
          ld = U;
        }
        gemm<T>(false, false, nb, U, U, left, ld, p.R, U, at, Tn * U, true);
      }
      for (index_t r = 0; r < nb; ++r) {
        const index_t s = s0 + r;
        T* out = v.h + (s * Tn + t) * U;
        if (step_kept(g, carry.step_mask, s, t))
          gate_span<T>(g.act, at + r * Tn * U, out, U);
        else
          std::copy(hp + r * ldh, hp + r * ldh + U, out);
      }
    }
  });
  rnn_outputs(g, carry.step_mask, v.h, y, h_last, n);
}

// BPTT: da = dh ⊙ act'(h) at each kept step, h_prev receiving (da · Rᵀ) ⊙ mask; a masked
// step passes dh on whole and writes a zero gradient. Then dW = x̃ᵀ·da, dR = h̃_prevᵀ·da,
// db = Σ da and dx = da·Wᵀ ⊙ mask over every (sample, step) row.
template <class T>
void simple_rnn_backward(const RnnGeometry& g, const RnnArgs<T>& p, const RnnCarry<T>& carry, T* ws,
                         const T* dy, T* dW, T* dR, T* db, T* dx, index_t n) {
  const index_t Tn = g.steps, U = g.units, rows = n * Tn;
  SimpleRnnViews<T> v(g, ws, n);
  const std::vector<T> rt = transposed_recurrent(g, p.R);
  for_blocks(n, rows * U * U / 4, [&](index_t s0, index_t s1) {
    const index_t nb = s1 - s0;
    std::vector<T> dh(sz(nb * U)), tmp(p.rec_mask ? sz(nb * U) : 0), w(sz(U));
    std::vector<index_t> first;
    start_state_gradients(g, carry.step_mask, carry.dh_last, s0, nb, first, dh);
    for (index_t t = Tn - 1; t >= 0; --t) {
      T* at = v.a + (s0 * Tn + t) * U;
      for (index_t r = 0; r < nb; ++r) {
        const index_t s = s0 + r;
        T* dhr = dh.data() + r * U;
        T* ar = at + r * Tn * U;
        if (const T* dyr = output_gradient(g, dy, s, t, first[sz(r)])) {
#pragma omp simd
          for (index_t k = 0; k < U; ++k) dhr[k] += dyr[k];
        }
        if (!step_kept(g, carry.step_mask, s, t)) {
          std::fill(ar, ar + U, T(0));
          continue;
        }
        gate_grad_span<T>(g.act, v.h + (s * Tn + t) * U, w.data(), U);
#pragma omp simd
        for (index_t k = 0; k < U; ++k) {
          ar[k] = dhr[k] * w[sz(k)];
          dhr[k] = T(0);  // the kept step's state reaches h_prev only through R
        }
      }
      if (t == 0 && !carry.dh0) break;  // the initial state is a constant
      if (!p.rec_mask) {
        gemm<T>(false, false, nb, U, U, at, Tn * U, rt.data(), U, dh.data(), U, true);
      } else {
        gemm<T>(false, false, nb, U, U, at, Tn * U, rt.data(), U, tmp.data(), U, false);
        for (index_t r = 0; r < nb; ++r) {
          const T* m = p.rec_mask + (s0 + r) * U;
#pragma omp simd
          for (index_t k = 0; k < U; ++k) dh[sz(r * U + k)] += tmp[sz(r * U + k)] * m[k];
        }
      }
    }
    if (carry.dh0) std::copy(dh.begin(), dh.end(), carry.dh0 + s0 * U);
  });

  const T* da = v.a;
  if (db) column_sums(rows, U, da, U, db);
  if (dW) rnn_kernel_gradient(g, v.xm, da, dW, n);
  if (dR) {
    std::vector<T> hp(sz(rows * U));
    previous_states(g, v.h0, v.h, p.rec_mask, 0, hp.data(), n);
    gemm<T>(true, false, U, U, rows, hp.data(), U, da, U, dR, U, false);
  }
  if (dx) rnn_input_gradient(g, p.W, p.in_mask, da, dx, n);
}

#define DROPNET_INSTANTIATE_SIMPLE_RNN(T)                                                         \
  template void simple_rnn_forward<T>(const RnnGeometry&, const RnnArgs<T>&, const RnnCarry<T>&,  \
                                      const T*, T*, T*, T*, index_t);                             \
  template void simple_rnn_backward<T>(const RnnGeometry&, const RnnArgs<T>&, const RnnCarry<T>&, \
                                       T*, const T*, T*, T*, T*, T*, index_t);
DROPNET_INSTANTIATE_SIMPLE_RNN(float)
DROPNET_INSTANTIATE_SIMPLE_RNN(double)

DROPNET_ISA_END
