// Losses (value and gradient in one pass; cross-entropies straight from logits when the
// model ends in sigmoid/softmax) and the metrics the epoch reports: weighted sums of
// per-sample values, precision and recall counts, and AUC's per-threshold counts.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "dropnet/kernels.hpp"

DROPNET_ISA_BEGIN

namespace {
constexpr double kEps = 1e-7;  // Keras's backend epsilon, used to clip probabilities

template <class T>
inline double sigmoid_d(T z) {
  const double zd = double(z);
  return zd >= 0 ? 1.0 / (1.0 + std::exp(-zd)) : std::exp(zd) / (1.0 + std::exp(zd));
}

inline double softplus(double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x))); }

inline double sign(double x) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0); }

template <class T>
inline index_t argmax_row(const T* r, index_t C) {
  return index_t(std::max_element(r, r + C) - r);
}

// Whether class c is among the k largest of the row: fewer than k values above it (ties
// at the boundary all count as in, as TensorFlow's in_top_k).
template <class T>
inline bool in_top_k(const T* r, index_t C, index_t c, index_t k) {
  if (c < 0 || c >= C) return false;
  index_t above = 0;
  for (index_t j = 0; j < C; ++j) above += r[j] > r[c] ? 1 : 0;
  return above < k;
}

// Binary cross-entropy of one element, with its derivative in *d: from the logit v, or from
// the probability v clipped to [ε, 1 − ε] (no gradient where the clip holds).
inline double binary_ce(double v, double t, bool from_logits, double* d) {
  if (from_logits) {
    // One exponential serves both: sigmoid_d's branches and log1p read the same e^(−|v|).
    const double e = std::exp(-std::fabs(v));
    *d = (v >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e)) - t;
    return std::max(v, 0.0) - v * t + std::log1p(e);
  }
  const double p = std::min(std::max(v, kEps), 1.0 - kEps);
  const bool inside = v > kEps && v < 1.0 - kEps;
  *d = inside ? (p - t) / (p * (1.0 - p)) : 0.0;
  return -(t * std::log(p) + (1.0 - t) * std::log(1.0 - p));
}

// What a row's loss reads besides the row.
struct RowLoss {
  LossKind kind;
  bool from_logits;
  const LossParams& p;
  bool hinge_binary;  // hinge losses: every label of the batch is 0 or 1, so y' = 2y − 1
};

