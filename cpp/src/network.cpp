// The training-loop driver: runs whole epochs (shuffle → batches → forward → loss →
// backward → clip → update → constraints, then validation) over numpy-owned parameters.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "dropnet/kernels.hpp"
#include "dropnet/philox.hpp"

DROPNET_ISA_BEGIN

namespace {

index_t product(const std::vector<index_t>& s) {
  index_t p = 1;
  for (index_t v : s) p *= v;
  return p;
}

// Sequential words of one Philox stream, for draws that need a variable count (shuffles).
class WordStream {
 public:
  WordStream(std::uint64_t seed, std::uint64_t stream) : rng_(seed, stream) {}
  std::uint32_t next() { return rng_.word(pos_++); }
  // Uniform in [0, range) without bias (Lemire's multiply-shift with rejection).
  std::uint32_t below(std::uint32_t range) {
    std::uint64_t m = std::uint64_t(next()) * range;
    std::uint32_t low = std::uint32_t(m);
    if (low < range) {
      const std::uint32_t t = std::uint32_t(-range) % range;
      while (low < t) {
        m = std::uint64_t(next()) * range;
        low = std::uint32_t(m);
      }
    }
    return std::uint32_t(m >> 32);
  }

 private:
  RngStream rng_;
  std::uint64_t pos_ = 0;
};

template <class T>
class NetworkImpl final : public Network<T> {
 public:
  explicit NetworkImpl(NetworkSpec<T> spec) : s_(std::move(spec)) {
    in_size_ = product(s_.in_shape);
    out_size_ = product(s_.out_shape);
    const index_t L = index_t(s_.layers.size());
    rt_.resize(sz(L));
    first_param_layer_ = L;
    for (index_t i = 0; i < L; ++i) {
      const LayerSpec& l = s_.layers[sz(i)];
      Rt& r = rt_[sz(i)];
      r.in = product(l.in_shape);
      r.out = product(l.out_shape);
      r.geo.rank = int(l.in_shape.size());
      for (int d = 0; d < r.geo.rank; ++d) {
        r.geo.shape[d] = l.in_shape[sz(d)];
        r.geo.noise[d] = l.noise_shape.empty() ? l.in_shape[sz(d)] : l.noise_shape[sz(d)];
      }
      r.geo.noise_batch = l.noise_batch;
      max_width_ = std::max({max_width_, r.in, r.out});
      if (has_params(l) && first_param_layer_ == L) first_param_layer_ = i;
    }
    // Cross-entropy after a sigmoid/softmax runs on the logits (stable, gradient p - y).
    if (s_.from_logits) {
      logits_output_ = true;
    } else if (L > 0) {
      const LayerSpec& last = s_.layers.back();
      const bool act_layer = has_params(last) || last.kind == LayerKind::activation;
      if (act_layer && ((last.act == Act::sigmoid && s_.loss == LossKind::binary_ce) ||
                        (last.act == Act::softmax && (s_.loss == LossKind::categorical_ce ||
                                                      s_.loss == LossKind::sparse_categorical_ce))))
        fused_ = true;
    }
    grads_.resize(s_.params.size());
    for (std::size_t p = 0; p < s_.params.size(); ++p)
      grads_[p].assign(sz(s_.params[p].size), T(0));
  }

  index_t fit(const Batchable<T>& train, const Batchable<T>& val, const EpochOptions& opts,
              index_t epochs, bool stop_on_nan, std::int64_t& iterations,
              double* history) override {
    const index_t nm = index_t(s_.metrics.size());
    const index_t cols = (1 + nm) * (val.n > 0 ? 2 : 1);
    const index_t n = train.n, bs = std::max<index_t>(1, std::min(opts.batch_size, n));
    std::vector<index_t> perm(sz(n));
    std::vector<double> msum(sz(nm)), wsum(sz(nm)), out(sz(1 + nm));
    for (index_t e = 0; e < epochs; ++e) {
      for (index_t i = 0; i < n; ++i) perm[sz(i)] = i;
      if (opts.shuffle && n > 1) {
        WordStream ws(s_.seed, stream_id(RngPurpose::shuffle, 0, std::uint64_t(iterations)));
        for (index_t i = n - 1; i > 0; --i)
          std::swap(perm[sz(i)], perm[ws.below(std::uint32_t(i + 1))]);
      }
      double loss_sum = 0.0;
      std::fill(msum.begin(), msum.end(), 0.0);
      std::fill(wsum.begin(), wsum.end(), 0.0);
      for (index_t b0 = 0; b0 < n; b0 += bs) {
        const index_t nb = std::min(bs, n - b0);
        gather(train, perm.data() + b0, nb);
        const double loss = step(nb, iterations, msum.data(), wsum.data());
        loss_sum += loss * double(nb);
      }
      double* h = history + e * cols;
      h[0] = loss_sum / double(n);
      for (index_t m = 0; m < nm; ++m) h[1 + m] = wsum[sz(m)] > 0 ? msum[sz(m)] / wsum[sz(m)] : 0.0;
      if (val.n > 0) evaluate(val, opts.batch_size, h + 1 + nm);
      if (stop_on_nan && !std::isfinite(h[0])) return e + 1;
    }
    return epochs;
  }

