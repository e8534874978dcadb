// GRU (Keras's column blocks z, r, h; reset_after either way) with variational dropout,
// step masks and carried initial states: the input projection of every step as one GEMM
// before the time loop, a per-step cell (recurrent GEMM, gates, state update) with the time
// loop in C++, and BPTT whose weight gradients are GEMMs over all steps after the loop.
// Threads split the batch and run the whole time loop each; every sum over samples or steps
// is a GEMM chain or a loop in a fixed order, so results do not depend on the thread count.
#include <algorithm>
#include <utility>
#include <vector>

#include "dropnet/kernels.hpp"
#include "recurrent.hpp"

DROPNET_ISA_BEGIN

namespace {

// Workspace views, batch-major. a (n, T, 3U): input projections with the input bias →
// gate activations z, r, ĥ → (backward) the gradients of the input products' pre-
// activations. rh (n, T, U): with reset_after the recurrent h block hR_h + b_h (backward:
// its gradient, dĥ ⊙ r); without, q = r ⊙ h̃ (h̃ the state under the h gate's mask), the
// left operand of R_h. h (n, T, U): the state after each step. h0 (n, U): the initial
// states. xm (copies, n, T, D): the masked inputs in processed order.
template <class T>
struct GruViews {
  T *a, *rh, *h, *h0, *xm;
  GruViews(const RnnGeometry& g, T* ws, index_t n) {
    const index_t rows = n * g.steps, U = g.units;
    a = ws;
    rh = a + rows * 3 * U;
    h = rh + rows * U;
    h0 = h + rows * U;
    xm = h0 + n * U;
  }
};

}  // namespace

index_t gru_workspace(const RnnGeometry& g, index_t n) {
  return n * g.steps * (5 * g.units + rnn_input_copies(g) * g.features) + n * g.units;
}

