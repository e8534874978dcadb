// What the recurrent ops (LSTM, GRU, SimpleRNN) share: their attributes, parameters (kernel,
// recurrent_kernel, optional bias, optional carried states), initial states given as inputs,
// the optional step-mask input, variational dropout masks, the carried states of a stateful
// layer and the final states returned beside the output. Included by the per-ISA op sources,
// inside their namespace.
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

// Inputs: the sequence (steps, features); with attribute initial_state, the initial states
// (units) each (h; for an LSTM h then c), their gradients passed back; last, optionally,
// the step mask (steps), 0 or 1 per step in input time order. Parameters: kernel (F,
// gates·U), recurrent_kernel (U, gates·U), bias? (the subclass's shape), then for a
// stateful layer its carried states (B, U) each (state_h; for an LSTM state_h, state_c):
// row i of a batch starts from row i and (when the pass updates state) leaves the row's
// final states there. With attribute return_state the output is one flat vector per
// sample: the layer's output, then each final state (graph slices take them apart; their
// gradients come back the same way). Attributes read here: units, act, return_sequences,
// go_backwards, dropout, recurrent_dropout, seed, return_state and initial_state (the last
// three optional); the subclass reads its own, then calls finish().
template <class T>
class RecurrentOp : public Op<T> {
  using Op<T>::in_shapes_, Op<T>::out_shape_, Op<T>::params_, Op<T>::roles_;

 public:
  void reserve(index_t rows) override {
    const index_t states = rows * states_ * g_.units;
    ws_.resize(sz(workspace(rows)));
    in_mask_.resize(sz(rows * g_.input_masks * g_.features));
    rec_mask_.resize(g_.recurrent_masks ? sz(rows * g_.gates * g_.units) : 0);
    initial_.resize(carried_ >= 0 ? sz(states) : 0);
    final_.resize(carried_ >= 0 || return_state_ ? sz(states) : 0);
    main_.resize(return_state_ ? sz(rows * main_size_) : 0);
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
    const index_t count = c.n * g_.units;  // elements of one state of this pass
    carry_ = RnnCarry<T>{};
    carry_.step_mask = masked_ ? x[in_shapes_.size() - 1] : nullptr;
    if (initial_inputs_) {
      carry_.h0 = x[1];
      if (states_ > 1) carry_.c0 = x[2];
    }
    T* state[2] = {nullptr, nullptr};  // this pass's rows of the carried states
    if (carried_ >= 0) {
      check_carried_batch(c, this->param(sz(carried_)).shape[0], kind_);
      // Copied: backward needs the initial states after the pass has moved them.
      for (index_t k = 0; k < states_; ++k) {
        state[k] = this->param(sz(carried_ + k)).value + c.batch_row * g_.units;
        std::copy_n(state[k], count, initial_.data() + k * count);
      }
      carry_.h0 = initial_.data();
      if (states_ > 1) carry_.c0 = initial_.data() + count;
    }
    const bool keep_final = return_state_ || (carried_ >= 0 && c.update_state);
    T* h_last = keep_final ? final_.data() : nullptr;
    T* c_last = keep_final && states_ > 1 ? final_.data() + count : nullptr;
    T* y = return_state_ ? main_.data() : out;
    run_forward(run_, args(), carry_, x[0], y, h_last, c_last, ws_.data(), c.n);
    if (carried_ >= 0 && c.update_state)
      for (index_t k = 0; k < states_; ++k) std::copy_n(final_.data() + k * count, count, state[k]);
    if (return_state_) {  // per row: the output, then each final state
      const index_t width = this->out_size(), U = g_.units;
      for (index_t s = 0; s < c.n; ++s) {
        T* row = out + s * width;
        std::copy_n(main_.data() + s * main_size_, main_size_, row);
        for (index_t k = 0; k < states_; ++k)
          std::copy_n(final_.data() + k * count + s * U, U, row + main_size_ + k * U);
      }
    }
    return out;
  }

  void backward(const OpContext& c, const T* const*, const T*, const T* dy, T* const* dx,
                T* const* pg, T*) override {
    T* db = bias_ >= 0 ? pg[sz(bias_)] : nullptr;
    RnnCarry<T> carry = carry_;
    const index_t count = c.n * g_.units;
    if (return_state_) {  // split each row's gradient: the output's, then each state's
      const index_t width = this->out_size(), U = g_.units;
      for (index_t s = 0; s < c.n; ++s) {
        const T* row = dy + s * width;
        std::copy_n(row, main_size_, main_.data() + s * main_size_);
        for (index_t k = 0; k < states_; ++k)
          std::copy_n(row + main_size_ + k * U, U, final_.data() + k * count + s * U);
      }
      dy = main_.data();
      carry.dh_last = final_.data();
      if (states_ > 1) carry.dc_last = final_.data() + count;
    }
    if (initial_inputs_) {
      carry.dh0 = dx[1];
      if (states_ > 1) carry.dc0 = dx[2];
    }
    run_backward(run_, args(), carry, ws_.data(), dy, pg[0], pg[1], db, dx[0], c.n);
    if (masked_ && dx[in_shapes_.size() - 1]) {
      T* dm = dx[in_shapes_.size() - 1];
      std::fill(dm, dm + c.n * g_.steps, T(0));
    }
    if (carried_ >= 0)  // the carried states enter as constants
      for (index_t k = 0; k < states_; ++k) {
        const auto& p = this->param(sz(carried_ + k));
        std::fill(pg[sz(carried_ + k)], pg[sz(carried_ + k)] + p.size, T(0));
      }
  }

