// What the recurrent ops share (the LSTM its variational masks; the GRU and SimpleRNN all): their
// attributes, parameters (kernel, recurrent_kernel, optional bias, optional carried state), the
// optional step-mask input, variational dropout masks drawn like the LSTM's, and the carried state
// of a stateful layer. Included by the per-ISA op sources, inside their namespace.
#pragma once
#include <algorithm>
#include <string>
#include <vector>

#include "dropnet/kernels.hpp"
#include "dropnet/names.hpp"
#include "dropnet/op.hpp"

namespace dropnet {
namespace DROPNET_ISA {

// Pre-scaled variational masks of c.n samples, `groups` × `width` each (0 or 1/(1 - rate)),
// drawn like any dropout mask (stream `stream_layer` of the pass) so rows stay independent
// of the batch split: one per sequence, reused at every step by the recurrent kernels.
template <class T>
void draw_variational_mask(const OpContext& c, std::uint64_t seed, std::uint32_t stream_layer,
                           double rate, index_t groups, index_t width,
                           std::vector<std::uint32_t>& bits, T* out) {
  MaskGeometry m;
  m.n = c.n;
  m.row0 = c.row0;
  m.rank = 2;
  m.shape[0] = m.noise[0] = groups;
  m.shape[1] = m.noise[1] = width;
  if (bits.size() < sz(m.mask_size() / 32 + 1)) bits.resize(sz(m.mask_size() / 32 + 1));
  dropout_mask(m, rate, seed, stream_id(c.purpose, stream_layer, c.step), bits.data());
  std::fill(out, out + c.n * groups * width, T(1));
  dropout_apply<T>(m, bits.data(), T(1.0 - rate), T(0), out, out);
}

// A stateful layer's carried states have one row per sample of a batch of `batch` rows:
// every pass must lie inside such a batch.
inline void check_carried_batch(const OpContext& c, index_t batch, const std::string& kind) {
  if (c.batch_rows != batch || c.batch_row < 0 || c.batch_row + c.n > batch)
    throw std::invalid_argument(kind + ": a stateful layer runs batches of exactly " +
                                std::to_string(batch) + " rows, received " +
                                std::to_string(c.batch_rows));
}

// Inputs: the sequence (steps, features) and optionally its step mask (steps), 0 or 1 per
// step in input time order. Parameters: kernel (F, gates·U), recurrent_kernel (U, gates·U),
// bias? (the subclass's shape), state_h? (B, U): the carried states of a stateful layer,
// row i of a batch starting from row i and (when the pass updates state) left holding the
// row's final state. Attributes read here: units, act, return_sequences, go_backwards,
// dropout, recurrent_dropout, seed (optional); the subclass reads its own, then calls
// finish().
template <class T>
class RecurrentOp : public Op<T> {
  using Op<T>::in_shapes_, Op<T>::out_shape_, Op<T>::params_, Op<T>::roles_;

 public:
  void reserve(index_t rows) override {
    ws_.resize(sz(workspace(rows)));
    in_mask_.resize(sz(rows * g_.input_masks * g_.features));
    rec_mask_.resize(g_.recurrent_masks ? sz(rows * g_.gates * g_.units) : 0);
  }

  const T* forward(const OpContext& c, const T* const* x, T* out) override {
    // Masks only in stochastic passes (training, Monte-Carlo); inference runs without.
    run_ = g_;
    if (!c.stochastic) {
      run_.input_masks = 0;
      run_.recurrent_masks = false;
    }
    if (run_.input_masks > 0)
      draw_mask(c, this->layer_id_, rate_, run_.input_masks, run_.features, bits_, in_mask_.data());
    if (run_.recurrent_masks)
      draw_mask(c, this->layer_id_ | kSecondMask, recurrent_rate_, run_.gates, run_.units,
                rec_bits_, rec_mask_.data());
    RnnCarry<T> carry;
    carry.step_mask = in_shapes_.size() > 1 ? x[1] : nullptr;
    T* state = nullptr;
    if (state_ >= 0) {
      check_carried_batch(c, this->param(sz(state_)).shape[0], kind_);
      state = this->param(sz(state_)).value + c.batch_row * g_.units;
      carry.h0 = state;  // the kernel copies it before writing the final states there
    }
    run_forward(run_, args(), carry, x[0], out, c.update_state ? state : nullptr, ws_.data(), c.n);
    return out;
  }

  void backward(const OpContext& c, const T* const* x, const T*, const T* dy, T* const* dx,
                T* const* pg, T*) override {
    T* db = bias_ >= 0 ? pg[sz(bias_)] : nullptr;
    RnnCarry<T> carry;  // the initial states are in the workspace by now
    carry.step_mask = in_shapes_.size() > 1 ? x[1] : nullptr;
    run_backward(run_, args(), carry, ws_.data(), dy, pg[0], pg[1], db, dx[0], c.n);
    if (in_shapes_.size() > 1 && dx[1]) std::fill(dx[1], dx[1] + c.n * g_.steps, T(0));
    if (state_ >= 0) {  // the carried state enters as a constant
      const auto& p = this->param(sz(state_));
      std::fill(pg[sz(state_)], pg[sz(state_)] + p.size, T(0));
    }
  }

