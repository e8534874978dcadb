// Op "dense": y = act(x·W + b) on the last axis (every leading position is one GEMM row).
// Kernel (F, U), optional bias (U). Attributes: act, alpha.
#include "dropnet/kernels.hpp"
#include "dropnet/names.hpp"
#include "dropnet/op.hpp"

DROPNET_ISA_BEGIN

namespace {

template <class T>
class DenseOp final : public Op<T> {
  using Op<T>::in_shapes_, Op<T>::out_shape_, Op<T>::params_, Op<T>::dy_is_preactivation_;

 public:
  explicit DenseOp(const OpArgs<T>& a) : Op<T>(a) {
    const Attrs& at = a.node.attrs;
    act_ = parse_name(activation_names(), at.text("act"), "activation");
    alpha_ = at.real("alpha");
    at.finish("dense");
    this->expect_inputs("dense", 1);
    this->expect_params("dense", {"kernel", "bias?"});
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

  void reserve(index_t rows) override {
    if (keeps_z()) z_.resize(sz(rows * this->out_size()));
  }

  const T* forward(const OpContext& c, const T* const* x, T* out) override {
    // In place unless backward needs the pre-activation (or it is the loss's logits).
    T* z = keeps_z() ? z_.data() : out;
    dense_forward<T>(x[0], this->param(0).value, bias(), z, out, rows(c.n), F_, U_, act_, alpha_);
    return out;
  }

  index_t backward_workspace(index_t rows) const override {
    return dz_given() ? 0 : rows * this->out_size();
  }

  void backward(const OpContext& c, const T* const* x, const T* y, const T* dy, T* const* dx,
                T* const* pg, T* ws) override {
    T* dz = dz_given() ? const_cast<T*>(dy) : ws;
    const T* z = !dz_given() && activation_needs_input(act_) ? z_.data() : nullptr;
    dense_backward<T>(x[0], this->param(0).value, z, y, dy, dz, pg[0],
                      params_.size() > 1 ? pg[1] : nullptr, dx[0], rows(c.n), F_, U_, act_, alpha_);
  }

  Act trailing_activation() const override { return act_; }
  void keep_preactivation() override { keep_pre_ = true; }
  const T* preactivation(const T* const*) const override { return z_.data(); }

 private:
  index_t rows(index_t n) const { return n * (this->in_size() / F_); }
  const T* bias() const { return params_.size() > 1 ? this->param(1).value : nullptr; }
  bool keeps_z() const { return keep_pre_ || activation_needs_input(act_); }
  // The gradient arriving is already that of the pre-activation.
  bool dz_given() const { return dy_is_preactivation_ || act_ == Act::linear; }

  Act act_ = Act::linear;
  double alpha_ = 0.0;
  index_t F_ = 0, U_ = 0;
  bool keep_pre_ = false;
  std::vector<T> z_;
};

DROPNET_REGISTER_OP("dense", DenseOp);

}  // namespace

DROPNET_ISA_END
