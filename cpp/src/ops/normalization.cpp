// Ops "batch_norm" and "layer_norm": y = γ·(x − μ)/√(σ² + ε) + β.
//
// batch_norm normalizes each channel (the attribute `axis` of the per-sample shape) over
// the batch and every other axis. A training pass (not frozen) uses the batch's mean and
// biased variance and moves the stored statistics toward them,
//   moving = moving·momentum + batch·(1 − momentum);
// other passes (inference, Monte-Carlo dropout, a frozen layer) use the stored ones.
// Parameters, in Keras's order: gamma (if scale), beta (if center), moving_mean,
// moving_variance; the last two are not trained, the op itself updates them.
//
// layer_norm normalizes each sample over its trailing `size` values (the last axes);
// gamma and beta (if scale / center) have that size.
//
// Sums run in double in a fixed order, so results do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "dropnet/kernels.hpp"
#include "dropnet/op.hpp"

DROPNET_ISA_BEGIN

namespace {

// The roles a normalization op's parameters must have, in order.
std::vector<std::string> norm_roles(bool scale, bool center, bool moving) {
  std::vector<std::string> roles;
  if (scale) roles.emplace_back("gamma");
  if (center) roles.emplace_back("beta");
  if (moving) {
    roles.emplace_back("moving_mean");
    roles.emplace_back("moving_variance");
  }
  return roles;
}

template <class T>
class BatchNormOp final : public Op<T> {
  using Op<T>::in_shapes_, Op<T>::out_shape_;

 public:
  explicit BatchNormOp(const OpArgs<T>& a) : Op<T>(a) {
    const Attrs& at = a.node.attrs;
    this->expect_inputs("batch_norm", 1);
    const index_t axis = at.integer("axis");
    momentum_ = at.real("momentum");
    epsilon_ = at.real("epsilon");
    center_ = at.flag("center");
    scale_ = at.flag("scale");
    frozen_ = at.flag("frozen");
    at.finish("batch_norm");
    const auto& shape = in_shapes_[0];
    if (axis < 0 || axis >= index_t(shape.size()))
      throw std::invalid_argument("batch_norm: axis out of range for the input shape");
    if (!(momentum_ >= 0.0 && momentum_ <= 1.0))
      throw std::invalid_argument("batch_norm: momentum must lie in [0, 1]");
    if (!(epsilon_ > 0.0 && std::isfinite(epsilon_)))
      throw std::invalid_argument("batch_norm: epsilon must be finite and > 0");
    pre_ = post_ = 1;
    for (index_t d = 0; d < axis; ++d) pre_ *= shape[sz(d)];
    channels_ = shape[sz(axis)];
    for (index_t d = axis + 1; d < index_t(shape.size()); ++d) post_ *= shape[sz(d)];
    if (a.node.roles != norm_roles(scale_, center_, true))
      throw std::invalid_argument("batch_norm: parameters do not match scale/center");
    for (std::size_t p = 0; p < this->params_.size(); ++p)
      if (this->param(p).size != channels_)
        throw std::invalid_argument("batch_norm: every parameter needs one value per channel");
    out_shape_ = shape;
    mean_.resize(sz(channels_));
    inv_std_.resize(sz(channels_));
  }

