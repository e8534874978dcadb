// Binding of the training-loop driver: turns the Python model description (dicts of
// layer configs and numpy-owned parameters) into a per-ISA Network and runs it
// without the GIL.
#include <pybind11/stl.h>

#include <cmath>
#include <mutex>

#include "common.hpp"

namespace dropnet::py_bind {
namespace {

template <class V>
V get(const py::dict& d, const char* key, V fallback) {
  if (!d.contains(key) || d[key].is_none()) return fallback;
  return d[key].cast<V>();
}

index_t product_checked(const std::vector<index_t>& shape, const char* what) {
  index_t p = 1;
  for (index_t v : shape) {
    if (v < 0) throw py::value_error(std::string(what) + ": negative dimension");
    if (v != 0 && p > (index_t(1) << 50) / v)
      throw py::value_error(std::string(what) + ": shape is too large");
    p *= v;
  }
  return p;
}

LayerKind parse_kind(const std::string& s) {
  if (s == "dense") return LayerKind::dense;
  if (s == "activation") return LayerKind::activation;
  if (s == "dropout") return LayerKind::dropout;
  if (s == "gaussian_dropout") return LayerKind::gaussian_dropout;
  if (s == "alpha_dropout") return LayerKind::alpha_dropout;
  if (s == "gaussian_noise") return LayerKind::gaussian_noise;
  if (s == "reshape") return LayerKind::reshape;
  if (s == "conv") return LayerKind::conv;
  if (s == "max_pool") return LayerKind::max_pool;
  if (s == "avg_pool") return LayerKind::avg_pool;
  if (s == "lstm") return LayerKind::lstm;
  throw py::value_error("unknown layer kind '" + s + "'");
}

// A window dict {"in": [h, w, c], "out": [oh, ow], "kernel": [kh, kw], "strides",
// "dilation", "pad": [top, left]} checked against itself; shapes are checked by the caller.
WindowGeometry parse_window(const py::dict& d) {
  auto pair = [&](const char* key, std::size_t n) {
    const auto v = d[key].cast<std::vector<index_t>>();
    if (v.size() != n)
      throw py::value_error(std::string("window '") + key + "' has the wrong length");
    return v;
  };
  const auto in = pair("in", 3), out = pair("out", 2), k = pair("kernel", 2),
             st = pair("strides", 2), dil = pair("dilation", 2), pad = pair("pad", 2);
  WindowGeometry g;
  g.in_h = in[0], g.in_w = in[1], g.channels = in[2];
  g.out_h = out[0], g.out_w = out[1];
  g.k_h = k[0], g.k_w = k[1];
  g.stride_h = st[0], g.stride_w = st[1];
  g.dil_h = dil[0], g.dil_w = dil[1];
  g.pad_top = pad[0], g.pad_left = pad[1];
  const index_t limit = index_t(1) << 31;
  for (index_t v : {g.in_h, g.in_w, g.channels, g.out_h, g.out_w, g.k_h, g.k_w, g.stride_h,
                    g.stride_w, g.dil_h, g.dil_w})
    if (v < 1 || v > limit) throw py::value_error("window sizes must lie in [1, 2^31]");
  product_checked({g.in_h, g.in_w, g.channels}, "window input");
  product_checked({g.k_h, g.k_w, g.channels}, "window patch");
  product_checked({g.out_h, g.out_w, g.k_h, g.k_w, g.channels}, "window work");
  // Every window holds at least one real cell (so a pool never averages nothing).
  const index_t span_h = (g.k_h - 1) * g.dil_h, span_w = (g.k_w - 1) * g.dil_w;
  if (g.pad_top < 0 || g.pad_left < 0 || g.pad_top > span_h || g.pad_left > span_w ||
      (g.out_h - 1) * g.stride_h - g.pad_top >= g.in_h ||
      (g.out_w - 1) * g.stride_w - g.pad_left >= g.in_w)
    throw py::value_error("window padding or output size is inconsistent with the input");
  return g;
}

OptimizerSpec parse_optimizer(const py::dict& d) {
  OptimizerSpec o;
  const std::string kind = d["kind"].cast<std::string>();
  if (kind == "sgd")
    o.kind = OptKind::sgd;
  else if (kind == "adam")
    o.kind = OptKind::adam;
  else if (kind == "rmsprop")
    o.kind = OptKind::rmsprop;
  else if (kind == "adagrad")
    o.kind = OptKind::adagrad;
  else if (kind == "adadelta")
    o.kind = OptKind::adadelta;
  else
    throw py::value_error("unknown optimizer '" + kind + "'");
  const py::dict lr = d["lr"].cast<py::dict>();
  const std::string sk = lr["kind"].cast<std::string>();
  if (sk == "constant")
    o.lr.kind = ScheduleKind::constant;
  else if (sk == "exponential")
    o.lr.kind = ScheduleKind::exponential;
  else if (sk == "inverse_time")
    o.lr.kind = ScheduleKind::inverse_time;
  else if (sk == "keras2_decay")
    o.lr.kind = ScheduleKind::keras2_decay;
  else
    throw py::value_error("unknown learning-rate schedule '" + sk + "'");
  o.lr.initial = lr["initial"].cast<double>();
  o.lr.decay_steps = get<double>(lr, "decay_steps", 1.0);
  o.lr.decay_rate = get<double>(lr, "decay_rate", 0.0);
  o.lr.staircase = get<bool>(lr, "staircase", false);
  o.momentum = get<double>(d, "momentum", 0.0);
  o.beta1 = get<double>(d, "beta_1", 0.9);
  o.beta2 = get<double>(d, "beta_2", 0.999);
  o.rho = get<double>(d, "rho", 0.9);
  o.epsilon = get<double>(d, "epsilon", 1e-7);
  o.nesterov = get<bool>(d, "nesterov", false);
  o.amsgrad = get<bool>(d, "amsgrad", false);
  o.centered = get<bool>(d, "centered", false);
  o.clipnorm = get<double>(d, "clipnorm", 0.0);
  o.clipvalue = get<double>(d, "clipvalue", 0.0);
  o.global_clipnorm = get<double>(d, "global_clipnorm", 0.0);
  return o;
}

ConstraintSpec parse_constraint(const py::object& obj, int rank) {
  ConstraintSpec c;
  if (obj.is_none()) return c;
  const py::dict d = obj.cast<py::dict>();
  const std::string kind = d["kind"].cast<std::string>();
  if (kind == "max_norm")
    c.kind = ConstraintKind::max_norm;
  else if (kind == "unit_norm")
    c.kind = ConstraintKind::unit_norm;
  else if (kind == "min_max_norm")
    c.kind = ConstraintKind::min_max_norm;
  else if (kind == "non_neg")
    c.kind = ConstraintKind::non_neg;
  else
    throw py::value_error("unknown constraint '" + kind + "'");
  c.min_value = get<double>(d, "min_value", 0.0);
  c.max_value = get<double>(d, "max_value", 2.0);
  c.rate = get<double>(d, "rate", 1.0);
  c.axes = get<std::vector<int>>(d, "axes", {});
  for (int a : c.axes)
    if (a < 0 || a >= rank || rank > 8) throw py::value_error("constraint axis out of range");
  return c;
}

class NetBinding {
 public:
  virtual ~NetBinding() = default;
  virtual py::tuple fit(py::object x, py::object y, py::object w, py::object xv, py::object yv,
                        py::object wv, index_t batch_size, index_t epochs, bool shuffle,
                        bool stop_on_nan, std::int64_t iterations) = 0;
  virtual py::tuple train_on_batch(py::object x, py::object y, py::object w, std::int64_t it) = 0;
  virtual py::array predict(py::object x, std::int64_t mc_call) = 0;
  virtual py::list evaluate(py::object x, py::object y, py::object w) = 0;
  virtual py::tuple gradients(py::object x, py::object y, py::object w, std::int64_t step,
                              bool training) = 0;
  virtual void set_learning_rate(double lr) = 0;
  virtual double learning_rate(std::int64_t it) = 0;
};

template <class T>
class NetBindingT final : public NetBinding {
 public:
  explicit NetBindingT(const py::dict& d) {
    NetworkSpec<T> s;
    s.seed = d["seed"].cast<std::uint64_t>();
    s.in_shape = d["in_shape"].cast<std::vector<index_t>>();
    s.out_shape = d["out_shape"].cast<std::vector<index_t>>();
    in_size_ = product_checked(s.in_shape, "input shape");
    out_size_ = product_checked(s.out_shape, "output shape");
    s.loss = parse_loss(d["loss"].cast<std::string>());
    s.from_logits = get<bool>(d, "from_logits", false);
    for (auto& m : d["metrics"].cast<std::vector<std::string>>())
      s.metrics.push_back(parse_metric(m));
    s.optimizer = parse_optimizer(d["optimizer"].cast<py::dict>());
    for (auto item : d["params"].cast<py::list>()) {
      const py::dict pd = item.cast<py::dict>();
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
      p.trainable = get<bool>(pd, "trainable", true);
      p.constraint =
          parse_constraint(pd.contains("constraint") ? py::object(pd["constraint"]) : py::none(),
                           int(p.shape.size()));
      if (pd.contains("regularizer") && !pd["regularizer"].is_none()) {
        const py::dict r = pd["regularizer"].cast<py::dict>();
        p.regularizer.l1 = get<double>(r, "l1", 0.0);
        p.regularizer.l2 = get<double>(r, "l2", 0.0);
      }
      s.params.push_back(std::move(p));
    }
    std::vector<index_t> cur = s.in_shape;
    for (auto item : d["layers"].cast<py::list>()) {
      const py::dict ld = item.cast<py::dict>();
      LayerSpec l;
      l.kind = parse_kind(ld["kind"].cast<std::string>());
      l.in_shape = ld["in_shape"].cast<std::vector<index_t>>();
      l.out_shape = ld["out_shape"].cast<std::vector<index_t>>();
      if (l.in_shape.size() > 6 || l.out_shape.size() > 6)
        throw py::value_error("layer shapes are limited to 6 dimensions per sample");
      const index_t in = product_checked(l.in_shape, "layer input"),
                    out = product_checked(l.out_shape, "layer output");
      if (in != product_checked(cur, "layer input"))
        throw py::value_error("layer input does not match the previous layer's output");
      l.act = parse_act(get<std::string>(ld, "act", "linear"));
      l.alpha = get<double>(ld, "alpha", 0.0);
      l.kernel = get<int>(ld, "kernel", -1);
      l.bias = get<int>(ld, "bias", -1);
      l.rate = get<double>(ld, "rate", 0.0);
      l.noise_batch = get<bool>(ld, "noise_batch", true);
      l.noise_shape = get<std::vector<index_t>>(ld, "noise_shape", {});
      l.layer_id = get<std::uint32_t>(ld, "layer_id", 0);
      if (l.layer_id >= kSecondMask) throw py::value_error("too many layers (at most 32767)");
      l.has_seed = ld.contains("seed") && !ld["seed"].is_none();
      l.seed = get<std::uint64_t>(ld, "seed", 0);
      const int np = int(s.params.size());
      const bool windowed = l.kind == LayerKind::conv || l.kind == LayerKind::max_pool ||
                            l.kind == LayerKind::avg_pool;
      if (windowed) {
        if (!ld.contains("window")) throw py::value_error("conv and pooling layers need a window");
        l.window = parse_window(ld["window"].cast<py::dict>());
        l.filters = l.kind == LayerKind::conv ? get<index_t>(ld, "filters", 0) : l.window.channels;
        if (l.filters < 1) throw py::value_error("conv layer without filters");
        if (in != l.window.in_size() || out != l.window.positions() * l.filters)
          throw py::value_error("window does not match the layer's shapes");
      }
      if (l.kind == LayerKind::conv) {
        if (l.kernel < 0 || l.kernel >= np) throw py::value_error("conv layer without a kernel");
        if (s.params[std::size_t(l.kernel)].size != l.window.patch() * l.filters)
          throw py::value_error("conv kernel shape does not match the layer's window");
        if (l.bias >= np || (l.bias >= 0 && s.params[std::size_t(l.bias)].size != l.filters))
          throw py::value_error("conv bias shape does not match the layer's filters");
      } else if (l.kind == LayerKind::lstm) {
        LstmGeometry& g = l.lstm;
        g.units = get<index_t>(ld, "units", 0);
        if (l.in_shape.size() != 2 || g.units < 1)
          throw py::value_error("lstm: expected (steps, features) inputs and units >= 1");
        g.steps = l.in_shape[0];
        g.features = l.in_shape[1];
        g.return_sequences = get<bool>(ld, "return_sequences", false);
        g.go_backwards = get<bool>(ld, "go_backwards", false);
        const std::vector<index_t> expect = g.return_sequences
                                                ? std::vector<index_t>{g.steps, g.units}
                                                : std::vector<index_t>{g.units};
        if (l.out_shape != expect)
          throw py::value_error("lstm: output shape does not match units and return_sequences");
        g.act = parse_act(get<std::string>(ld, "lstm_act", "tanh"));
        g.recurrent_act = parse_act(get<std::string>(ld, "recurrent_act", "sigmoid"));
        for (Act a : {g.act, g.recurrent_act})
          if (a != Act::tanh && a != Act::sigmoid && a != Act::relu && a != Act::linear)
            throw py::value_error("lstm: activations must be tanh, sigmoid, relu or linear");
        l.recurrent_rate = get<double>(ld, "recurrent_rate", 0.0);
        if (l.rate < 0.0 || l.rate >= 1.0 || l.recurrent_rate < 0.0 || l.recurrent_rate >= 1.0)
          throw py::value_error("lstm: dropout and recurrent_dropout must lie in [0, 1)");
        g.recurrent_masks = l.recurrent_rate > 0.0;
        g.input_masks = l.rate > 0.0 ? (g.recurrent_masks ? 4 : 1) : 0;
        l.recurrent = get<int>(ld, "recurrent", -1);
        const index_t G4 = 4 * g.units;
        if (l.kernel < 0 || l.kernel >= np || l.recurrent < 0 || l.recurrent >= np ||
            s.params[std::size_t(l.kernel)].size != g.features * G4 ||
            s.params[std::size_t(l.recurrent)].size != g.units * G4 ||
            (l.bias >= np || (l.bias >= 0 && s.params[std::size_t(l.bias)].size != G4)))
          throw py::value_error(
              "lstm: kernel, recurrent kernel or bias shape does not match the layer");
      } else if (l.kind == LayerKind::dense) {
        if (l.kernel < 0 || l.kernel >= np) throw py::value_error("dense layer without a kernel");
        const auto& ks = s.params[std::size_t(l.kernel)].shape;
        if (ks.size() != 2 || l.in_shape.empty() || ks[0] != l.in_shape.back() ||
            ks[1] != l.out_shape.back() || in / ks[0] != out / ks[1])
          throw py::value_error("dense kernel shape does not match the layer's shapes");
        if (l.bias >= np || (l.bias >= 0 && s.params[std::size_t(l.bias)].size != ks[1]))
          throw py::value_error("dense bias shape does not match the layer's units");
      } else if (!windowed && l.kind != LayerKind::lstm && in != out) {
        throw py::value_error("layer output size must equal its input size");
      }
      if (!l.noise_shape.empty()) {
        if (l.noise_shape.size() != l.in_shape.size())
          throw py::value_error("noise_shape rank does not match the input");
        for (std::size_t k = 0; k < l.noise_shape.size(); ++k)
          if (l.noise_shape[k] != 1 && l.noise_shape[k] != l.in_shape[k])
            throw py::value_error("noise_shape entries must be 1 or the input size");
      }
      // GaussianNoise carries its stddev in rate: any finite value >= 0.
      if (l.kind == LayerKind::gaussian_noise ? !(l.rate >= 0.0 && std::isfinite(l.rate))
                                              : !(l.rate >= 0.0 && l.rate <= 1.0))
        throw py::value_error(l.kind == LayerKind::gaussian_noise
                                  ? "noise stddev must be finite and >= 0"
                                  : "dropout rate out of [0, 1]");
      cur = l.out_shape;
      s.layers.push_back(std::move(l));
    }
    if (product_checked(cur, "output") != out_size_)
      throw py::value_error("last layer does not match the output shape");
    sparse_ = s.loss == LossKind::sparse_categorical_ce;
    nm_ = index_t(s.metrics.size());
    for (const auto& p : s.params) grad_shapes_.push_back(p.shape);
    net_ = DROPNET_CALL(make_network<T>, std::move(s));
  }

