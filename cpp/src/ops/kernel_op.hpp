// What dense and conv share: a kernel, an optional bias and a trailing activation whose
// pre-activation value is kept when backward (softplus) or a fused loss head needs it, and
// whose derivative backward skips when the gradient arriving is already the
// pre-activation's. Included by the per-ISA op sources, inside their namespace.
#pragma once
#include "dropnet/kernels.hpp"
#include "dropnet/names.hpp"
#include "dropnet/op.hpp"

namespace dropnet {
namespace DROPNET_ISA {

template <class T>
class KernelOp : public Op<T> {
 public:
  // Reads the attributes act and alpha and checks the parameters (kernel, bias?).
  KernelOp(const OpArgs<T>& a, const char* kind) : Op<T>(a) {
    const Attrs& at = a.node.attrs;
    this->expect_inputs(kind, 1);
    this->expect_params(kind, {"kernel", "bias?"});
    act_ = parse_name(activation_names(), at.text("act"), "activation");
    alpha_ = at.real("alpha");
  }

  void reserve(index_t rows) override {
    if (keeps_z()) z_.resize(sz(rows * this->out_size()));
  }
  index_t backward_workspace(index_t rows) const override {
    return dz_given() ? 0 : rows * this->out_size();
  }
  Act trailing_activation() const override { return act_; }
  void keep_preactivation() override { keep_pre_ = true; }
  const T* preactivation(const T* const*) const override { return z_.data(); }

 protected:
  const T* kernel() const { return this->param(0).value; }
  const T* bias() const { return this->params_.size() > 1 ? this->param(1).value : nullptr; }
  T* bias_grad(T* const* pg) const { return this->params_.size() > 1 ? pg[1] : nullptr; }
  // Where forward writes the pre-activation: its own buffer when kept, else the output.
  T* z_out(T* out) { return keeps_z() ? z_.data() : out; }
  // Backward's dz buffer (dy itself when it already is dz) and the z its kernel reads.
  T* dz(const T* dy, T* ws) const { return dz_given() ? const_cast<T*>(dy) : ws; }
  const T* z_in() const {
    return !dz_given() && activation_needs_input(act_) ? z_.data() : nullptr;
  }
  bool keeps_z() const { return keep_pre_ || activation_needs_input(act_); }
  bool dz_given() const { return this->dy_is_preactivation_ || act_ == Act::linear; }

  Act act_ = Act::linear;
  double alpha_ = 0.0;

 private:
  bool keep_pre_ = false;
  std::vector<T> z_;
};

}  // namespace DROPNET_ISA
}  // namespace dropnet