  void train_step(const Batchable<T>& batch, std::int64_t& iterations, double* out) override {
    const index_t nm = index_t(s_.metrics.size());
    std::vector<index_t> idx(sz(batch.n));
    for (index_t i = 0; i < batch.n; ++i) idx[sz(i)] = i;
    gather(batch, idx.data(), batch.n);
    std::vector<double> msum(sz(nm), 0.0), wsum(sz(nm), 0.0);
    out[0] = step(batch.n, iterations, msum.data(), wsum.data());
    for (index_t m = 0; m < nm; ++m) out[1 + m] = wsum[sz(m)] > 0 ? msum[sz(m)] / wsum[sz(m)] : 0.0;
  }

  void predict(const T* x, index_t n, T* out, index_t /*batch_size*/,
               std::int64_t mc_call) override {
    const index_t chunk = inference_chunk();
    for (index_t r0 = 0; r0 < n; r0 += chunk) {
      const index_t nb = std::min(chunk, n - r0);
      const Mode mode = mc_call >= 0 ? Mode{true, RngPurpose::mc_mask, std::uint64_t(mc_call), r0}
                                     : Mode{false, RngPurpose::train_mask, 0, r0};
      const T* y = forward(x + r0 * in_size_, nb, mode);
      std::memcpy(out + r0 * out_size_, y, sizeof(T) * sz(nb * out_size_));
    }
  }

  void evaluate(const Batchable<T>& d, index_t /*batch_size*/, double* out) override {
    const index_t nm = index_t(s_.metrics.size());
    double loss_sum = 0.0;
    std::vector<double> msum(sz(nm), 0.0), wsum(sz(nm), 0.0);
    const index_t chunk = inference_chunk();
    for (index_t r0 = 0; r0 < d.n; r0 += chunk) {
      const index_t nb = std::min(chunk, d.n - r0);
      const T* yt = d.y + r0 * label_width();
      const T* w = d.w ? d.w + r0 : nullptr;
      forward(d.x + r0 * in_size_, nb, Mode{false, RngPurpose::train_mask, 0, r0});
      loss_sum += head_loss(yt, w, nb, 1.0);
      metrics(yt, w, nb, msum.data(), wsum.data());
    }
    out[0] = loss_sum / double(d.n) + regularization(false);
    for (index_t m = 0; m < nm; ++m) out[1 + m] = wsum[sz(m)] > 0 ? msum[sz(m)] / wsum[sz(m)] : 0.0;
  }

  double gradients(const Batchable<T>& batch, std::int64_t step_idx, bool training,
                   std::vector<T*> grads, T* dx) override {
    const T* y = batch.y;
    forward(batch.x, batch.n, Mode{training, RngPurpose::train_mask, std::uint64_t(step_idx), 0});
    double loss = head_loss(y, batch.w, batch.n, 1.0 / double(batch.n)) / double(batch.n);
    backward(batch.n, dx);
    loss += regularization(true);
    for (std::size_t p = 0; p < grads.size() && p < grads_.size(); ++p)
      if (grads[p]) std::copy(grads_[p].begin(), grads_[p].end(), grads[p]);
    return loss;
  }

  void set_learning_rate(double lr) override { s_.optimizer.lr.initial = lr; }