  const T* forward(const OpContext& c, const T* const* x, T* out) override {
    const index_t C = channels_, P = post_, groups = c.n * pre_;
    batch_ = c.training && !frozen_;
    if (batch_) {
      // Two passes in double: the mean, then the squared deviations from it.
      std::vector<double> sum(sz(C), 0.0), sq(sz(C), 0.0);
      for (index_t g = 0; g < groups; ++g)
        for (index_t ch = 0; ch < C; ++ch) {
          const T* v = x[0] + (g * C + ch) * P;
          double s = 0.0;
          for (index_t j = 0; j < P; ++j) s += double(v[j]);
          sum[sz(ch)] += s;
        }
      const double count = double(groups * P);
      for (index_t ch = 0; ch < C; ++ch) mean_[sz(ch)] = sum[sz(ch)] / count;
      for (index_t g = 0; g < groups; ++g)
        for (index_t ch = 0; ch < C; ++ch) {
          const T* v = x[0] + (g * C + ch) * P;
          const double m = mean_[sz(ch)];
          double s = 0.0;
          for (index_t j = 0; j < P; ++j) s += (double(v[j]) - m) * (double(v[j]) - m);
          sq[sz(ch)] += s;
        }
      T* mm = moving(0);
      T* mv = moving(1);
      for (index_t ch = 0; ch < C; ++ch) {
        const double var = sq[sz(ch)] / count;
        inv_std_[sz(ch)] = 1.0 / std::sqrt(var + epsilon_);
        if (c.update_state) {
          mm[ch] = T(double(mm[ch]) * momentum_ + mean_[sz(ch)] * (1.0 - momentum_));
          mv[ch] = T(double(mv[ch]) * momentum_ + var * (1.0 - momentum_));
        }
      }
    } else {
      const T* mm = moving(0);
      const T* mv = moving(1);
      for (index_t ch = 0; ch < C; ++ch) {
        mean_[sz(ch)] = double(mm[ch]);
        inv_std_[sz(ch)] = 1.0 / std::sqrt(double(mv[ch]) + epsilon_);
      }
    }
    // y = x·a + b per channel, a = γ/σ, b = β − μ·a.
    const T* gamma = scale_ ? this->param(0).value : nullptr;
    const T* beta = center_ ? this->param(scale_ ? 1 : 0).value : nullptr;
    std::vector<T> a(sz(C)), b(sz(C));
    for (index_t ch = 0; ch < C; ++ch) {
      const double g = (gamma ? double(gamma[ch]) : 1.0) * inv_std_[sz(ch)];
      a[sz(ch)] = T(g);
      b[sz(ch)] = T((beta ? double(beta[ch]) : 0.0) - mean_[sz(ch)] * g);
    }
    for (index_t g = 0; g < groups; ++g)
      for (index_t ch = 0; ch < C; ++ch) {
        const T* v = x[0] + (g * C + ch) * P;
        T* o = out + (g * C + ch) * P;
        const T ac = a[sz(ch)], bc = b[sz(ch)];
        for (index_t j = 0; j < P; ++j) o[j] = v[j] * ac + bc;
      }
    return out;
  }

  void backward(const OpContext& c, const T* const* x, const T*, const T* dy, T* const* dx,
                T* const* pg, T*) override {
    const index_t C = channels_, P = post_, groups = c.n * pre_;
    // Σ dy and Σ dy·x̂ per channel, x̂ = (x − μ)/σ with the statistics the forward used.
    std::vector<double> sdy(sz(C), 0.0), sdyx(sz(C), 0.0);
    for (index_t g = 0; g < groups; ++g)
      for (index_t ch = 0; ch < C; ++ch) {
        const T* v = x[0] + (g * C + ch) * P;
        const T* d = dy + (g * C + ch) * P;
        const double m = mean_[sz(ch)], is = inv_std_[sz(ch)];
        double s = 0.0, sx = 0.0;
        for (index_t j = 0; j < P; ++j) {
          s += double(d[j]);
          sx += double(d[j]) * (double(v[j]) - m) * is;
        }
        sdy[sz(ch)] += s;
        sdyx[sz(ch)] += sx;
      }
    const T* gamma = scale_ ? this->param(0).value : nullptr;
    std::size_t p = 0;
    if (scale_) {
      for (index_t ch = 0; ch < C; ++ch) pg[p][ch] = T(sdyx[sz(ch)]);
      ++p;
    }
    if (center_) {
      for (index_t ch = 0; ch < C; ++ch) pg[p][ch] = T(sdy[sz(ch)]);
      ++p;
    }
    for (; p < this->params_.size(); ++p) std::fill(pg[p], pg[p] + C, T(0));  // moving stats
    if (!dx[0]) return;
    const double count = double(groups * P);
    for (index_t g = 0; g < groups; ++g)
      for (index_t ch = 0; ch < C; ++ch) {
        const T* v = x[0] + (g * C + ch) * P;
        const T* d = dy + (g * C + ch) * P;
        T* o = dx[0] + (g * C + ch) * P;
        const double m = mean_[sz(ch)], is = inv_std_[sz(ch)];
        const double k = (gamma ? double(gamma[ch]) : 1.0) * is;
        if (batch_) {  // the batch statistics depend on every row
          const double md = sdy[sz(ch)] / count, mdx = sdyx[sz(ch)] / count;
          for (index_t j = 0; j < P; ++j)
            o[j] = T(k * (double(d[j]) - md - (double(v[j]) - m) * is * mdx));
        } else {
          for (index_t j = 0; j < P; ++j) o[j] = T(k * double(d[j]));
        }
      }
  }

 private:
  T* moving(int which) const {
    return this->param(this->params_.size() - 2 + std::size_t(which)).value;
  }

  double momentum_ = 0.99, epsilon_ = 1e-3;
  bool center_ = true, scale_ = true, frozen_ = false, batch_ = false;
  index_t pre_ = 1, channels_ = 1, post_ = 1;
  std::vector<double> mean_, inv_std_;  // the statistics of the last forward
};

template <class T>
class LayerNormOp final : public Op<T> {
  using Op<T>::in_shapes_, Op<T>::out_shape_;

