// What a running core call meets of Python: the monitor (Ctrl-C, the progress bar and
// callbacks, called between batches with the GIL taken only then) and the batch sources
// (arrays in memory or memory-mapped, gathered by the core; Python generators and
// Sequences, pulled with the GIL). Errors raised in Python while the core runs are kept
// here and raised once the core has returned and the model's state is recorded.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "common.hpp"

namespace dropnet::py_bind {
namespace {  // included by bind_network.cpp only

// Whether count values are all finite, copying them to `to` on the way with Copy: an
// exponent of all ones marks NaN and infinity; an integer test, so the loop vectorizes as
// a plain copy does.
template <bool Copy, class T>
bool finite_values(const T* from, T* to, std::size_t count) {
  using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  constexpr Bits exponent = sizeof(T) == 4 ? Bits(0x7f800000u) : Bits(0x7ff0000000000000ull);
  Bits bad = 0;
  for (std::size_t i = 0; i < count; ++i) {
    Bits b;
    std::memcpy(&b, from + i, sizeof b);
    if constexpr (Copy) to[i] = from[i];
    bad |= Bits((b & exponent) == exponent);
  }
  return bad == 0;
}

// finite_values over large arrays (a batch of feature maps) in chunks across the threads:
// the copy is the same, only done in parallel.
template <bool Copy, class T>
bool finite_values_parallel(const T* from, T* to, std::size_t count) {
  constexpr std::size_t kChunk = std::size_t(1) << 16;
  const index_t chunks = index_t((count + kChunk - 1) / kChunk);
  if (chunks < 2 || !use_threads(index_t(count))) return finite_values<Copy>(from, to, count);
  std::vector<char> ok(sz(chunks));
  parallel_for(chunks, true, [&](index_t c) {
    const std::size_t i0 = sz(c) * kChunk, n = std::min(kChunk, count - i0);
    ok[sz(c)] = finite_values<Copy>(from + i0, Copy ? to + i0 : to, n);
  });
  return std::all_of(ok.begin(), ok.end(), [](char v) { return v != 0; });
}

// Keeps the first Python error met during a core call (with the GIL held when it is
// taken, handed back or dropped).
class ErrorSlot {
 public:
  // The error currently set in the interpreter.
  void keep_current() {
    if (!error_)
      error_ = std::make_unique<py::error_already_set>();
    else
      PyErr_Clear();
  }
  void keep(py::error_already_set& e) {
    if (!error_) error_ = std::make_unique<py::error_already_set>(e);
  }
  void keep(PyObject* type, const std::string& message) {
    PyErr_SetString(type, message.c_str());
    keep_current();
  }
  bool any() const { return bool(error_); }
  // The kept exception as a Python object (None without one).
  py::object take() {
    if (!error_) return py::none();
    py::object value = error_->value();
    error_.reset();
    return value;
  }

 private:
  std::unique_ptr<py::error_already_set> error_;
};

// Events go to `hooks(event, phase, epoch, batch, rows, logs, seconds)`, a Python callable whose
// `wanted` attribute lists the (phase, event) pairs it takes and `ticks` says whether it
// takes ticks; it answers 0 (go on), 1 (finish the epoch, then stop) or 2 (stop now). Ticks
// also run Python's signal handlers: Ctrl-C raises KeyboardInterrupt there.
class PyMonitor final : public Monitor {
 public:
  PyMonitor(py::object hooks, ErrorSlot& errors) : hooks_(std::move(hooks)), errors_(errors) {
    if (hooks_.is_none()) return;
    for (auto item : hooks_.attr("wanted")) {
      const auto pe = item.cast<std::pair<int, int>>();
      if (pe.first < 0 || pe.first > 2 || pe.second < 0 || pe.second >= int(Event::tick))
        throw py::value_error("hooks.wanted: expected (phase, event) pairs");
      mask_ |= 1u << (pe.first * 8 + pe.second);
    }
    ticks_ = hooks_.attr("ticks").cast<bool>();
  }
  bool wants(Phase p, Event e) const override { return (mask_ >> (int(p) * 8 + int(e))) & 1u; }

  Reply on(Event e, const Progress& p) override {
    py::gil_scoped_acquire gil;
    if (e == Event::tick && PyErr_CheckSignals() != 0) {
      errors_.keep_current();
      return Reply::stop;
    }
    if (hooks_.is_none() || (e == Event::tick && !ticks_)) return Reply::go;
    try {
      py::object logs = py::none();
      if (p.logs) {
        py::list l;
        for (index_t i = 0; i < p.count; ++i) l.append(p.logs[i]);
        logs = l;
      }
      const py::object r = hooks_(int(e), int(p.phase), p.epoch, p.batch, p.rows, logs, p.seconds);
      const int code = r.is_none() ? 0 : r.cast<int>();
      if (code < 0 || code > 2) throw py::value_error("hooks: expected a reply of 0, 1 or 2");
      return Reply(code);
    } catch (py::error_already_set& err) {
      errors_.keep(err);
    } catch (const std::exception& err) {
      errors_.keep(PyExc_RuntimeError, err.what());
    }
    return Reply::stop;
  }