// One step: z = σ(x̃_z W_z + h̃_z R_z + b_z), r likewise (the recurrent bias b_h added with
// reset_after), ĥ = act(x̃_h W_h + b_h + r ⊙ (h̃_h R_h + b_hh)) with reset_after, else
// act(x̃_h W_h + b_h + (r ⊙ h̃_h) R_h); h = z ⊙ h_prev + (1 − z) ⊙ ĥ. x̃ and h̃ are the
// input and the previous state under each gate's mask (σ = recurrent_act, act = act).
// x (n, T, D); W (D, 3U); R (U, 3U); y as kernels.hpp states. Threads: blocks of samples.
template <class T>
void gru_forward(const RnnGeometry& g, const RnnArgs<T>& p, const RnnCarry<T>& carry, const T* x,
                 T* y, T* h_last, T* ws, index_t n) {
  const index_t Tn = g.steps, D = g.features, U = g.units, G3 = 3 * U;
  const index_t rows = n * Tn;
  GruViews<T> v(g, ws, n);
  if (carry.h0)
    std::copy(carry.h0, carry.h0 + n * U, v.h0);
  else
    std::fill(v.h0, v.h0 + n * U, T(0));
  masked_inputs(g, x, p.in_mask, v.xm, n);
  const T* bx = p.b;
  const T* bh = p.b && g.reset_after ? p.b + G3 : nullptr;
  if (rnn_input_copies(g) == 1) {
    gemm_bias<T>(rows, G3, D, v.xm, D, p.W, G3, bx, false, v.a, G3);
  } else {
    for (index_t q = 0; q < 3; ++q)
      gemm_bias<T>(rows, U, D, v.xm + q * rows * D, D, p.W + q * U, G3, bx ? bx + q * U : nullptr,
                   false, v.a + q * U, G3);
  }
  const T* rec_mask = p.rec_mask;
  // Blocks the previous state itself multiplies: z, r and, with reset_after, h.
  const index_t direct = g.reset_after ? 3 : 2;
  for_blocks(n, rows * U * G3 / 4, [&](index_t s0, index_t s1) {
    const index_t nb = s1 - s0;
    std::vector<T> rec(sz(nb * G3)), hm(rec_mask ? sz(nb * U) : 0);
    std::vector<char> kept(sz(nb));
    for (index_t t = 0; t < Tn; ++t) {
      const T* hp = t == 0 ? v.h0 + s0 * U : v.h + (s0 * Tn + t - 1) * U;
      const index_t ldh = t == 0 ? U : Tn * U;
      const bool zero_state = t == 0 && !carry.h0;
      T* at = v.a + (s0 * Tn + t) * G3;
      T* rht = v.rh + (s0 * Tn + t) * U;
      if (zero_state) {
        std::fill(rec.begin(), rec.end(), T(0));
      } else if (!rec_mask) {
        gemm<T>(false, false, nb, direct * U, U, hp, ldh, p.R, G3, rec.data(), G3, false);
      } else {
        for (index_t q = 0; q < direct; ++q) {
          for (index_t r = 0; r < nb; ++r) {
            const T* m = rec_mask + ((s0 + r) * 3 + q) * U;
            const T* h = hp + r * ldh;
#pragma omp simd
            for (index_t k = 0; k < U; ++k) hm[sz(r * U + k)] = h[k] * m[k];
          }
          gemm<T>(false, false, nb, U, U, hm.data(), U, p.R + q * U, G3, rec.data() + q * U, G3,
                  false);
        }
      }
      for (index_t r = 0; r < nb; ++r) {
        const index_t s = s0 + r;
        kept[sz(r)] = step_kept(g, carry.step_mask, s, t);
        T* zr = at + r * Tn * G3;
        T* rhr = rht + r * Tn * U;
        const T* hpr = hp + r * ldh;
        T* out = v.h + (s * Tn + t) * U;
        if (!kept[sz(r)]) {  // carried over; zeros keep backward's products finite
          std::copy(hpr, hpr + U, out);
          std::fill(rhr, rhr + U, T(0));
          continue;
        }
        const T* rr = rec.data() + r * G3;
#pragma omp simd
        for (index_t k = 0; k < 2 * U; ++k) zr[k] += rr[k] + (bh ? bh[k] : T(0));
        gate_span<T>(g.recurrent_act, zr, zr, 2 * U);
        if (!g.reset_after) continue;
#pragma omp simd
        for (index_t k = 0; k < U; ++k) {
          rhr[k] = rr[2 * U + k] + (bh ? bh[2 * U + k] : T(0));
          zr[2 * U + k] += zr[U + k] * rhr[k];
        }
        gate_span<T>(g.act, zr + 2 * U, zr + 2 * U, U);
#pragma omp simd
        for (index_t k = 0; k < U; ++k) out[k] = zr[k] * hpr[k] + (T(1) - zr[k]) * zr[2 * U + k];
      }
      if (g.reset_after) continue;
      // Without reset_after the h block multiplies r ⊙ h̃_h: a second product per step.
      for (index_t r = 0; r < nb; ++r) {
        if (!kept[sz(r)]) continue;
        const T* zr = at + r * Tn * G3;
        const T* hpr = hp + r * ldh;
        const T* m = rec_mask ? rec_mask + ((s0 + r) * 3 + 2) * U : nullptr;
        T* rhr = rht + r * Tn * U;
#pragma omp simd
        for (index_t k = 0; k < U; ++k) rhr[k] = zr[U + k] * (m ? hpr[k] * m[k] : hpr[k]);
      }
      if (zero_state)
        std::fill(rec.begin(), rec.end(), T(0));
      else
        gemm<T>(false, false, nb, U, U, rht, Tn * U, p.R + 2 * U, G3, rec.data() + 2 * U, G3,
                false);
      for (index_t r = 0; r < nb; ++r) {
        if (!kept[sz(r)]) continue;
        T* zr = at + r * Tn * G3;
        const T* rr = rec.data() + r * G3;
        const T* hpr = hp + r * ldh;
        T* out = v.h + ((s0 + r) * Tn + t) * U;
#pragma omp simd
        for (index_t k = 0; k < U; ++k) zr[2 * U + k] += rr[2 * U + k];
        gate_span<T>(g.act, zr + 2 * U, zr + 2 * U, U);
#pragma omp simd
        for (index_t k = 0; k < U; ++k) out[k] = zr[k] * hpr[k] + (T(1) - zr[k]) * zr[2 * U + k];
      }
    }
  });
  rnn_outputs(g, carry.step_mask, v.h, y, h_last, n);
}