  py::tuple fit(py::object x, py::object y, py::object w, py::object xv, py::object yv,
                py::object wv, index_t batch_size, index_t epochs, bool shuffle, bool stop_on_nan,
                std::int64_t iterations) override {
    Batchable<T> tr = batch(x, y, w, "x", "y", "sample_weight");
    Batchable<T> va;
    if (!xv.is_none())
      va = batch(xv, yv, wv, "validation x", "validation y", "validation sample_weight");
    if (tr.n <= 0) throw py::value_error("fit: expected at least one sample");
    if (batch_size < 1) throw py::value_error("fit: batch_size must be >= 1");
    const index_t cols = (1 + nm_) * (va.n > 0 ? 2 : 1);
    py::array_t<double> hist({epochs, cols});
    double* h = hist.mutable_data();
    index_t done;
    {
      std::unique_lock<std::mutex> lock(mu_, std::try_to_lock);
      if (!lock.owns_lock())
        throw py::value_error("fit: this model is already being trained or used by another thread");
      py::gil_scoped_release nogil;
      FlushDenormals flush;
      EpochOptions o;
      o.batch_size = batch_size;
      o.shuffle = shuffle;
      done = net_->fit(tr, va, o, epochs, stop_on_nan, iterations, h);
    }
    return py::make_tuple(hist[py::slice(0, done, 1)], iterations);
  }

