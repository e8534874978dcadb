// Op "reshape": the same values under another per-sample shape (Flatten, Reshape, Input):
// forward passes the input through, backward copies the gradient.
#include <algorithm>

#include "dropnet/kernels.hpp"
#include "dropnet/op.hpp"

DROPNET_ISA_BEGIN

namespace {

template <class T>
class ReshapeOp final : public Op<T> {
  using Op<T>::out_shape_;

 public:
  explicit ReshapeOp(const OpArgs<T>& a) : Op<T>(a) {
    this->expect_inputs("reshape", 1);
    this->expect_params("reshape", {});
    a.node.attrs.finish("reshape");
    out_shape_ = a.declared_out;
    if (this->out_size() != this->in_size())
      throw std::invalid_argument("reshape: output size must equal the input size");
  }

  const T* forward(const OpContext&, const T* const* x, T*) override { return x[0]; }

  void backward(const OpContext& c, const T* const*, const T*, const T* dy, T* const* dx, T* const*,
                T*) override {
    if (dx[0]) std::copy(dy, dy + c.n * this->in_size(), dx[0]);
  }
};

DROPNET_REGISTER_OP("reshape", ReshapeOp);

}  // namespace

DROPNET_ISA_END