// Per-row loss and d(loss_i)/d(head) for one sample; `y` is the row's labels for dense
// labels or null with `cls` the class id for sparse labels.
template <class T>
double row_loss(const RowLoss& L, const T* h, const T* y, index_t cls, index_t C, T* g, double gs) {
  // Label smoothing moves the labels toward the uniform ones: 1/2 for a binary label, 1/C
  // for a categorical one.
  const double ls = L.p.label_smoothing;
  const double share = ls / (L.kind == LossKind::categorical_ce ? double(C) : 2.0);
  auto target = [&](index_t j) -> double {
    const double t = y ? double(y[j]) : (j == cls ? 1.0 : 0.0);
    return ls != 0.0 ? t * (1.0 - ls) + share : t;
  };
  double l = 0.0;
  switch (L.kind) {
    case LossKind::binary_ce:
      for (index_t j = 0; j < C; ++j) {
        double d;
        l += binary_ce(double(h[j]), target(j), L.from_logits, &d);
        g[j] = T(d * gs / double(C));
      }
      return l / double(C);
    case LossKind::binary_focal_ce:
      // (1 − p_t)^γ · bce, p_t = yp + (1 − y)(1 − p), with p the sigmoid of the logit or
      // the unclipped probability; times yα + (1 − y)(1 − α) with class balancing.
      for (index_t j = 0; j < C; ++j) {
        const double t = target(j), v = double(h[j]);
        double db;
        const double b = binary_ce(v, t, L.from_logits, &db);
        const double p = L.from_logits ? sigmoid_d(v) : v;
        const double dp = L.from_logits ? p * (1.0 - p) : 1.0;  // dp/dv
        const double q = 1.0 - (t * p + (1.0 - t) * (1.0 - p));
        const double f = std::pow(q, L.p.gamma);
        const double df =
            q > 0.0 ? -L.p.gamma * std::pow(q, L.p.gamma - 1.0) * (2.0 * t - 1.0) * dp : 0.0;
        const double a = L.p.class_balancing ? t * L.p.alpha + (1.0 - t) * (1.0 - L.p.alpha) : 1.0;
        l += a * (f * b);
        g[j] = T(a * (df * b + f * db) * gs / double(C));
      }
      return l / double(C);
    case LossKind::categorical_ce:
    case LossKind::sparse_categorical_ce: {
      double tsum = 0.0;
      for (index_t j = 0; j < C; ++j) tsum += target(j);
      if (L.from_logits) {
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
        g[j] = T(sign(d) * gs / double(C));
      }
      return l / double(C);
    case LossKind::msle:
      for (index_t j = 0; j < C; ++j) {
        const double p = double(h[j]);
        const double a =
            std::log(std::max(p, kEps) + 1.0) - std::log(std::max(target(j), kEps) + 1.0);
        l += a * a;
        g[j] = p > kEps ? T(2.0 * a / (p + 1.0) * gs / double(C)) : T(0);
      }
      return l / double(C);
    case LossKind::hinge:
    case LossKind::squared_hinge:
      for (index_t j = 0; j < C; ++j) {
        const double t = target(j), s = L.hinge_binary ? 2.0 * t - 1.0 : t;
        const double m = std::max(1.0 - s * double(h[j]), 0.0);
        const bool squared = L.kind == LossKind::squared_hinge;
        l += squared ? m * m : m;
        g[j] = T(-(squared ? 2.0 * m : (m > 0.0 ? 1.0 : 0.0)) * s * gs / double(C));
      }
      return l / double(C);
    case LossKind::categorical_hinge: {
      // max(neg − pos + 1, 0), pos = Σ y·p, neg = max((1 − y)·p)
      double pos = 0.0, neg = -std::numeric_limits<double>::infinity();
      index_t top = 0;
      for (index_t j = 0; j < C; ++j) {
        const double t = target(j), p = double(h[j]);
        pos += t * p;
        if ((1.0 - t) * p > neg) {
          neg = (1.0 - t) * p;
          top = j;
        }
      }
      const double m = neg - pos + 1.0;
      for (index_t j = 0; j < C; ++j) {
        const double t = target(j);
        g[j] = m > 0.0 ? T(((j == top ? 1.0 - t : 0.0) - t) * gs) : T(0);
      }
      return std::max(m, 0.0);
    }
    case LossKind::kl_divergence:
      for (index_t j = 0; j < C; ++j) {
        const double t = std::min(std::max(target(j), kEps), 1.0);
        const double p0 = double(h[j]), p = std::min(std::max(p0, kEps), 1.0);
        l += t * std::log(t / p);
        g[j] = p0 > kEps && p0 < 1.0 ? T(-t / p * gs) : T(0);
      }
      return l;
    case LossKind::mape:
      for (index_t j = 0; j < C; ++j) {
        const double t = target(j), d = double(h[j]) - t, s = std::max(std::fabs(t), kEps);
        l += std::fabs(d) / s;
        g[j] = T(100.0 * sign(d) / s * gs / double(C));
      }
      return 100.0 * l / double(C);
    case LossKind::poisson:
      for (index_t j = 0; j < C; ++j) {
        const double t = target(j), p = double(h[j]);
        l += p - t * std::log(p + kEps);
        g[j] = T((1.0 - t / (p + kEps)) * gs / double(C));
      }
      return l / double(C);
    case LossKind::log_cosh:
      // log(cosh(x)) = x + softplus(−2x) − log 2, stable for large |x|; its derivative tanh(x)
      for (index_t j = 0; j < C; ++j) {
        const double x = double(h[j]) - target(j);
        l += x + softplus(-2.0 * x) - std::log(2.0);
        g[j] = T(std::tanh(x) * gs / double(C));
      }
      return l / double(C);
    case LossKind::huber:
      for (index_t j = 0; j < C; ++j) {
        const double e = double(h[j]) - target(j), a = std::fabs(e), delta = L.p.delta;
        l += a <= delta ? 0.5 * e * e : delta * a - 0.5 * delta * delta;
        g[j] = T((a <= delta ? e : delta * sign(e)) * gs / double(C));
      }
      return l / double(C);
    case LossKind::cosine_similarity: {
      // −ŷ·p̂ with v̂ = v / max(‖v‖, ε)
      double yy = 0.0, pp = 0.0, yp = 0.0;
      for (index_t j = 0; j < C; ++j) {
        const double t = target(j), p = double(h[j]);
        yy += t * t;
        pp += p * p;
        yp += t * p;
      }
      const double ny = std::max(std::sqrt(yy), kEps), np0 = std::sqrt(pp);
      const double np = std::max(np0, kEps);
      const double s = yp / (ny * np);
      // The norm of p has no gradient where ε replaces it.
      const double back = np0 > kEps ? s / (np * np) : 0.0;
      for (index_t j = 0; j < C; ++j) g[j] = T((-target(j) / ny / np + back * double(h[j])) * gs);
      return -s;
    }
  }
  return 0.0;
}

// The kinds that reduce over the last axis work per row of K; the others over the whole
// sample at once (the same mean).
inline bool per_row(LossKind loss) {
  return loss == LossKind::categorical_ce || loss == LossKind::sparse_categorical_ce ||
         loss == LossKind::categorical_hinge || loss == LossKind::kl_divergence ||
         loss == LossKind::cosine_similarity;
}
inline bool per_row(MetricKind m) {
  return m == MetricKind::categorical_accuracy || m == MetricKind::sparse_accuracy ||
         m == MetricKind::top_k || m == MetricKind::sparse_top_k;
}

// Precision's (recall's) weighted true positives, with the weighted predicted (actual)
// positives in *wsum: every value is a prediction, positive above the threshold, and its
// label is positive when not zero.
template <class T>
double confusion_sum(const MetricSpec& m, const T* p, const T* y, const T* w, index_t N, index_t C,
                     double* wsum) {
  const T threshold = T(m.threshold);
  const bool precision = m.kind == MetricKind::precision;
  double tp = 0.0, base = 0.0;
  for (index_t i = 0; i < N; ++i) {
    const double wi = w ? double(w[i]) : 1.0;
    for (index_t j = i * C; j < (i + 1) * C; ++j) {
      const bool predicted = p[j] > threshold, actual = y[j] != T(0);
      tp += predicted && actual ? wi : 0.0;
      base += (precision ? predicted : actual) ? wi : 0.0;
    }
  }
  *wsum = base;
  return tp;
}

// Mean squared error without label smoothing for kMseGroup samples at once: row_loss's
// arithmetic for each (its sum of squares one chain over the sample's values in order),
// with the samples' chains interleaved so their adds overlap instead of each waiting on
// the one before, and the gradient in a loop of its own that vectorizes.
constexpr index_t kMseGroup = 8;

template <class T>
void mse_group(const T* head, const T* y_true, const T* w, index_t i0, index_t C,
               double* sample_loss, T* grad, double grad_scale) {
  // Values in chunks of kChunk, the chunk's sums of squares then its gradient, so the
  // group's slice of head and labels is read from memory once.
  constexpr index_t kChunk = 256;
  double l[kMseGroup] = {};
  double gs[kMseGroup];
  for (index_t s = 0; s < kMseGroup; ++s)  // row_loss's grad_scale · wi / rows, rows = 1
    gs[s] = grad_scale * (w ? double(w[i0 + s]) : 1.0);
  const T* h = head + i0 * C;
  const T* y = y_true + i0 * C;
  T* g = grad + i0 * C;
  const bool pow2 = (C & (C - 1)) == 0;
  for (index_t j0 = 0; j0 < C; j0 += kChunk) {
    const index_t j1 = std::min(C, j0 + kChunk);
    for (index_t j = j0; j < j1; ++j)
#pragma GCC unroll 8
      for (index_t s = 0; s < kMseGroup; ++s) {
        const double d = double(h[s * C + j]) - double(y[s * C + j]);
        l[s] += d * d;
      }
    if (pow2) {
      // Dividing by 2^e and multiplying by 2^-e round the same exact value: the same bits,
      // without a division per value.
      const double inv = 1.0 / double(C);
      for (index_t s = 0; s < kMseGroup; ++s)
        for (index_t j = j0; j < j1; ++j) {
          const double d = double(h[s * C + j]) - double(y[s * C + j]);
          g[s * C + j] = T(2.0 * d * gs[s] * inv);
        }
    } else {
      for (index_t s = 0; s < kMseGroup; ++s)
        for (index_t j = j0; j < j1; ++j) {
          const double d = double(h[s * C + j]) - double(y[s * C + j]);
          g[s * C + j] = T(2.0 * d * gs[s] / double(C));
        }
    }
  }
  // wi · (0 + l / C) / 1 as for one row: l >= +0, so the steps add nothing
  for (index_t s = 0; s < kMseGroup; ++s)
    sample_loss[i0 + s] = (w ? double(w[i0 + s]) : 1.0) * (l[s] / double(C));
}
}  // namespace