 private:
  py::object hooks_;
  ErrorSlot& errors_;
  unsigned mask_ = 0;
  bool ticks_ = false;
};

// Installs a monitor on a network for one call, and puts back the one before it (a call
// made from a callback runs inside another's).
template <class T>
class Monitored {
 public:
  Monitored(Network<T>& net, Monitor* m) : net_(net), before_(net.monitor()) {
    net_.set_monitor(m);
  }
  ~Monitored() { net_.set_monitor(before_); }
  Monitored(const Monitored&) = delete;
  Monitored& operator=(const Monitored&) = delete;

 private:
  Network<T>& net_;
  Monitor* before_;
};

// Element types an array source converts from while gathering (memory-mapped inputs are
// read in place, in whatever numeric type they are stored).
enum class Elem : int { f32, f64, i8, u8, i16, u16, i32, u32, i64, u64 };

inline Elem elem_of(const py::array& a, const char* what) {
  const char kind = a.dtype().kind();
  const auto size = a.itemsize();
  if (kind == 'f' && size == 4) return Elem::f32;
  if (kind == 'f' && size == 8) return Elem::f64;
  if (kind == 'b' || (kind == 'u' && size == 1)) return Elem::u8;
  if (kind == 'i' || kind == 'u') {
    const bool u = kind == 'u';
    switch (size) {
      case 1:
        return Elem::i8;
      case 2:
        return u ? Elem::u16 : Elem::i16;
      case 4:
        return u ? Elem::u32 : Elem::i32;
      case 8:
        return u ? Elem::u64 : Elem::i64;
      default:
        break;
    }
  }
  throw py::type_error(std::string(what) + ": expected an array of numbers, received dtype " +
                       std::string(py::str(a.dtype())));
}

template <class T, class S>
void convert_row(const char* from, T* to, index_t count) {
  const S* s = reinterpret_cast<const S*>(from);
  for (index_t i = 0; i < count; ++i) to[i] = T(s[i]);
}

template <class T>
void copy_row(Elem e, const char* from, T* to, index_t count) {
  switch (e) {
    case Elem::f32:
      return convert_row<T, float>(from, to, count);
    case Elem::f64:
      return convert_row<T, double>(from, to, count);
    case Elem::i8:
      return convert_row<T, std::int8_t>(from, to, count);
    case Elem::u8:
      return convert_row<T, std::uint8_t>(from, to, count);
    case Elem::i16:
      return convert_row<T, std::int16_t>(from, to, count);
    case Elem::u16:
      return convert_row<T, std::uint16_t>(from, to, count);
    case Elem::i32:
      return convert_row<T, std::int32_t>(from, to, count);
    case Elem::u32:
      return convert_row<T, std::uint32_t>(from, to, count);
    case Elem::i64:
      return convert_row<T, std::int64_t>(from, to, count);
    case Elem::u64:
      return convert_row<T, std::uint64_t>(from, to, count);
  }
}

template <class T>
constexpr Elem native_elem() {
  return sizeof(T) == 4 ? Elem::f32 : Elem::f64;
}

// Rows of arrays, `batch` at a time, in the order of the step's shuffle (or in order).
// Targets and sample weights are T arrays in memory; an input may be any numeric array
// (a memory map, read in place): its rows are converted as they are gathered, and with
// `check` each gathered batch is checked for NaN and infinities (the arrays were not
// scanned beforehand). Without shuffling or conversion a batch is a view of the rows.
template <class T>
class ArraySource final : public BatchSource<T> {
 public:
  struct Column {
    const char* data = nullptr;
    Elem elem = native_elem<T>();
    index_t width = 1;
  };
  ArraySource(const Network<T>& net, std::string label, index_t row0, std::vector<Column> x,
              std::vector<const T*> y, std::vector<index_t> y_widths, const T* w, index_t n,
              index_t batch, bool shuffle, bool check)
      : net_(net),
        label_(std::move(label)),
        row0_(row0),
        x_(std::move(x)),
        y_(std::move(y)),
        yw_(std::move(y_widths)),
        w_(w),
        n_(n),
        batch_(std::max<index_t>(1, std::min(batch, n))),
        shuffle_(shuffle && n > 1),
        check_(check) {
    direct_ = !shuffle_ && !check_;
    for (const Column& c : x_) direct_ = direct_ && c.elem == native_elem<T>();
    if (shuffle_) perm_.resize(sz(n_));
  }

