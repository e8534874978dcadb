// Op "pool": max or average pooling (and global pooling: one window over the whole map)
// over channels-last samples. Attributes: mode ("max" or "avg") and the window.
#include "dropnet/kernels.hpp"
#include "dropnet/op.hpp"

DROPNET_ISA_BEGIN

namespace {

template <class T>
class PoolOp final : public Op<T> {
  using Op<T>::in_shapes_, Op<T>::out_shape_;

 public:
  explicit PoolOp(const OpArgs<T>& a) : Op<T>(a) {
    const Attrs& at = a.node.attrs;
    this->expect_inputs("pool", 1);
    this->expect_params("pool", {});
    const std::string& mode = at.text("mode");
    if (mode != "max" && mode != "avg")
      throw std::invalid_argument("pool: mode must be 'max' or 'avg', received '" + mode + "'");
    kind_ = mode == "max" ? PoolKind::max : PoolKind::avg;
    g_ = window_from(at, in_shapes_[0], "pool");
    at.finish("pool");
    // (positions..., C), or (C) / (1, 1, C) for global pooling: the declared layout.
    out_shape_ = a.declared_out;
    if (this->out_size() != g_.positions() * g_.channels || out_shape_.empty() ||
        out_shape_.back() != g_.channels)
      throw std::invalid_argument("pool: output shape does not match the window");
  }

  const T* forward(const OpContext& c, const T* const* x, T* out) override {
    pool_forward<T>(kind_, g_, x[0], out, c.n);
    return out;
  }

  void backward(const OpContext& c, const T* const* x, const T*, const T* dy, T* const* dx,
                T* const*, T*) override {
    if (dx[0]) pool_backward<T>(kind_, g_, x[0], dy, dx[0], c.n, relu_input_);
  }

  // The ReLU's output is this op's input, so its derivative (x > 0) costs nothing here.
  bool absorb_input_relu() override { return relu_input_ = true; }

 private:
  PoolKind kind_ = PoolKind::max;
  WindowGeometry g_;
  bool relu_input_ = false;
};

DROPNET_REGISTER_OP("pool", PoolOp);

}  // namespace

DROPNET_ISA_END
