// Binding of the graph driver: turns the Python model description (tensors, nodes with
// their op kinds and attributes, numpy-owned parameters, loss heads, optimizer) into a
// per-ISA Network and runs it without the GIL. Every dict is read strictly: a missing key,
// an unknown key or a value of the wrong type is a ValueError naming it.
#include <pybind11/stl.h>

#include <pthread.h>
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <new>
#include <set>

#include "common.hpp"
#include "dropnet/names.hpp"
#include "sources.hpp"

namespace dropnet::py_bind {
namespace {

// A Python dict as Attrs: bools, ints, floats, strings and lists of ints; None is "absent".
Attrs to_attrs(const py::handle& obj, const std::string& what) {
  if (!py::isinstance<py::dict>(obj)) throw py::value_error(what + ": expected a dict");
  Attrs at;
  for (auto item : py::reinterpret_borrow<py::dict>(obj)) {
    if (!py::isinstance<py::str>(item.first))
      throw py::value_error(what + ": keys must be strings");
    const std::string key = item.first.cast<std::string>();
    const py::handle v = item.second;
    if (v.is_none()) continue;
    if (py::isinstance<py::bool_>(v)) {
      at.set(key, v.cast<bool>());
    } else if (py::isinstance<py::int_>(v)) {
      at.set(key, v.cast<std::int64_t>());
    } else if (py::isinstance<py::float_>(v)) {
      at.set(key, v.cast<double>());
    } else if (py::isinstance<py::str>(v)) {
      at.set(key, v.cast<std::string>());
    } else if (py::isinstance<py::list>(v) || py::isinstance<py::tuple>(v)) {
      Attrs::Ints ints;
      for (auto e : py::reinterpret_borrow<py::sequence>(v)) {
        if (!py::isinstance<py::int_>(e) || py::isinstance<py::bool_>(e))
          throw py::value_error(what + ": '" + key + "' must be a list of integers");
        ints.push_back(e.cast<std::int64_t>());
      }
      at.set(key, std::move(ints));
    } else {
      throw py::value_error(what + ": '" + key + "' has an unsupported type " +
                            std::string(py::str(py::type::handle_of(v).attr("__name__"))));
    }
  }
  return at;
}

// The keys of a structural dict, checked against the expected ones.
py::dict strict(const py::handle& obj, const std::string& what,
                std::initializer_list<const char*> keys) {
  if (!py::isinstance<py::dict>(obj)) throw py::value_error(what + ": expected a dict");
  const py::dict d = py::reinterpret_borrow<py::dict>(obj);
  std::set<std::string> known;
  for (const char* k : keys) known.insert(k);
  for (auto item : d) {
    const std::string key = py::str(item.first);
    if (!known.count(key)) throw py::value_error(what + ": unknown key '" + key + "'");
  }
  for (const char* k : keys)
    if (!d.contains(k)) throw py::value_error(what + ": lacks the key '" + std::string(k) + "'");
  return d;
}

// A loss's parameters: those of its kind that are given (Keras's defaults otherwise).
LossParams loss_params(LossKind kind, const Attrs& at) {
  LossParams p;
  auto real = [&](const char* key, double& to) {
    if (at.optional(key)) to = at.real(key);
    if (!std::isfinite(to)) throw py::value_error(std::string("loss: ") + key + " must be finite");
  };
  switch (kind) {
    case LossKind::huber:
      real("delta", p.delta);
      break;
    case LossKind::binary_focal_ce:
      real("gamma", p.gamma);
      real("alpha", p.alpha);
      if (at.optional("apply_class_balancing"))
        p.class_balancing = at.flag("apply_class_balancing");
      real("label_smoothing", p.label_smoothing);
      break;
    case LossKind::binary_ce:
    case LossKind::categorical_ce:
      real("label_smoothing", p.label_smoothing);
      break;
    default:
      break;
  }
  return p;
}

// A head's metric: {"kind": name, and the parameters of its kind}.
MetricSpec metric_spec(const py::handle& obj) {
  const Attrs at = to_attrs(obj, "metric");
  MetricSpec m;
  m.kind = parse_name(metric_names(), at.text("kind"), "metric");
  switch (m.kind) {
    case MetricKind::loss:
      m.loss = parse_name(loss_names(), at.text("loss"), "loss");
      m.from_logits = at.flag("from_logits");
      m.negate = at.flag("negate");
      m.params = loss_params(m.loss, at);
      break;
    case MetricKind::binary_accuracy:
    case MetricKind::precision:
    case MetricKind::recall:
      m.threshold = at.real("threshold");
      break;
    case MetricKind::top_k:
    case MetricKind::sparse_top_k:
      m.k = at.integer("k");
      if (m.k < 1) throw py::value_error("metric: k must be >= 1");
      break;
    case MetricKind::auc:
      m.thresholds = at.integer("num_thresholds");
      if (m.thresholds < 2 || m.thresholds > (1 << 20))
        throw py::value_error("metric: num_thresholds must be from 2 to 2**20");
      m.pr = at.text("curve") == "PR";
      if (!m.pr && at.text("curve") != "ROC")
        throw py::value_error("metric: curve must be ROC or PR");
      m.multi_label = at.flag("multi_label");
      m.from_logits = at.flag("from_logits");
      break;
    default:
      break;
  }
  at.finish("metric");
  return m;
}

ScheduleSpec parse_schedule(const py::handle& obj) {
  const Attrs lr = to_attrs(obj, "learning-rate schedule");
  ScheduleSpec sc;
  sc.kind = parse_name(schedule_names(), lr.text("kind"), "learning-rate schedule");
  sc.initial = lr.real("initial");
  if (sc.kind == ScheduleKind::exponential || sc.kind == ScheduleKind::inverse_time) {
    sc.decay_steps = lr.real("decay_steps");
    sc.decay_rate = lr.real("decay_rate");
    sc.staircase = lr.flag("staircase");
    if (!(sc.decay_steps > 0.0))
      throw py::value_error("learning-rate schedule: decay_steps must be > 0");
  } else if (sc.kind == ScheduleKind::keras2_decay) {
    sc.decay_rate = lr.real("decay_rate");
  }
  lr.finish("learning-rate schedule");
  return sc;
}

OptimizerSpec parse_optimizer(const py::handle& obj) {
  if (!py::isinstance<py::dict>(obj)) throw py::value_error("optimizer: expected a dict");
  py::dict top;  // everything but the learning-rate schedule, read below
  for (auto item : py::reinterpret_borrow<py::dict>(obj))
    if (!(py::isinstance<py::str>(item.first) && item.first.cast<std::string>() == "lr"))
      top[item.first] = item.second;
  const Attrs at = to_attrs(top, "optimizer");
  OptimizerSpec o;
  o.kind = parse_name(optimizer_names(), at.text("kind"), "optimizer");
  o.clipnorm = at.real("clipnorm");
  o.clipvalue = at.real("clipvalue");
  o.global_clipnorm = at.real("global_clipnorm");
  switch (o.kind) {
    case OptKind::sgd:
      o.momentum = at.real("momentum");
      o.nesterov = at.flag("nesterov");
      break;
    case OptKind::adam:
      o.beta1 = at.real("beta_1");
      o.beta2 = at.real("beta_2");
      o.epsilon = at.real("epsilon");
      o.amsgrad = at.flag("amsgrad");
      break;
    case OptKind::rmsprop:
      o.rho = at.real("rho");
      o.momentum = at.real("momentum");
      o.epsilon = at.real("epsilon");
      o.centered = at.flag("centered");
      break;
    case OptKind::adagrad:
      o.epsilon = at.real("epsilon");
      break;
    case OptKind::adadelta:
      o.rho = at.real("rho");
      o.epsilon = at.real("epsilon");
      break;
    case OptKind::adamax:
    case OptKind::nadam:
      o.beta1 = at.real("beta_1");
      o.beta2 = at.real("beta_2");
      o.epsilon = at.real("epsilon");
      break;
    case OptKind::lion:
      o.beta1 = at.real("beta_1");
      o.beta2 = at.real("beta_2");
      break;
  }
  o.use_ema = at.flag("use_ema");
  if (o.use_ema) {
    o.ema_momentum = at.real("ema_momentum");
    o.ema_overwrite_frequency = at.integer("ema_overwrite_frequency");
    if (!(o.ema_momentum >= 0.0 && o.ema_momentum <= 1.0) || o.ema_overwrite_frequency < 0)
      throw py::value_error(
          "optimizer: expected 0 <= ema_momentum <= 1 and ema_overwrite_frequency >= 0");
  }
  at.finish("optimizer");
  o.lr = parse_schedule(py::reinterpret_borrow<py::dict>(obj)["lr"]);
  return o;
}

ConstraintSpec parse_constraint(const py::handle& obj, int rank) {
  ConstraintSpec c;
  if (obj.is_none()) return c;
  const Attrs at = to_attrs(obj, "constraint");
  c.kind = parse_name(constraint_names(), at.text("kind"), "constraint");
  if (c.kind == ConstraintKind::max_norm || c.kind == ConstraintKind::min_max_norm)
    c.max_value = at.real("max_value");
  if (c.kind == ConstraintKind::min_max_norm) {
    c.min_value = at.real("min_value");
    c.rate = at.real("rate");
  }
  if (c.kind != ConstraintKind::non_neg)
    for (index_t a : at.ints("axes")) c.axes.push_back(int(a));
  at.finish("constraint");
  for (int a : c.axes)
    if (a < 0 || a >= rank || rank > 8) throw py::value_error("constraint axis out of range");
  return c;
}

std::vector<int> int_list(const py::handle& obj, const char* what) {
  try {
    return obj.cast<std::vector<int>>();
  } catch (const py::cast_error&) {
    throw py::value_error(std::string(what) + ": expected a list of integers");
  }
}

// Arrays given as one array (single-input models) or as a list, one per input or head.
std::vector<py::array> arrays(const py::object& obj, std::size_t expected, const char* what) {
  std::vector<py::array> out;
  if (py::isinstance<py::list>(obj) || py::isinstance<py::tuple>(obj)) {
    for (auto e : py::reinterpret_borrow<py::sequence>(obj)) out.push_back(e.cast<py::array>());
  } else {
    out.push_back(obj.cast<py::array>());
  }
  if (out.size() != expected)
    throw py::value_error(std::string(what) + ": expected " + std::to_string(expected) +
                          " array(s), received " + std::to_string(out.size()));
  return out;
}

// Every live network, so that a forked child can free the locks its parent's threads held.
std::mutex g_live_mu;
std::set<class NetBinding*>& live() {
  static auto* nets = new std::set<NetBinding*>;  // never destroyed: fork handlers read it
  return *nets;
}

// One network is used by one call at a time. A call from another thread waits for a short
// one (predict, evaluate, reading the weights) but not for a fit, which may run for hours:
// it fails at once with an error that says how to reach the model during training (from
// the fit's callbacks, which run in its thread). The mutex is recursive for those.
class NetBinding {
 public:
  NetBinding() {
    std::lock_guard<std::mutex> g(g_live_mu);
    live().insert(this);
  }
  virtual ~NetBinding() {
    std::lock_guard<std::mutex> g(g_live_mu);
    live().erase(this);
  }
  NetBinding(const NetBinding&) = delete;
  NetBinding& operator=(const NetBinding&) = delete;