  void begin(std::int64_t step) override {
    pos_ = 0;
    if (shuffle_) net_.permutation(step, n_, perm_.data());
  }

  bool next(Batchable<T>& b) override {
    if (pos_ >= n_ || !error_.empty()) return false;
    const index_t nb = std::min(batch_, n_ - pos_);
    b.n = nb;
    b.x.resize(x_.size());
    b.y.resize(y_.size());
    const index_t* rows = shuffle_ ? perm_.data() + pos_ : nullptr;
    xbuf_.resize(x_.size());
    for (std::size_t k = 0; k < x_.size(); ++k) {
      const Column& c = x_[k];
      if (direct_) {
        b.x[k] = reinterpret_cast<const T*>(c.data) + pos_ * c.width;
        continue;
      }
      const index_t bytes = elem_bytes(c.elem) * c.width;
      xbuf_[k].resize(sz(nb * c.width));
      T* to = xbuf_[k].data();
      for (index_t i = 0; i < nb; ++i)
        copy_row<T>(c.elem, c.data + (rows ? rows[i] : pos_ + i) * bytes, to + i * c.width,
                    c.width);
      if (check_) {
        for (index_t i = 0; i < nb * c.width; ++i)
          if (!std::isfinite(to[i])) {
            const index_t r = i / c.width;
            error_ = label_ +
                     (x_.size() > 1 ? " (input " + std::to_string(k) + ")" : std::string()) +
                     ": row " + std::to_string(row0_ + (rows ? rows[r] : pos_ + r)) +
                     " holds NaN or infinite values";
            return false;
          }
      }
      b.x[k] = to;
    }
    ybuf_.resize(y_.size());
    for (std::size_t h = 0; h < y_.size(); ++h) {
      if (!rows) {
        b.y[h] = y_[h] + pos_ * yw_[h];
        continue;
      }
      ybuf_[h].resize(sz(nb * yw_[h]));
      for (index_t i = 0; i < nb; ++i)
        std::copy(y_[h] + rows[i] * yw_[h], y_[h] + (rows[i] + 1) * yw_[h],
                  ybuf_[h].data() + i * yw_[h]);
      b.y[h] = ybuf_[h].data();
    }
    b.w = nullptr;
    if (w_ && !rows) {
      b.w = w_ + pos_;
    } else if (w_) {
      wbuf_.resize(sz(nb));
      for (index_t i = 0; i < nb; ++i) wbuf_[sz(i)] = w_[rows[i]];
      b.w = wbuf_.data();
    }
    pos_ += nb;
    return true;
  }

  bool failed() const override { return !error_.empty(); }
  const std::string& error() const { return error_; }

 private:
  static index_t elem_bytes(Elem e) {
    switch (e) {
      case Elem::i8:
      case Elem::u8:
        return 1;
      case Elem::i16:
      case Elem::u16:
        return 2;
      case Elem::f32:
      case Elem::i32:
      case Elem::u32:
        return 4;
      default:
        return 8;
    }
  }

  const Network<T>& net_;
  std::string label_;  // names the data in errors
  index_t row0_;       // the number of its first row, in errors
  std::vector<Column> x_;
  std::vector<const T*> y_;
  std::vector<index_t> yw_;
  const T* w_;
  index_t n_, batch_, pos_ = 0;
  bool shuffle_, check_, direct_ = true;
  std::vector<index_t> perm_;
  std::vector<std::vector<T>> xbuf_, ybuf_;
  std::vector<T> wbuf_;
  std::string error_;
};

// Batches pulled from a Python object with begin(step), pull() and end(): pull() returns
// None at the end of the pass, or (xs, ys, w): lists of C-contiguous T arrays, one per
// model input and loss head (ys empty for predict), and sample weights or None, already
// checked by the Python side; the sizes are checked again here. The batch pulled last is
// held until the next pull.
template <class T>
class PySource final : public BatchSource<T> {
 public:
  PySource(py::object src, std::vector<index_t> x_widths, std::vector<index_t> y_widths,
           ErrorSlot& errors)
      : src_(std::move(src)), xw_(std::move(x_widths)), yw_(std::move(y_widths)), errors_(errors) {}
  ~PySource() override = default;  // destroyed with the GIL held

  void begin(std::int64_t step) override {
    call([&] { src_.attr("begin")(step); });
  }
  void end() override {
    call([&] { src_.attr("end")(); });
  }
  bool failed() const override { return failed_; }

