// Ops "gaussian_dropout" (x·ε, ε ~ N(1, rate/(1-rate))) and "gaussian_noise" (x + N(0,
// stddev²)): fresh normal draws per element in stochastic passes, the identity otherwise.
// Attributes: rate (gaussian_dropout) or stddev (gaussian_noise), seed (optional).
#include <algorithm>
#include <cmath>

#include "dropnet/kernels.hpp"
#include "dropnet/op.hpp"

DROPNET_ISA_BEGIN

namespace {

template <class T, bool Multiplicative>
class NoiseOp final : public Op<T> {
  using Op<T>::in_shapes_, Op<T>::out_shape_;

 public:
  explicit NoiseOp(const OpArgs<T>& a) : Op<T>(a) {
    const char* kind = Multiplicative ? "gaussian_dropout" : "gaussian_noise";
    const Attrs& at = a.node.attrs;
    this->expect_inputs(kind, 1);
    this->expect_params(kind, {});
    this->read_seed(at);
    value_ = at.real(Multiplicative ? "rate" : "stddev");
    at.finish(kind);
    if (Multiplicative ? !(value_ >= 0.0 && value_ < 1.0)
                       : !(value_ >= 0.0 && std::isfinite(value_)))
      throw std::invalid_argument(std::string(kind) + (Multiplicative
                                                           ? ": rate must lie in [0, 1)"
                                                           : ": stddev must be finite and >= 0"));
    out_shape_ = in_shapes_[0];
  }

  void reserve(index_t rows) override {
    if (Multiplicative) eps_.resize(sz(rows * this->in_size()));
  }

  const T* forward(const OpContext& c, const T* const* x, T* out) override {
    identity_ = !c.stochastic || value_ <= 0.0;
    if (identity_) return x[0];
    const index_t count = c.n * this->in_size();
    const std::uint64_t stream = stream_id(c.purpose, this->layer_id_, c.step);
    const index_t first = c.row0 * this->in_size();
    if constexpr (Multiplicative) {
      normal_noise<T>(count, first, 1.0, std::sqrt(value_ / (1.0 - value_)), this->seed_, stream,
                      eps_.data());
      for (index_t k = 0; k < count; ++k) out[k] = x[0][k] * eps_[sz(k)];
    } else {
      normal_noise<T>(count, first, 0.0, value_, this->seed_, stream, out);
      for (index_t k = 0; k < count; ++k) out[k] += x[0][k];
    }
    return out;
  }

  void backward(const OpContext& c, const T* const*, const T*, const T* dy, T* const* dx, T* const*,
                T*) override {
    if (!dx[0]) return;
    const index_t count = c.n * this->in_size();
    if (Multiplicative && !identity_)
      for (index_t k = 0; k < count; ++k) dx[0][k] = dy[k] * eps_[sz(k)];
    else
      std::copy(dy, dy + count, dx[0]);
  }

 private:
  double value_ = 0.0;  // rate or stddev
  std::vector<T> eps_;
  bool identity_ = true;
};

template <class T>
using GaussianDropoutOp = NoiseOp<T, true>;
template <class T>
using GaussianNoiseOp = NoiseOp<T, false>;

DROPNET_REGISTER_OP("gaussian_dropout", GaussianDropoutOp);
DROPNET_REGISTER_OP("gaussian_noise", GaussianNoiseOp);

}  // namespace

DROPNET_ISA_END