  py::tuple train_on_batch(py::object x, py::object y, py::object w, std::int64_t it) override {
    Batchable<T> b = batch(x, y, w, "x", "y", "sample_weight");
    if (b.n <= 0) throw py::value_error("train_on_batch: expected at least one sample");
    py::array_t<double> out(1 + nm_);
    double* o = out.mutable_data();
    {
      std::lock_guard<std::mutex> lock(mu_);
      py::gil_scoped_release nogil;
      FlushDenormals flush;
      net_->train_step(b, it, o);
    }
    return py::make_tuple(out, it);
  }

  py::array predict(py::object x, std::int64_t mc_call) override {
    const py::array xa = x.cast<py::array>();
    const T* xp = data_of<T>(xa, "x");
    const index_t n = rows_of(xa, in_size_, "x");
    std::vector<py::ssize_t> shape{py::ssize_t(n)};
    py::array_t<T> out({n, out_size_});
    T* o = out.mutable_data();
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lock(mu_);
      FlushDenormals flush;
      net_->predict(xp, n, o, 0, mc_call);
    }
    return out;
  }

  py::list evaluate(py::object x, py::object y, py::object w) override {
    Batchable<T> b = batch(x, y, w, "x", "y", "sample_weight");
    if (b.n <= 0) throw py::value_error("evaluate: expected at least one sample");
    std::vector<double> out(std::size_t(1 + nm_));
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lock(mu_);
      FlushDenormals flush;
      net_->evaluate(b, 0, out.data());
    }
    py::list l;
    for (double v : out) l.append(v);
    return l;
  }

