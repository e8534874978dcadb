// Masks of sequences. Op "step_mask": from a (steps, ...) tensor, one value per step — 1 where
// any element of the step differs from `value` (NaN differs from everything), else 0 — the
// mask the recurrent layers and masked pooling read (for an Embedding's integer ids, whose
// steps are single values, with value 0). Op "masking" (the Masking layer): the input with
// its masked steps (every element equal to `value`) set to 0. Neither passes a gradient
// through the mask; "masking" passes dy at the steps it keeps. Attribute: value.
// Op "masked_average" (GlobalAveragePooling1D given a mask): inputs (steps, C) and the step
// mask; the mean of the kept steps per channel, Σ m·x / Σ m (NaN when no step is kept, as
// in Keras). Output (C), or (1, C) with the attribute keepdims.
#include <algorithm>

#include "dropnet/kernels.hpp"
#include "dropnet/op.hpp"

DROPNET_ISA_BEGIN

namespace {

template <class T>
class StepMaskBase : public Op<T> {
 protected:
  using Op<T>::in_shapes_;

  StepMaskBase(const OpArgs<T>& a, const char* kind) : Op<T>(a) {
    this->expect_inputs(kind, 1);
    this->expect_params(kind, {});
    value_ = a.node.attrs.real("value");
    a.node.attrs.finish(kind);
    if (in_shapes_[0].empty())
      throw std::invalid_argument(std::string(kind) + ": expected (steps, ...) inputs");
    steps_ = in_shapes_[0][0];
    width_ = steps_ > 0 ? this->in_size() / steps_ : 0;
  }

  // 1 if step t of a sample (at x) is kept.
  bool kept(const T* x, index_t t) const {
    const T* v = x + t * width_;
    const T m = T(value_);
    for (index_t k = 0; k < width_; ++k)
      if (!(v[k] == m)) return true;
    return false;
  }

  double value_ = 0.0;
  index_t steps_ = 0, width_ = 0;
};

template <class T>
class StepMaskOp final : public StepMaskBase<T> {
  using StepMaskBase<T>::steps_, StepMaskBase<T>::width_;

 public:
  explicit StepMaskOp(const OpArgs<T>& a) : StepMaskBase<T>(a, "step_mask") {
    this->out_shape_ = {steps_};
  }

  const T* forward(const OpContext& c, const T* const* x, T* out) override {
    for (index_t s = 0; s < c.n; ++s)
      for (index_t t = 0; t < steps_; ++t)
        out[s * steps_ + t] = this->kept(x[0] + s * steps_ * width_, t) ? T(1) : T(0);
    return out;
  }

  void backward(const OpContext& c, const T* const*, const T*, const T*, T* const* dx, T* const*,
                T*) override {
    if (dx[0]) std::fill(dx[0], dx[0] + c.n * this->in_size(), T(0));
  }
};

template <class T>
class MaskingOp final : public StepMaskBase<T> {
  using StepMaskBase<T>::steps_, StepMaskBase<T>::width_;

 public:
  explicit MaskingOp(const OpArgs<T>& a) : StepMaskBase<T>(a, "masking") {
    this->out_shape_ = this->in_shapes_[0];
  }

  const T* forward(const OpContext& c, const T* const* x, T* out) override {
    for (index_t s = 0; s < c.n; ++s)
      for (index_t t = 0; t < steps_; ++t) {
        const index_t o = (s * steps_ + t) * width_;
        if (this->kept(x[0] + s * steps_ * width_, t))
          std::copy_n(x[0] + o, width_, out + o);
        else
          std::fill_n(out + o, width_, T(0));
      }
    return out;
  }

  void backward(const OpContext& c, const T* const* x, const T*, const T* dy, T* const* dx,
                T* const*, T*) override {
    if (!dx[0]) return;
    for (index_t s = 0; s < c.n; ++s)
      for (index_t t = 0; t < steps_; ++t) {
        const index_t o = (s * steps_ + t) * width_;
        if (this->kept(x[0] + s * steps_ * width_, t))
          std::copy_n(dy + o, width_, dx[0] + o);
        else
          std::fill_n(dx[0] + o, width_, T(0));
      }
  }
};

template <class T>
class MaskedAverageOp final : public Op<T> {
  using Op<T>::in_shapes_, Op<T>::out_shape_;

 public:
  explicit MaskedAverageOp(const OpArgs<T>& a) : Op<T>(a) {
    this->expect_inputs("masked_average", 2);
    this->expect_params("masked_average", {});
    const bool keepdims = a.node.attrs.flag("keepdims");
    a.node.attrs.finish("masked_average");
    if (in_shapes_[0].size() != 2 || in_shapes_[1] != std::vector<index_t>{in_shapes_[0][0]})
      throw std::invalid_argument(
          "masked_average: expected (steps, channels) inputs and a mask of one value per step");
    steps_ = in_shapes_[0][0];
    channels_ = in_shapes_[0][1];
    out_shape_ = keepdims ? std::vector<index_t>{1, channels_} : std::vector<index_t>{channels_};
  }

  const T* forward(const OpContext& c, const T* const* x, T* out) override {
    for (index_t s = 0; s < c.n; ++s) {
      const T* m = x[1] + s * steps_;
      T* y = out + s * channels_;
      std::fill_n(y, channels_, T(0));
      T kept = T(0);
      for (index_t t = 0; t < steps_; ++t) {
        if (m[t] == T(0)) continue;
        kept += m[t];
        const T* v = x[0] + (s * steps_ + t) * channels_;
        for (index_t k = 0; k < channels_; ++k) y[k] += m[t] * v[k];
      }
      for (index_t k = 0; k < channels_; ++k) y[k] /= kept;
    }
    return out;
  }

  void backward(const OpContext& c, const T* const* x, const T*, const T* dy, T* const* dx,
                T* const*, T*) override {
    if (dx[1]) std::fill(dx[1], dx[1] + c.n * steps_, T(0));
    if (!dx[0]) return;
    for (index_t s = 0; s < c.n; ++s) {
      const T* m = x[1] + s * steps_;
      T kept = T(0);
      for (index_t t = 0; t < steps_; ++t) kept += m[t];
      for (index_t t = 0; t < steps_; ++t) {
        T* d = dx[0] + (s * steps_ + t) * channels_;
        const T scale = m[t] / kept;
        for (index_t k = 0; k < channels_; ++k) d[k] = dy[s * channels_ + k] * scale;
      }
    }
  }

 private:
  index_t steps_ = 0, channels_ = 0;
};

DROPNET_REGISTER_OP("step_mask", StepMaskOp);
DROPNET_REGISTER_OP("masked_average", MaskedAverageOp);
DROPNET_REGISTER_OP("masking", MaskingOp);

}  // namespace

DROPNET_ISA_END