  double learning_rate(std::int64_t it) const override {
    const ScheduleSpec& sc = s_.optimizer.lr;
    double p = double(it) / sc.decay_steps;
    if (sc.staircase) p = std::floor(p);
    switch (sc.kind) {
      case ScheduleKind::constant:
        return sc.initial;
      case ScheduleKind::exponential:
        return sc.initial * std::pow(sc.decay_rate, p);
      case ScheduleKind::inverse_time:
        return sc.initial / (1.0 + sc.decay_rate * p);
      case ScheduleKind::keras2_decay:
        return sc.initial / (1.0 + sc.decay_rate * double(it));
    }
    return sc.initial;
  }

 private:
  // Rows per inference pass: rows are independent, so the split never changes results;
  // small enough that the widest layer's activations stay in L1/L2 between layers.
  index_t inference_chunk() const {
    const index_t bytes = index_t(sizeof(T)) * std::max<index_t>(max_width_, 1);
    return std::min<index_t>(1024, std::max<index_t>(8, (index_t(1) << 15) / bytes));
  }

  struct Rt {
    index_t in = 0, out = 0;
    std::vector<T> y, z;              // layer output, and pre-activation where backward needs it
    std::vector<std::uint32_t> bits;  // dropout keep mask
    std::vector<T> eps;               // gaussian dropout factors
    MaskGeometry geo;
    const T* x = nullptr;   // input seen by the last forward
    const T* yp = nullptr;  // output of the last forward (may alias x)
    bool identity = true;   // the last forward passed x through unchanged
    // LSTM: workspace, pre-scaled masks, and the geometry of the last forward (masks on
    // or off).
    std::vector<T> ws, in_mask, rec_mask;
    std::vector<std::uint32_t> rec_bits;
    LstmGeometry lstm;
  };
  struct Mode {
    bool stochastic;
    RngPurpose purpose;
    std::uint64_t step;
    index_t row0;
  };

  static bool has_params(const LayerSpec& l) {
    return l.kind == LayerKind::dense || l.kind == LayerKind::conv || l.kind == LayerKind::lstm;
  }
  // Whether forward keeps the pre-activation apart from the output: backward needs it
  // (softplus), or it is the loss's logits.
  bool keeps_z(std::size_t i) const {
    const LayerSpec& l = s_.layers[i];
    return has_params(l) && (activation_needs_input(l.act) || (fused_ && i + 1 == rt_.size()));
  }
  // Layer i - 1 is a Dense or Conv with a fused ReLU whose derivative layer i's backward
  // can apply on the way (pooling reads that ReLU's output anyway).
  bool relu_below(std::size_t i) const {
    if (i == 0) return false;
    const LayerSpec& p = s_.layers[i - 1];
    return (p.kind == LayerKind::conv || p.kind == LayerKind::dense) && p.act == Act::relu;
  }
  static PoolKind pool_kind(const LayerSpec& l) {
    return l.kind == LayerKind::max_pool ? PoolKind::max : PoolKind::avg;
  }

  static index_t last_dim(const LayerSpec& l) {
    return l.in_shape.empty() || l.in_shape.back() == 0 ? 1 : l.in_shape.back();
  }

  // AlphaDropout: dropped units take SELU's saturation value α' = -λα; the affine map
  // a·x̃ + b with a = ((1-q)(1+qα'²))^-½, b = -a·α'·q restores mean and variance.
  static constexpr double kAlphaP = -1.7580993408473766;
  static double alpha_scale(const LayerSpec& l) {
    const double q = l.rate;
    return 1.0 / std::sqrt((1.0 - q) * (1.0 + q * kAlphaP * kAlphaP));
  }

  // 1 - rate in T; rate 1 drops every element, so the divisor is never used.
  static T keep_prob(const LayerSpec& l) { return l.rate >= 1.0 ? T(1) : T(1.0 - l.rate); }

  index_t label_width() const { return s_.loss == LossKind::sparse_categorical_ce ? 1 : out_size_; }

