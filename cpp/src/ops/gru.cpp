// Op "gru": a GRU over (steps, features) samples (Keras's column blocks z, r, h) with
// variational dropout, an optional step mask, initial states given as inputs or carried by a
// stateful layer, and the final state returned beside the output (see recurrent_op.hpp).
// Parameters kernel (F, 3U), recurrent kernel (U, 3U), optional bias
// ((2, 3U) with reset_after: input and recurrent bias; else (3U)), optional state_h (B, U).
// Attributes: units, act, recurrent_act, reset_after, return_sequences, go_backwards,
// dropout, recurrent_dropout, seed, return_state, initial_state (the last three optional).
#include "recurrent_op.hpp"

DROPNET_ISA_BEGIN

namespace {

template <class T>
class GruOp final : public RecurrentOp<T> {
 public:
  explicit GruOp(const OpArgs<T>& a) : RecurrentOp<T>(a, "gru", 1) {
    const Attrs& at = a.node.attrs;
    RnnGeometry& g = this->g_;
    g.gates = 3;
    g.recurrent_act = parse_name(activation_names(), at.text("recurrent_act"), "activation");
    g.reset_after = at.flag("reset_after");
    this->finish(at, (g.reset_after ? 2 : 1) * 3 * g.units);
  }

 private:
  index_t workspace(index_t rows) const override { return gru_workspace(this->g_, rows); }
  void run_forward(const RnnGeometry& g, const RnnArgs<T>& a, const RnnCarry<T>& carry, const T* x,
                   T* y, T* h_last, T*, T* ws, index_t n) override {
    gru_forward<T>(g, a, carry, x, y, h_last, ws, n);
  }
  void run_backward(const RnnGeometry& g, const RnnArgs<T>& a, const RnnCarry<T>& carry, T* ws,
                    const T* dy, T* dW, T* dR, T* db, T* dx, index_t n) override {
    gru_backward<T>(g, a, carry, ws, dy, dW, dR, db, dx, n);
  }
};

DROPNET_REGISTER_OP("gru", GruOp);

}  // namespace

DROPNET_ISA_END