// BPTT. Per step, from dh (the gradient reaching h): dz = dh ⊙ (h_prev − ĥ) ⊙ σ'(z),
// dĥ = dh ⊙ (1 − z) ⊙ act'(ĥ); with reset_after dr = dĥ ⊙ (h̃_h R_h + b_hh) ⊙ σ'(r) and
// the h block's recurrent gradient dĥ ⊙ r; without, dq = dĥ · R_hᵀ, dr = dq ⊙ h̃_h ⊙ σ'(r).
// h_prev then receives dh ⊙ z plus each block's gradient through Rᵀ under its mask
// (masked steps pass dh on whole and write zero gradients). The weight and input gradients
// follow as GEMMs over every (sample, step) row.
template <class T>
void gru_backward(const RnnGeometry& g, const RnnArgs<T>& p, const RnnCarry<T>& carry, T* ws,
                  const T* dy, T* dW, T* dR, T* db, T* dx, index_t n) {
  const index_t Tn = g.steps, U = g.units, G3 = 3 * U;
  const index_t rows = n * Tn;
  GruViews<T> v(g, ws, n);
  const T* rec_mask = p.rec_mask;
  const std::vector<T> rt = transposed_recurrent(g, p.R);
  for_blocks(n, rows * U * G3 / 4, [&](index_t s0, index_t s1) {
    const index_t nb = s1 - s0;
    std::vector<T> dh(sz(nb * U)), tmp(sz(nb * U)), w(sz(3 * U));
    std::vector<char> kept(sz(nb));
    std::vector<index_t> first;
    start_state_gradients(g, carry.step_mask, carry.dh_last, s0, nb, first, dh);
    for (index_t t = Tn - 1; t >= 0; --t) {
      const T* hp = t == 0 ? v.h0 + s0 * U : v.h + (s0 * Tn + t - 1) * U;
      const index_t ldh = t == 0 ? U : Tn * U;
      T* at = v.a + (s0 * Tn + t) * G3;
      T* rht = v.rh + (s0 * Tn + t) * U;
      for (index_t r = 0; r < nb; ++r) {
        const index_t s = s0 + r;
        T* dhr = dh.data() + r * U;
        if (const T* dyr = output_gradient(g, dy, s, t, first[sz(r)])) {
#pragma omp simd
          for (index_t k = 0; k < U; ++k) dhr[k] += dyr[k];
        }
        kept[sz(r)] = step_kept(g, carry.step_mask, s, t);
        T* zr = at + r * Tn * G3;
        T* rhr = rht + r * Tn * U;
        if (!kept[sz(r)]) {  // dh passes to h_prev as it is
          std::fill(zr, zr + G3, T(0));
          std::fill(rhr, rhr + U, T(0));
          continue;
        }
        const T* hpr = hp + r * ldh;
        gate_grad_span<T>(g.recurrent_act, zr, w.data(), 2 * U);
        gate_grad_span<T>(g.act, zr + 2 * U, w.data() + 2 * U, U);
        if (g.reset_after) {
#pragma omp simd
          for (index_t k = 0; k < U; ++k) {
            const T z = zr[k], rg = zr[U + k], cand = zr[2 * U + k], dhk = dhr[k];
            const T dc = dhk * (T(1) - z) * w[sz(2 * U + k)];
            zr[k] = dhk * (hpr[k] - cand) * w[sz(k)];
            zr[U + k] = dc * rhr[k] * w[sz(U + k)];
            zr[2 * U + k] = dc;
            rhr[k] = dc * rg;
            dhr[k] = dhk * z;
          }
        } else {
#pragma omp simd
          for (index_t k = 0; k < U; ++k) {
            const T z = zr[k], cand = zr[2 * U + k], dhk = dhr[k];
            zr[k] = dhk * (hpr[k] - cand) * w[sz(k)];
            zr[2 * U + k] = dhk * (T(1) - z) * w[sz(2 * U + k)];
            dhr[k] = dhk * z;
          }
        }
      }
      if (!g.reset_after) {
        // dq = dĥ · R_hᵀ; r's gradient and h_prev's share through r ⊙ h̃_h.
        gemm<T>(false, false, nb, U, U, at + 2 * U, Tn * G3, rt.data() + 2 * U * U, U, tmp.data(),
                U, false);
        for (index_t r = 0; r < nb; ++r) {
          if (!kept[sz(r)]) continue;
          T* zr = at + r * Tn * G3;
          const T* hpr = hp + r * ldh;
          const T* m = rec_mask ? rec_mask + ((s0 + r) * 3 + 2) * U : nullptr;
          const T* dq = tmp.data() + r * U;
          T* dhr = dh.data() + r * U;
          gate_grad_span<T>(g.recurrent_act, zr + U, w.data() + U, U);
#pragma omp simd
          for (index_t k = 0; k < U; ++k) {
            const T mk = m ? m[k] : T(1), rg = zr[U + k];
            zr[U + k] = dq[k] * hpr[k] * mk * w[sz(U + k)];
            dhr[k] += dq[k] * rg * mk;
          }
        }
      }
      if (t == 0 && !carry.dh0) break;  // the initial state is a constant
      // h_prev's gradient through the products of the previous state itself.
      const index_t direct = g.reset_after ? 3 : 2;
      auto block = [&](index_t q) -> std::pair<const T*, index_t> {
        if (q < 2) return {at + q * U, Tn * G3};
        return {rht, Tn * U};
      };
      if (!rec_mask) {
        gemm<T>(false, false, nb, U, 2 * U, at, Tn * G3, rt.data(), U, dh.data(), U, true);
        if (direct == 3)
          gemm<T>(false, false, nb, U, U, rht, Tn * U, rt.data() + 2 * U * U, U, dh.data(), U,
                  true);
      } else {
        for (index_t q = 0; q < direct; ++q) {
          const auto [src, ld] = block(q);
          gemm<T>(false, false, nb, U, U, src, ld, rt.data() + q * U * U, U, tmp.data(), U, false);
          for (index_t r = 0; r < nb; ++r) {
            const T* m = rec_mask + ((s0 + r) * 3 + q) * U;
#pragma omp simd
            for (index_t k = 0; k < U; ++k) dh[sz(r * U + k)] += tmp[sz(r * U + k)] * m[k];
          }
        }
      }
    }
    if (carry.dh0) std::copy(dh.begin(), dh.end(), carry.dh0 + s0 * U);
  });

  const T* dz = v.a;
  if (db) {
    column_sums(rows, G3, dz, G3, db);
    if (g.reset_after) {
      column_sums(rows, 2 * U, dz, G3, db + G3);
      column_sums(rows, U, v.rh, U, db + G3 + 2 * U);
    }
  }
  if (dW) rnn_kernel_gradient(g, v.xm, dz, dW, n);
  if (dR) {
    // Blocks z, r (and h with reset_after): previous states (under each gate's mask) ᵀ ·
    // gradient; without reset_after the h block's left operand is q = r ⊙ h̃_h.
    std::vector<T> hp(sz(rows * U));
    const index_t direct = g.reset_after ? 3 : 2;
    if (!rec_mask) {
      previous_states(g, v.h0, v.h, static_cast<const T*>(nullptr), 0, hp.data(), n);
      gemm<T>(true, false, U, 2 * U, rows, hp.data(), U, dz, G3, dR, G3, false);
      if (direct == 3)
        gemm<T>(true, false, U, U, rows, hp.data(), U, v.rh, U, dR + 2 * U, G3, false);
    } else {
      for (index_t q = 0; q < direct; ++q) {
        previous_states(g, v.h0, v.h, rec_mask, q, hp.data(), n);
        const T* src = q < 2 ? dz + q * U : v.rh;
        gemm<T>(true, false, U, U, rows, hp.data(), U, src, q < 2 ? G3 : U, dR + q * U, G3, false);
      }
    }
    if (direct == 2)
      gemm<T>(true, false, U, U, rows, v.rh, U, dz + 2 * U, G3, dR + 2 * U, G3, false);
  }
  if (dx) rnn_input_gradient(g, p.W, p.in_mask, dz, dx, n);
}

#define DROPNET_INSTANTIATE_GRU(T)                                                             \
  template void gru_forward<T>(const RnnGeometry&, const RnnArgs<T>&, const RnnCarry<T>&,      \
                               const T*, T*, T*, T*, index_t);                                 \
  template void gru_backward<T>(const RnnGeometry&, const RnnArgs<T>&, const RnnCarry<T>&, T*, \
                                const T*, T*, T*, T*, T*, index_t);
DROPNET_INSTANTIATE_GRU(float)
DROPNET_INSTANTIATE_GRU(double)

DROPNET_ISA_END