  void ensure_rows(index_t rows) {
    if (rows <= cap_rows_) return;
    cap_rows_ = rows;
    for (std::size_t i = 0; i < rt_.size(); ++i) {
      Rt& r = rt_[i];
      const LayerSpec& l = s_.layers[i];
      r.y.resize(sz(rows * r.out));
      if (keeps_z(i)) r.z.resize(sz(rows * r.out));
      if (l.kind == LayerKind::dropout || l.kind == LayerKind::alpha_dropout) {
        MaskGeometry g = r.geo;
        g.n = rows;
        r.bits.resize(sz(g.mask_size() / 32 + 1));
      }
      if (l.kind == LayerKind::gaussian_dropout) r.eps.resize(sz(rows * r.in));
      if (l.kind == LayerKind::lstm) {
        r.ws.resize(sz(lstm_workspace(l.lstm, rows)));
        r.in_mask.resize(sz(rows * l.lstm.input_masks * l.lstm.features));
        r.rec_mask.resize(l.lstm.recurrent_masks ? sz(rows * 4 * l.lstm.units) : 0);
      }
    }
    gx_.resize(sz(rows * in_size_));
    gy_.resize(sz(rows * label_width()));
    gw_.resize(sz(rows));
    g0_.resize(sz(rows * max_width_));
    g1_.resize(sz(rows * max_width_));
    dz_.resize(sz(rows * max_width_));
    head_grad_.resize(sz(rows * out_size_));
    sample_loss_.resize(sz(rows));
  }

  void gather(const Batchable<T>& d, const index_t* rows, index_t nb) {
    ensure_rows(nb);
    const index_t lw = label_width();
    for (index_t i = 0; i < nb; ++i) {
      const index_t r = rows[i];
      std::memcpy(gx_.data() + i * in_size_, d.x + r * in_size_, sizeof(T) * sz(in_size_));
      std::memcpy(gy_.data() + i * lw, d.y + r * lw, sizeof(T) * sz(lw));
      gw_[sz(i)] = d.w ? d.w[r] : T(1);
    }
    batch_has_w_ = d.w != nullptr;
  }

  std::uint64_t layer_seed(const LayerSpec& l) const { return l.has_seed ? l.seed : s_.seed; }

  // Pre-scaled variational masks of n samples, `groups` × `width` each (0 or
  // 1/(1 - rate)), drawn like any dropout mask so rows stay independent of the batch split.
  void lstm_mask(const LayerSpec& l, const Mode& mode, std::uint32_t layer, double rate, index_t n,
                 index_t groups, index_t width, std::vector<std::uint32_t>& bits, T* out) {
    MaskGeometry g;
    g.n = n;
    g.row0 = mode.row0;
    g.rank = 2;
    g.shape[0] = g.noise[0] = groups;
    g.shape[1] = g.noise[1] = width;
    if (bits.size() < sz(g.mask_size() / 32 + 1)) bits.resize(sz(g.mask_size() / 32 + 1));
    dropout_mask(g, rate, layer_seed(l), stream_id(mode.purpose, layer, mode.step), bits.data());
    std::fill(out, out + n * groups * width, T(1));
    dropout_apply<T>(g, bits.data(), T(1.0 - rate), T(0), out, out);
  }

