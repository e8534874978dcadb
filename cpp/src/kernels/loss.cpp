// Losses (value and gradient in one pass; cross-entropies straight from logits when the
// model ends in sigmoid/softmax) and the weighted metric sums the epoch reports.
#include <algorithm>
#include <cmath>

#include "dropnet/kernels.hpp"

DROPNET_ISA_BEGIN

namespace {
constexpr double kEps = 1e-7;  // Keras's backend epsilon, used to clip probabilities

template <class T>
inline double sigmoid_d(T z) {
  const double zd = double(z);
  return zd >= 0 ? 1.0 / (1.0 + std::exp(-zd)) : std::exp(zd) / (1.0 + std::exp(zd));
}

template <class T>
inline index_t argmax_row(const T* r, index_t C) {
  return index_t(std::max_element(r, r + C) - r);
}

// Per-row loss and d(loss_i)/d(head) for one sample; `onehot` is y for dense labels or
// null with `cls` the class id for sparse labels.
template <class T>
double row_loss(LossKind loss, bool from_logits, const T* h, const T* y, index_t cls, index_t C,
                T* g, double gs) {
  auto target = [&](index_t j) -> double { return y ? double(y[j]) : (j == cls ? 1.0 : 0.0); };
  double l = 0.0;
  switch (loss) {
    case LossKind::binary_ce:
      for (index_t j = 0; j < C; ++j) {
        const double t = target(j);
        if (from_logits) {
          const double z = double(h[j]);
          l += std::max(z, 0.0) - z * t + std::log1p(std::exp(-std::fabs(z)));
          g[j] = T((sigmoid_d(h[j]) - t) * gs / double(C));
        } else {
          const double p0 = double(h[j]);
          const double p = std::min(std::max(p0, kEps), 1.0 - kEps);
          l += -(t * std::log(p) + (1.0 - t) * std::log(1.0 - p));
          const bool inside = p0 > kEps && p0 < 1.0 - kEps;
          g[j] = inside ? T((p - t) / (p * (1.0 - p)) * gs / double(C)) : T(0);
        }
      }
      return l / double(C);
    case LossKind::categorical_ce:
    case LossKind::sparse_categorical_ce: {
      double tsum = 0.0;
      for (index_t j = 0; j < C; ++j) tsum += target(j);
      if (from_logits) {
        const double m = double(*std::max_element(h, h + C));
        double s = 0.0;
        for (index_t j = 0; j < C; ++j) s += std::exp(double(h[j]) - m);
        const double lse = m + std::log(s);
        for (index_t j = 0; j < C; ++j) {
          const double t = target(j);
          l += t * (lse - double(h[j]));
          g[j] = T((std::exp(double(h[j]) - lse) * tsum - t) * gs);
        }
        return l;
      }
      double s = 0.0;
      for (index_t j = 0; j < C; ++j) s += double(h[j]);
      double gq = 0.0;  // Σ_j g_j q_j, with g_j = dl/dq_j
      for (index_t j = 0; j < C; ++j) {
        const double q0 = double(h[j]) / s;
        const double q = std::min(std::max(q0, kEps), 1.0 - kEps);
        const double t = target(j);
        l += -t * std::log(q);
        const double gj = (q0 > kEps && q0 < 1.0 - kEps) ? -t / q : 0.0;
        g[j] = T(gj);
        gq += gj * q0;
      }
      for (index_t j = 0; j < C; ++j) g[j] = T((double(g[j]) - gq) / s * gs);
      return l;
    }
    case LossKind::mse:
      for (index_t j = 0; j < C; ++j) {
        const double d = double(h[j]) - target(j);
        l += d * d;
        g[j] = T(2.0 * d * gs / double(C));
      }
      return l / double(C);
    case LossKind::mae:
      for (index_t j = 0; j < C; ++j) {
        const double d = double(h[j]) - target(j);
        l += std::fabs(d);
        g[j] = T((d > 0 ? 1.0 : (d < 0 ? -1.0 : 0.0)) * gs / double(C));
      }
      return l / double(C);
  }
  return 0.0;
}
}  // namespace

// The categorical kinds work per row of K (the output's last axis); the others over the
// whole sample at once (the same mean).
inline bool per_row(LossKind loss) {
  return loss == LossKind::categorical_ce || loss == LossKind::sparse_categorical_ce;
}
inline bool per_row(MetricKind m) {
  return m == MetricKind::categorical_accuracy || m == MetricKind::sparse_accuracy;
}

template <class T>
void loss_forward_backward(LossKind loss, bool from_logits, const T* head, const T* y_true,
                           const T* w, index_t N, index_t C, index_t K, double* sample_loss,
                           T* grad, double grad_scale) {
  const bool sparse = loss == LossKind::sparse_categorical_ce;
  const index_t rows = per_row(loss) ? sparse_labels(C, K) : 1, width = C / rows;
  for (index_t i = 0; i < N; ++i) {
    const double wi = w ? double(w[i]) : 1.0;
    double sum = 0.0;
    for (index_t r = 0; r < rows; ++r) {
      const index_t at = i * C + r * width;
      const T* y = sparse ? nullptr : y_true + at;
      const index_t cls = sparse ? index_t(y_true[i * rows + r]) : 0;
      sum += row_loss(loss, from_logits, head + at, y, cls, width, grad + at,
                      grad_scale * wi / double(rows));
    }
    sample_loss[i] = wi * (sum / double(rows));
  }
}

template <class T>
double metric_sum(MetricKind m, const T* p, const T* y, const T* w, index_t N, index_t C, index_t K,
                  double* wsum) {
  const index_t rows = per_row(m) ? sparse_labels(C, K) : 1, width = C / rows;
  double total = 0.0, ws = 0.0;
  for (index_t i = 0; i < N; ++i) {
    const double wi = w ? double(w[i]) : 1.0;
    double v = 0.0;
    for (index_t r = 0; r < rows; ++r) {
      const T* pr = p + i * C + r * width;
      const T* yr = y + i * C + r * width;
      switch (m) {
        case MetricKind::binary_accuracy:
          for (index_t j = 0; j < width; ++j)
            v += ((pr[j] > T(0.5) ? 1.0 : 0.0) == double(yr[j])) ? 1.0 : 0.0;
          v /= double(width);
          break;
        case MetricKind::categorical_accuracy:
          v += argmax_row(pr, width) == argmax_row(yr, width) ? 1.0 : 0.0;
          break;
        case MetricKind::sparse_accuracy:
          v += argmax_row(pr, width) == index_t(y[i * rows + r]) ? 1.0 : 0.0;
          break;
        case MetricKind::mse:
          for (index_t j = 0; j < width; ++j) {
            const double d = double(pr[j]) - double(yr[j]);
            v += d * d;
          }
          v /= double(width);
          break;
        case MetricKind::mae:
          for (index_t j = 0; j < width; ++j) v += std::fabs(double(pr[j]) - double(yr[j]));
          v /= double(width);
          break;
      }
    }
    total += wi * (v / double(rows));
    ws += wi;
  }
  *wsum = ws;
  return total;
}

#define DROPNET_INSTANTIATE_LOSS(T)                                                             \
  template void loss_forward_backward<T>(LossKind, bool, const T*, const T*, const T*, index_t, \
                                         index_t, index_t, double*, T*, double);                \
  template double metric_sum<T>(MetricKind, const T*, const T*, const T*, index_t, index_t,     \
                                index_t, double*);
DROPNET_INSTANTIATE_LOSS(float)
DROPNET_INSTANTIATE_LOSS(double)

DROPNET_ISA_END