  bool next(Batchable<T>& b) override {
    bool got = false;
    call([&] {
      current_ = py::none();
      py::object item = src_.attr("pull")();
      if (item.is_none()) return;
      const py::tuple t = item.cast<py::tuple>();
      if (t.size() != 3) throw py::value_error("pull: expected (xs, ys, w)");
      const py::list xs = t[0].cast<py::list>(), ys = t[1].cast<py::list>();
      if (xs.size() != xw_.size() || (ys.size() != yw_.size() && ys.size() != 0))
        throw py::value_error("pull: expected one array per model input and loss head");
      b.x.clear();
      b.y.clear();
      b.n = -1;
      auto rows = [&](const py::array& a, index_t width) {
        const index_t n = a.ndim() ? index_t(a.shape(0)) : 0;
        if (n < 1 || index_t(a.size()) != n * width || (b.n >= 0 && n != b.n))
          throw py::value_error("pull: a batch array has the wrong size");
        b.n = n;
      };
      for (std::size_t k = 0; k < xs.size(); ++k) {
        const py::array a = xs[k].cast<py::array>();
        rows(a, xw_[k]);
        b.x.push_back(data_of<T>(a, "batch x"));
      }
      for (std::size_t h = 0; h < ys.size(); ++h) {
        const py::array a = ys[h].cast<py::array>();
        rows(a, yw_[h]);
        b.y.push_back(data_of<T>(a, "batch y"));
      }
      b.w = nullptr;
      if (!t[2].is_none()) {
        const py::array a = t[2].cast<py::array>();
        rows(a, 1);
        b.w = data_of<T>(a, "batch sample_weight");
      }
      current_ = item;
      got = true;
    });
    return got;
  }

 private:
  template <class F>
  void call(F&& f) {
    if (failed_) return;
    py::gil_scoped_acquire gil;
    try {
      f();
    } catch (py::error_already_set& e) {
      errors_.keep(e);
      failed_ = true;
    } catch (const py::builtin_exception& e) {
      e.set_error();
      errors_.keep_current();
      failed_ = true;
    } catch (const std::exception& e) {
      errors_.keep(PyExc_RuntimeError, e.what());
      failed_ = true;
    }
  }

  py::object src_, current_;
  std::vector<index_t> xw_, yw_;
  ErrorSlot& errors_;
  bool failed_ = false;
};

// Inference outputs: straight into arrays when the row count is known (arrays), else into
// growing buffers that become arrays at the end (a source of unknown length). Made and
// read with the GIL; put() runs without it.
template <class T>
class OutputArrays final : public OutputSink<T> {
 public:
  OutputArrays(const std::vector<std::vector<index_t>>& shapes, index_t known_rows)
      : shapes_(shapes), known_(known_rows) {
    for (const auto& shape : shapes_) {
      widths_.push_back(checked_size(shape, "output shape"));
      if (known_ >= 0) {
        arrays_.push_back(make(shape, known_));
        ptrs_.push_back(static_cast<T*>(arrays_.back().mutable_data()));
      }
    }
    bufs_.resize(shapes_.size());
  }
  void put(const std::vector<const T*>& outs, index_t n) override {
    for (std::size_t k = 0; k < outs.size(); ++k) {
      const std::size_t count = sz(n * widths_[k]);
      T* to;
      if (known_ >= 0) {
        to = ptrs_[k] + rows_ * widths_[k];
      } else {
        bufs_[k].resize(bufs_[k].size() + count);
        to = bufs_[k].data() + bufs_[k].size() - count;
      }
      if (!finite_values_parallel<true>(outs[k], to, count)) finite_ = false;
    }
    rows_ += n;
  }
  index_t rows() const { return rows_; }
  // Whether every value put was finite (checked while copying, at no extra pass).
  bool finite() const { return finite_; }
  // The outputs, (rows, *shape) each.
  std::vector<py::array> take() {
    if (known_ >= 0) return arrays_;
    std::vector<py::array> out;
    for (std::size_t k = 0; k < shapes_.size(); ++k) {
      py::array a = make(shapes_[k], rows_);
      std::copy(bufs_[k].begin(), bufs_[k].end(), static_cast<T*>(a.mutable_data()));
      std::vector<T>().swap(bufs_[k]);
      out.push_back(a);
    }
    return out;
  }

 private:
  static py::array make(const std::vector<index_t>& shape, index_t rows) {
    std::vector<py::ssize_t> full{py::ssize_t(rows)};
    full.insert(full.end(), shape.begin(), shape.end());
    return py::array_t<T>(full);
  }
  std::vector<std::vector<index_t>> shapes_;
  index_t known_;
  std::vector<index_t> widths_;
  std::vector<py::array> arrays_;
  std::vector<T*> ptrs_;
  std::vector<std::vector<T>> bufs_;
  index_t rows_ = 0;
  bool finite_ = true;
};

}  // namespace
}  // namespace dropnet::py_bind
