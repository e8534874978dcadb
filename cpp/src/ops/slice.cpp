// Op "slice": elements [start, start + size) of each sample's values, under the declared
// per-sample shape: one of the several outputs of a layer whose op returns them side by side
// (a recurrent layer's output and final states). Backward writes the gradient into that
// range and zeros elsewhere (the driver adds the other slices' gradients). Attributes: start.
#include <algorithm>
#include <string>

#include "dropnet/kernels.hpp"
#include "dropnet/op.hpp"

DROPNET_ISA_BEGIN

namespace {

template <class T>
class SliceOp final : public Op<T> {
  using Op<T>::out_shape_;

 public:
  explicit SliceOp(const OpArgs<T>& a) : Op<T>(a) {
    this->expect_inputs("slice", 1);
    this->expect_params("slice", {});
    start_ = a.node.attrs.integer("start");
    a.node.attrs.finish("slice");
    out_shape_ = a.declared_out;
    if (start_ < 0 || this->out_size() < 1 || start_ + this->out_size() > this->in_size())
      throw std::invalid_argument("slice: elements [" + std::to_string(start_) + ", " +
                                  std::to_string(start_ + this->out_size()) +
                                  ") lie outside the input's " + std::to_string(this->in_size()));
  }

  const T* forward(const OpContext& c, const T* const* x, T* out) override {
    const index_t width = this->in_size(), size = this->out_size();
    for (index_t s = 0; s < c.n; ++s) std::copy_n(x[0] + s * width + start_, size, out + s * size);
    return out;
  }

  void backward(const OpContext& c, const T* const*, const T*, const T* dy, T* const* dx, T* const*,
                T*) override {
    if (!dx[0]) return;
    const index_t width = this->in_size(), size = this->out_size();
    for (index_t s = 0; s < c.n; ++s) {
      T* row = dx[0] + s * width;
      std::fill(row, row + start_, T(0));
      std::copy_n(dy + s * size, size, row + start_);
      std::fill(row + start_ + size, row + width, T(0));
    }
  }

 private:
  index_t start_ = 0;
};

DROPNET_REGISTER_OP("slice", SliceOp);

}  // namespace

DROPNET_ISA_END
