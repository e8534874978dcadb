// Stand-alone bindings of the kernels (GEMM, activations, dropout masks, losses,
// optimizer steps, constraints, Philox) so each can be tested and timed on its own.
#include <stdexcept>

#include "common.hpp"
#include "dropnet/names.hpp"

namespace dropnet::py_bind {

Act parse_act(const std::string& s) { return parse_name(activation_names(), s, "activation"); }
LossKind parse_loss(const std::string& s) { return parse_name(loss_names(), s, "loss"); }

namespace {

// Each kernel binding is one function that picks float or double from the first array's
// dtype (a pybind11 overload per type would never reach the second one, since both take
// plain arrays and the dtype check raises inside).
template <class F>
auto by_dtype(const py::array& a, F f) {
  if (py::dtype::of<double>().is(a.dtype())) return f(double{});
  return f(float{});
}

// Runs BODY(ns) with ns the namespace of the active instruction-set level, for kernels whose
// argument types live in that namespace (DROPNET_CALL covers the plain ones).
#if defined(DROPNET_HAVE_V4) && defined(DROPNET_HAVE_V3)
#define DROPNET_BY_ISA(BODY) \
  if (active_isa() == Isa::v4) BODY(v4) else if (active_isa() == Isa::v3) BODY(v3) else BODY(base)
#elif defined(DROPNET_HAVE_V4)
#define DROPNET_BY_ISA(BODY) \
  if (active_isa() == Isa::v4) BODY(v4) else BODY(base)
#elif defined(DROPNET_HAVE_V3)
#define DROPNET_BY_ISA(BODY) \
  if (active_isa() == Isa::v3) BODY(v3) else BODY(base)
#else
#define DROPNET_BY_ISA(BODY) BODY(base)
#endif

// One flat run of `count` elements with an element-wise mask.
template <class G>
G flat_geometry(index_t count) {
  G g;
  g.n = count;
  g.rank = 0;
  g.noise_batch = true;
  return g;
}

void check_rate(double rate) {
  if (!(rate >= 0.0 && rate < 1.0))
    throw py::value_error("dropout: expected a rate in [0, 1), received " + std::to_string(rate));
}

// The mask words for `count` elements: `given` when it is a large enough uint32 array,
// else a new one.
py::array_t<std::uint32_t> words_for(const py::object& given, index_t count, const char* what) {
  const index_t words = (count + 31) / 32;
  if (given.is_none()) return py::array_t<std::uint32_t>(words);
  py::array a = given.cast<py::array>();
  if (!py::isinstance<py::array_t<std::uint32_t>>(a) ||
      a.dtype().num() != py::dtype::of<std::uint32_t>().num() || !(a.flags() & py::array::c_style))
    throw py::type_error(std::string(what) + ": expected a C-contiguous uint32 array, received " +
                         std::string(py::str(a.dtype())));
  if (index_t(a.size()) < words)
    throw py::value_error(std::string(what) + ": expected at least " + std::to_string(words) +
                          " words, received " + std::to_string(a.size()));
  return py::array_t<std::uint32_t>(a);
}

template <class T>
struct Typed {
  static void gemm_py(const py::array& a, const py::array& b, const py::array& c, bool trans_a,
                      bool trans_b, bool accumulate, bool reference) {
    const T* A = data_of<T>(a, "gemm a");
    const T* B = data_of<T>(b, "gemm b");
    T* C = data_of<T>(c, "gemm c", true);
    if (a.ndim() != 2 || b.ndim() != 2 || c.ndim() != 2)
      throw py::value_error("gemm: expected 2-D arrays");
    const index_t M = trans_a ? a.shape(1) : a.shape(0), K = trans_a ? a.shape(0) : a.shape(1);
    const index_t Kb = trans_b ? b.shape(1) : b.shape(0), N = trans_b ? b.shape(0) : b.shape(1);
    if (K != Kb || c.shape(0) != M || c.shape(1) != N)
      throw py::value_error("gemm: shapes do not match");
    py::gil_scoped_release nogil;
    if (reference)
      DROPNET_CALL(gemm_ref<T>, trans_a, trans_b, M, N, K, A, a.shape(1), B, b.shape(1), C, N,
                   accumulate);
    else
      DROPNET_CALL(gemm<T>, trans_a, trans_b, M, N, K, A, a.shape(1), B, b.shape(1), C, N,
                   accumulate);
  }