  // Takes the network for `what` (waiting, without the GIL, for other threads' short calls).
  void acquire(const char* what, bool for_fit = false) {
    if (!mu_.try_lock()) {
      bool got = false;
      {
        py::gil_scoped_release nogil;
        while (!(got = mu_.try_lock_for(std::chrono::milliseconds(5))))
          if (fitting_.load()) break;
      }
      if (!got) {
        if (for_fit)
          throw py::value_error(
              "fit: this model is already being trained by another thread; wait for that fit "
              "to return");
        PyErr_SetString(PyExc_RuntimeError,
                        (std::string(what) +
                         ": the model is being trained by fit() in another thread; call it "
                         "from one of that fit's callbacks (they run in its thread, between "
                         "batches) or once fit returns")
                            .c_str());
        throw py::error_already_set();
      }
    }
    if (for_fit) {
      if (fitting_.load()) {  // a callback of this thread's fit starting another fit
        mu_.unlock();
        throw py::value_error(
            "fit: this model is already being trained (fit called from "
            "one of its own callbacks)");
      }
      fitting_.store(true);
    }
  }
  void release(bool for_fit = false) {
    if (for_fit) fitting_.store(false);
    mu_.unlock();
  }
  // In a forked child only the forking thread exists: no call is running.
  void after_fork() {
    new (&mu_) std::recursive_timed_mutex();
    fitting_.store(false);
  }

