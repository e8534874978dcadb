// Declarations of the stateless kernels, one block per family. Included by the per-ISA
// sources (namespace dropnet::<isa>) and by the bindings once per ISA, with
// DROPNET_KERNEL_NS naming the namespace; hence no include guard.
#include <cstdint>
#include <string>
#include <vector>

#include "dropnet/common.hpp"
#include "dropnet/spec.hpp"

#ifndef DROPNET_KERNEL_NS
#define DROPNET_KERNEL_NS DROPNET_ISA
#endif

namespace dropnet {
namespace DROPNET_KERNEL_NS {

// ---- gemm: C(M×N) = [C +] op(A)·op(B), row-major with leading dimensions.
// Every C[i][j] is one multiply-add chain over k = 0..K-1 in order, starting from C
// (accumulate) or zero: results do not depend on M, blocking or thread count.
template <class T>
void gemm(bool trans_a, bool trans_b, index_t M, index_t N, index_t K, const T* A, index_t lda,
          const T* B, index_t ldb, T* C, index_t ldc, bool accumulate);
template <class T>
void gemm_ref(bool trans_a, bool trans_b, index_t M, index_t N, index_t K, const T* A, index_t lda,
              const T* B, index_t ldb, T* C, index_t ldc, bool accumulate);
// The register tile and the packed path's block sizes this ISA level uses for T on this
// CPU, chosen from its cache sizes on first use.
template <class T>
GemmBlocking gemm_blocking();
// C = A·B + bias (bias per column, or null), then max(·, 0) if relu: gemm's chains,
// then one addition each, then the clamp (NaN to 0, as the relu kernel).
template <class T>
void gemm_bias(index_t M, index_t N, index_t K, const T* A, index_t lda, const T* B, index_t ldb,
               const T* bias, bool relu, T* C, index_t ldc);

// ---- activation: y = act(z) over rows × cols (softmax runs along each row).
// The _span forms run one row (or any run of elements, softmax excepted) on the calling
// thread; fused kernels call them on cache-resident blocks.
template <class T>
void activation_forward_span(Act act, double alpha, const T* z, T* y, index_t n);
template <class T>
void activation_backward_span(Act act, double alpha, const T* z, const T* y, const T* dy, T* dz,
                              index_t n);
template <class T>
void activation_forward(Act act, double alpha, const T* z, T* y, index_t rows, index_t cols);
// dz = dy ⊙ act'(z) (softmax: the row Jacobian-vector product). Most activations read
// only y (y > 0 iff z > 0 for the ReLU family), so forward passes can run in place; the
// ones whose derivative is not a function of y read z.
inline bool activation_needs_input(Act act) {
  return act == Act::softplus || act == Act::silu || act == Act::gelu || act == Act::mish ||
         act == Act::hard_silu;
}
template <class T>
void activation_backward(Act act, double alpha, const T* z, const T* y, const T* dy, T* dz,
                         index_t rows, index_t cols);

// ---- dense: z = x·W + b (the product's chain first, then the bias); y = act(z)
// (y may alias z for linear). Small fan-in runs fused row by row in cache.
template <class T>
void dense_forward(const T* x, const T* W, const T* b, T* z, T* y, index_t N, index_t F, index_t U,
                   Act act, double alpha);
// dz = dy ⊙ act'(z) (skipped when dy already is dz: pass act = linear and dz == dy), and
// db = Σ_rows dz in the same pass; then dW = xᵀ·dz and dx = dz·Wᵀ (each skipped when null).
template <class T>
void dense_backward(const T* x, const T* W, const T* z, const T* y, const T* dy, T* dz, T* dW,
                    T* db, T* dx, index_t N, index_t F, index_t U, Act act, double alpha);

// ---- convolution over channels-last samples as im2col + GEMM (conv.cpp). x (n, H, W, C),
// W (k_h, k_w, C, F) — read as the (patch × F) matrix — b (F) or null, z and y
// (n, out_h, out_w, F). Outputs follow gemm's chains, then bias, then act (y may alias z).
template <class T>
void conv_forward(const WindowGeometry& g, index_t F, const T* x, const T* W, const T* b, T* z,
                  T* y, index_t n, Act act, double alpha);
// dz = dy ⊙ act'(z) (skipped when dz == dy); db = Σ dz and dW = Σ patchesᵀ·dz summed over
// a fixed partition of the samples in a fixed order (the same bits on any thread count);
// dx = col2im(dz·Wᵀ). Null dW, db or dx skip that gradient.
template <class T>
void conv_backward(const WindowGeometry& g, index_t F, const T* x, const T* W, const T* z,
                   const T* y, const T* dy, T* dz, T* dW, T* db, T* dx, index_t n, Act act,
                   double alpha);

// ---- pooling (pool.cpp): max ignores padded cells and routes its gradient to the first
// maximum of each window in scan order; average divides by the window's real cells.
// relu_input: x is a ReLU's output, and backward also applies its derivative (x > 0).
enum class PoolKind : int { max, avg };
template <class T>
void pool_forward(PoolKind kind, const WindowGeometry& g, const T* x, T* y, index_t n);
template <class T>
void pool_backward(PoolKind kind, const WindowGeometry& g, const T* x, const T* dy, T* dx,
                   index_t n, bool relu_input);

// What a recurrent kernel may start from and skip (each null when absent): the step mask
// (n, steps) in input time order, a step with 0 leaving the state as it was and outputting
// it; the initial states (n, U) (zeros when null). Backward also reads the gradients
// reaching the final states from outside (n, U each: a returned state read by later layers)
// and, when asked, writes the gradients of the initial states (n, U each: a state given as
// an input); null pointers skip them.
template <class T>
struct RnnCarry {
  const T* step_mask = nullptr;
  const T* h0 = nullptr;
  const T* c0 = nullptr;  // LSTM's cell state
  const T* dh_last = nullptr;
  const T* dc_last = nullptr;
  T* dh0 = nullptr;
  T* dc0 = nullptr;
};

// The weights of a recurrent kernel and its pre-scaled variational masks (0 or
// 1/(1 - rate)): in_mask (n, input_masks, features), rec_mask (n, gates, U), or null.
template <class T>
struct RnnArgs {
  const T* W = nullptr;
  const T* R = nullptr;
  const T* b = nullptr;
  const T* in_mask = nullptr;
  const T* rec_mask = nullptr;
};

// ---- LSTM (lstm.cpp). x (n, steps, features); W (features, 4U), R (U, 4U), b (4U) or
// null, gate blocks i, f, c, o. y is (n, U), or (n, steps, U) with return_sequences (in
// processed order); h_last and c_last (n, U), when not null, receive the final states.
// The initial states must stay unchanged until backward. ws (lstm_workspace elements)
// keeps what backward needs; backward overwrites it.
index_t lstm_workspace(const RnnGeometry& g, index_t n);
template <class T>
void lstm_forward(const RnnGeometry& g, const RnnArgs<T>& a, const RnnCarry<T>& carry, const T* x,
                  T* y, T* h_last, T* c_last, T* ws, index_t n);
template <class T>
void lstm_backward(const RnnGeometry& g, const RnnArgs<T>& a, const RnnCarry<T>& carry, T* ws,
                   const T* dy, T* dW, T* dR, T* db, T* dx, index_t n);

// ---- GRU (gru.cpp) and SimpleRNN (simple_rnn.cpp), Keras's semantics. x (n, steps,
// features); W (features, gates·U), R (U, gates·U); b (gates·U), the GRU's with
// reset_after (2, 3U) (input bias, then recurrent bias), or null. carry: the step mask (a
// masked step keeps the state and adds no gradient) and the initial states (copied first,
// so carry.h0 may alias h_last); h_last (n, U) or null receives each row's final state.
// y is (n, U), or (n, steps, U) with return_sequences (processed order): a masked step
// repeats the previous output, zero before a row's first kept step (Keras's rule, whatever
// the initial state). ws (*_workspace elements) keeps what backward needs; backward
// overwrites it.
index_t gru_workspace(const RnnGeometry& g, index_t n);
template <class T>
void gru_forward(const RnnGeometry& g, const RnnArgs<T>& a, const RnnCarry<T>& carry, const T* x,
                 T* y, T* h_last, T* ws, index_t n);
template <class T>
void gru_backward(const RnnGeometry& g, const RnnArgs<T>& a, const RnnCarry<T>& carry, T* ws,
                  const T* dy, T* dW, T* dR, T* db, T* dx, index_t n);
index_t simple_rnn_workspace(const RnnGeometry& g, index_t n);
template <class T>
void simple_rnn_forward(const RnnGeometry& g, const RnnArgs<T>& a, const RnnCarry<T>& carry,
                        const T* x, T* y, T* h_last, T* ws, index_t n);
template <class T>
void simple_rnn_backward(const RnnGeometry& g, const RnnArgs<T>& a, const RnnCarry<T>& carry, T* ws,
                         const T* dy, T* dW, T* dR, T* db, T* dx, index_t n);

// ---- dropout family. Elements are indexed row-major over (n, *shape); masks are drawn
// at the broadcast shape (noise_batch, noise_shape) and stored one bit per mask element.
struct MaskGeometry {
  index_t n = 0;     // rows in this call
  index_t row0 = 0;  // global index of the first row (masks stay row-independent)
  int rank = 0;      // per-sample rank
  index_t shape[6] = {0, 0, 0, 0, 0, 0};
  index_t noise[6] = {0, 0, 0, 0, 0, 0};
  bool noise_batch = true;
  index_t sample_size() const;
  index_t mask_sample_size() const;
  index_t mask_size() const;  // mask elements in this call
};
// Fills the keep bits (1 = keep) of the mask elements, words of 32 bits.
void dropout_mask(const MaskGeometry& g, double rate, std::uint64_t seed, std::uint64_t stream,
                  std::uint32_t* bits);
// y = keep ? x / keep_prob : dropped (inverted dropout divides, so kept values are
// exactly x / (1 - rate)).
template <class T>
void dropout_apply(const MaskGeometry& g, const std::uint32_t* bits, T keep_prob, T dropped,
                   const T* x, T* y);
// dropout_mask then dropout_apply (dropped = 0), fused into one pass for element-wise masks.
template <class T>
void dropout_forward(const MaskGeometry& g, double rate, std::uint64_t seed, std::uint64_t stream,
                     std::uint32_t* bits, T keep_prob, const T* x, T* y);
// Alpha dropout affine: y = a·(keep ? x : alpha_p) + b.
template <class T>
void alpha_dropout_apply(const MaskGeometry& g, const std::uint32_t* bits, T a, T b, T alpha_p,
                         const T* x, T* y);
// ---- machine limits, for the benchmark: float32 FMA throughput of this ISA level on the
// thread team (GFLOP/s, register-only, about `seconds` long), and a team-parallel memcpy.
double fma_peak_gflops(double seconds);
void parallel_copy(const void* src, void* dst, std::size_t bytes);
// Normal noise: eps[i] = mean + std·N(0,1), one per element.
template <class T>
void normal_noise(index_t count, index_t first, double mean, double std, std::uint64_t seed,
                  std::uint64_t stream, T* eps);

// ---- losses. head and y_true are (N×C) or, for sparse, y_true is (N × C/K) class ids
// stored as T; weights (N) or null. K is the size of the output's last axis: the
// categorical losses and accuracies (and the others that sum over the last axis) apply to
// each of a sample's C/K rows of K (a sequence's steps) and average over them, as Keras's
// reduce over the last axis; the other losses average over all C values, which is the same.
// Writes per-sample losses (N) and the gradient with respect to the head input (logits when
// from_logits, else the probabilities) scaled by w_i·grad_scale.
template <class T>
void loss_forward_backward(LossKind loss, bool from_logits, const LossParams& params, const T* head,
                           const T* y_true, const T* w, index_t N, index_t C, index_t K,
                           double* sample_loss, T* grad, double grad_scale);
// Weighted metric sums over N samples: returns Σ w_i m_i (sum of weights written to wsum);
// for precision (recall) the weighted true positives, with the weighted predicted (actual)
// positives in wsum. Not for the kinds loss and auc.
template <class T>
double metric_sum(const MetricSpec& m, const T* y_pred, const T* y_true, const T* w, index_t N,
                  index_t C, index_t K, double* wsum);
// AUC: adds the weights of positive and of negative labels per threshold bucket (per class
// of the last axis when multi_label) to counts, auc_count_size() values; auc_value reads the
// area off the counts accumulated so far.
inline index_t auc_count_size(const MetricSpec& m, index_t K) {
  return 2 * m.thresholds * (m.multi_label ? K : 1);
}
template <class T>
void auc_counts(const MetricSpec& m, const T* y_pred, const T* y_true, const T* w, index_t N,
                index_t C, index_t K, double* counts);
double auc_value(const MetricSpec& m, const double* counts, index_t K);

// ---- optimizers and constraints (element-wise over one parameter).
template <class T>
void optimizer_update(const OptimizerSpec& o, double lr, std::int64_t step, T* value, const T* grad,
                      T* const* slots, index_t size);
// Decoupled weight decay, before the update: value −= value·rate (rate = weight decay · lr).
template <class T>
void decay_weights(double rate, T* value, index_t size);
// After the update (use_ema): average ← μ·average + (1 − μ)·value, μ = 0 at step 1; and
// value ← average at every ema_overwrite_frequency-th step.
template <class T>
void update_average(const OptimizerSpec& o, std::int64_t step, T* value, T* average, index_t size);
template <class T>
void apply_constraint(const ConstraintSpec& c, const index_t* shape, int rank, T* value);

// ---- the graph driver (network.cpp) and the op kinds it knows (registered by cpp/src/ops/).
template <class T>
std::unique_ptr<Network<T>> make_network(GraphSpec<T> spec);
std::vector<std::string> op_kinds();

Philox4x32 philox_block(std::uint32_t c0, std::uint32_t c1, std::uint32_t c2, std::uint32_t c3,
                        std::uint32_t k0, std::uint32_t k1);

}  // namespace DROPNET_KERNEL_NS
}  // namespace dropnet