 protected:
  RecurrentOp(const OpArgs<T>& a, const char* kind) : Op<T>(a), kind_(kind) {
    const Attrs& at = a.node.attrs;
    if (in_shapes_.size() != 1 && in_shapes_.size() != 2)
      throw std::invalid_argument(kind_ +
                                  ": expected 1 or 2 input(s) (the sequence, its step mask), "
                                  "received " +
                                  std::to_string(in_shapes_.size()));
    std::size_t i = 2;
    bool ok = roles_.size() >= 2 && roles_[0] == "kernel" && roles_[1] == "recurrent_kernel";
    if (ok && i < roles_.size() && roles_[i] == "bias") bias_ = index_t(i++);
    if (ok && i < roles_.size() && roles_[i] == "state_h") state_ = index_t(i++);
    if (!ok || i != roles_.size()) {
      std::string got;
      for (const auto& r : roles_) got += (got.empty() ? "" : ", ") + r;
      throw std::invalid_argument(
          kind_ + ": expected parameters (kernel, recurrent_kernel, bias?, state_h?), received (" +
          got + ")");
    }
    this->read_seed(at);
    g_.units = at.integer("units");
    g_.act = parse_name(activation_names(), at.text("act"), "activation");
    g_.return_sequences = at.flag("return_sequences");
    g_.go_backwards = at.flag("go_backwards");
    rate_ = at.real("dropout");
    recurrent_rate_ = at.real("recurrent_dropout");
  }

  // After the subclass has set gates and its own attributes: checks everything against the
  // inputs and parameters; bias_size is the bias's element count.
  void finish(const Attrs& at, index_t bias_size) {
    at.finish(kind_);
    RnnGeometry& g = g_;
    if (in_shapes_[0].size() != 2 || in_shapes_[0][0] < 1 || g.units < 1)
      throw std::invalid_argument(kind_ +
                                  ": expected (steps, features) inputs with steps >= 1, and "
                                  "units >= 1");
    g.steps = in_shapes_[0][0];
    g.features = in_shapes_[0][1];
    if (in_shapes_.size() > 1 && (in_shapes_[1].size() != 1 || in_shapes_[1][0] != g.steps))
      throw std::invalid_argument(kind_ + ": the step mask must have shape (steps,) = (" +
                                  std::to_string(g.steps) + ",)");
    for (Act act : {g.act, g.recurrent_act})
      if (act != Act::tanh && act != Act::sigmoid && act != Act::relu && act != Act::linear)
        throw std::invalid_argument(kind_ + ": activations must be tanh, sigmoid, relu or linear");
    if (!(rate_ >= 0.0 && rate_ < 1.0 && recurrent_rate_ >= 0.0 && recurrent_rate_ < 1.0))
      throw std::invalid_argument(kind_ + ": dropout and recurrent_dropout must lie in [0, 1)");
    g.recurrent_masks = recurrent_rate_ > 0.0;
    g.input_masks = rate_ > 0.0 ? (g.recurrent_masks ? g.gates : 1) : 0;
    const index_t GU = g.gates * g.units;
    if (this->param(0).size != g.features * GU || this->param(1).size != g.units * GU ||
        (bias_ >= 0 && this->param(sz(bias_)).size != bias_size))
      throw std::invalid_argument(kind_ +
                                  ": kernel, recurrent kernel or bias shape does not match the "
                                  "layer");
    if (state_ >= 0) {
      const auto& shape = this->param(sz(state_)).shape;
      if (shape.size() != 2 || shape[0] < 1 || shape[1] != g.units)
        throw std::invalid_argument(kind_ + ": state_h must have shape (batch, units)");
    }
    out_shape_ =
        g.return_sequences ? std::vector<index_t>{g.steps, g.units} : std::vector<index_t>{g.units};
  }

  virtual index_t workspace(index_t rows) const = 0;
  virtual void run_forward(const RnnGeometry& g, const RnnArgs<T>& a, const RnnCarry<T>& carry,
                           const T* x, T* y, T* h_last, T* ws, index_t n) = 0;
  virtual void run_backward(const RnnGeometry& g, const RnnArgs<T>& a, const RnnCarry<T>& carry,
                            T* ws, const T* dy, T* dW, T* dR, T* db, T* dx, index_t n) = 0;

  std::string kind_;
  RnnGeometry g_, run_;  // as configured; as run by the last forward (masks on or off)

 private:
  // The kernels' weights and the last forward's dropout masks.
  RnnArgs<T> args() const {
    RnnArgs<T> a;
    a.W = this->param(0).value;
    a.R = this->param(1).value;
    a.b = bias_ >= 0 ? this->param(sz(bias_)).value : nullptr;
    a.in_mask = run_.input_masks ? in_mask_.data() : nullptr;
    a.rec_mask = run_.recurrent_masks ? rec_mask_.data() : nullptr;
    return a;
  }

  void draw_mask(const OpContext& c, std::uint32_t stream_layer, double rate, index_t groups,
                 index_t width, std::vector<std::uint32_t>& bits, T* out) const {
    draw_variational_mask(c, this->seed_, stream_layer, rate, groups, width, bits, out);
  }

  index_t bias_ = -1, state_ = -1;  // parameter positions, -1 when absent
  double rate_ = 0.0, recurrent_rate_ = 0.0;
  std::vector<T> ws_, in_mask_, rec_mask_;
  std::vector<std::uint32_t> bits_, rec_bits_;
};

}  // namespace DROPNET_ISA
}  // namespace dropnet