 protected:
  // states: 1 (h), or 2 for the LSTM (h, c).
  RecurrentOp(const OpArgs<T>& a, const char* kind, index_t states)
      : Op<T>(a), kind_(kind), states_(states) {
    const Attrs& at = a.node.attrs;
    static const char* names[2] = {"state_h", "state_c"};
    std::size_t i = 2;
    bool ok = roles_.size() >= 2 && roles_[0] == "kernel" && roles_[1] == "recurrent_kernel";
    if (ok && i < roles_.size() && roles_[i] == "bias") bias_ = index_t(i++);
    if (ok && i < roles_.size() && roles_[i] == names[0]) {
      carried_ = index_t(i);
      for (index_t k = 0; k < states_; ++k, ++i)
        ok = ok && i < roles_.size() && roles_[i] == names[k];
    }
    if (!ok || i != roles_.size()) {
      std::string got, want = "kernel, recurrent_kernel, bias?";
      for (const auto& r : roles_) got += (got.empty() ? "" : ", ") + r;
      for (index_t k = 0; k < states_; ++k) want += std::string(", ") + names[k] + "?";
      throw std::invalid_argument(kind_ + ": expected parameters (" + want + "), received (" + got +
                                  ")");
    }
    this->read_seed(at);
    g_.units = at.integer("units");
    g_.act = parse_name(activation_names(), at.text("act"), "activation");
    g_.return_sequences = at.flag("return_sequences");
    g_.go_backwards = at.flag("go_backwards");
    rate_ = at.real("dropout");
    recurrent_rate_ = at.real("recurrent_dropout");
    return_state_ = at.optional("return_state") && at.flag("return_state");
    initial_inputs_ = at.optional("initial_state") && at.flag("initial_state");
    const std::size_t base = 1 + (initial_inputs_ ? std::size_t(states_) : 0);
    if (in_shapes_.size() != base && in_shapes_.size() != base + 1)
      throw std::invalid_argument(
          kind_ + ": expected " + std::to_string(base) + " or " + std::to_string(base + 1) +
          " input(s) (the sequence" + (initial_inputs_ ? ", the initial states" : "") +
          ", its step mask), received " + std::to_string(in_shapes_.size()));
    masked_ = in_shapes_.size() == base + 1;
    if (initial_inputs_ && carried_ >= 0)
      throw std::invalid_argument(kind_ + ": a stateful layer takes no initial-state inputs");
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
    if (masked_ && (in_shapes_.back().size() != 1 || in_shapes_.back()[0] != g.steps))
      throw std::invalid_argument(kind_ + ": the step mask must have shape (steps,) = (" +
                                  std::to_string(g.steps) + ",)");
    if (initial_inputs_)
      for (index_t k = 0; k < states_; ++k)
        if (in_shapes_[sz(1 + k)] != std::vector<index_t>{g.units})
          throw std::invalid_argument(kind_ + ": each initial state must have shape (units,) = (" +
                                      std::to_string(g.units) + ",)");
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
    if (carried_ >= 0) {
      const auto& shape = this->param(sz(carried_)).shape;
      for (index_t k = 0; k < states_; ++k) {
        const auto& other = this->param(sz(carried_ + k)).shape;
        if (other.size() != 2 || other[0] < 1 || other[1] != g.units || other != shape)
          throw std::invalid_argument(kind_ + ": carried states must have shape (batch, units)");
      }
    }
    out_shape_ =
        g.return_sequences ? std::vector<index_t>{g.steps, g.units} : std::vector<index_t>{g.units};
    main_size_ = this->size_of(out_shape_);
    if (return_state_) out_shape_ = {main_size_ + states_ * g.units};
  }

  virtual index_t workspace(index_t rows) const = 0;
  // c_last is null for layers of one state.
  virtual void run_forward(const RnnGeometry& g, const RnnArgs<T>& a, const RnnCarry<T>& carry,
                           const T* x, T* y, T* h_last, T* c_last, T* ws, index_t n) = 0;
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

  index_t states_ = 1;
  index_t bias_ = -1, carried_ = -1;  // parameter positions, -1 when absent
  bool masked_ = false, initial_inputs_ = false, return_state_ = false;
  index_t main_size_ = 0;  // per-sample elements of the layer's own output
  double rate_ = 0.0, recurrent_rate_ = 0.0;
  RnnCarry<T> carry_;  // the last forward's step mask and initial states
  // ws_: the kernel's; initial_/final_: (states, n, U) carried states in and final states
  // out; main_: the output before packing (and its gradient after unpacking).
  std::vector<T> ws_, in_mask_, rec_mask_, initial_, final_, main_;
  std::vector<std::uint32_t> bits_, rec_bits_;
};

}  // namespace DROPNET_ISA
}  // namespace dropnet
