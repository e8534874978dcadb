// Op "activation": y = act(x) element-wise (softmax along the last axis). Attributes:
// act, alpha (leaky_relu's slope, elu's alpha).
#include <algorithm>

#include "dropnet/kernels.hpp"
#include "dropnet/names.hpp"
#include "dropnet/op.hpp"

DROPNET_ISA_BEGIN

namespace {

template <class T>
class ActivationOp final : public Op<T> {
  using Op<T>::in_shapes_, Op<T>::out_shape_, Op<T>::dy_is_preactivation_;

 public:
  explicit ActivationOp(const OpArgs<T>& a) : Op<T>(a) {
    const Attrs& at = a.node.attrs;
    this->expect_inputs("activation", 1);
    this->expect_params("activation", {});
    act_ = parse_name(activation_names(), at.text("act"), "activation");
    alpha_ = at.real("alpha");
    at.finish("activation");
    out_shape_ = in_shapes_[0];
  }

  const T* forward(const OpContext& c, const T* const* x, T* out) override {
    const index_t cols = this->last_dim(in_shapes_[0]);
    activation_forward<T>(act_, alpha_, x[0], out, c.n * this->in_size() / cols, cols);
    return out;
  }

  void backward(const OpContext& c, const T* const* x, const T* y, const T* dy, T* const* dx,
                T* const*, T*) override {
    if (!dx[0]) return;
    const index_t count = c.n * this->in_size();
    if (dy_is_preactivation_) {
      std::copy(dy, dy + count, dx[0]);
      return;
    }
    const index_t cols = this->last_dim(in_shapes_[0]);
    activation_backward<T>(act_, alpha_, x[0], y, dy, dx[0], count / cols, cols);
  }

  Act trailing_activation() const override { return act_; }
  // The input itself is the pre-activation value.
  const T* preactivation(const T* const* x) const override { return x[0]; }

 private:
  Act act_ = Act::linear;
  double alpha_ = 0.0;
};

DROPNET_REGISTER_OP("activation", ActivationOp);

}  // namespace

DROPNET_ISA_END
