// The names of activations, losses, metrics, optimizers, learning-rate schedules and
// constraints, written once: the core parses descriptions with these tables and the Python
// package reads them from the core (dropnet._core.names) instead of keeping its own lists.
#pragma once
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "dropnet/spec.hpp"

namespace dropnet {

template <class E>
using NameTable = std::vector<std::pair<std::string, E>>;

inline const NameTable<Act>& activation_names() {
  static const NameTable<Act> t = {
      {"linear", Act::linear},      {"relu", Act::relu},
      {"sigmoid", Act::sigmoid},    {"tanh", Act::tanh},
      {"softmax", Act::softmax},    {"elu", Act::elu},
      {"selu", Act::selu},          {"leaky_relu", Act::leaky_relu},
      {"softplus", Act::softplus},  {"hard_sigmoid", Act::hard_sigmoid},
      {"softsign", Act::softsign},  {"silu", Act::silu},
      {"gelu", Act::gelu},          {"exponential", Act::exponential},
      {"relu6", Act::relu6},        {"mish", Act::mish},
      {"hard_silu", Act::hard_silu}};
  return t;
}

inline const NameTable<LossKind>& loss_names() {
  static const NameTable<LossKind> t = {
      {"binary_crossentropy", LossKind::binary_ce},
      {"categorical_crossentropy", LossKind::categorical_ce},
      {"sparse_categorical_crossentropy", LossKind::sparse_categorical_ce},
      {"mean_squared_error", LossKind::mse},
      {"mean_absolute_error", LossKind::mae},
      {"mean_squared_logarithmic_error", LossKind::msle},
      {"hinge", LossKind::hinge},
      {"squared_hinge", LossKind::squared_hinge},
      {"categorical_hinge", LossKind::categorical_hinge},
      {"kl_divergence", LossKind::kl_divergence},
      {"mean_absolute_percentage_error", LossKind::mape},
      {"poisson", LossKind::poisson},
      {"log_cosh", LossKind::log_cosh},
      {"huber", LossKind::huber},
      {"cosine_similarity", LossKind::cosine_similarity},
      {"binary_focal_crossentropy", LossKind::binary_focal_ce}};
  return t;
}

inline const NameTable<MetricKind>& metric_names() {
  static const NameTable<MetricKind> t = {
      {"binary_accuracy", MetricKind::binary_accuracy},
      {"categorical_accuracy", MetricKind::categorical_accuracy},
      {"sparse_categorical_accuracy", MetricKind::sparse_accuracy},
      {"mean_squared_error", MetricKind::mse},
      {"mean_absolute_error", MetricKind::mae},
      {"loss", MetricKind::loss},
      {"top_k_categorical_accuracy", MetricKind::top_k},
      {"sparse_top_k_categorical_accuracy", MetricKind::sparse_top_k},
      {"precision", MetricKind::precision},
      {"recall", MetricKind::recall},
      {"auc", MetricKind::auc}};
  return t;
}

inline const NameTable<OptKind>& optimizer_names() {
  static const NameTable<OptKind> t = {
      {"sgd", OptKind::sgd},         {"adam", OptKind::adam},         {"rmsprop", OptKind::rmsprop},
      {"adagrad", OptKind::adagrad}, {"adadelta", OptKind::adadelta}, {"adamax", OptKind::adamax},
      {"nadam", OptKind::nadam},     {"lion", OptKind::lion}};
  return t;
}

inline const NameTable<ScheduleKind>& schedule_names() {
  static const NameTable<ScheduleKind> t = {{"constant", ScheduleKind::constant},
                                            {"exponential", ScheduleKind::exponential},
                                            {"inverse_time", ScheduleKind::inverse_time},
                                            {"keras2_decay", ScheduleKind::keras2_decay}};
  return t;
}

inline const NameTable<ConstraintKind>& constraint_names() {
  static const NameTable<ConstraintKind> t = {{"max_norm", ConstraintKind::max_norm},
                                              {"unit_norm", ConstraintKind::unit_norm},
                                              {"min_max_norm", ConstraintKind::min_max_norm},
                                              {"non_neg", ConstraintKind::non_neg}};
  return t;
}

// The entry called `name`; std::invalid_argument (a ValueError in Python) listing the
// names otherwise.
template <class E>
E parse_name(const NameTable<E>& table, const std::string& name, const char* what) {
  std::string known;
  for (const auto& [n, e] : table) {
    if (n == name) return e;
    known += (known.empty() ? "" : ", ") + n;
  }
  throw std::invalid_argument(std::string("unknown ") + what + " '" + name + "'; expected one of " +
                              known);
}

template <class E>
std::vector<std::string> names_of(const NameTable<E>& table) {
  std::vector<std::string> out;
  for (const auto& entry : table) out.push_back(entry.first);
  return out;
}

}  // namespace dropnet
