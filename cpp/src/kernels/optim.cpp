// Optimizer updates (Keras formulas, one fused element-wise pass per parameter), decoupled
// weight decay, the moving average of the weights, and the weight constraints applied after
// each step.
#include <algorithm>
#include <cmath>
#include <vector>

#include "dropnet/kernels.hpp"

DROPNET_ISA_BEGIN

namespace {
// Nadam's μ_1···μ_t, μ_i = β1(1 − ½·0.96^i). Keras carries it from step to step; it depends
// on t alone, so it is computed here instead of kept as state. The factors 1 − ½·0.96^i
// reach exactly 1 in double by i ≈ 900: their running products up to there are a table,
// and the product is the table's entry for min(t, its end) times β1^t.
double nadam_momentum_product(double beta1, std::int64_t t) {
  static const std::vector<double> products = [] {
    std::vector<double> p = {1.0};
    for (double i = 1;; ++i) {
      const double factor = 1.0 - 0.5 * std::pow(0.96, i);
      if (factor == 1.0) return p;
      p.push_back(p.back() * factor);
    }
  }();
  const std::size_t k = std::min(std::size_t(t), products.size() - 1);
  return products[k] * std::pow(beta1, double(t));
}

double nadam_momentum(double beta1, std::int64_t t) {
  return beta1 * (1.0 - 0.5 * std::pow(0.96, double(t)));
}
}  // namespace