  const T* forward(const T* x, index_t n, const Mode& mode) {
    ensure_rows(n);
    const T* cur = x;
    for (std::size_t i = 0; i < rt_.size(); ++i) {
      const LayerSpec& l = s_.layers[i];
      Rt& r = rt_[i];
      r.x = cur;
      r.identity = false;
      T* y = r.y.data();
      switch (l.kind) {
        case LayerKind::dense: {
          const ParamSpec<T>& W = s_.params[sz(l.kernel)];
          const T* b = l.bias >= 0 ? s_.params[sz(l.bias)].value : nullptr;
          // In place unless backward needs the pre-activation (or it is the loss's logits).
          T* z = keeps_z(i) ? r.z.data() : y;
          // Dense acts on the last axis: every leading position is one row of the GEMM.
          const index_t F = W.shape[0], U = W.shape[1];
          dense_forward<T>(cur, W.value, b, z, y, n * (r.in / F), F, U, l.act, l.alpha);
          break;
        }
        case LayerKind::conv: {
          const T* b = l.bias >= 0 ? s_.params[sz(l.bias)].value : nullptr;
          T* z = keeps_z(i) ? r.z.data() : y;
          conv_forward<T>(l.window, l.filters, cur, s_.params[sz(l.kernel)].value, b, z, y, n,
                          l.act, l.alpha);
          break;
        }
        case LayerKind::max_pool:
        case LayerKind::avg_pool:
          pool_forward<T>(pool_kind(l), l.window, cur, y, n);
          break;
        case LayerKind::lstm: {
          // Masks only in training (or Monte-Carlo) passes; inference runs without them.
          r.lstm = l.lstm;
          if (!mode.stochastic) {
            r.lstm.input_masks = 0;
            r.lstm.recurrent_masks = false;
          }
          if (r.lstm.input_masks > 0)
            lstm_mask(l, mode, l.layer_id, l.rate, n, r.lstm.input_masks, r.lstm.features, r.bits,
                      r.in_mask.data());
          if (r.lstm.recurrent_masks)
            lstm_mask(l, mode, l.layer_id | kSecondMask, l.recurrent_rate, n, 4, r.lstm.units,
                      r.rec_bits, r.rec_mask.data());
          const T* b = l.bias >= 0 ? s_.params[sz(l.bias)].value : nullptr;
          lstm_forward<T>(r.lstm, cur, s_.params[sz(l.kernel)].value,
                          s_.params[sz(l.recurrent)].value, b,
                          r.lstm.input_masks ? r.in_mask.data() : nullptr,
                          r.lstm.recurrent_masks ? r.rec_mask.data() : nullptr, y, r.ws.data(), n);
          break;
        }
        case LayerKind::activation:
          activation_forward<T>(l.act, l.alpha, cur, y, n * r.in / last_dim(l), last_dim(l));
          break;
        case LayerKind::reshape:
          r.identity = true;
          break;
        case LayerKind::dropout:
        case LayerKind::alpha_dropout:
        case LayerKind::gaussian_dropout:
        case LayerKind::gaussian_noise: {
          if (!mode.stochastic || l.rate <= 0.0) {
            r.identity = true;
            break;
          }
          const std::uint64_t seed = layer_seed(l);
          const std::uint64_t stream = stream_id(mode.purpose, l.layer_id, mode.step);
          MaskGeometry g = r.geo;
          g.n = n;
          g.row0 = mode.row0;
          r.geo.n = n;
          if (l.kind == LayerKind::dropout) {
            dropout_forward<T>(g, l.rate, seed, stream, r.bits.data(), keep_prob(l), cur, y);
          } else if (l.kind == LayerKind::alpha_dropout) {
            dropout_mask(g, l.rate, seed, stream, r.bits.data());
            const double a = alpha_scale(l), q = l.rate;
            alpha_dropout_apply<T>(g, r.bits.data(), T(a), T(-a * kAlphaP * q), T(kAlphaP), cur, y);
          } else if (l.kind == LayerKind::gaussian_dropout) {
            const index_t count = n * r.in;
            normal_noise<T>(count, mode.row0 * r.in, 1.0, std::sqrt(l.rate / (1.0 - l.rate)), seed,
                            stream, r.eps.data());
            for (index_t k = 0; k < count; ++k) y[k] = cur[k] * r.eps[sz(k)];
          } else {
            const index_t count = n * r.in;
            normal_noise<T>(count, mode.row0 * r.in, 0.0, l.rate, seed, stream, y);
            for (index_t k = 0; k < count; ++k) y[k] += cur[k];
          }
          break;
        }
      }
      r.yp = r.identity ? cur : y;
      cur = r.yp;
    }
    return cur;
  }

  // Loss of the last forward against labels; fills head_grad_ scaled by grad_scale.
  double head_loss(const T* yt, const T* w, index_t n, double grad_scale) {
    const T* head = rt_.empty() ? nullptr : rt_.back().yp;
    if (logits_output_) {
      // head is the output itself, already logits
    } else if (fused_) {
      const Rt& last = rt_.back();
      head = has_params(s_.layers.back()) ? last.z.data() : last.x;
    }
    loss_forward_backward<T>(s_.loss, fused_ || logits_output_, head, yt, w, n, out_size_,
                             sample_loss_.data(), head_grad_.data(), grad_scale);
    double sum = 0.0;
    for (index_t i = 0; i < n; ++i) sum += sample_loss_[sz(i)];
    return sum;
  }

  void metrics(const T* yt, const T* w, index_t n, double* msum, double* wsum) {
    const T* p = rt_.back().yp;
    for (std::size_t m = 0; m < s_.metrics.size(); ++m) {
      double ws = 0.0;
      msum[m] += metric_sum<T>(s_.metrics[m], p, yt, w, n, out_size_, &ws);
      wsum[m] += ws;
    }
  }