  // Holds the network for one call, from the constructor to the end of the scope.
  class Held {
   public:
    Held(NetBinding& b, const char* what, bool for_fit = false) : b_(b), fit_(for_fit) {
      b_.acquire(what, for_fit);
    }
    ~Held() { b_.release(fit_); }
    Held(const Held&) = delete;
    Held& operator=(const Held&) = delete;

   private:
    NetBinding& b_;
    bool fit_;
  };

  virtual py::tuple fit(py::object train, py::object val, index_t epochs, index_t first_epoch,
                        index_t steps, index_t val_steps, py::object validate, bool stop_on_nan,
                        std::int64_t iterations, py::object hooks) = 0;
  virtual py::tuple train_on_batch(py::object x, py::object y, py::object w, std::int64_t it,
                                   bool check) = 0;
  virtual py::tuple predict(py::object data, index_t steps, std::int64_t mc_call, index_t passes,
                            py::object hooks) = 0;
  virtual py::tuple evaluate(py::object data, index_t steps, py::object hooks) = 0;
  virtual index_t inference_rows() = 0;
  virtual py::tuple gradients(py::object x, py::object y, py::object w, std::int64_t step,
                              bool training) = 0;
  virtual void set_schedule(const py::dict& schedule) = 0;
  virtual double learning_rate(std::int64_t it) = 0;
  virtual index_t results_per_pass() = 0;

