// Op "repeat" (RepeatVector): each sample's vector (F) repeated `times` times, giving
// (times, F); backward sums the copies' gradients in order. Attribute: times.
#include <algorithm>

#include "dropnet/kernels.hpp"
#include "dropnet/op.hpp"

DROPNET_ISA_BEGIN

namespace {

template <class T>
class RepeatOp final : public Op<T> {
  using Op<T>::in_shapes_, Op<T>::out_shape_;

 public:
  explicit RepeatOp(const OpArgs<T>& a) : Op<T>(a) {
    this->expect_inputs("repeat", 1);
    this->expect_params("repeat", {});
    times_ = a.node.attrs.integer("times");
    a.node.attrs.finish("repeat");
    if (in_shapes_[0].size() != 1)
      throw std::invalid_argument("repeat: expected (features,) inputs");
    if (times_ < 1) throw std::invalid_argument("repeat: expected times >= 1");
    out_shape_ = {times_, in_shapes_[0][0]};
  }

  const T* forward(const OpContext& c, const T* const* x, T* out) override {
    const index_t F = in_shapes_[0][0];
    for (index_t i = 0; i < c.n; ++i)
      for (index_t t = 0; t < times_; ++t)
        std::copy(x[0] + i * F, x[0] + (i + 1) * F, out + (i * times_ + t) * F);
    return out;
  }

  void backward(const OpContext& c, const T* const*, const T*, const T* dy, T* const* dx, T* const*,
                T*) override {
    if (!dx[0]) return;
    const index_t F = in_shapes_[0][0];
    for (index_t i = 0; i < c.n; ++i) {
      T* d = dx[0] + i * F;
      std::copy(dy + i * times_ * F, dy + (i * times_ + 1) * F, d);
      for (index_t t = 1; t < times_; ++t)
        for (index_t f = 0; f < F; ++f) d[f] += dy[(i * times_ + t) * F + f];
    }
  }

 private:
  index_t times_ = 1;
};

DROPNET_REGISTER_OP("repeat", RepeatOp);

}  // namespace

DROPNET_ISA_END
