// Binding of the graph driver: turns the Python model description (tensors, nodes with
// their op kinds and attributes, numpy-owned parameters, loss heads, optimizer) into a
// per-ISA Network and runs it without the GIL. Every dict is read strictly: a missing key,
// an unknown key or a value of the wrong type is a ValueError naming it.
#include <pybind11/stl.h>

#include <cmath>
#include <mutex>
#include <set>

#include "common.hpp"
#include "dropnet/names.hpp"

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

// Ctrl-C reaches a running core call here: called by the driver between batches on a time
// budget, it takes the GIL and runs Python's pending signal handlers. An exception they
// raise (KeyboardInterrupt) is kept, the driver stops after the current batch, and the
// binding hands the exception back once the model's state is consistent.
class SignalMonitor final : public Monitor {
 public:
  bool stop() override {
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() == 0) return false;
    error_ = std::make_unique<py::error_already_set>();
    return true;
  }
  // Raises the kept exception, if any (with the GIL held).
  void rethrow() {
    if (error_) {
      std::unique_ptr<py::error_already_set> e = std::move(error_);
      throw *e;
    }
  }
  // The kept exception as a Python object (None without one), for calls that first return
  // the state reached.
  py::object take() {
    if (!error_) return py::none();
    py::object value = error_->value();
    error_.reset();
    return value;
  }

 private:
  std::unique_ptr<py::error_already_set> error_;
};

// Installs a monitor on a network for the duration of one call.
template <class T>
class Monitored {
 public:
  Monitored(Network<T>& net, Monitor* m) : net_(net) { net_.set_monitor(m); }
  ~Monitored() { net_.set_monitor(nullptr); }
  Monitored(const Monitored&) = delete;
  Monitored& operator=(const Monitored&) = delete;

 private:
  Network<T>& net_;
};

