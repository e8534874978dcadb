// Op "lstm": an LSTM over (steps, features) samples with variational dropout: masks drawn
// once per sample and pass, reused at every step. Inputs: the sequence, and optionally a
// step mask (steps) — 0 keeps the state through that step. Parameters kernel (F, 4U),
// recurrent kernel (U, 4U), optional bias (4U), then for a stateful layer its carried states
// state_h and state_c (B, U): each batch of exactly B rows starts from them and, outside
// gradient checks, leaves its final states there. Attributes: units, act, recurrent_act,
// return_sequences, go_backwards, dropout, recurrent_dropout, seed (optional).
#include <algorithm>
#include <string>

#include "recurrent_op.hpp"  // with kernels.hpp, names.hpp and op.hpp

DROPNET_ISA_BEGIN

namespace {

template <class T>
class LstmOp final : public Op<T> {
  using Op<T>::in_shapes_, Op<T>::out_shape_, Op<T>::params_;

 public:
  explicit LstmOp(const OpArgs<T>& a) : Op<T>(a) {
    const Attrs& at = a.node.attrs;
    if (in_shapes_.size() != 1 && in_shapes_.size() != 2)
      throw std::invalid_argument("lstm: expected a sequence and an optional step mask");
    read_roles();
    this->read_seed(at);
    RnnGeometry& g = g_;
    g.gates = 4;
    g.units = at.integer("units");
    g.act = parse_name(activation_names(), at.text("act"), "activation");
    g.recurrent_act = parse_name(activation_names(), at.text("recurrent_act"), "activation");
    g.return_sequences = at.flag("return_sequences");
    g.go_backwards = at.flag("go_backwards");
    rate_ = at.real("dropout");
    recurrent_rate_ = at.real("recurrent_dropout");
    at.finish("lstm");
    if (in_shapes_[0].size() != 2 || g.units < 1)
      throw std::invalid_argument("lstm: expected (steps, features) inputs and units >= 1");
    g.steps = in_shapes_[0][0];
    g.features = in_shapes_[0][1];
    for (Act act : {g.act, g.recurrent_act})
      if (act != Act::tanh && act != Act::sigmoid && act != Act::relu && act != Act::linear)
        throw std::invalid_argument("lstm: activations must be tanh, sigmoid, relu or linear");
    if (!(rate_ >= 0.0 && rate_ < 1.0 && recurrent_rate_ >= 0.0 && recurrent_rate_ < 1.0))
      throw std::invalid_argument("lstm: dropout and recurrent_dropout must lie in [0, 1)");
    g.recurrent_masks = recurrent_rate_ > 0.0;
    g.input_masks = rate_ > 0.0 ? (g.recurrent_masks ? 4 : 1) : 0;
    const index_t G4 = 4 * g.units;
    if (this->param(0).size != g.features * G4 || this->param(1).size != g.units * G4 ||
        (has_bias_ && this->param(2).size != G4))
      throw std::invalid_argument(
          "lstm: kernel, recurrent kernel or bias shape does not match the layer");
    if (in_shapes_.size() == 2 && in_shapes_[1] != std::vector<index_t>{g.steps})
      throw std::invalid_argument("lstm: the step mask must have one value per step");
    if (stateful_) {
      const ParamSpec<T>&h = this->param(state_), &c = this->param(state_ + 1);
      if (h.shape.size() != 2 || h.shape[1] != g.units || c.shape != h.shape)
        throw std::invalid_argument("lstm: carried states must be (batch size, units)");
      batch_ = h.shape[0];
    }
    out_shape_ =
        g.return_sequences ? std::vector<index_t>{g.steps, g.units} : std::vector<index_t>{g.units};
  }

