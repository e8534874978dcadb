// Plain descriptions of a model that the bindings fill in and the per-ISA graph driver
// consumes: tensors, nodes (one op each), parameters (numpy-owned memory), loss heads,
// metrics, optimizer.
#pragma once
#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "dropnet/attrs.hpp"
#include "dropnet/common.hpp"

namespace dropnet {

enum class Act : int {
  linear,
  relu,
  sigmoid,
  tanh,
  softmax,
  elu,
  selu,
  leaky_relu,
  softplus,
  hard_sigmoid,
  softsign,
  silu,
  gelu,
  exponential,
  relu6,
  mish,
  hard_silu
};
enum class LossKind : int {
  binary_ce,
  categorical_ce,
  sparse_categorical_ce,
  mse,
  mae,
  msle,
  hinge,
  squared_hinge,
  categorical_hinge,
  kl_divergence,
  mape,
  poisson,
  log_cosh,
  huber,
  cosine_similarity,
  binary_focal_ce
};
enum class MetricKind : int {
  binary_accuracy,
  categorical_accuracy,
  sparse_accuracy,
  mse,
  mae,
  loss,  // the mean of a loss
  top_k,
  sparse_top_k,
  precision,
  recall,
  auc
};
enum class OptKind : int { sgd, adam, rmsprop, adagrad, adadelta, adamax, nadam, lion };
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
  T* average = nullptr;  // the value's moving average (an optimizer with use_ema)
  bool trainable = true;
  double weight_decay = 0.0;  // decoupled decay: value −= value·weight_decay·lr each step
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

// Layer ids (RNG streams) stay below 2^15: bit 15 marks a layer's second mask stream (an
// LSTM's recurrent masks).
constexpr std::uint32_t kSecondMask = 0x8000u;

// An LSTM (gates = 4, column blocks i, f, c, o), a GRU (gates = 3, blocks z, r, h) or a
// SimpleRNN (gates = 1) over (steps, features) samples with `units` cells. recurrent_act is
// the LSTM's and GRU's, reset_after the GRU's.
// Variational dropout masks: input_masks = 0 (none), 1 (one (n, features) mask for every
// gate) or `gates` (one per gate); recurrent_masks: `gates` (n, units) masks, one per gate.
struct RnnGeometry {
  index_t steps = 1, features = 1, units = 1;
  int gates = 1;
  Act act = Act::tanh, recurrent_act = Act::sigmoid;
  bool reset_after = true;
  bool return_sequences = false, go_backwards = false;
  int input_masks = 0;
  bool recurrent_masks = false;
};

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

// A loss's parameters, Keras's defaults; each kind reads its own.
struct LossParams {
  double delta = 1.0;                // huber
  double gamma = 2.0, alpha = 0.25;  // binary focal cross-entropy
  bool class_balancing = false;      // binary focal cross-entropy: weigh by alpha
  double label_smoothing = 0.0;      // binary, binary focal and categorical cross-entropy
};

// A metric on a head: its kind and the parameters of the kinds that take some.
struct MetricSpec {
  MetricKind kind = MetricKind::mse;
  LossKind loss = LossKind::mse;  // kind loss: the loss it averages
  LossParams params;
  bool from_logits = false;  // loss, auc: the output is logits
  bool negate = false;       // loss: reports −loss (Keras's cosine similarity metric)
  double threshold = 0.5;    // binary_accuracy, precision, recall: positive above it
  index_t k = 5;             // top_k, sparse_top_k
  index_t thresholds = 200;  // auc
  bool pr = false;           // auc: the precision-recall curve (else ROC)
  bool multi_label = false;  // auc: one curve per class of the last axis, averaged
};

// A loss on one model output: total loss = Σ weight · mean loss of the head.
struct HeadSpec {
  int output = -1;  // index into GraphSpec::outputs
  LossKind loss = LossKind::mse;
  bool from_logits = false;  // the output already is the loss's logits
  LossParams params;
  double weight = 1.0;
  std::vector<MetricSpec> metrics;
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
  // A moving average of each trainable value, copied over the value every
  // ema_overwrite_frequency steps (0 = never).
  bool use_ema = false;
  double ema_momentum = 0.99;
  std::int64_t ema_overwrite_frequency = 0;
};

// The slots per trainable parameter the update rule reads (use_ema's average aside).
inline std::size_t optimizer_slots(const OptimizerSpec& o) {
  switch (o.kind) {
    case OptKind::sgd:
      return o.momentum > 0.0 ? 1 : 0;
    case OptKind::adam:
      return o.amsgrad ? 3 : 2;
    case OptKind::rmsprop:
      return o.centered ? 3 : o.momentum > 0.0 ? 2 : 1;
    case OptKind::adagrad:
    case OptKind::lion:
      return 1;
    case OptKind::adadelta:
    case OptKind::adamax:
    case OptKind::nadam:
      return 2;
  }
  return 0;
}

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

// One batch, or a whole data set, handed to the driver: one x (n, input size) per model
// input, one y (n, output size, or n class ids) per loss head, sample weights (n,) or null.
template <class T>
struct Batchable {
  std::vector<const T*> x;
  std::vector<const T*> y;
  const T* w = nullptr;
  index_t n = 0;
};

// Where a pass's batches come from: in-memory or memory-mapped arrays (rows gathered in
// the order of the step's shuffle), or a Python generator or Sequence (its next batch taken
// with the GIL). A batch stays valid until the next call.
template <class T>
class BatchSource {
 public:
  virtual ~BatchSource() = default;
  // A pass starts; `step` is the optimizer step at its start (shuffles are keyed on it).
  virtual void begin(std::int64_t step) = 0;
  // The next batch, or false at the end of the pass or when the source failed().
  virtual bool next(Batchable<T>& batch) = 0;
  // The pass is over (a Sequence's on_epoch_end).
  virtual void end() {}
  // The source raised, or handed over a bad batch: the driver stops where it is.
  virtual bool failed() const { return false; }
};

// Where inference outputs go, batch by batch (rows in order).
template <class T>
class OutputSink {
 public:
  virtual ~OutputSink() = default;
  virtual void put(const std::vector<const T*>& outputs, index_t n) = 0;
};

// What a pass is doing, for the monitor.
enum class Phase : int { train = 0, test = 1, predict = 2 };
// Events a monitor may ask for; tick comes on the time budget whether asked or not.
enum class Event : int {
  epoch_begin = 0,
  epoch_end = 1,
  batch_begin = 2,
  batch_end = 3,
  pass_begin = 4,
  pass_end = 5,
  tick = 6
};
// A monitor's answer: carry on, finish the epoch in progress and stop (Keras's
// stop_training), or stop now (Ctrl-C, an exception in a callback).
enum class Reply : int { go = 0, finish = 1, stop = 2 };

// What the driver tells the monitor with an event: the epoch, the batch (or rows done, for
// ticks of inference passes), and running or final results (results_per_pass() values for
// the phase; fit's epoch_end carries the validation values after the training ones, NaN
// where the epoch did not validate).
struct Progress {
  Phase phase = Phase::train;
  index_t epoch = 0, batch = 0, rows = 0;
  const double* logs = nullptr;
  index_t count = 0;
  double seconds = 0.0;  // since the epoch (or the inference pass) began
};

// Asked by the driver about events it asked for (wants(phase, event)), and on a time
// budget between batches (tick): the bindings check for signals (Ctrl-C) there, draw the
// progress bar, and run callbacks. Stopping leaves the model as the last completed step
// left it.
struct Monitor {
  virtual ~Monitor() = default;
  virtual bool wants(Phase, Event) const { return false; }
  virtual Reply on(Event e, const Progress& p) = 0;
};
constexpr double kMonitorIntervalSeconds = 0.05;

// Paces the ticks: due() is true about every kMonitorIntervalSeconds, and reads the clock
// about four times per interval however long a batch takes (a countdown between reads),
// so a fit at batch 1 pays a decrement per step, not a clock read. Defined in a baseline
// translation unit (one copy for every instruction-set level).
class Pacer {
 public:
  void reset();
  bool due();

