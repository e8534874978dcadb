// Op "reverse_steps": each sample's first axis in reverse order, (T, ...) → (T, ...) with
// step t taken from step T−1−t; backward reverses the gradient the same way. Bidirectional
// uses it to put a backward RNN's returned sequence back in time order. No attributes.
#include <algorithm>

#include "dropnet/kernels.hpp"
#include "dropnet/op.hpp"

DROPNET_ISA_BEGIN

namespace {

template <class T>
class ReverseStepsOp final : public Op<T> {
  using Op<T>::in_shapes_, Op<T>::out_shape_;

 public:
  explicit ReverseStepsOp(const OpArgs<T>& a) : Op<T>(a) {
    this->expect_inputs("reverse_steps", 1);
    this->expect_params("reverse_steps", {});
    a.node.attrs.finish("reverse_steps");
    if (in_shapes_[0].empty())
      throw std::invalid_argument("reverse_steps: expected inputs with a steps axis");
    out_shape_ = in_shapes_[0];
  }

  const T* forward(const OpContext& c, const T* const* x, T* out) override {
    reverse(x[0], out, c.n);
    return out;
  }

  void backward(const OpContext& c, const T* const*, const T*, const T* dy, T* const* dx, T* const*,
                T*) override {
    if (dx[0]) reverse(dy, dx[0], c.n);
  }

 private:
  void reverse(const T* from, T* to, index_t n) const {
    const index_t steps = in_shapes_[0][0], per = this->in_size() / steps;
    for (index_t i = 0; i < n; ++i)
      for (index_t t = 0; t < steps; ++t)
        std::copy_n(from + (i * steps + steps - 1 - t) * per, per, to + (i * steps + t) * per);
  }
};

DROPNET_REGISTER_OP("reverse_steps", ReverseStepsOp);

}  // namespace

DROPNET_ISA_END