 public:
  explicit LayerNormOp(const OpArgs<T>& a) : Op<T>(a) {
    const Attrs& at = a.node.attrs;
    this->expect_inputs("layer_norm", 1);
    size_ = at.integer("size");
    epsilon_ = at.real("epsilon");
    center_ = at.flag("center");
    scale_ = at.flag("scale");
    at.finish("layer_norm");
    const index_t total = this->in_size();
    if (size_ < 1 || total % size_ != 0)
      throw std::invalid_argument("layer_norm: size must divide the sample's values");
    if (!(epsilon_ > 0.0 && std::isfinite(epsilon_)))
      throw std::invalid_argument("layer_norm: epsilon must be finite and > 0");
    if (a.node.roles != norm_roles(scale_, center_, false))
      throw std::invalid_argument("layer_norm: parameters do not match scale/center");
    for (std::size_t p = 0; p < this->params_.size(); ++p)
      if (this->param(p).size != size_)
        throw std::invalid_argument("layer_norm: gamma and beta need one value per position");
    out_shape_ = in_shapes_[0];
  }

  void reserve(index_t rows) override {
    const index_t groups = rows * (this->in_size() / size_);
    mean_.resize(sz(groups));
    inv_std_.resize(sz(groups));
  }

  const T* forward(const OpContext& c, const T* const* x, T* out) override {
    const index_t D = size_, groups = c.n * (this->in_size() / D);
    const T* gamma = scale_ ? this->param(0).value : nullptr;
    const T* beta = center_ ? this->param(scale_ ? 1 : 0).value : nullptr;
    for (index_t g = 0; g < groups; ++g) {
      const T* v = x[0] + g * D;
      double s = 0.0;
      for (index_t j = 0; j < D; ++j) s += double(v[j]);
      const double m = s / double(D);
      double q = 0.0;
      for (index_t j = 0; j < D; ++j) q += (double(v[j]) - m) * (double(v[j]) - m);
      const double is = 1.0 / std::sqrt(q / double(D) + epsilon_);
      mean_[sz(g)] = m;
      inv_std_[sz(g)] = is;
      T* o = out + g * D;
      for (index_t j = 0; j < D; ++j) {
        const double h = (double(v[j]) - m) * is;
        o[j] = T((gamma ? double(gamma[j]) : 1.0) * h + (beta ? double(beta[j]) : 0.0));
      }
    }
    return out;
  }

  void backward(const OpContext& c, const T* const* x, const T*, const T* dy, T* const* dx,
                T* const* pg, T*) override {
    const index_t D = size_, groups = c.n * (this->in_size() / D);
    const T* gamma = scale_ ? this->param(0).value : nullptr;
    std::vector<double> dgamma(sz(D), 0.0), dbeta(sz(D), 0.0);
    for (index_t g = 0; g < groups; ++g) {
      const T* v = x[0] + g * D;
      const T* d = dy + g * D;
      const double m = mean_[sz(g)], is = inv_std_[sz(g)];
      double sg = 0.0, sgx = 0.0;  // Σ dŷ and Σ dŷ·x̂, dŷ = dy·γ
      for (index_t j = 0; j < D; ++j) {
        const double h = (double(v[j]) - m) * is;
        const double dh = double(d[j]) * (gamma ? double(gamma[j]) : 1.0);
        dgamma[sz(j)] += double(d[j]) * h;
        dbeta[sz(j)] += double(d[j]);
        sg += dh;
        sgx += dh * h;
      }
      if (!dx[0]) continue;
      T* o = dx[0] + g * D;
      for (index_t j = 0; j < D; ++j) {
        const double h = (double(v[j]) - m) * is;
        const double dh = double(d[j]) * (gamma ? double(gamma[j]) : 1.0);
        o[j] = T(is * (dh - sg / double(D) - h * sgx / double(D)));
      }
    }
    std::size_t p = 0;
    if (scale_) {
      for (index_t j = 0; j < D; ++j) pg[p][j] = T(dgamma[sz(j)]);
      ++p;
    }
    if (center_)
      for (index_t j = 0; j < D; ++j) pg[p][j] = T(dbeta[sz(j)]);
  }

 private:
  index_t size_ = 1;
  double epsilon_ = 1e-3;
  bool center_ = true, scale_ = true;
  std::vector<double> mean_, inv_std_;  // per normalized group of the last forward
};

DROPNET_REGISTER_OP("batch_norm", BatchNormOp);
DROPNET_REGISTER_OP("layer_norm", LayerNormOp);

}  // namespace

DROPNET_ISA_END
