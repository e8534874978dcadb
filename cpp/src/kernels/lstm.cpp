// LSTM (Keras's gate order i, f, c, o) with variational dropout: the input projection of
// every time step as one GEMM before the time loop, a per-step cell (recurrent GEMM, gates,
// state update) with the time loop in C++, and BPTT whose weight gradients are GEMMs over
// all time steps after the loop. Samples are independent inside the loops, so threads
// split the batch and run the whole time loop each; every sum over samples or time steps
// is a GEMM chain or a loop in a fixed order, so results do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "dropnet/kernels.hpp"
#include "recurrent.hpp"

DROPNET_ISA_BEGIN

namespace {

// Workspace views, batch-major: z (n, T, 4U) gate pre-activations → activations → (in
// backward) pre-activation gradients; c and h (n, T, U) per step; xm (G, n, T, D) the
// masked inputs (G = number of input masks, at least 1) in processed time order.
template <class T>
struct Views {
  T *z, *c, *h, *xm;
  Views(const RnnGeometry& g, T* ws, index_t n) {
    z = ws;
    c = z + n * g.steps * 4 * g.units;
    h = c + n * g.steps * g.units;
    xm = h + n * g.steps * g.units;
  }
};

}  // namespace

index_t lstm_workspace(const RnnGeometry& g, index_t n) {
  return n * g.steps * (6 * g.units + rnn_input_copies(g) * g.features);
}

template <class T>
void lstm_forward(const RnnGeometry& g, const RnnArgs<T>& p, const RnnCarry<T>& carry, const T* x,
                  T* y, T* h_last, T* c_last, T* ws, index_t n) {
  const index_t Tn = g.steps, D = g.features, U = g.units, G4 = 4 * U;
  const T *W = p.W, *R = p.R, *b = p.b, *in_mask = p.in_mask, *rec_mask = p.rec_mask;
  const index_t G = rnn_input_copies(g), rows = n * Tn;
  Views<T> v(g, ws, n);
  masked_inputs(g, x, in_mask, v.xm, n);  // x ⊙ each input mask, in processed order
  // Input projection of all steps (with the bias); per gate when each gate has its mask.
  if (G == 1) {
    gemm_bias<T>(rows, G4, D, v.xm, D, W, G4, b, false, v.z, G4);
  } else {
    for (index_t q = 0; q < 4; ++q)
      gemm_bias<T>(rows, U, D, v.xm + q * rows * D, D, W + q * U, G4, b ? b + q * U : nullptr,
                   false, v.z + q * U, G4);
  }
  for_blocks(n, rows * U * G4 / 4, [&](index_t s0, index_t s1) {
    const index_t nb = s1 - s0;
    std::vector<T> hm(rec_mask ? sz(nb * U) : 0);
    for (index_t t = 0; t < Tn; ++t) {
      T* z = v.z + (s0 * Tn + t) * G4;
      // h_{t-1}: the previous step's, or the initial state (rows U apart) at t = 0.
      const T* hp = t > 0 ? v.h + (s0 * Tn + t - 1) * U : carry.h0 ? carry.h0 + s0 * U : nullptr;
      const index_t ldh = t > 0 ? Tn * U : U;
      if (hp) {
        if (!rec_mask) {
          gemm<T>(false, false, nb, G4, U, hp, ldh, R, G4, z, Tn * G4, true);
        } else {
          for (index_t q = 0; q < 4; ++q) {
            for (index_t r = 0; r < nb; ++r) {
              const T* m = rec_mask + ((s0 + r) * 4 + q) * U;
              const T* h = hp + r * ldh;
#pragma omp simd
              for (index_t k = 0; k < U; ++k) hm[sz(r * U + k)] = h[k] * m[k];
            }
            gemm<T>(false, false, nb, U, U, hm.data(), U, R + q * U, G4, z + q * U, Tn * G4, true);
          }
        }
      }
      for (index_t r = 0; r < nb; ++r) {
        T* zr = z + r * Tn * G4;
        gate_span<T>(g.recurrent_act, zr, zr, 2 * U);              // i, f
        gate_span<T>(g.act, zr + 2 * U, zr + 2 * U, U);            // candidate
        gate_span<T>(g.recurrent_act, zr + 3 * U, zr + 3 * U, U);  // o
        const index_t s = s0 + r, o = (s * Tn + t) * U;
        T* c = v.c + o;
        T* h = v.h + o;
        const T* cp = t > 0 ? c - U : carry.c0 ? carry.c0 + s * U : nullptr;
        if (!step_kept(g, carry.step_mask, s, t)) {
          // A masked step keeps the state (and outputs it).
          const T* hr = hp ? hp + r * ldh : nullptr;
          for (index_t k = 0; k < U; ++k) {
            c[k] = cp ? cp[k] : T(0);
            h[k] = hr ? hr[k] : T(0);
          }
          continue;
        }
#pragma omp simd
        for (index_t k = 0; k < U; ++k)
          c[k] = (cp ? zr[U + k] * cp[k] : T(0)) + zr[k] * zr[2 * U + k];
        gate_span<T>(g.act, c, h, U);
#pragma omp simd
        for (index_t k = 0; k < U; ++k) h[k] *= zr[3 * U + k];
      }
    }
  });
  rnn_outputs(g, carry.step_mask, v.h, y, h_last, n);
  if (c_last)
    for (index_t s = 0; s < n; ++s) {
      const T* c = v.c + (s * Tn + Tn - 1) * U;
      std::copy(c, c + U, c_last + s * U);
    }
}