  // Σ penalties; with `grad`, adds each penalty's gradient to the parameter gradients.
  double regularization(bool grad) {
    double total = 0.0;
    for (std::size_t p = 0; p < s_.params.size(); ++p) {
      const ParamSpec<T>& ps = s_.params[p];
      const RegularizerSpec& rg = ps.regularizer;
      if (rg.l1 == 0.0 && rg.l2 == 0.0) continue;
      double a = 0.0, q = 0.0;
      for (index_t k = 0; k < ps.size; ++k) {
        const double v = double(ps.value[k]);
        a += std::fabs(v);
        q += v * v;
      }
      total += rg.l1 * a + rg.l2 * q;
      if (grad) {
        T* g = grads_[p].data();
        const T l1 = T(rg.l1), l2x2 = T(2.0 * rg.l2);
        for (index_t k = 0; k < ps.size; ++k) {
          const T v = ps.value[k];
          g[k] += l1 * T((v > T(0)) - (v < T(0))) + l2x2 * v;
        }
      }
    }
    return total;
  }

  // Backward from head_grad_ through every layer; writes parameter gradients into
  // grads_ and, when dx is given, the gradient of the input.
  void backward(index_t n, T* dx_out) {
    const T* dy = head_grad_.data();
    bool fused_pending = fused_;
    bool relu_done = false;  // a pooling layer already applied the ReLU below it
    T* bufs[2] = {g0_.data(), g1_.data()};
    int which = 0;
    // Without an input gradient to return, layers before the first one with parameters
    // (input dropout, say) need no gradient, and that layer needs none of its input.
    const std::size_t stop = dx_out ? 0 : sz(first_param_layer_);
    for (std::size_t ii = rt_.size(); ii-- > stop;) {
      const LayerSpec& l = s_.layers[ii];
      Rt& r = rt_[ii];
      const bool need_dx = ii > stop || dx_out != nullptr;
      T* dx = (ii == 0 && dx_out) ? dx_out : bufs[which];
      const index_t count = n * r.in;
      switch (l.kind) {
        case LayerKind::dense: {
          // The fused loss head already gives the gradient of the pre-activation.
          const bool dz_given = fused_pending || relu_done || l.act == Act::linear;
          T* dz = dz_given ? const_cast<T*>(dy) : dz_.data();
          T* dW = grads_[sz(l.kernel)].data();
          T* db = l.bias >= 0 ? grads_[sz(l.bias)].data() : nullptr;
          const ParamSpec<T>& W = s_.params[sz(l.kernel)];
          const index_t F = W.shape[0], U = W.shape[1];
          const T* z = activation_needs_input(l.act) ? r.z.data() : nullptr;
          dense_backward<T>(r.x, W.value, dz_given ? nullptr : z, r.y.data(), dy, dz, dW, db,
                            need_dx ? dx : nullptr, n * (r.in / F), F, U, l.act, l.alpha);
          break;
        }
        case LayerKind::conv: {
          const bool dz_given = fused_pending || relu_done || l.act == Act::linear;
          T* dz = dz_given ? const_cast<T*>(dy) : dz_.data();
          T* db = l.bias >= 0 ? grads_[sz(l.bias)].data() : nullptr;
          const T* z = activation_needs_input(l.act) ? r.z.data() : nullptr;
          conv_backward<T>(l.window, l.filters, r.x, s_.params[sz(l.kernel)].value,
                           dz_given ? nullptr : z, r.y.data(), dy, dz, grads_[sz(l.kernel)].data(),
                           db, need_dx ? dx : nullptr, n, l.act, l.alpha);
          break;
        }
        case LayerKind::max_pool:
        case LayerKind::avg_pool:
          pool_backward<T>(pool_kind(l), l.window, r.x, dy, dx, n, relu_below(ii));
          break;
        case LayerKind::lstm:
          lstm_backward<T>(r.lstm, s_.params[sz(l.kernel)].value, s_.params[sz(l.recurrent)].value,
                           r.lstm.input_masks ? r.in_mask.data() : nullptr,
                           r.lstm.recurrent_masks ? r.rec_mask.data() : nullptr, r.ws.data(), dy,
                           grads_[sz(l.kernel)].data(), grads_[sz(l.recurrent)].data(),
                           l.bias >= 0 ? grads_[sz(l.bias)].data() : nullptr,
                           need_dx ? dx : nullptr, n);
          break;
        case LayerKind::activation:
          if (fused_pending) {
            std::copy(dy, dy + count, dx);
          } else {
            activation_backward<T>(l.act, l.alpha, r.x, r.y.data(), dy, dx, n * r.in / last_dim(l),
                                   last_dim(l));
          }
          break;
        case LayerKind::reshape:
        case LayerKind::gaussian_noise:
          std::copy(dy, dy + count, dx);
          break;
        case LayerKind::dropout:
        case LayerKind::alpha_dropout:
        case LayerKind::gaussian_dropout: {
          if (r.identity) {
            std::copy(dy, dy + count, dx);
            break;
          }
          MaskGeometry g = r.geo;
          g.n = n;
          if (l.kind == LayerKind::dropout) {
            dropout_apply<T>(g, r.bits.data(), keep_prob(l), T(0), dy, dx);
          } else if (l.kind == LayerKind::alpha_dropout) {
            alpha_dropout_apply<T>(g, r.bits.data(), T(alpha_scale(l)), T(0), T(0), dy, dx);
          } else {
            for (index_t k = 0; k < count; ++k) dx[k] = dy[k] * r.eps[sz(k)];
          }
          break;
        }
      }
      fused_pending = false;
      relu_done =
          (l.kind == LayerKind::max_pool || l.kind == LayerKind::avg_pool) && relu_below(ii);
      dy = dx;
      which ^= 1;
    }
  }