 private:
  std::recursive_timed_mutex mu_;
  std::atomic<bool> fitting_{false};
};

void prepare_fork() { g_live_mu.lock(); }
void parent_after_fork() { g_live_mu.unlock(); }
void child_after_fork() {
  new (&g_live_mu) std::mutex();
  for (NetBinding* b : live()) b->after_fork();
}

template <class T>
class NetBindingT final : public NetBinding {
 public:
  explicit NetBindingT(const py::dict& desc) {
    const py::dict d = strict(
        desc, "Network",
        {"dtype", "seed", "tensors", "inputs", "outputs", "params", "nodes", "heads", "optimizer"});
    GraphSpec<T> s;
    s.seed = d["seed"].cast<std::uint64_t>();
    for (auto t : d["tensors"].cast<py::list>()) {
      s.tensors.push_back(t.cast<std::vector<index_t>>());
      for (index_t v : s.tensors.back())
        if (v < 1) throw py::value_error("Network: tensor sizes must be positive");
    }
    s.inputs = int_list(d["inputs"], "inputs");
    s.outputs = int_list(d["outputs"], "outputs");
    for (int t : s.inputs) {
      if (t < 0 || std::size_t(t) >= s.tensors.size())
        throw py::value_error("Network: input tensor out of range");
      in_sizes_.push_back(checked_size(s.tensors[sz(t)], "input shape"));
    }
    for (int t : s.outputs) {
      if (t < 0 || std::size_t(t) >= s.tensors.size())
        throw py::value_error("Network: output tensor out of range");
      out_shapes_.push_back(s.tensors[sz(t)]);
    }
    s.optimizer = parse_optimizer(d["optimizer"]);
    for (auto item : d["params"].cast<py::list>()) {
      const py::dict pd =
          strict(item, "parameter",
                 {"value", "slots", "trainable", "constraint", "regularizer", "weight_decay"});
      ParamSpec<T> p;
      const py::array value = pd["value"].cast<py::array>();
      p.value = data_of<T>(value, "parameter", true);
      p.shape = shape_of(value);
      p.size = index_t(value.size());
      keep_.push_back(value);
      for (auto sl : pd["slots"].cast<py::list>()) {
        const py::array slot = sl.cast<py::array>();
        if (index_t(slot.size()) != p.size)
          throw py::value_error("optimizer slot has the wrong size");
        p.slots.push_back(data_of<T>(slot, "optimizer slot", true));
        keep_.push_back(slot);
      }
      p.trainable = pd["trainable"].cast<bool>();
      // With use_ema a trained parameter's last slot is its moving average; the update
      // rule's own slots come first.
      if (s.optimizer.use_ema && p.trainable) {
        if (p.slots.empty())
          throw py::value_error("optimizer with use_ema: a trainable parameter lacks its average");
        p.average = p.slots.back();
        p.slots.pop_back();
      }
      if (p.trainable && p.slots.size() < optimizer_slots(s.optimizer))
        throw py::value_error(
            "parameter: its optimizer updates " + std::to_string(optimizer_slots(s.optimizer)) +
            " slot(s) per trainable parameter, received " + std::to_string(p.slots.size()));
      while (p.slots.size() < 3) p.slots.push_back(nullptr);
      p.weight_decay = pd["weight_decay"].cast<double>();
      if (!(p.weight_decay >= 0.0 && std::isfinite(p.weight_decay)))
        throw py::value_error("parameter: weight_decay must be finite and >= 0");
      p.constraint = parse_constraint(pd["constraint"], int(p.shape.size()));
      if (!pd["regularizer"].is_none()) {
        const Attrs r = to_attrs(pd["regularizer"], "regularizer");
        p.regularizer.l1 = r.real("l1");
        p.regularizer.l2 = r.real("l2");
        r.finish("regularizer");
      }
      s.params.push_back(std::move(p));
    }
    for (auto item : d["nodes"].cast<py::list>()) {
      const py::dict nd =
          strict(item, "node", {"op", "inputs", "output", "params", "roles", "layer_id", "attrs"});
      NodeSpec n;
      n.op = nd["op"].cast<std::string>();
      n.inputs = int_list(nd["inputs"], "node inputs");
      n.output = nd["output"].cast<int>();
      n.params = int_list(nd["params"], "node params");
      n.roles = nd["roles"].cast<std::vector<std::string>>();
      if (n.roles.size() != n.params.size())
        throw py::value_error("node: expected one role per parameter");
      n.layer_id = nd["layer_id"].cast<std::uint32_t>();
      n.attrs = to_attrs(nd["attrs"], n.op);
      s.nodes.push_back(std::move(n));
    }
    for (auto item : d["heads"].cast<py::list>()) {
      const py::dict hd = strict(
          item, "loss head", {"output", "loss", "from_logits", "loss_params", "weight", "metrics"});
      HeadSpec h;
      h.output = hd["output"].cast<int>();
      h.loss = parse_name(loss_names(), hd["loss"].cast<std::string>(), "loss");
      h.from_logits = hd["from_logits"].cast<bool>();
      const Attrs lp = to_attrs(hd["loss_params"], "loss parameters");
      h.params = loss_params(h.loss, lp);
      lp.finish("loss parameters");
      h.weight = hd["weight"].cast<double>();
      if (!(h.weight >= 0.0 && std::isfinite(h.weight)))
        throw py::value_error("loss weights must be finite and >= 0");
      for (auto m : hd["metrics"].cast<py::list>()) h.metrics.push_back(metric_spec(m));
      if (h.output < 0 || std::size_t(h.output) >= s.outputs.size())
        throw py::value_error("loss head refers to a missing output");
      const auto& shape = out_shapes_[sz(h.output)];
      const index_t width = checked_size(shape, "output shape");
      label_widths_.push_back(h.loss == LossKind::sparse_categorical_ce
                                  ? sparse_labels(width, shape.empty() ? 1 : shape.back())
                                  : width);
      s.heads.push_back(std::move(h));
    }
    for (const auto& p : s.params) grad_shapes_.push_back(p.shape);
    net_ = DROPNET_CALL(make_network<T>, std::move(s));
    per_pass_ = net_->results_per_pass();
  }