 private:
  std::int64_t stride_ = 1, countdown_ = 1;  // calls between clock reads; calls left
  std::chrono::steady_clock::time_point next_tick_{}, last_read_{};
};

// A failed allocation, saying what was being allocated and how much (Python's MemoryError
// carries the text).
class OutOfMemory : public std::bad_alloc {
 public:
  OutOfMemory(const char* what, double bytes, index_t rows);
  const char* what() const noexcept override;

 private:
  std::string message_;
};

// How fit runs: epochs to run (numbered from first_epoch in events), batches per epoch
// and per validation (-1: one pass of the source), after which epochs to validate (one flag per
// epoch run; empty: every epoch when a validation source is given), and whether a non-finite loss
// ends training.
struct FitOptions {
  index_t epochs = 1, first_epoch = 0, steps = -1, val_steps = -1;
  std::vector<char> validate;
  bool stop_on_nan = false;
};

// Why the last fit/evaluate/predict ended.
enum class Stop : int {
  done = 0,      // ran to the end
  monitor = 1,   // the monitor asked to stop now (the epoch in progress is not reported)
  finished = 2,  // the monitor asked to finish the epoch (reported), then stop
  ran_out = 3,   // the source ended before the steps asked for (stop_batch: where)
  failed = 4,    // the source failed (its error is the source's to report)
  nan = 5        // a non-finite training loss (stop_on_nan)
};

// The per-ISA driver behind one Python model.
template <class T>
class Network {
 public:
  virtual ~Network() = default;
  // The monitor the next calls consult (null: none).
  void set_monitor(Monitor* m) {
    monitor_ = m;
    wants_ = 0;
    for (int p = 0; p < 3; ++p)
      for (int e = 0; e < int(Event::tick); ++e)
        if (m && m->wants(Phase(p), Event(e))) wants_ |= 1u << (p * 8 + e);
    pacer_.reset();
  }
  Monitor* monitor() const { return monitor_; }
  Stop stopped() const { return stop_; }
  // Epochs the last fit completed so far (what it reports if an exception ends it).
  index_t epochs_done() const { return epochs_done_; }
  Phase stop_phase() const { return stop_phase_; }
  index_t stop_epoch() const { return stop_epoch_; }  // where a stop happened
  index_t stop_batch() const { return stop_batch_; }
  // Runs o.epochs epochs of batches from `train`, validating on `val` (may be null);
  // writes per epoch results_per_pass() training values, then as many validation values
  // (NaN where the epoch did not validate) when val is given, into history. Returns the
  // epochs completed; stopped() says why it ended. iterations is the optimizer step, updated.
  virtual index_t fit(BatchSource<T>& train, BatchSource<T>* val, const FitOptions& o,
                      std::int64_t& iterations, double* history) = 0;
  // One optimizer step on the given rows; writes results_per_pass() values.
  virtual void train_step(const Batchable<T>& batch, std::int64_t& iterations, double* out) = 0;
  // Inference-mode (or Monte-Carlo, if mc_call >= 0) outputs of every batch of the source
  // (at most `steps` batches when steps >= 0), in order, to `sink`. Returns the rows done.
  // With passes > 0: the mean and standard deviation over `passes` Monte-Carlo calls
  // (mc_call, mc_call + 1, ...), computed a chunk of rows at a time; the sink receives the
  // means of every output, then their deviations.
  virtual index_t predict(BatchSource<T>& data, index_t steps, std::int64_t mc_call, index_t passes,
                          OutputSink<T>& sink) = 0;
  // results_per_pass() values in inference mode over the source's batches (at most
  // `steps`); returns the rows seen.
  virtual index_t evaluate(BatchSource<T>& data, index_t steps, double* out) = 0;
  // Loss and gradients of every parameter (and of each input, where dx[k] is not null) on
  // one batch, with training-mode masks of the given step; no update. For gradient checks.
  virtual double gradients(const Batchable<T>& batch, std::int64_t step, bool training,
                           std::vector<T*> grads, std::vector<T*> dx) = 0;
  // Values written per pass: [loss, each head's loss when there are several, each head's
  // metrics].
  virtual index_t results_per_pass() const = 0;
  // Rows per inference pass (the driver splits larger batches).
  virtual index_t inference_rows() const = 0;
  // The learning-rate schedule of the steps to come (a rate set between steps).
  virtual void set_schedule(const ScheduleSpec& lr) = 0;
  virtual double learning_rate(std::int64_t iterations) const = 0;
  // The row order of an epoch that starts at optimizer step `step` (a Philox shuffle of
  // 0..n-1 keyed by the model's seed and the step).
  virtual void permutation(std::int64_t step, index_t n, index_t* perm) const = 0;

 protected:
  bool wants(Phase p, Event e) const { return (wants_ >> (int(p) * 8 + int(e))) & 1u; }
  Monitor* monitor_ = nullptr;
  unsigned wants_ = 0;
  Pacer pacer_;
  Stop stop_ = Stop::done;
  Phase stop_phase_ = Phase::train;
  index_t epochs_done_ = 0;
  index_t stop_epoch_ = 0, stop_batch_ = 0;
};

}  // namespace dropnet
