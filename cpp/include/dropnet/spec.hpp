// Plain descriptions of a model that the bindings fill in and the per-ISA graph driver
// consumes: tensors, nodes (one op each), parameters (numpy-owned memory), loss heads,
// metrics, optimizer.
#pragma once
#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dropnet/attrs.hpp"
#include "dropnet/common.hpp"

namespace dropnet {

enum class Act : int { linear, relu, sigmoid, tanh, softmax, elu, selu, leaky_relu, softplus };
enum class LossKind : int { binary_ce, categorical_ce, sparse_categorical_ce, mse, mae };
enum class MetricKind : int { binary_accuracy, categorical_accuracy, sparse_accuracy, mse, mae };
enum class OptKind : int { sgd, adam, rmsprop, adagrad, adadelta };
enum class ConstraintKind : int { none, max_norm, unit_norm, min_max_norm, non_neg };
enum class ScheduleKind : int { constant, exponential, inverse_time, keras2_decay };

struct ConstraintSpec {
  ConstraintKind kind = ConstraintKind::none;
  double min_value = 0.0, max_value = 2.0, rate = 1.0;
  std::vector<int> axes;  // axes the norm runs over
};

struct RegularizerSpec {
  double l1 = 0.0, l2 = 0.0;
};

// One trainable tensor. value and the optimizer slots point into numpy arrays the
// Python side owns and keeps alive for the network's lifetime.
template <class T>
struct ParamSpec {
  T* value = nullptr;
  std::vector<index_t> shape;
  index_t size = 0;
  std::vector<T*> slots;
  bool trainable = true;
  ConstraintSpec constraint;
  RegularizerSpec regularizer;
};

// A sliding window over channels-last samples (H, W, C); 1-D layers use H = 1. Shared by
// convolution (window = kernel) and pooling (window = pool, global pooling = whole map).
// Window (oh, ow) covers rows oh·stride_h − pad_top + i·dil_h, i < k_h (likewise columns);
// cells outside the input are padding.
struct WindowGeometry {
  index_t in_h = 1, in_w = 1, channels = 1;
  index_t out_h = 1, out_w = 1;
  index_t k_h = 1, k_w = 1;
  index_t stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1;
  index_t pad_top = 0, pad_left = 0;
  index_t in_size() const { return in_h * in_w * channels; }
  index_t positions() const { return out_h * out_w; }
  index_t patch() const { return k_h * k_w * channels; }  // one im2col row
  // The input itself is the im2col matrix (1×1 window, stride 1, no padding).
  bool pointwise() const {
    return k_h == 1 && k_w == 1 && stride_h == 1 && stride_w == 1 && pad_top == 0 &&
           pad_left == 0 && out_h == in_h && out_w == in_w;
  }
};

// An LSTM over (steps, features) samples with `units` cells. Variational dropout masks:
// input_masks = 0 (none), 1 (one (n, features) mask for all four gates) or 4 (one per
// gate); recurrent_masks = four (n, units) masks, one per gate.
struct LstmGeometry {
  index_t steps = 1, features = 1, units = 1;
  Act act = Act::tanh, recurrent_act = Act::sigmoid;
  bool return_sequences = false, go_backwards = false;
  int input_masks = 0;
  bool recurrent_masks = false;
};

// Layer ids (RNG streams) stay below 2^15: bit 15 marks a layer's second mask stream (an
// LSTM's recurrent masks).
constexpr std::uint32_t kSecondMask = 0x8000u;

// One call of a layer: its op kind, the tensors it reads and writes, the parameters it uses
// (indices into the parameter list; a layer called twice lists the same ones) with their
// roles (kernel, recurrent_kernel, bias, ...), its RNG stream, and the op's own attributes.
struct NodeSpec {
  std::string op;
  std::vector<int> inputs;
  int output = -1;
  std::vector<int> params;
  std::vector<std::string> roles;
  std::uint32_t layer_id = 0;
  Attrs attrs;
};

// A loss on one model output: total loss = Σ weight · mean loss of the head.
struct HeadSpec {
  int output = -1;  // index into GraphSpec::outputs
  LossKind loss = LossKind::mse;
  bool from_logits = false;  // the output already is the loss's logits
  double weight = 1.0;
  std::vector<MetricKind> metrics;
};

struct ScheduleSpec {
  ScheduleKind kind = ScheduleKind::constant;
  double initial = 0.01, decay_steps = 1.0, decay_rate = 0.0;
  bool staircase = false;
};

// The learning rate of a schedule at optimizer step `it` (steps counted from 0, before the
// step runs): the one formula the training loop and Python's schedule objects use.
inline double schedule_value(const ScheduleSpec& sc, std::int64_t it) {
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

struct OptimizerSpec {
  OptKind kind = OptKind::sgd;
  ScheduleSpec lr;
  double momentum = 0.0, beta1 = 0.9, beta2 = 0.999, rho = 0.9, epsilon = 1e-7;
  bool nesterov = false, amsgrad = false, centered = false;
  double clipnorm = 0.0, clipvalue = 0.0, global_clipnorm = 0.0;  // 0 = off
};

// A model as a graph: tensors (per-sample shapes), nodes in an order where every input is
// produced before it is read, the model's input and output tensors, and the loss heads
// (none for a model that only predicts).
template <class T>
struct GraphSpec {
  std::vector<std::vector<index_t>> tensors;
  std::vector<int> inputs, outputs;
  std::vector<NodeSpec> nodes;
  std::vector<ParamSpec<T>> params;
  std::vector<HeadSpec> heads;
  OptimizerSpec optimizer;
  std::uint64_t seed = 0;
};

// Data handed to the driver: one x (n, input size) per model input, one y (n, output size,
// or n class ids) per loss head, sample weights (n,) or null.
template <class T>
struct Batchable {
  std::vector<const T*> x;
  std::vector<const T*> y;
  const T* w = nullptr;
  index_t n = 0;
};

struct EpochOptions {
  index_t batch_size = 32;
  bool shuffle = true;
};

// Asked by the driver, between batches (and inference chunks) and at most every
// kMonitorInterval, whether to stop: the bindings check for signals (Ctrl-C) here. A stop
// leaves the model as the last completed step left it.
struct Monitor {
  virtual ~Monitor() = default;
  virtual bool stop() = 0;
};
constexpr double kMonitorIntervalSeconds = 0.05;

// The per-ISA driver behind one Python model.
template <class T>
class Network {
 public:
  virtual ~Network() = default;
  // The monitor the next calls consult (null: none); interrupted() says whether the last
  // call stopped early because of it.
  void set_monitor(Monitor* m) {
    monitor_ = m;
    interrupted_ = false;
    stride_ = countdown_ = 1;
    last_read_ = std::chrono::steady_clock::now();
  }
  bool interrupted() const { return interrupted_; }
  // Runs `epochs` epochs; writes per epoch results_per_pass() training values, then as
  // many validation values when val.n > 0, into history. Returns epochs completed (stops early on
  // non-finite loss when stop_on_nan). iterations is the optimizer step, updated.
  virtual index_t fit(const Batchable<T>& train, const Batchable<T>& val, const EpochOptions& opts,
                      index_t epochs, bool stop_on_nan, std::int64_t& iterations,
                      double* history) = 0;
  // One optimizer step on the given rows; writes results_per_pass() values.
  virtual void train_step(const Batchable<T>& batch, std::int64_t& iterations, double* out) = 0;
  // Inference-mode (or Monte-Carlo, if mc_call >= 0) outputs for n rows, one array per
  // model output.
  virtual void predict(const std::vector<const T*>& x, index_t n, const std::vector<T*>& out,
                       std::int64_t mc_call) = 0;
  // results_per_pass() values in inference mode.
  virtual void evaluate(const Batchable<T>& data, double* out) = 0;
  // Loss and gradients of every parameter (and of each input, where dx[k] is not null) on
  // one batch, with training-mode masks of the given step; no update. For gradient checks.
  virtual double gradients(const Batchable<T>& batch, std::int64_t step, bool training,
                           std::vector<T*> grads, std::vector<T*> dx) = 0;
  // Values written per epoch: [loss, each head's loss when there are several, each head's
  // metrics], then the same again for validation.
  virtual index_t results_per_pass() const = 0;
  virtual void set_learning_rate(double lr) = 0;
  virtual double learning_rate(std::int64_t iterations) const = 0;

 protected:
  // True when the monitor asks to stop. The monitor is asked at most every interval, and
  // the clock itself is read about four times per interval, however long a batch takes:
  // a fit at batch 1 pays a countdown per step, not a clock read.
  bool should_stop() {
    if (!monitor_ || interrupted_) return interrupted_;
    if (--countdown_ > 0) return false;
    const auto now = std::chrono::steady_clock::now();
    const double since = std::chrono::duration<double>(now - last_read_).count();
    last_read_ = now;
    const double per_call = since / double(stride_);
    // (At most doubling per read: the first reads see too little work to estimate from.)
    const double fit = per_call > 0.0 ? kMonitorIntervalSeconds / 4.0 / per_call : 1.0;
    stride_ = fit < 1.0 ? 1 : fit > double(2 * stride_) ? 2 * stride_ : std::int64_t(fit);
    countdown_ = stride_;
    if (now < next_check_) return false;
    next_check_ = now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(kMonitorIntervalSeconds));
    interrupted_ = monitor_->stop();
    return interrupted_;
  }

 private:
  Monitor* monitor_ = nullptr;
  bool interrupted_ = false;
  std::int64_t stride_ = 1, countdown_ = 1;  // calls between clock reads; calls left
  std::chrono::steady_clock::time_point next_check_{}, last_read_{};
};

}  // namespace dropnet
