// Op "lstm": an LSTM over (steps, features) samples (Keras's gate blocks i, f, c, o) with
// variational dropout, an optional step mask, initial states given as inputs or carried by a
// stateful layer, and the final states returned beside the output (see recurrent_op.hpp).
// Parameters kernel (F, 4U), recurrent kernel (U, 4U), optional bias (4U), optional
// state_h and state_c (B, U). Attributes: units, act, recurrent_act, return_sequences,
// go_backwards, dropout, recurrent_dropout, seed, return_state, initial_state (the last three
// optional).
#include "recurrent_op.hpp"

DROPNET_ISA_BEGIN

namespace {

template <class T>
class LstmOp final : public RecurrentOp<T> {
 public:
  explicit LstmOp(const OpArgs<T>& a) : RecurrentOp<T>(a, "lstm", 2) {
    const Attrs& at = a.node.attrs;
    this->g_.gates = 4;
    this->g_.recurrent_act = parse_name(activation_names(), at.text("recurrent_act"), "activation");
    this->finish(at, 4 * this->g_.units);
  }

 private:
  index_t workspace(index_t rows) const override { return lstm_workspace(this->g_, rows); }
  void run_forward(const RnnGeometry& g, const RnnArgs<T>& a, const RnnCarry<T>& carry, const T* x,
                   T* y, T* h_last, T* c_last, T* ws, index_t n) override {
    lstm_forward<T>(g, a, carry, x, y, h_last, c_last, ws, n);
  }
  void run_backward(const RnnGeometry& g, const RnnArgs<T>& a, const RnnCarry<T>& carry, T* ws,
                    const T* dy, T* dW, T* dR, T* db, T* dx, index_t n) override {
    lstm_backward<T>(g, a, carry, ws, dy, dW, dR, db, dx, n);
  }
};

DROPNET_REGISTER_OP("lstm", LstmOp);

}  // namespace

DROPNET_ISA_END