template <class T>
void loss_forward_backward(LossKind loss, bool from_logits, const LossParams& params, const T* head,
                           const T* y_true, const T* w, index_t N, index_t C, index_t K,
                           double* sample_loss, T* grad, double grad_scale) {
  const bool sparse = loss == LossKind::sparse_categorical_ce;
  const index_t rows = per_row(loss) ? sparse_labels(C, K) : 1, width = C / rows;
  // Keras turns 0/1 labels into −1/1 for the hinge losses only when every label of the
  // batch is 0 or 1.
  const bool hinge_binary =
      (loss == LossKind::hinge || loss == LossKind::squared_hinge) &&
      std::all_of(y_true, y_true + N * C, [](T v) { return v == T(0) || v == T(1); });
  const RowLoss L{loss, from_logits, params, hinge_binary};
  index_t grouped = 0;  // samples done by mse_group
  if (loss == LossKind::mse && params.label_smoothing == 0.0 && rows == 1) {
    const index_t groups = N / kMseGroup;
    grouped = groups * kMseGroup;
    parallel_for(groups, groups > 1 && use_threads(grouped * C * 4), [&](index_t gi) {
      mse_group(head, y_true, w, gi * kMseGroup, C, sample_loss, grad, grad_scale);
    });
  }
  // Samples are independent (each writes its own loss and gradient rows; the batch's sum is
  // taken in order by the caller), so threads never change a result.
  parallel_for(N - grouped, N - grouped > 1 && use_threads((N - grouped) * C * 4), [&](index_t u) {
    const index_t i = grouped + u;
    const double wi = w ? double(w[i]) : 1.0;
    double sum = 0.0;
    for (index_t r = 0; r < rows; ++r) {
      const index_t at = i * C + r * width;
      const T* y = sparse ? nullptr : y_true + at;
      const index_t cls = sparse ? index_t(y_true[i * rows + r]) : 0;
      sum += row_loss(L, head + at, y, cls, width, grad + at, grad_scale * wi / double(rows));
    }
    sample_loss[i] = wi * (sum / double(rows));
  });
}

