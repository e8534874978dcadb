// Op "conv": Conv1D/Conv2D over channels-last samples, y = act(conv(x, W) + b). Kernel
// (k_h, k_w, C, F), optional bias (F). Attributes: filters, act, alpha and the window.
#include "dropnet/kernels.hpp"
#include "dropnet/names.hpp"
#include "dropnet/op.hpp"

DROPNET_ISA_BEGIN

namespace {

template <class T>
class ConvOp final : public Op<T> {
  using Op<T>::in_shapes_, Op<T>::out_shape_, Op<T>::params_, Op<T>::dy_is_preactivation_;

 public:
  explicit ConvOp(const OpArgs<T>& a) : Op<T>(a) {
    const Attrs& at = a.node.attrs;
    this->expect_inputs("conv", 1);
    this->expect_params("conv", {"kernel", "bias?"});
    act_ = parse_name(activation_names(), at.text("act"), "activation");
    alpha_ = at.real("alpha");
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

  void reserve(index_t rows) override {
    if (keeps_z()) z_.resize(sz(rows * this->out_size()));
  }

  const T* forward(const OpContext& c, const T* const* x, T* out) override {
    T* z = keeps_z() ? z_.data() : out;
    conv_forward<T>(g_, filters_, x[0], this->param(0).value, bias(), z, out, c.n, act_, alpha_);
    return out;
  }

  index_t backward_workspace(index_t rows) const override {
    return dz_given() ? 0 : rows * this->out_size();
  }

  void backward(const OpContext& c, const T* const* x, const T* y, const T* dy, T* const* dx,
                T* const* pg, T* ws) override {
    T* dz = dz_given() ? const_cast<T*>(dy) : ws;
    const T* z = !dz_given() && activation_needs_input(act_) ? z_.data() : nullptr;
    conv_backward<T>(g_, filters_, x[0], this->param(0).value, z, y, dy, dz, pg[0],
                     params_.size() > 1 ? pg[1] : nullptr, dx[0], c.n, act_, alpha_);
  }

  Act trailing_activation() const override { return act_; }
  void keep_preactivation() override { keep_pre_ = true; }
  const T* preactivation(const T* const*) const override { return z_.data(); }

 private:
  const T* bias() const { return params_.size() > 1 ? this->param(1).value : nullptr; }
  bool keeps_z() const { return keep_pre_ || activation_needs_input(act_); }
  bool dz_given() const { return dy_is_preactivation_ || act_ == Act::linear; }

  WindowGeometry g_;
  index_t filters_ = 0;
  Act act_ = Act::linear;
  double alpha_ = 0.0;
  bool keep_pre_ = false;
  std::vector<T> z_;
};

DROPNET_REGISTER_OP("conv", ConvOp);

}  // namespace

DROPNET_ISA_END