  index_t results_per_pass() override { return per_pass_; }

  index_t inference_rows() override { return net_->inference_rows(); }

  py::tuple fit(py::object train, py::object val, index_t epochs, index_t first_epoch,
                index_t steps, index_t val_steps, py::object validate, bool stop_on_nan,
                std::int64_t iterations, py::object hooks) override {
    if (epochs < 0) throw py::value_error("fit: expected epochs >= 0");
    ErrorSlot errors;
    Source tr = source(train, true, errors, "fit: x");
    Source va;
    if (!val.is_none()) va = source(val, true, errors, "fit: validation_data");
    FitOptions o;
    o.epochs = epochs;
    o.first_epoch = first_epoch;
    o.steps = steps;
    o.val_steps = val_steps;
    o.stop_on_nan = stop_on_nan;
    if (!validate.is_none()) {
      for (auto v : validate) o.validate.push_back(char(v.cast<bool>()));
      if (index_t(o.validate.size()) != epochs)
        throw py::value_error("fit: expected one validation flag per epoch");
    }
    const index_t cols = per_pass_ * (va.src ? 2 : 1);
    py::array_t<double> hist({epochs, cols});
    double* h = hist.mutable_data();
    PyMonitor monitor(hooks, errors);
    if (!hooks.is_none() && py::hasattr(hooks, "begin_fit")) hooks.attr("begin_fit")(hist);
    index_t done;
    {
      Held held(*this, "fit", true);
      py::gil_scoped_release nogil;
      FlushDenormals flush;
      Monitored<T> on(*net_, &monitor);
      done = guarded(
          errors, [&] { return net_->fit(*tr.src, va.src.get(), o, iterations, h); },
          [&] { return net_->epochs_done(); });
    }
    source_errors(tr, va, errors);
    // The completed epochs and the step count come back with the reason for stopping (and
    // an exception, if one was raised), so Python records them before raising it.
    return py::make_tuple(hist[py::slice(0, done, 1)], iterations, int(net_->stopped()),
                          int(net_->stop_phase()), net_->stop_epoch(), net_->stop_batch(),
                          errors.take());
  }

  // With `check`, the inputs and targets are first scanned for NaN and infinities: when one
  // holds any, nothing runs and the loss comes back as None (the caller then raises, naming
  // the first such value).
  py::tuple train_on_batch(py::object x, py::object y, py::object w, std::int64_t it,
                           bool check) override {
    Data d = batch(x, y, w, "x", "y", "sample_weight");
    if (d.b.n <= 0) throw py::value_error("train_on_batch: expected at least one sample");
    if (check) {
      for (const py::array& a : d.keep)
        if (!finite_values_parallel<false>(static_cast<const T*>(a.data()),
                                           static_cast<T*>(nullptr), std::size_t(a.size())))
          return py::make_tuple(py::none(), it);
    }
    py::array_t<double> out(per_pass_);
    double* o = out.mutable_data();
    {
      Held held(*this, "train_on_batch");
      py::gil_scoped_release nogil;
      FlushDenormals flush;
      net_->train_step(d.b, it, o);
    }
    return py::make_tuple(out, it);
  }