class NetBinding {
 public:
  virtual ~NetBinding() = default;
  virtual py::tuple fit(py::object x, py::object y, py::object w, py::object xv, py::object yv,
                        py::object wv, index_t batch_size, index_t epochs, bool shuffle,
                        bool stop_on_nan, std::int64_t iterations) = 0;
  virtual py::tuple train_on_batch(py::object x, py::object y, py::object w, std::int64_t it) = 0;
  virtual py::object predict(py::object x, std::int64_t mc_call) = 0;
  virtual py::list evaluate(py::object x, py::object y, py::object w) = 0;
  virtual py::tuple gradients(py::object x, py::object y, py::object w, std::int64_t step,
                              bool training) = 0;
  virtual void set_learning_rate(double lr) = 0;
  virtual double learning_rate(std::int64_t it) = 0;
  virtual index_t results_per_pass() = 0;
};

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
    for (auto item : d["params"].cast<py::list>()) {
      const py::dict pd =
          strict(item, "parameter", {"value", "slots", "trainable", "constraint", "regularizer"});
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
      while (p.slots.size() < 3) p.slots.push_back(nullptr);
      p.trainable = pd["trainable"].cast<bool>();
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
      const py::dict hd =
          strict(item, "loss head", {"output", "loss", "from_logits", "weight", "metrics"});
      HeadSpec h;
      h.output = hd["output"].cast<int>();
      h.loss = parse_name(loss_names(), hd["loss"].cast<std::string>(), "loss");
      h.from_logits = hd["from_logits"].cast<bool>();
      h.weight = hd["weight"].cast<double>();
      if (!(h.weight >= 0.0 && std::isfinite(h.weight)))
        throw py::value_error("loss weights must be finite and >= 0");
      for (auto m : hd["metrics"].cast<std::vector<std::string>>())
        h.metrics.push_back(parse_name(metric_names(), m, "metric"));
      if (h.output < 0 || std::size_t(h.output) >= s.outputs.size())
        throw py::value_error("loss head refers to a missing output");
      label_widths_.push_back(h.loss == LossKind::sparse_categorical_ce
                                  ? 1
                                  : checked_size(out_shapes_[sz(h.output)], "output shape"));
      s.heads.push_back(std::move(h));
    }
    s.optimizer = parse_optimizer(d["optimizer"]);
    for (const auto& p : s.params) grad_shapes_.push_back(p.shape);
    net_ = DROPNET_CALL(make_network<T>, std::move(s));
    per_pass_ = net_->results_per_pass();
  }

  index_t results_per_pass() override { return per_pass_; }

  py::tuple fit(py::object x, py::object y, py::object w, py::object xv, py::object yv,
                py::object wv, index_t batch_size, index_t epochs, bool shuffle, bool stop_on_nan,
                std::int64_t iterations) override {
    Data tr = batch(x, y, w, "x", "y", "sample_weight");
    Data va;
    if (!xv.is_none())
      va = batch(xv, yv, wv, "validation x", "validation y", "validation sample_weight");
    if (tr.b.n <= 0) throw py::value_error("fit: expected at least one sample");
    if (batch_size < 1) throw py::value_error("fit: batch_size must be >= 1");
    const index_t cols = per_pass_ * (va.b.n > 0 ? 2 : 1);
    py::array_t<double> hist({epochs, cols});
    double* h = hist.mutable_data();
    index_t done;
    SignalMonitor monitor;
    {
      std::unique_lock<std::mutex> lock(mu_, std::try_to_lock);
      if (!lock.owns_lock())
        throw py::value_error("fit: this model is already being trained or used by another thread");
      py::gil_scoped_release nogil;
      FlushDenormals flush;
      EpochOptions o;
      o.batch_size = batch_size;
      o.shuffle = shuffle;
      Monitored<T> on(*net_, &monitor);
      done = net_->fit(tr.b, va.b, o, epochs, stop_on_nan, iterations, h);
    }
    // The completed epochs and the step count are returned with the interruption (if any),
    // so Python records them before raising it.
    return py::make_tuple(hist[py::slice(0, done, 1)], iterations, monitor.take());
  }

  py::tuple train_on_batch(py::object x, py::object y, py::object w, std::int64_t it) override {
    Data d = batch(x, y, w, "x", "y", "sample_weight");
    if (d.b.n <= 0) throw py::value_error("train_on_batch: expected at least one sample");
    py::array_t<double> out(per_pass_);
    double* o = out.mutable_data();
    {
      std::lock_guard<std::mutex> lock(mu_);
      py::gil_scoped_release nogil;
      FlushDenormals flush;
      net_->train_step(d.b, it, o);
    }
    return py::make_tuple(out, it);
  }

  py::object predict(py::object x, std::int64_t mc_call) override {
    const std::vector<py::array> xs = arrays(x, in_sizes_.size(), "x");
    std::vector<const T*> xp;
    const index_t n = rows(xs, xp, "x");
    py::list outs;
    std::vector<T*> op;
    for (const auto& shape : out_shapes_) {
      std::vector<py::ssize_t> full{py::ssize_t(n)};
      full.insert(full.end(), shape.begin(), shape.end());
      py::array_t<T> o(full);
      op.push_back(o.mutable_data());
      outs.append(o);
    }
    SignalMonitor monitor;
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lock(mu_);
      FlushDenormals flush;
      Monitored<T> on(*net_, &monitor);
      net_->predict(xp, n, op, mc_call);
    }
    monitor.rethrow();
    // A single-output model's predictions as one array.
    return outs.size() == 1 ? py::object(outs[0]) : py::object(outs);
  }

  py::list evaluate(py::object x, py::object y, py::object w) override {
    Data d = batch(x, y, w, "x", "y", "sample_weight");
    if (d.b.n <= 0) throw py::value_error("evaluate: expected at least one sample");
    std::vector<double> out(sz(per_pass_));
    SignalMonitor monitor;
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lock(mu_);
      FlushDenormals flush;
      Monitored<T> on(*net_, &monitor);
      net_->evaluate(d.b, out.data());
    }
    monitor.rethrow();
    py::list l;
    for (double v : out) l.append(v);
    return l;
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
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lock(mu_);
      FlushDenormals flush;
      loss = net_->gradients(d.b, step, training, ptrs, dxp);
    }
    // A single-input model's input gradient as one array.
    return py::make_tuple(loss, grads, dxs.size() == 1 ? py::object(dxs[0]) : py::object(dxs));
  }

  void set_learning_rate(double lr) override { net_->set_learning_rate(lr); }
  double learning_rate(std::int64_t it) override { return net_->learning_rate(it); }

 private:
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
  std::mutex mu_;
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
      .def("fit", &NetBinding::fit, py::arg("x"), py::arg("y"), py::arg("sample_weight"),
           py::arg("val_x"), py::arg("val_y"), py::arg("val_sample_weight"), py::arg("batch_size"),
           py::arg("epochs"), py::arg("shuffle"), py::arg("stop_on_nan"), py::arg("iterations"))
      .def("train_on_batch", &NetBinding::train_on_batch, py::arg("x"), py::arg("y"),
           py::arg("sample_weight"), py::arg("iterations"))
      .def("predict", &NetBinding::predict, py::arg("x"), py::arg("mc_call") = -1)
      .def("evaluate", &NetBinding::evaluate, py::arg("x"), py::arg("y"), py::arg("sample_weight"))
      .def("gradients", &NetBinding::gradients, py::arg("x"), py::arg("y"),
           py::arg("sample_weight"), py::arg("step"), py::arg("training"))
      .def("set_learning_rate", &NetBinding::set_learning_rate, py::arg("lr"))
      .def("learning_rate", &NetBinding::learning_rate, py::arg("iterations"))
      .def_property_readonly("results_per_pass", &NetBinding::results_per_pass);

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
