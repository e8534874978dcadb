// Op "conv": Conv1D/Conv2D over channels-last samples, y = act(conv(x, W) + b). Kernel
// (k_h, k_w, C, F), optional bias (F). Attributes: filters, act, alpha and the window.
#include "kernel_op.hpp"

DROPNET_ISA_BEGIN

namespace {

template <class T>
class ConvOp final : public KernelOp<T> {
  using KernelOp<T>::in_shapes_, KernelOp<T>::out_shape_, KernelOp<T>::params_, KernelOp<T>::act_,
      KernelOp<T>::alpha_;

 public:
  explicit ConvOp(const OpArgs<T>& a) : KernelOp<T>(a, "conv") {
    const Attrs& at = a.node.attrs;
    filters_ = at.integer("filters");
    g_ = window_from(at, in_shapes_[0], "conv");
    at.finish("conv");
    if (filters_ < 1) throw std::invalid_argument("conv: expected filters >= 1");
    if (this->param(0).size != g_.patch() * filters_)
      throw std::invalid_argument("conv: kernel shape does not match the layer's window");
    if (params_.size() > 1 && this->param(1).size != filters_)
      throw std::invalid_argument("conv: bias shape does not match the layer's filters");
    // (steps, filters) for 1-D input, (h, w, filters) for 2-D.
    out_shape_ = in_shapes_[0].size() == 2 ? std::vector<index_t>{g_.out_w, filters_}
                                           : std::vector<index_t>{g_.out_h, g_.out_w, filters_};
  }

  const T* forward(const OpContext& c, const T* const* x, T* out) override {
    conv_forward<T>(g_, filters_, x[0], this->kernel(), this->bias(), this->z_out(out), out, c.n,
                    act_, alpha_);
    return out;
  }

  void backward(const OpContext& c, const T* const* x, const T* y, const T* dy, T* const* dx,
                T* const* pg, T* ws) override {
    conv_backward<T>(g_, filters_, x[0], this->kernel(), this->z_in(), y, dy, this->dz(dy, ws),
                     pg[0], this->bias_grad(pg), dx[0], c.n, act_, alpha_);
  }

 private:
  WindowGeometry g_;
  index_t filters_ = 0;
};

DROPNET_REGISTER_OP("conv", ConvOp);

}  // namespace

DROPNET_ISA_END