template <class T>
void lstm_backward(const RnnGeometry& g, const RnnArgs<T>& p, const RnnCarry<T>& carry, T* ws,
                   const T* dy, T* dW, T* dR, T* db, T* dx, index_t n) {
  const index_t Tn = g.steps, U = g.units, G4 = 4 * U, rows = n * Tn;
  const T *W = p.W, *R = p.R, *in_mask = p.in_mask, *rec_mask = p.rec_mask;
  Views<T> v(g, ws, n);
  const std::vector<T> rt = transposed_recurrent(g, R);

  // BPTT, each block of samples on its own: z turns into the pre-activation gradients.
  for_blocks(n, rows * U * G4 / 4, [&](index_t s0, index_t s1) {
    const index_t nb = s1 - s0;
    std::vector<T> dh(sz(nb * U)), dc(sz(nb * U)), tmp(rec_mask ? sz(nb * U) : 0);
    std::vector<T> w(sz(6 * U)), passed(carry.step_mask ? sz(nb * U) : 0);
    std::vector<index_t> first;
    start_state_gradients(g, carry.step_mask, carry.dh_last, s0, nb, first, dh);
    start_state_gradients(g, carry.step_mask, carry.dc_last, s0, nb, first, dc);
    for (index_t t = Tn - 1; t >= 0; --t) {
      bool any_masked = false;
      for (index_t r = 0; r < nb; ++r) {
        const index_t s = s0 + r, o = (s * Tn + t) * U;
        T* zr = v.z + (s * Tn + t) * G4;
        const T* c = v.c + o;
        const T* cp = t > 0 ? c - U : carry.c0 ? carry.c0 + s * U : nullptr;
        const T* dyr = output_gradient(g, dy, s, t, first[sz(r)]);
        T* dhr = dh.data() + r * U;
        T* dcr = dc.data() + r * U;
        if (carry.step_mask) {
          T* pr = passed.data() + r * U;
          if (!step_kept(g, carry.step_mask, s, t)) {
            // The state went through unchanged: so does its gradient; the gates had none.
            for (index_t k = 0; k < U; ++k) pr[k] = dhr[k] + (dyr ? dyr[k] : T(0));
            std::fill(zr, zr + G4, T(0));
            any_masked = true;
            continue;
          }
          std::fill(pr, pr + U, T(0));
        }
        // Derivatives through the saved activations, each a vector pass (w: 6 spans of U).
        T* tc = w.data();
        T* dtc = tc + U;
        T* dgate = dtc + U;  // 4U: i, f, candidate, o
        gate_span<T>(g.act, c, tc, U);
        gate_grad_span<T>(g.act, tc, dtc, U);
        gate_grad_span<T>(g.recurrent_act, zr, dgate, 2 * U);
        gate_grad_span<T>(g.act, zr + 2 * U, dgate + 2 * U, U);
        gate_grad_span<T>(g.recurrent_act, zr + 3 * U, dgate + 3 * U, U);
        const T zero = T(0);
#pragma omp simd
        for (index_t k = 0; k < U; ++k) {
          const T i = zr[k], f = zr[U + k], cand = zr[2 * U + k], og = zr[3 * U + k];
          const T dhk = dhr[k] + (dyr ? dyr[k] : zero);
          const T dck = dcr[k] + dhk * og * dtc[k];
          zr[k] = dck * cand * dgate[k];
          zr[U + k] = (cp ? dck * cp[k] : zero) * dgate[U + k];
          zr[2 * U + k] = dck * i * dgate[2 * U + k];
          zr[3 * U + k] = dhk * tc[k] * dgate[3 * U + k];
          dcr[k] = dck * f;
        }
      }
      if (t == 0 && !carry.dh0) break;  // the initial state is a constant
      // Gradient reaching h_{t-1} through this step's recurrent products (plus, for masked
      // rows, what passed straight through).
      const T* dz = v.z + (s0 * Tn + t) * G4;
      if (!rec_mask) {
        gemm<T>(false, false, nb, U, G4, dz, Tn * G4, rt.data(), U, dh.data(), U, false);
      } else {
        std::fill(dh.begin(), dh.end(), T(0));
        for (index_t q = 0; q < 4; ++q) {
          gemm<T>(false, false, nb, U, U, dz + q * U, Tn * G4, rt.data() + q * U * U, U, tmp.data(),
                  U, false);
          for (index_t r = 0; r < nb; ++r) {
            const T* m = rec_mask + ((s0 + r) * 4 + q) * U;
#pragma omp simd
            for (index_t k = 0; k < U; ++k) dh[sz(r * U + k)] += tmp[sz(r * U + k)] * m[k];
          }
        }
      }
      if (any_masked)
        for (std::size_t k = 0; k < dh.size(); ++k) dh[k] += passed[k];
    }
    if (carry.dh0) std::copy(dh.begin(), dh.end(), carry.dh0 + s0 * U);
    if (carry.dc0) std::copy(dc.begin(), dc.end(), carry.dc0 + s0 * U);
  });

  const T* dz = v.z;
  if (db) column_sums(rows, G4, dz, G4, db);
  if (dW) rnn_kernel_gradient(g, v.xm, dz, dW, n);  // masked inputs ᵀ · dz
  // Recurrent kernel: the previous step's (masked) h ᵀ · dz; h_{-1} is the initial state.
  if (dR) {
    std::vector<T> hp(sz(rows * U));
    const index_t passes = rec_mask ? 4 : 1;
    for (index_t q = 0; q < passes; ++q) {
      previous_states(g, carry.h0, v.h, rec_mask, q, hp.data(), n);
      if (rec_mask)
        gemm<T>(true, false, U, U, rows, hp.data(), U, dz + q * U, G4, dR + q * U, G4, false);
      else
        gemm<T>(true, false, U, G4, rows, hp.data(), U, dz, G4, dR, G4, false);
    }
  }
  if (dx) rnn_input_gradient(g, W, in_mask, dz, dx, n);
}

#define DROPNET_INSTANTIATE_LSTM(T)                                                             \
  template void lstm_forward<T>(const RnnGeometry&, const RnnArgs<T>&, const RnnCarry<T>&,      \
                                const T*, T*, T*, T*, T*, index_t);                             \
  template void lstm_backward<T>(const RnnGeometry&, const RnnArgs<T>&, const RnnCarry<T>&, T*, \
                                 const T*, T*, T*, T*, T*, index_t);
DROPNET_INSTANTIATE_LSTM(float)
DROPNET_INSTANTIATE_LSTM(double)

DROPNET_ISA_END