  py::tuple predict(py::object data, index_t steps, std::int64_t mc_call, index_t passes,
                    py::object hooks) override {
    if (passes < 0) throw py::value_error("predict: expected passes >= 0");
    if (passes > 0 && mc_call < 0)
      throw py::value_error("predict: Monte-Carlo passes need an mc_call >= 0");
    ErrorSlot errors;
    Source src = source(data, false, errors, "predict: x");
    std::vector<std::vector<index_t>> shapes = out_shapes_;
    if (passes > 0) shapes.insert(shapes.end(), out_shapes_.begin(), out_shapes_.end());
    OutputArrays<T> sink(shapes, src.rows);
    PyMonitor monitor(hooks, errors);
    {
      Held held(*this, "predict");
      py::gil_scoped_release nogil;
      FlushDenormals flush;
      Monitored<T> on(*net_, &monitor);
      guarded(
          errors, [&] { return net_->predict(*src.src, steps, mc_call, passes, sink); },
          [] { return index_t(0); });
    }
    Source none;
    source_errors(src, none, errors);
    const Stop why = net_->stopped();
    py::object outs = py::none();
    if (why == Stop::done && !errors.any()) {
      const std::vector<py::array> arrays = sink.take();
      // A single-output model's predictions as one array.
      outs = arrays.size() == 1 ? py::object(arrays[0]) : py::object(py::cast(arrays));
    }
    return py::make_tuple(outs, sink.rows(), int(why), net_->stop_batch(), errors.take(),
                          sink.finite());
  }

  py::tuple evaluate(py::object data, index_t steps, py::object hooks) override {
    ErrorSlot errors;
    Source src = source(data, true, errors, "evaluate: x");
    std::vector<double> out(sz(per_pass_));
    PyMonitor monitor(hooks, errors);
    index_t rows;
    {
      Held held(*this, "evaluate");
      py::gil_scoped_release nogil;
      FlushDenormals flush;
      Monitored<T> on(*net_, &monitor);
      rows = guarded(
          errors, [&] { return net_->evaluate(*src.src, steps, out.data()); },
          [] { return index_t(0); });
    }
    Source none;
    source_errors(src, none, errors);
    py::list l;
    for (double v : out) l.append(v);
    return py::make_tuple(l, rows, int(net_->stopped()), net_->stop_batch(), errors.take());
  }

  py::tuple gradients(py::object x, py::object y, py::object w, std::int64_t step,
                      bool training) override {
    Data d = batch(x, y, w, "x", "y", "sample_weight");
    if (d.b.n <= 0) throw py::value_error("gradients: expected at least one sample");
    py::list grads;
    std::vector<T*> ptrs;
    for (const auto& shape : grad_shapes_) {
      py::array_t<T> g(shape);
      ptrs.push_back(g.mutable_data());
      grads.append(g);
    }
    py::list dxs;
    std::vector<T*> dxp;
    for (index_t width : in_sizes_) {
      py::array_t<T> dx({d.b.n, width});
      dxp.push_back(dx.mutable_data());
      dxs.append(dx);
    }
    double loss;
    {
      Held held(*this, "gradients");
      py::gil_scoped_release nogil;
      FlushDenormals flush;
      loss = net_->gradients(d.b, step, training, ptrs, dxp);
    }
    // A single-input model's input gradient as one array.
    return py::make_tuple(loss, grads, dxs.size() == 1 ? py::object(dxs[0]) : py::object(dxs));
  }

  void set_schedule(const py::dict& schedule) override {
    net_->set_schedule(parse_schedule(schedule));
  }
  double learning_rate(std::int64_t it) override { return net_->learning_rate(it); }

 private:
  // Runs a core call (without the GIL); an exception it throws becomes the call's error
  // (MemoryError for a failed allocation), kept to be raised once the state the call
  // reached is recorded, and the call reports `reached()`.
  template <class Call, class Reached>
  static index_t guarded(ErrorSlot& errors, Call&& call, Reached&& reached) {
    try {
      return call();
    } catch (const std::bad_alloc& e) {
      const std::string text = e.what();
      py::gil_scoped_acquire gil;
      errors.keep(PyExc_MemoryError, text);
    } catch (const std::invalid_argument& e) {  // a value in the data the model cannot take
      const std::string text = e.what();
      py::gil_scoped_acquire gil;
      errors.keep(PyExc_ValueError, text);
    } catch (const std::exception& e) {
      const std::string text = e.what();
      py::gil_scoped_acquire gil;
      errors.keep(PyExc_RuntimeError, text);
    }
    return reached();
  }

  struct Source {
    std::unique_ptr<BatchSource<T>> src;
    ArraySource<T>* arrays = nullptr;
    std::vector<py::array> keep;  // the arrays an array source reads
    index_t rows = -1;            // known for arrays
  };

