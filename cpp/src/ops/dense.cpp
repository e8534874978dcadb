// Op "dense": y = act(x·W + b) on the last axis (every leading position is one GEMM row).
// Kernel (F, U), optional bias (U). Attributes: act, alpha.
#include "kernel_op.hpp"

DROPNET_ISA_BEGIN

namespace {

template <class T>
class DenseOp final : public KernelOp<T> {
  using KernelOp<T>::in_shapes_, KernelOp<T>::out_shape_, KernelOp<T>::params_, KernelOp<T>::act_,
      KernelOp<T>::alpha_;

 public:
  explicit DenseOp(const OpArgs<T>& a) : KernelOp<T>(a, "dense") {
    a.node.attrs.finish("dense");
    const auto& ks = this->param(0).shape;
    const auto& in = in_shapes_[0];
    if (ks.size() != 2 || in.empty() || ks[0] != in.back())
      throw std::invalid_argument("dense: kernel shape does not match the input's last axis");
    F_ = ks[0], U_ = ks[1];
    if (params_.size() > 1 && this->param(1).size != U_)
      throw std::invalid_argument("dense: bias shape does not match the layer's units");
    out_shape_ = in;
    out_shape_.back() = U_;
  }

  const T* forward(const OpContext& c, const T* const* x, T* out) override {
    // In place unless backward needs the pre-activation (or it is the loss's logits).
    dense_forward<T>(x[0], this->kernel(), this->bias(), this->z_out(out), out, rows(c.n), F_, U_,
                     act_, alpha_);
    return out;
  }

  void backward(const OpContext& c, const T* const* x, const T* y, const T* dy, T* const* dx,
                T* const* pg, T* ws) override {
    dense_backward<T>(x[0], this->kernel(), this->z_in(), y, dy, this->dz(dy, ws), pg[0],
                      this->bias_grad(pg), dx[0], rows(c.n), F_, U_, act_, alpha_);
  }

 private:
  index_t rows(index_t n) const { return n * (this->in_size() / F_); }

  index_t F_ = 0, U_ = 0;
};

DROPNET_REGISTER_OP("dense", DenseOp);

}  // namespace

DROPNET_ISA_END
