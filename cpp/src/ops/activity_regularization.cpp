// Op "activity_regularization": the identity, adding l1·Σ|a| + l2·Σa² of its input a (per
// pass, summed over the rows) to the loss as a mean over the rows, in training and in
// evaluation, as Keras adds a layer's activity_regularizer. The graph places one after each
// layer given an activity_regularizer (and the ActivityRegularization layer is this alone).
// Backward: dx = dy + (l1·sign(a) + 2·l2·a) / rows. Attributes: l1, l2.
#include <algorithm>
#include <cmath>

#include "dropnet/kernels.hpp"
#include "dropnet/op.hpp"

DROPNET_ISA_BEGIN

namespace {

template <class T>
class ActivityRegularizationOp final : public Op<T> {
  using Op<T>::in_shapes_, Op<T>::out_shape_;

 public:
  explicit ActivityRegularizationOp(const OpArgs<T>& a) : Op<T>(a) {
    const Attrs& at = a.node.attrs;
    this->expect_inputs("activity_regularization", 1);
    this->expect_params("activity_regularization", {});
    l1_ = at.real("l1");
    l2_ = at.real("l2");
    at.finish("activity_regularization");
    if (!(l1_ >= 0.0 && std::isfinite(l1_) && l2_ >= 0.0 && std::isfinite(l2_)))
      throw std::invalid_argument("activity_regularization: l1 and l2 must be finite and >= 0");
    out_shape_ = in_shapes_[0];
  }

  const T* forward(const OpContext& c, const T* const* x, T*) override {
    const index_t count = c.n * this->in_size();
    double a = 0.0, q = 0.0;
    for (index_t k = 0; k < count; ++k) {
      const double v = double(x[0][k]);
      a += std::fabs(v);
      q += v * v;
    }
    penalty_ = l1_ * a + l2_ * q;
    return x[0];  // the values pass through unchanged
  }

  double penalty() const override { return penalty_; }

  void backward(const OpContext& c, const T* const* x, const T*, const T* dy, T* const* dx,
                T* const*, T*) override {
    if (!dx[0]) return;
    const index_t count = c.n * this->in_size();
    const double l1 = l1_ / double(c.n), l2x2 = 2.0 * l2_ / double(c.n);
    for (index_t k = 0; k < count; ++k) {
      const T v = x[0][k];
      dx[0][k] = dy[k] + T(l1 * double((v > T(0)) - (v < T(0))) + l2x2 * double(v));
    }
  }

 private:
  double l1_ = 0.0, l2_ = 0.0, penalty_ = 0.0;
};

DROPNET_REGISTER_OP("activity_regularization", ActivityRegularizationOp);

}  // namespace

DROPNET_ISA_END