template <class T>
double metric_sum(const MetricSpec& m, const T* p, const T* y, const T* w, index_t N, index_t C,
                  index_t K, double* wsum) {
  if (m.kind == MetricKind::precision || m.kind == MetricKind::recall)
    return confusion_sum(m, p, y, w, N, C, wsum);
  const index_t rows = per_row(m.kind) ? sparse_labels(C, K) : 1, width = C / rows;
  const T threshold = T(m.threshold);
  double total = 0.0, ws = 0.0;
  for (index_t i = 0; i < N; ++i) {
    const double wi = w ? double(w[i]) : 1.0;
    double v = 0.0;
    for (index_t r = 0; r < rows; ++r) {
      const T* pr = p + i * C + r * width;
      const T* yr = y + i * C + r * width;
      switch (m.kind) {
        case MetricKind::binary_accuracy:
          for (index_t j = 0; j < width; ++j)
            v += ((pr[j] > threshold ? 1.0 : 0.0) == double(yr[j])) ? 1.0 : 0.0;
          v /= double(width);
          break;
        case MetricKind::categorical_accuracy:
          v += argmax_row(pr, width) == argmax_row(yr, width) ? 1.0 : 0.0;
          break;
        case MetricKind::sparse_accuracy:
          v += argmax_row(pr, width) == index_t(y[i * rows + r]) ? 1.0 : 0.0;
          break;
        case MetricKind::top_k:
          v += in_top_k(pr, width, argmax_row(yr, width), m.k) ? 1.0 : 0.0;
          break;
        case MetricKind::sparse_top_k:
          v += in_top_k(pr, width, index_t(y[i * rows + r]), m.k) ? 1.0 : 0.0;
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
        case MetricKind::loss:  // (the driver runs the loss kernel for these)
        case MetricKind::precision:
        case MetricKind::recall:
        case MetricKind::auc:
          break;
      }
    }
    total += wi * (v / double(rows));
    ws += wi;
  }
  *wsum = ws;
  return total;
}