  // One optimizer step on the gathered batch; returns the batch loss (mean + penalties).
  double step(index_t nb, std::int64_t& iterations, double* msum, double* wsum) {
    const T* w = batch_has_w_ ? gw_.data() : nullptr;
    forward(gx_.data(), nb, Mode{true, RngPurpose::train_mask, std::uint64_t(iterations), 0});
    double loss = head_loss(gy_.data(), w, nb, 1.0 / double(nb)) / double(nb);
    metrics(gy_.data(), w, nb, msum, wsum);
    backward(nb, nullptr);
    loss += regularization(true);
    clip_gradients();
    const double lr = learning_rate(iterations);
    ++iterations;
    for (std::size_t p = 0; p < s_.params.size(); ++p) {
      ParamSpec<T>& ps = s_.params[p];
      if (!ps.trainable) continue;
      optimizer_update<T>(s_.optimizer, lr, iterations, ps.value, grads_[p].data(), ps.slots.data(),
                          ps.size);
      if (ps.constraint.kind != ConstraintKind::none)
        apply_constraint<T>(ps.constraint, ps.shape.data(), int(ps.shape.size()), ps.value);
    }
    return loss;
  }

  void clip_gradients() {
    const OptimizerSpec& o = s_.optimizer;
    if (o.clipnorm > 0.0) {
      for (auto& g : grads_) scale_by_norm(g, std::sqrt(sum_sq(g)), o.clipnorm);
    }
    if (o.global_clipnorm > 0.0) {
      double total = 0.0;
      for (auto& g : grads_) total += sum_sq(g);
      const double norm = std::sqrt(total);
      for (auto& g : grads_) scale_by_norm(g, norm, o.global_clipnorm);
    }
    if (o.clipvalue > 0.0) {
      const T c = T(o.clipvalue);
      for (auto& g : grads_)
        for (T& v : g) v = std::min(std::max(v, -c), c);
    }
  }
  static double sum_sq(const std::vector<T>& g) {
    double s = 0.0;
    for (T v : g) s += double(v) * double(v);
    return s;
  }
  static void scale_by_norm(std::vector<T>& g, double norm, double limit) {
    if (norm <= limit) return;
    const T f = T(limit / norm);
    for (T& v : g) v *= f;
  }

  NetworkSpec<T> s_;
  std::vector<Rt> rt_;
  std::vector<std::vector<T>> grads_;
  index_t in_size_ = 0, out_size_ = 0, max_width_ = 1, cap_rows_ = 0;
  bool fused_ = false, logits_output_ = false, batch_has_w_ = false;
  index_t first_param_layer_ = 0;  // index of the first layer with parameters (L if none)
  std::vector<T> gx_, gy_, gw_, g0_, g1_, dz_, head_grad_;
  std::vector<double> sample_loss_;
};

}  // namespace

template <class T>
std::unique_ptr<Network<T>> make_network(NetworkSpec<T> spec) {
  return std::make_unique<NetworkImpl<T>>(std::move(spec));
}

template std::unique_ptr<Network<float>> make_network<float>(NetworkSpec<float>);
template std::unique_ptr<Network<double>> make_network<double>(NetworkSpec<double>);

DROPNET_ISA_END
