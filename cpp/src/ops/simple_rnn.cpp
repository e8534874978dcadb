// Op "simple_rnn": Keras's SimpleRNN over (steps, features) samples with variational
// dropout (one input and one recurrent mask), an optional step mask, initial states given as
// inputs or carried by a stateful layer, and the final state returned beside the output (see
// recurrent_op.hpp). Parameters kernel (F, U), recurrent kernel (U, U), optional
// bias (U), optional state_h (B, U). Attributes: units, act, return_sequences,
// go_backwards, dropout, recurrent_dropout, seed, return_state, initial_state (the last three
// optional).
#include "recurrent_op.hpp"

DROPNET_ISA_BEGIN

namespace {

template <class T>
class SimpleRnnOp final : public RecurrentOp<T> {
 public:
  explicit SimpleRnnOp(const OpArgs<T>& a) : RecurrentOp<T>(a, "simple_rnn", 1) {
    this->g_.gates = 1;
    this->g_.recurrent_act = this->g_.act;  // one activation; keeps the shared check simple
    this->finish(a.node.attrs, this->g_.units);
  }

 private:
  index_t workspace(index_t rows) const override { return simple_rnn_workspace(this->g_, rows); }
  void run_forward(const RnnGeometry& g, const RnnArgs<T>& a, const RnnCarry<T>& carry, const T* x,
                   T* y, T* h_last, T*, T* ws, index_t n) override {
    simple_rnn_forward<T>(g, a, carry, x, y, h_last, ws, n);
  }
  void run_backward(const RnnGeometry& g, const RnnArgs<T>& a, const RnnCarry<T>& carry, T* ws,
                    const T* dy, T* dW, T* dR, T* db, T* dx, index_t n) override {
    simple_rnn_backward<T>(g, a, carry, ws, dy, dW, dR, db, dx, n);
  }
};

DROPNET_REGISTER_OP("simple_rnn", SimpleRnnOp);

}  // namespace

DROPNET_ISA_END