// slots: sgd [momentum]; adam [m, v, v_hat]; rmsprop [velocity, momentum, mean_grad];
// adagrad [accumulator]; adadelta [accumulated_grad, accumulated_delta]; adamax [m, u];
// nadam [m, v]; lion [m].
// step counts from 1 (bias correction); lr is this step's learning rate.
template <class T>
void optimizer_update(const OptimizerSpec& o, double lr_d, std::int64_t step, T* w, const T* g,
                      T* const* slots, index_t n) {
  const T lr = T(lr_d), eps = T(o.epsilon);
  switch (o.kind) {
    case OptKind::sgd: {
      const T mu = T(o.momentum);
      if (o.momentum == 0.0) {
#pragma omp simd
        for (index_t i = 0; i < n; ++i) w[i] -= lr * g[i];
      } else if (o.nesterov) {
        T* m = slots[0];
#pragma omp simd
        for (index_t i = 0; i < n; ++i) {
          m[i] = mu * m[i] - lr * g[i];
          w[i] += mu * m[i] - lr * g[i];
        }
      } else {
        T* m = slots[0];
#pragma omp simd
        for (index_t i = 0; i < n; ++i) {
          m[i] = mu * m[i] - lr * g[i];
          w[i] += m[i];
        }
      }
      return;
    }
    case OptKind::adam: {
      const double t = double(step);
      const T alpha =
          T(lr_d * std::sqrt(1.0 - std::pow(o.beta2, t)) / (1.0 - std::pow(o.beta1, t)));
      const T c1 = T(1.0 - o.beta1), c2 = T(1.0 - o.beta2);
      T* m = slots[0];
      T* v = slots[1];
      T* vh = slots[2];
      if (o.amsgrad) {
        for (index_t i = 0; i < n; ++i) {
          m[i] += (g[i] - m[i]) * c1;
          v[i] += (g[i] * g[i] - v[i]) * c2;
          vh[i] = std::max(vh[i], v[i]);
          w[i] -= alpha * m[i] / (std::sqrt(vh[i]) + eps);
        }
      } else {
#pragma omp simd
        for (index_t i = 0; i < n; ++i) {
          m[i] += (g[i] - m[i]) * c1;
          v[i] += (g[i] * g[i] - v[i]) * c2;
          w[i] -= alpha * m[i] / (std::sqrt(v[i]) + eps);
        }
      }
      return;
    }
    case OptKind::rmsprop: {
      const T rho = T(o.rho), mu = T(o.momentum);
      T* vel = slots[0];
      T* mom = slots[1];
      T* mg = slots[2];
      for (index_t i = 0; i < n; ++i) {
        vel[i] = rho * vel[i] + (T(1) - rho) * g[i] * g[i];
        T denom = vel[i];
        if (o.centered) {
          mg[i] = rho * mg[i] + (T(1) - rho) * g[i];
          denom -= mg[i] * mg[i];
        }
        const T inc = lr * g[i] / std::sqrt(denom + eps);
        if (o.momentum > 0.0) {
          mom[i] = mu * mom[i] + inc;
          w[i] -= mom[i];
        } else {
          w[i] -= inc;
        }
      }
      return;
    }
    case OptKind::adagrad: {
      T* acc = slots[0];
      for (index_t i = 0; i < n; ++i) {
        acc[i] += g[i] * g[i];
        w[i] -= lr * g[i] / std::sqrt(acc[i] + eps);
      }
      return;
    }
    case OptKind::adadelta: {
      const T rho = T(o.rho);
      T* ag = slots[0];
      T* ad = slots[1];
      for (index_t i = 0; i < n; ++i) {
        ag[i] = rho * ag[i] + (T(1) - rho) * g[i] * g[i];
        const T delta = -std::sqrt(ad[i] + eps) / std::sqrt(ag[i] + eps) * g[i];
        ad[i] = rho * ad[i] + (T(1) - rho) * delta * delta;
        w[i] += lr * delta;
      }
      return;
    }
    case OptKind::adamax: {
      const T alpha = T(lr_d / (1.0 - std::pow(o.beta1, double(step))));
      const T c1 = T(1.0 - o.beta1), b2 = T(o.beta2);
      T* m = slots[0];
      T* u = slots[1];
#pragma omp simd
      for (index_t i = 0; i < n; ++i) {
        m[i] += (g[i] - m[i]) * c1;
        u[i] = std::max(b2 * u[i], std::abs(g[i]));
        w[i] -= alpha * m[i] / (u[i] + eps);
      }
      return;
    }
    case OptKind::nadam: {
      // m̂ = μ_{t+1}·m/(1 − P_t·μ_{t+1}) + (1 − μ_t)·g/(1 − P_t), P_t = μ_1···μ_t.
      const double mu = nadam_momentum(o.beta1, step), mu_next = nadam_momentum(o.beta1, step + 1);
      const double product = nadam_momentum_product(o.beta1, step);
      const T a = T(mu_next / (1.0 - product * mu_next)), b = T((1.0 - mu) / (1.0 - product));
      const T c1 = T(1.0 - o.beta1), c2 = T(1.0 - o.beta2);
      const T v_scale = T(1.0 - std::pow(o.beta2, double(step)));
      T* m = slots[0];
      T* v = slots[1];
#pragma omp simd
      for (index_t i = 0; i < n; ++i) {
        m[i] += (g[i] - m[i]) * c1;
        v[i] += (g[i] * g[i] - v[i]) * c2;
        const T m_hat = a * m[i] + b * g[i];
        w[i] -= lr * m_hat / (std::sqrt(v[i] / v_scale) + eps);
      }
      return;
    }
    case OptKind::lion: {
      const T b1 = T(o.beta1), b2 = T(o.beta2), c1 = T(1.0 - o.beta1), c2 = T(1.0 - o.beta2);
      T* m = slots[0];
      for (index_t i = 0; i < n; ++i) {
        const T c = b1 * m[i] + c1 * g[i];
        // sign(c), except that a NaN stays NaN: a diverged gradient shows in the weights.
        const T sign = c > T(0) ? T(1) : c < T(0) ? T(-1) : c;
        w[i] -= lr * sign;
        m[i] = b2 * m[i] + c2 * g[i];
      }
      return;
    }
  }
}

template <class T>
void decay_weights(double rate, T* w, index_t n) {
  const T r = T(rate);
#pragma omp simd
  for (index_t i = 0; i < n; ++i) w[i] -= w[i] * r;
}

template <class T>
void update_average(const OptimizerSpec& o, std::int64_t step, T* w, T* average, index_t n) {
  // μ = 0 at the first step: the average starts at the first updated value, not at zero.
  const T mu = step == 1 ? T(0) : T(o.ema_momentum), keep = T(1) - mu;
#pragma omp simd
  for (index_t i = 0; i < n; ++i) average[i] = mu * average[i] + keep * w[i];
  if (o.ema_overwrite_frequency > 0 && step % o.ema_overwrite_frequency == 0)
    std::copy(average, average + n, w);
}