  static py::array activation_forward_py(const std::string& name, const py::array& z,
                                         double alpha) {
    const T* zp = data_of<T>(z, "z");
    py::array_t<T> y(z.request().shape);
    const index_t cols = z.ndim() ? z.shape(z.ndim() - 1) : 1;
    const index_t rows = cols ? index_t(z.size()) / cols : 0;
    const Act act = parse_act(name);
    T* yp = y.mutable_data();
    py::gil_scoped_release nogil;
    DROPNET_CALL(activation_forward<T>, act, alpha, zp, yp, rows, cols);
    return std::move(y);
  }

  static py::array activation_backward_py(const std::string& name, const py::array& z,
                                          const py::array& y, const py::array& dy, double alpha) {
    const T* zp = data_of<T>(z, "z");
    const T* yp = data_of<T>(y, "y");
    const T* dyp = data_of<T>(dy, "dy");
    if (z.size() != y.size() || z.size() != dy.size())
      throw py::value_error("activation_backward: z, y and dy must have one shape");
    py::array_t<T> dz(z.request().shape);
    const index_t cols = z.ndim() ? z.shape(z.ndim() - 1) : 1;
    const index_t rows = cols ? index_t(z.size()) / cols : 0;
    const Act act = parse_act(name);
    T* dzp = dz.mutable_data();
    py::gil_scoped_release nogil;
    DROPNET_CALL(activation_backward<T>, act, alpha, zp, yp, dyp, dzp, rows, cols);
    return std::move(dz);
  }

  static py::tuple loss_py(const std::string& name, bool from_logits, const py::array& head,
                           const py::array& y, const py::object& w, const LossParams& params) {
    const T* hp = data_of<T>(head, "head");
    const T* yp = data_of<T>(y, "y_true");
    const T* wp = data_or_null<T>(w, "sample_weight");
    if (head.ndim() < 2) throw py::value_error("loss: expected a head of 2 or more dimensions");
    const LossKind loss = parse_loss(name);
    const index_t N = head.shape(0), C = N ? index_t(head.size()) / N : 0;
    const index_t K = head.shape(head.ndim() - 1);
    const index_t lw = loss == LossKind::sparse_categorical_ce ? sparse_labels(C, K) : C;
    if (index_t(y.size()) != N * lw) throw py::value_error("loss: y_true has the wrong size");
    if (wp && index_t(py::array(w).size()) != N)
      throw py::value_error("loss: sample_weight has the wrong size");
    py::array_t<double> per(N);
    py::array_t<T> grad(head.request().shape);
    double* pp = per.mutable_data();
    T* gp = grad.mutable_data();
    {
      py::gil_scoped_release nogil;
      DROPNET_CALL(loss_forward_backward<T>, loss, from_logits, params, hp, yp, wp, N, C, K, pp, gp,
                   1.0);
    }
    return py::make_tuple(per, grad);
  }

  // Element-wise inverted dropout of a whole array, as a Dropout layer runs it in training:
  // keep bits drawn on (seed, stream), y = keep ? x / (1 - rate) : 0. Writes into `out` and
  // `mask` when given (so repeated calls reuse memory); returns (y, mask words).
  static py::tuple dropout_forward_py(const py::array& x, double rate, std::uint64_t seed,
                                      std::uint64_t stream, const py::object& out,
                                      const py::object& mask) {
    check_rate(rate);
    const T* xp = data_of<T>(x, "dropout_forward x");
    const index_t count = index_t(x.size());
    py::array y =
        out.is_none() ? py::array(py::array_t<T>(x.request().shape)) : out.cast<py::array>();
    T* yp = data_of<T>(y, "dropout_forward out", true);
    if (index_t(y.size()) != count)
      throw py::value_error("dropout_forward: out must have as many elements as x");
    py::array_t<std::uint32_t> m = words_for(mask, count, "dropout_forward mask");
    std::uint32_t* bits = m.mutable_data();
    {
      py::gil_scoped_release nogil;
#define DROPNET_FORWARD(NS)                                                     \
  {                                                                             \
    const auto g = flat_geometry<NS::MaskGeometry>(count);                      \
    NS::dropout_forward<T>(g, rate, seed, stream, bits, T(1.0 - rate), xp, yp); \
  }
      DROPNET_BY_ISA(DROPNET_FORWARD)
#undef DROPNET_FORWARD
    }
    return py::make_tuple(y, m);
  }