  py::tuple gradients(py::object x, py::object y, py::object w, std::int64_t step,
                      bool training) override {
    Batchable<T> b = batch(x, y, w, "x", "y", "sample_weight");
    if (b.n <= 0) throw py::value_error("gradients: expected at least one sample");
    py::list grads;
    std::vector<T*> ptrs;
    for (const auto& shape : grad_shapes_) {
      py::array_t<T> g(shape);
      ptrs.push_back(g.mutable_data());
      grads.append(g);
    }
    py::array_t<T> dx({b.n, in_size_});
    T* dxp = dx.mutable_data();
    double loss;
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lock(mu_);
      FlushDenormals flush;
      loss = net_->gradients(b, step, training, ptrs, dxp);
    }
    return py::make_tuple(loss, grads, dx);
  }

  void set_learning_rate(double lr) override { net_->set_learning_rate(lr); }
  double learning_rate(std::int64_t it) override { return net_->learning_rate(it); }

 private:
  index_t rows_of(const py::array& a, index_t width, const char* what) const {
    if (a.ndim() < 1)
      throw py::value_error(std::string(what) + ": expected at least one dimension");
    const index_t n = a.shape(0);
    if (index_t(a.size()) != n * width)
      throw py::value_error(std::string(what) + ": expected " + std::to_string(width) +
                            " values per sample, received " +
                            std::to_string(n ? index_t(a.size()) / n : 0));
    return n;
  }

  Batchable<T> batch(py::object x, py::object y, py::object w, const char* xn, const char* yn,
                     const char* wn) {
    const py::array xa = x.cast<py::array>(), ya = y.cast<py::array>();
    Batchable<T> b;
    b.x = data_of<T>(xa, xn);
    b.y = data_of<T>(ya, yn);
    b.n = rows_of(xa, in_size_, xn);
    if (rows_of(ya, sparse_ ? 1 : out_size_, yn) != b.n)
      throw py::value_error(std::string(yn) + ": sample count does not match x");
    if (!w.is_none()) {
      const py::array wa = w.cast<py::array>();
      b.w = data_of<T>(wa, wn);
      if (index_t(wa.size()) != b.n)
        throw py::value_error(std::string(wn) + ": expected one weight per sample");
    }
    return b;
  }

  std::unique_ptr<Network<T>> net_;
  std::vector<py::array> keep_;  // parameters and slots the network points into
  std::vector<std::vector<index_t>> grad_shapes_;
  index_t in_size_ = 0, out_size_ = 0, nm_ = 0;
  bool sparse_ = false;
  std::mutex mu_;
};

}  // namespace

void register_network(py::module_& m) {
  py::class_<NetBinding>(m, "Network", "The core's training-loop driver for one model.")
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
      .def("learning_rate", &NetBinding::learning_rate, py::arg("iterations"));
}

}  // namespace dropnet::py_bind