namespace {
// The scale a norm constraint applies to a group whose squared norm is `sq` (Keras's
// w * desired / (epsilon + norm)).
template <class T>
inline T constraint_factor(const ConstraintSpec& c, T sq) {
  const T norm = std::sqrt(sq);
  T desired = norm;
  switch (c.kind) {
    case ConstraintKind::max_norm:
      desired = std::min(std::max(norm, T(0)), T(c.max_value));
      break;
    case ConstraintKind::unit_norm:
      desired = T(1);
      break;
    case ConstraintKind::min_max_norm:
      desired = T(c.rate) * std::min(std::max(norm, T(c.min_value)), T(c.max_value)) +
                (T(1) - T(c.rate)) * norm;
      break;
    default:
      break;
  }
  return desired / (T(1e-7) + norm);
}
}  // namespace

// Norm constraints reduce over `axes`; every combination of the other axes is one group.
template <class T>
void apply_constraint(const ConstraintSpec& c, const index_t* shape, int rank, T* w) {
  if (c.kind == ConstraintKind::none) return;
  index_t size = 1;
  for (int d = 0; d < rank; ++d) size *= shape[d];
  if (c.kind == ConstraintKind::non_neg) {
    for (index_t i = 0; i < size; ++i) w[i] = w[i] >= T(0) ? w[i] : T(0);
    return;
  }
  bool reduced[8] = {false, false, false, false, false, false, false, false};
  for (int a : c.axes) reduced[a] = true;
  // Reduced axes forming one run of dims (Dense (in, out) over axis 0, conv kernels over
  // all but the last): the tensor is (pre, red, post) and each group's sum streams rows
  // of `post` contiguous elements. Same per-group order of terms as the general path.
  int first = rank, last = -1;
  for (int d = 0; d < rank; ++d)
    if (reduced[d]) first = std::min(first, d), last = std::max(last, d);
  bool run = last >= 0;
  for (int d = first; run && d <= last; ++d) run = reduced[d];
  if (run) {
    index_t pre = 1, red = 1, post = 1;
    for (int d = 0; d < rank; ++d) (d < first ? pre : d <= last ? red : post) *= shape[d];
    constexpr index_t kStack = 512;
    T stack_buf[kStack];
    std::vector<T> heap_buf;
    T* sq = stack_buf;
    if (post > kStack) {
      heap_buf.resize(sz(post));
      sq = heap_buf.data();
    }
    for (index_t p = 0; p < pre; ++p) {
      T* block = w + p * red * post;
      std::fill(sq, sq + post, T(0));
      for (index_t r = 0; r < red; ++r) {
        const T* row = block + r * post;
#pragma omp simd
        for (index_t j = 0; j < post; ++j) sq[j] += row[j] * row[j];
      }
      for (index_t j = 0; j < post; ++j) sq[j] = constraint_factor(c, sq[j]);
      for (index_t r = 0; r < red; ++r) {
        T* row = block + r * post;
#pragma omp simd
        for (index_t j = 0; j < post; ++j) row[j] *= sq[j];
      }
    }
    return;
  }
  index_t gstride[8];
  index_t groups = 1;
  for (int d = rank - 1; d >= 0; --d) {
    gstride[d] = reduced[d] ? 0 : groups;
    if (!reduced[d]) groups *= shape[d];
  }
  std::vector<index_t> gid(sz(size));
  index_t idx[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (index_t e = 0; e < size; ++e) {
    index_t gi = 0;
    for (int d = 0; d < rank; ++d) gi += idx[d] * gstride[d];
    gid[sz(e)] = gi;
    for (int d = rank - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  std::vector<T> sq(sz(groups), T(0));
  for (index_t e = 0; e < size; ++e) sq[sz(gid[sz(e)])] += w[e] * w[e];
  std::vector<T> factor(sz(groups));
  for (index_t k = 0; k < groups; ++k) factor[sz(k)] = constraint_factor(c, sq[sz(k)]);
  for (index_t e = 0; e < size; ++e) w[e] *= factor[sz(gid[sz(e)])];
}

#define DROPNET_INSTANTIATE_OPTIM(T)                                                          \
  template void optimizer_update<T>(const OptimizerSpec&, double, std::int64_t, T*, const T*, \
                                    T* const*, index_t);                                      \
  template void decay_weights<T>(double, T*, index_t);                                        \
  template void update_average<T>(const OptimizerSpec&, std::int64_t, T*, T*, index_t);       \
  template void apply_constraint<T>(const ConstraintSpec&, const index_t*, int, T*);
DROPNET_INSTANTIATE_OPTIM(float)
DROPNET_INSTANTIATE_OPTIM(double)

DROPNET_ISA_END
