// Ops "dropout" (Dropout, SpatialDropout1D/2D/3D) and "alpha_dropout": a keep mask drawn
// at the broadcast shape (noise_batch, noise_shape) in stochastic passes, the identity
// otherwise. Attributes: rate, noise_batch, noise_shape, seed (optional).
#include <algorithm>
#include <cmath>

#include "dropnet/kernels.hpp"
#include "dropnet/op.hpp"

DROPNET_ISA_BEGIN

namespace {

// AlphaDropout: dropped units take SELU's saturation value α' = -λα; the affine map
// a·x̃ + b with a = ((1-q)(1+qα'²))^-½, b = -a·α'·q restores mean and variance.
constexpr double kAlphaP = -1.7580993408473766;

template <class T, bool Alpha>
class MaskOp final : public Op<T> {
  using Op<T>::in_shapes_, Op<T>::out_shape_;

 public:
  explicit MaskOp(const OpArgs<T>& a) : Op<T>(a) {
    const char* kind = Alpha ? "alpha_dropout" : "dropout";
    const Attrs& at = a.node.attrs;
    this->expect_inputs(kind, 1);
    this->expect_params(kind, {});
    this->read_seed(at);
    rate_ = at.real("rate");
    const bool noise_batch = at.flag("noise_batch");
    const std::vector<index_t> noise = at.ints("noise_shape");
    at.finish(kind);
    const auto& in = in_shapes_[0];
    if (!(rate_ >= 0.0 && (Alpha ? rate_ < 1.0 : rate_ <= 1.0)))
      throw std::invalid_argument(std::string(kind) + ": rate out of range");
    if (in.size() > 6) throw std::invalid_argument(std::string(kind) + ": at most 6 axes");
    if (!noise.empty() && noise.size() != in.size())
      throw std::invalid_argument(std::string(kind) +
                                  ": noise_shape rank does not match the input");
    geo_.rank = int(in.size());
    for (int d = 0; d < geo_.rank; ++d) {
      geo_.shape[d] = in[sz(d)];
      geo_.noise[d] = noise.empty() ? in[sz(d)] : noise[sz(d)];
      if (geo_.noise[d] != 1 && geo_.noise[d] != in[sz(d)])
        throw std::invalid_argument(std::string(kind) +
                                    ": noise_shape entries must be 1 or the input size");
    }
    geo_.noise_batch = noise_batch;
    out_shape_ = in;
  }

  void reserve(index_t rows) override {
    MaskGeometry g = geo_;
    g.n = rows;
    bits_.resize(sz(g.mask_size() / 32 + 1));
  }

  const T* forward(const OpContext& c, const T* const* x, T* out) override {
    identity_ = !c.stochastic || rate_ <= 0.0;
    if (identity_) return x[0];
    MaskGeometry g = geo_;
    g.n = c.n;
    g.row0 = c.row0;
    const std::uint64_t stream = stream_id(c.purpose, this->layer_id_, c.step);
    if constexpr (Alpha) {
      dropout_mask(g, rate_, this->seed_, stream, bits_.data());
      const double a = scale();
      alpha_dropout_apply<T>(g, bits_.data(), T(a), T(-a * kAlphaP * rate_), T(kAlphaP), x[0], out);
    } else {
      dropout_forward<T>(g, rate_, this->seed_, stream, bits_.data(), keep_prob(), x[0], out);
    }
    return out;
  }

  void backward(const OpContext& c, const T* const*, const T*, const T* dy, T* const* dx, T* const*,
                T*) override {
    if (!dx[0]) return;
    if (identity_) {
      std::copy(dy, dy + c.n * this->in_size(), dx[0]);
      return;
    }
    MaskGeometry g = geo_;
    g.n = c.n;
    if constexpr (Alpha)
      alpha_dropout_apply<T>(g, bits_.data(), T(scale()), T(0), T(0), dy, dx[0]);
    else
      dropout_apply<T>(g, bits_.data(), keep_prob(), T(0), dy, dx[0]);
  }

 private:
  double scale() const {
    return 1.0 / std::sqrt((1.0 - rate_) * (1.0 + rate_ * kAlphaP * kAlphaP));
  }
  // 1 - rate in T; rate 1 drops every element, so the divisor is never used.
  T keep_prob() const { return rate_ >= 1.0 ? T(1) : T(1.0 - rate_); }

  double rate_ = 0.0;
  MaskGeometry geo_;
  std::vector<std::uint32_t> bits_;
  bool identity_ = true;  // the last forward passed its input through
};

template <class T>
using DropoutOp = MaskOp<T, false>;
template <class T>
using AlphaDropoutOp = MaskOp<T, true>;

DROPNET_REGISTER_OP("dropout", DropoutOp);
DROPNET_REGISTER_OP("alpha_dropout", AlphaDropoutOp);

}  // namespace

DROPNET_ISA_END