template <class T>
void auc_counts(const MetricSpec& m, const T* p, const T* y, const T* w, index_t N, index_t C,
                index_t K, double* counts) {
  const index_t n = m.thresholds;
  for (index_t i = 0; i < N; ++i) {
    const double wi = w ? double(w[i]) : 1.0;
    for (index_t j = 0; j < C; ++j) {
      const index_t at = i * C + j;
      const T v = m.from_logits ? T(sigmoid_d(p[at])) : p[at];
      // Keras's bucket, in the output's precision: the thresholds are −ε, i/(n − 1) for
      // 0 < i < n − 1, and 1 + ε; bucket b holds the predictions above threshold b and not
      // above b + 1 (the prediction clipped to [0, 1], NaN as 0).
      const T q = v > T(1) ? T(1) : (v > T(0) ? v : T(0));
      const index_t b = std::max<index_t>(index_t(std::ceil(q * T(n - 1))) - 1, 0);
      double* c = counts + (m.multi_label ? (j % K) * 2 * n : 0);
      c[(y[at] != T(0) ? 0 : n) + b] += wi;
    }
  }
}

double auc_value(const MetricSpec& m, const double* counts, index_t K) {
  const index_t n = m.thresholds, labels = m.multi_label ? K : 1;
  std::vector<double> tp(sz(n)), fp(sz(n));
  double sum = 0.0;
  for (index_t label = 0; label < labels; ++label) {
    const double* pos = counts + label * 2 * n;
    const double* neg = pos + n;
    // Above threshold i: the predictions in buckets i and up; every prediction is above
    // the first threshold, so tp[0] and fp[0] are all the positive and negative labels.
    double a = 0.0, b = 0.0;
    for (index_t i = n; i-- > 0;) {
      a += pos[i];
      b += neg[i];
      tp[sz(i)] = a;
      fp[sz(i)] = b;
    }
    const double P = tp[0], Q = fp[0];
    auto ratio = [](double x, double d) { return d != 0.0 ? x / d : 0.0; };
    double area = 0.0;
    for (std::size_t i = 0; i + 1 < sz(n); ++i) {
      if (m.pr) {
        // Davis & Goadrich's interpolation, as Keras: precision varies as TP/P with TP and
        // P = TP + FP linear between thresholds.
        const double dtp = tp[i] - tp[i + 1];
        const double p0 = tp[i] + fp[i], p1 = tp[i + 1] + fp[i + 1];
        const double slope = ratio(dtp, std::max(p0 - p1, 0.0));
        const double intercept = tp[i + 1] - slope * p1;
        const double logs = p0 > 0.0 && p1 > 0.0 ? std::log(p0 / p1) : 0.0;
        area += ratio(slope * (dtp + intercept * logs), P);
      } else {  // trapezoids over (false positive rate, recall)
        area += (ratio(fp[i], Q) - ratio(fp[i + 1], Q)) *
                ((ratio(tp[i], P) + ratio(tp[i + 1], P)) / 2.0);
      }
    }
    sum += area;
  }
  return sum / double(labels);
}

#define DROPNET_INSTANTIATE_LOSS(T)                                                                \
  template void loss_forward_backward<T>(LossKind, bool, const LossParams&, const T*, const T*,    \
                                         const T*, index_t, index_t, index_t, double*, T*,         \
                                         double);                                                  \
  template double metric_sum<T>(const MetricSpec&, const T*, const T*, const T*, index_t, index_t, \
                                index_t, double*);                                                 \
  template void auc_counts<T>(const MetricSpec&, const T*, const T*, const T*, index_t, index_t,   \
                              index_t, double*);
DROPNET_INSTANTIATE_LOSS(float)
DROPNET_INSTANTIATE_LOSS(double)

DROPNET_ISA_END