  void reserve(index_t rows) override {
    ws_.resize(sz(lstm_workspace(g_, rows)));
    initial_.resize(stateful_ ? sz(2 * rows * g_.units) : 0);
    in_mask_.resize(sz(rows * g_.input_masks * g_.features));
    rec_mask_.resize(g_.recurrent_masks ? sz(rows * 4 * g_.units) : 0);
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
      draw_mask(c, this->layer_id_ | kSecondMask, recurrent_rate_, 4, run_.units, rec_bits_,
                rec_mask_.data());
    carry_ = RnnCarry<T>{};
    if (in_shapes_.size() == 2) carry_.step_mask = x[1];
    T *h_last = nullptr, *c_last = nullptr;
    if (stateful_) {
      check_carried_batch(c, batch_, "lstm");
      // This pass's rows of the carried states, copied: backward needs them after they move.
      const index_t at = c.batch_row * g_.units, count = c.n * g_.units;
      h_last = this->param(state_).value + at;
      c_last = this->param(state_ + 1).value + at;
      std::copy_n(h_last, count, initial_.data());
      std::copy_n(c_last, count, initial_.data() + count);
      carry_.h0 = initial_.data();
      carry_.c0 = initial_.data() + count;
      if (!c.update_state) h_last = c_last = nullptr;
    }
    lstm_forward<T>(run_, x[0], this->param(0).value, this->param(1).value, bias(), in_mask(),
                    rec_mask(), carry_, out, h_last, c_last, ws_.data(), c.n);
    return out;
  }

  void backward(const OpContext& c, const T* const*, const T*, const T* dy, T* const* dx,
                T* const* pg, T*) override {
    lstm_backward<T>(run_, this->param(0).value, this->param(1).value, in_mask(), rec_mask(),
                     carry_, ws_.data(), dy, pg[0], pg[1], has_bias_ ? pg[2] : nullptr, dx[0], c.n);
    if (in_shapes_.size() == 2 && dx[1]) std::fill(dx[1], dx[1] + c.n * g_.steps, T(0));
    if (stateful_)  // the carried states are constants of the step
      for (std::size_t p = state_; p < state_ + 2; ++p)
        if (pg[p]) std::fill(pg[p], pg[p] + this->param(p).size, T(0));
  }

 private:
  // kernel, recurrent_kernel, then an optional bias, then optional state_h and state_c.
  void read_roles() {
    const auto& r = this->roles_;
    has_bias_ = r.size() > 2 && r[2] == "bias";
    state_ = has_bias_ ? 3 : 2;
    stateful_ = r.size() == state_ + 2 && r[state_] == "state_h" && r[state_ + 1] == "state_c";
    if (r.size() < 2 || r[0] != "kernel" || r[1] != "recurrent_kernel" ||
        r.size() != state_ + (stateful_ ? 2 : 0))
      throw std::invalid_argument(
          "lstm: expected parameters (kernel, recurrent_kernel, bias?, state_h?, state_c?)");
  }
  const T* bias() const { return has_bias_ ? this->param(2).value : nullptr; }
  const T* in_mask() const { return run_.input_masks ? in_mask_.data() : nullptr; }
  const T* rec_mask() const { return run_.recurrent_masks ? rec_mask_.data() : nullptr; }

  void draw_mask(const OpContext& c, std::uint32_t stream_layer, double rate, index_t groups,
                 index_t width, std::vector<std::uint32_t>& bits, T* out) const {
    draw_variational_mask(c, this->seed_, stream_layer, rate, groups, width, bits, out);
  }

  RnnGeometry g_, run_;  // as configured; as run by the last forward (masks on or off)
  double rate_ = 0.0, recurrent_rate_ = 0.0;
  bool has_bias_ = false, stateful_ = false;
  std::size_t state_ = 2;  // index of state_h among the parameters
  index_t batch_ = 0;      // a stateful layer's batch size
  RnnCarry<T> carry_;      // the last forward's step mask and initial states
  std::vector<T> ws_, in_mask_, rec_mask_, initial_;
  std::vector<std::uint32_t> bits_, rec_bits_;
};

DROPNET_REGISTER_OP("lstm", LstmOp);

}  // namespace

DROPNET_ISA_END