  // A batch source from its Python form: (xs, ys, w, batch, shuffle, check, label, row0)
  // for arrays (ys None for predict; with check, inputs may be any numeric type, converted
  // and checked per batch; label and row0 name the data and number its rows in errors), or
  // an object with begin/pull/end.
  Source source(const py::object& spec, bool labels, ErrorSlot& errors, const char* what) {
    Source s;
    if (!py::isinstance<py::tuple>(spec)) {
      s.src = std::make_unique<PySource<T>>(
          spec, in_sizes_, labels ? label_widths_ : std::vector<index_t>{}, errors);
      return s;
    }
    const py::tuple t = spec.cast<py::tuple>();
    if (t.size() != 8)
      throw py::value_error(std::string(what) +
                            ": expected (xs, ys, w, batch, shuffle, check, label, row0)");
    const bool check = t[5].cast<bool>();
    const std::vector<py::array> xs = arrays(t[0], in_sizes_.size(), what);
    std::vector<typename ArraySource<T>::Column> cols;
    index_t n = -1;
    for (std::size_t k = 0; k < xs.size(); ++k) {
      typename ArraySource<T>::Column c;
      c.width = in_sizes_[k];
      if (check) {
        c.elem = elem_of(xs[k], what);
        if (!(xs[k].flags() & py::array::c_style))
          throw py::value_error(std::string(what) + ": expected a C-contiguous array");
        c.data = static_cast<const char*>(xs[k].data());
      } else {
        c.data = reinterpret_cast<const char*>(data_of<T>(xs[k], what));
      }
      const index_t r = rows_of(xs[k], in_sizes_[k], what);
      if (n >= 0 && r != n)
        throw py::value_error(std::string(what) + ": every input needs the same sample count");
      n = r;
      cols.push_back(c);
    }
    if (n <= 0) throw py::value_error(std::string(what) + ": expected at least one sample");
    std::vector<const T*> ys;
    std::vector<index_t> yw;
    if (labels) {
      const std::vector<py::array> ya = arrays(t[1], label_widths_.size(), "y");
      for (std::size_t h = 0; h < ya.size(); ++h) {
        ys.push_back(data_of<T>(ya[h], "y"));
        if (rows_of(ya[h], label_widths_[h], "y") != n)
          throw py::value_error("y: sample count does not match x");
        s.keep.push_back(ya[h]);
      }
      yw = label_widths_;
    }
    const T* w = nullptr;
    if (!t[2].is_none()) {
      const py::array wa = t[2].cast<py::array>();
      w = data_of<T>(wa, "sample_weight");
      if (index_t(wa.size()) != n)
        throw py::value_error("sample_weight: expected one weight per sample");
      s.keep.push_back(wa);
    }
    const index_t batch = t[3].cast<index_t>();
    if (batch < 1) throw py::value_error(std::string(what) + ": batch size must be >= 1");
    s.keep.insert(s.keep.end(), xs.begin(), xs.end());
    auto src = std::make_unique<ArraySource<T>>(
        *net_, t[6].cast<std::string>(), t[7].cast<index_t>(), std::move(cols), std::move(ys),
        std::move(yw), w, n, batch, t[4].cast<bool>(), check);
    s.arrays = src.get();
    s.src = std::move(src);
    s.rows = n;
    return s;
  }

  // A bad batch an array source met becomes the call's error (unless another came first).
  static void source_errors(const Source& a, const Source& b, ErrorSlot& errors) {
    for (const Source* s : {&a, &b})
      if (s->arrays && s->arrays->failed()) errors.keep(PyExc_ValueError, s->arrays->error());
  }

  struct Data {
    std::vector<py::array> keep;  // the arrays the pointers below read
    Batchable<T> b;
  };

  static index_t rows_of(const py::array& a, index_t width, const char* what) {
    if (a.ndim() < 1)
      throw py::value_error(std::string(what) + ": expected at least one dimension");
    const index_t n = a.shape(0);
    if (index_t(a.size()) != n * width)
      throw py::value_error(std::string(what) + ": expected " + std::to_string(width) +
                            " values per sample, received " +
                            std::to_string(n ? index_t(a.size()) / n : 0));
    return n;
  }

  index_t rows(const std::vector<py::array>& xs, std::vector<const T*>& xp, const char* what) {
    index_t n = -1;
    for (std::size_t k = 0; k < xs.size(); ++k) {
      xp.push_back(data_of<T>(xs[k], what));
      const index_t r = rows_of(xs[k], in_sizes_[k], what);
      if (n >= 0 && r != n)
        throw py::value_error(std::string(what) + ": every input needs the same sample count");
      n = r;
    }
    return n;
  }