  // dx = keep ? dy / (1 - rate) : 0 with the mask words dropout_forward returned.
  static py::array dropout_backward_py(const py::array& dy, const py::array& mask, double rate,
                                       const py::object& out) {
    check_rate(rate);
    const T* dyp = data_of<T>(dy, "dropout_backward dy");
    const index_t count = index_t(dy.size());
    py::array_t<std::uint32_t> m = words_for(mask, count, "dropout_backward mask");
    py::array dx =
        out.is_none() ? py::array(py::array_t<T>(dy.request().shape)) : out.cast<py::array>();
    T* dxp = data_of<T>(dx, "dropout_backward out", true);
    if (index_t(dx.size()) != count)
      throw py::value_error("dropout_backward: out must have as many elements as dy");
    const std::uint32_t* bits = m.data();
    {
      py::gil_scoped_release nogil;
#define DROPNET_BACKWARD(NS) \
  NS::dropout_apply<T>(flat_geometry<NS::MaskGeometry>(count), bits, T(1.0 - rate), T(0), dyp, dxp);
      DROPNET_BY_ISA(DROPNET_BACKWARD)
#undef DROPNET_BACKWARD
    }
    return dx;
  }
};

// The keep mask of a dropout layer for `shape` = (n, *sample_shape), drawn at
// `noise_shape` (same rank, 1 on broadcast axes); returns a bool array of noise_shape.
py::array_t<bool> dropout_mask_py(const std::vector<index_t>& shape,
                                  const std::vector<index_t>& noise, double rate,
                                  std::uint64_t seed, std::uint64_t stream, index_t row0) {
  if (shape.empty() || shape.size() > 7 || noise.size() != shape.size())
    throw py::value_error("dropout_mask: expected shape and noise_shape of one rank, 1..7");
  for (std::size_t d = 0; d < shape.size(); ++d)
    if (shape[d] < 0 || (noise[d] != 1 && noise[d] != shape[d]))
      throw py::value_error("dropout_mask: noise_shape entries must be 1 or the input size");
  auto run = [&](auto geo) {
    geo.n = shape[0];
    geo.row0 = row0;
    geo.noise_batch = noise[0] != 1 || shape[0] == 1;
    geo.rank = int(shape.size()) - 1;
    for (int d = 0; d < geo.rank; ++d) {
      geo.shape[d] = shape[std::size_t(d) + 1];
      geo.noise[d] = noise[std::size_t(d) + 1];
    }
    const index_t count = geo.mask_size();
    std::vector<std::uint32_t> bits(std::size_t(count / 32 + 1));
    return std::make_pair(geo, bits);
  };
  py::array_t<bool> out(noise);
  bool* o = out.mutable_data();
#ifdef DROPNET_HAVE_V4
  if (active_isa() == Isa::v4) {
    auto [g, bits] = run(v4::MaskGeometry{});
    v4::dropout_mask(g, rate, seed, stream, bits.data());
    const index_t count = g.mask_size();
    for (index_t i = 0; i < count; ++i) o[i] = (bits[std::size_t(i >> 5)] >> (i & 31)) & 1u;
    return out;
  }
#endif
#ifdef DROPNET_HAVE_V3
  if (active_isa() == Isa::v3) {
    auto [g, bits] = run(v3::MaskGeometry{});
    v3::dropout_mask(g, rate, seed, stream, bits.data());
    const index_t count = g.mask_size();
    for (index_t i = 0; i < count; ++i) o[i] = (bits[std::size_t(i >> 5)] >> (i & 31)) & 1u;
    return out;
  }
#endif
  auto [g, bits] = run(base::MaskGeometry{});
  base::dropout_mask(g, rate, seed, stream, bits.data());
  const index_t count = g.mask_size();
  for (index_t i = 0; i < count; ++i) o[i] = (bits[std::size_t(i >> 5)] >> (i & 31)) & 1u;
  return out;
}

}  // namespace

void register_kernels(py::module_& m) {
  m.def(
      "gemm",
      [](const py::array& a, const py::array& b, const py::array& c, bool ta, bool tb, bool acc,
         bool ref) {
        by_dtype(a, [&](auto t) {
          Typed<decltype(t)>::gemm_py(a, b, c, ta, tb, acc, ref);
          return 0;
        });
      },
      py::arg("a").noconvert(), py::arg("b").noconvert(), py::arg("c").noconvert(),
      py::arg("trans_a") = false, py::arg("trans_b") = false, py::arg("accumulate") = false,
      py::arg("reference") = false,
      "c = [c +] op(a)·op(b) in place (reference=True: the plain twin).");
  m.def(
      "activation_forward",
      [](const std::string& name, const py::array& z, double alpha) {
        return by_dtype(
            z, [&](auto t) { return Typed<decltype(t)>::activation_forward_py(name, z, alpha); });
      },
      py::arg("name"), py::arg("z").noconvert(), py::arg("alpha") = 0.0);
  m.def(
      "activation_backward",
      [](const std::string& name, const py::array& z, const py::array& y, const py::array& dy,
         double alpha) {
        return by_dtype(z, [&](auto t) {
          return Typed<decltype(t)>::activation_backward_py(name, z, y, dy, alpha);
        });
      },
      py::arg("name"), py::arg("z").noconvert(), py::arg("y").noconvert(),
      py::arg("dy").noconvert(), py::arg("alpha") = 0.0);
  m.def(
      "loss",
      [](const std::string& name, bool from_logits, const py::array& head, const py::array& y,
         const py::object& w, double delta, double gamma, double alpha, bool apply_class_balancing,
         double label_smoothing) {
        LossParams params;
        params.delta = delta;
        params.gamma = gamma;
        params.alpha = alpha;
        params.class_balancing = apply_class_balancing;
        params.label_smoothing = label_smoothing;
        return by_dtype(head, [&](auto t) {
          return Typed<decltype(t)>::loss_py(name, from_logits, head, y, w, params);
        });
      },
      py::arg("name"), py::arg("from_logits"), py::arg("head").noconvert(),
      py::arg("y_true").noconvert(), py::arg("sample_weight") = py::none(), py::kw_only(),
      py::arg("delta") = 1.0, py::arg("gamma") = 2.0, py::arg("alpha") = 0.25,
      py::arg("apply_class_balancing") = false, py::arg("label_smoothing") = 0.0,
      "(per-sample loss, gradient of each sample's loss w.r.t. head, weighted); a head of more "
      "than 2 dimensions has rows along its last axis.");
  m.def(
      "matmul",
      [](const py::array& a, const py::array& b) -> py::array {
        if (a.ndim() != 2 || b.ndim() != 2 || a.shape(1) != b.shape(0))
          throw py::value_error("matmul: expected (M, K) and (K, N) arrays");
        auto run = [&](auto tag) -> py::array {
          using T = decltype(tag);
          const T* A = data_of<T>(a, "matmul a");
          const T* B = data_of<T>(b, "matmul b");
          const index_t M = a.shape(0), K = a.shape(1), N = b.shape(1);
          py::array_t<T> c({M, N});
          T* C = c.mutable_data();
          py::gil_scoped_release nogil;
          DROPNET_CALL(gemm<T>, false, false, M, N, K, A, K, B, N, C, N, false);
          return c;
        };
        return by_dtype(a, run);
      },
      py::arg("a").noconvert(), py::arg("b").noconvert(), "a @ b on the core's GEMM.");

  m.def(
      "philox4x32_10",
      [](std::vector<std::uint32_t> ctr, std::vector<std::uint32_t> key) {
        if (ctr.size() != 4 || key.size() != 2)
          throw py::value_error("philox4x32_10: expected 4 counter words and 2 key words");
        const Philox4x32 r =
            DROPNET_CALL(philox_block, ctr[0], ctr[1], ctr[2], ctr[3], key[0], key[1]);
        return py::make_tuple(r.v[0], r.v[1], r.v[2], r.v[3]);
      },
      py::arg("counter"), py::arg("key"));

  m.def(
      "dropout_forward",
      [](const py::array& x, double rate, std::uint64_t seed, std::uint64_t stream,
         const py::object& out, const py::object& mask) {
        return by_dtype(x, [&](auto t) {
          return Typed<decltype(t)>::dropout_forward_py(x, rate, seed, stream, out, mask);
        });
      },
      py::arg("x").noconvert(), py::arg("rate"), py::arg("seed"), py::arg("stream") = 0,
      py::arg("out") = py::none(), py::arg("mask") = py::none(),
      "Element-wise inverted dropout of x in training: (y, keep-bit words).");
  m.def(
      "dropout_backward",
      [](const py::array& dy, const py::array& mask, double rate, const py::object& out) {
        return by_dtype(dy, [&](auto t) {
          return Typed<decltype(t)>::dropout_backward_py(dy, mask, rate, out);
        });
      },
      py::arg("dy").noconvert(), py::arg("mask"), py::arg("rate"), py::arg("out") = py::none(),
      "Gradient of dropout_forward: dy where kept, scaled by 1 / (1 - rate); 0 elsewhere.");
  m.def(
      "gemm_blocking",
      [](const std::string& dtype) {
        if (dtype != "float32" && dtype != "float64")
          throw py::value_error("gemm_blocking: expected dtype 'float32' or 'float64', received '" +
                                dtype + "'");
        const GemmBlocking b = dtype == "float32" ? DROPNET_CALL(gemm_blocking<float>)
                                                  : DROPNET_CALL(gemm_blocking<double>);
        const CacheSizes& c = cpu_caches();
        py::dict d;
        d["mr"] = b.mr;
        d["nr"] = b.nr;
        d["kc"] = b.kc;
        d["mc"] = b.mc;
        d["nc"] = b.nc;
        d["l1d"] = c.l1d;
        d["l2"] = c.l2;
        d["l3_per_core"] = c.l3_per_core;
        return d;
      },
      py::arg("dtype") = "float32",
      "The GEMM's register tile (mr x nr) and block sizes (kc, mc, nc) at the active ISA "
      "level, and the cache sizes (bytes, per core) they were chosen from.");
  m.def(
      "fma_peak",
      [](double seconds) {
        if (!(seconds > 0.0 && seconds <= 60.0))
          throw py::value_error("fma_peak: expected seconds in (0, 60], received " +
                                std::to_string(seconds));
        py::gil_scoped_release nogil;
        return DROPNET_CALL(fma_peak_gflops, seconds);
      },
      py::arg("seconds") = 0.2,
      "float32 multiply-add throughput (GFLOP/s) of the active kernels on the thread team.");
  m.def(
      "copy",
      [](const py::array& src, py::array dst) {
        if (!(src.flags() & py::array::c_style) || !(dst.flags() & py::array::c_style) ||
            !dst.writeable())
          throw py::value_error("copy: expected C-contiguous arrays, dst writeable");
        if (src.nbytes() != dst.nbytes())
          throw py::value_error("copy: src and dst must have the same number of bytes");
        const void* s = src.data();
        void* d = dst.mutable_data();
        const std::size_t bytes = std::size_t(src.nbytes());
        py::gil_scoped_release nogil;
        DROPNET_CALL(parallel_copy, s, d, bytes);
      },
      py::arg("src"), py::arg("dst"), "dst[:] = src, split across the thread team (memcpy).");
  m.def("dropout_mask", &dropout_mask_py, py::arg("shape"), py::arg("noise_shape"), py::arg("rate"),
        py::arg("seed"), py::arg("stream") = 0, py::arg("row0") = 0);
}

}  // namespace dropnet::py_bind