  Data batch(py::object x, py::object y, py::object w, const char* xn, const char* yn,
             const char* wn) {
    Data d;
    const std::vector<py::array> xs = arrays(x, in_sizes_.size(), xn);
    const std::vector<py::array> ys = arrays(y, label_widths_.size(), yn);
    d.b.n = rows(xs, d.b.x, xn);
    for (std::size_t h = 0; h < ys.size(); ++h) {
      d.b.y.push_back(data_of<T>(ys[h], yn));
      if (rows_of(ys[h], label_widths_[h], yn) != d.b.n)
        throw py::value_error(std::string(yn) + ": sample count does not match x");
    }
    if (!w.is_none()) {
      const py::array wa = w.cast<py::array>();
      d.b.w = data_of<T>(wa, wn);
      if (index_t(wa.size()) != d.b.n)
        throw py::value_error(std::string(wn) + ": expected one weight per sample");
      d.keep.push_back(wa);
    }
    d.keep.insert(d.keep.end(), xs.begin(), xs.end());
    d.keep.insert(d.keep.end(), ys.begin(), ys.end());
    return d;
  }

  std::unique_ptr<Network<T>> net_;
  std::vector<py::array> keep_;  // parameters and slots the network points into
  std::vector<std::vector<index_t>> grad_shapes_, out_shapes_;
  std::vector<index_t> in_sizes_, label_widths_;
  index_t per_pass_ = 1;
};

}  // namespace

void register_network(py::module_& m) {
  py::class_<NetBinding>(m, "Network", "The core's graph driver for one model.")
      .def(py::init([](const py::dict& d) -> std::unique_ptr<NetBinding> {
             // A malformed description (a missing key, a value of the wrong type) is a
             // ValueError naming the problem, not a KeyError or a cast RuntimeError.
             try {
               const std::string dtype = d["dtype"].cast<std::string>();
               if (dtype == "float32") return std::make_unique<NetBindingT<float>>(d);
               if (dtype == "float64") return std::make_unique<NetBindingT<double>>(d);
               throw py::value_error("Network: expected dtype float32 or float64, received " +
                                     dtype);
             } catch (py::error_already_set& e) {
               if (!e.matches(PyExc_KeyError)) throw;
               throw py::value_error(std::string("Network: the description lacks the key ") +
                                     std::string(py::str(e.value())));
             } catch (py::cast_error& e) {
               throw py::value_error(
                   std::string("Network: a description value has the wrong type (") + e.what() +
                   ")");
             }
           }),
           py::arg("description"))
      .def("fit", &NetBinding::fit, py::arg("train"), py::arg("val"), py::arg("epochs"),
           py::arg("first_epoch"), py::arg("steps"), py::arg("val_steps"), py::arg("validate"),
           py::arg("stop_on_nan"), py::arg("iterations"), py::arg("hooks"))
      .def("train_on_batch", &NetBinding::train_on_batch, py::arg("x"), py::arg("y"),
           py::arg("sample_weight"), py::arg("iterations"), py::arg("check") = false)
      .def("predict", &NetBinding::predict, py::arg("data"), py::arg("steps"), py::arg("mc_call"),
           py::arg("passes"), py::arg("hooks"))
      .def("evaluate", &NetBinding::evaluate, py::arg("data"), py::arg("steps"), py::arg("hooks"))
      .def_property_readonly("inference_rows", &NetBinding::inference_rows)
      .def("gradients", &NetBinding::gradients, py::arg("x"), py::arg("y"),
           py::arg("sample_weight"), py::arg("step"), py::arg("training"))
      .def("set_schedule", &NetBinding::set_schedule, py::arg("schedule"))
      .def("learning_rate", &NetBinding::learning_rate, py::arg("iterations"))
      .def_property_readonly("results_per_pass", &NetBinding::results_per_pass)
      .def(
          "acquire", [](NetBinding& b, const std::string& what) { b.acquire(what.c_str()); },
          py::arg("what"),
          "Hold the network for a call made from Python (reading or writing its weights); "
          "RuntimeError at once if a fit runs in another thread.")
      .def("release", [](NetBinding& b) { b.release(); }, "End a hold taken by acquire().");
  pthread_atfork(prepare_fork, parent_after_fork, child_after_fork);

  m.def(
      "schedule_value",
      [](const py::dict& spec, std::int64_t step) {
        if (step < 0) throw py::value_error("schedule_value: expected step >= 0");
        return schedule_value(parse_schedule(spec), step);
      },
      py::arg("schedule"), py::arg("step"),
      "The learning rate of a schedule description at an optimizer step, by the formula the "
      "training loop uses.");

  // The name tables, written once in the core (names.hpp) and read by the package.
  py::dict names;
  names["activations"] = names_of(activation_names());
  names["losses"] = names_of(loss_names());
  names["metrics"] = names_of(metric_names());
  names["optimizers"] = names_of(optimizer_names());
  names["schedules"] = names_of(schedule_names());
  names["constraints"] = names_of(constraint_names());
  names["ops"] = DROPNET_CALL(op_kinds);
  m.attr("names") = names;
}

}  // namespace dropnet::py_bind
