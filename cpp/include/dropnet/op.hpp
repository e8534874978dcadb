// The interface every layer kind's op implements (one file each in cpp/src/ops/), and the
// registry the graph driver builds ops from. Included only by per-ISA sources, inside
// their namespace (dropnet::<isa>), after kernels.hpp.
#pragma once
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dropnet/philox.hpp"

namespace dropnet {
namespace DROPNET_ISA {

// What one pass asks of the ops. `training` and `stochastic` are separate: training
// batches draw dropout masks and (for normalization) use and update batch statistics;
// Monte-Carlo prediction draws masks but keeps normalization in inference mode.
struct OpContext {
  index_t n = 0;            // rows in this pass
  bool training = false;    // a training step: batch statistics, state updates
  bool stochastic = false;  // the dropout family draws masks
  RngPurpose purpose = RngPurpose::train_mask;
  std::uint64_t step = 0;    // mask key: the optimizer step or the Monte-Carlo call number
  index_t row0 = 0;          // global index of the pass's first row (masks stay row-independent)
  bool update_state = true;  // a pass moves state kept across passes (moving statistics,
                             // a stateful RNN's carried states)
  index_t batch_row = 0;     // the pass's first row within its batch (inference splits batches)
  index_t batch_rows = 0;    // rows in the whole batch
};

// What an op is built from: its node, the shapes of its inputs, the output shape the
// description declares (ops derive their own and the driver compares; ops whose layout
// is a free choice, such as reshapes, check its size and take it), and the parameters.
template <class T>
struct OpArgs {
  const NodeSpec& node;
  std::vector<std::vector<index_t>> in_shapes;
  std::vector<index_t> declared_out;
  std::vector<ParamSpec<T>*> params;
  std::uint64_t model_seed = 0;
};

template <class T>
class Op {
 public:
  explicit Op(const OpArgs<T>& a)
      : in_shapes_(a.in_shapes),
        params_(a.params),
        roles_(a.node.roles),
        layer_id_(a.node.layer_id),
        seed_(a.model_seed) {}
  virtual ~Op() = default;
  Op(const Op&) = delete;
  Op& operator=(const Op&) = delete;

  // Per-sample output shape, fixed at construction (after validating inputs and attributes).
  const std::vector<index_t>& out_shape() const { return out_shape_; }
  index_t out_size() const { return size_of(out_shape_); }
  index_t in_size(std::size_t k = 0) const { return size_of(in_shapes_[k]); }
  bool has_params() const { return !params_.empty(); }

  // Buffers for passes of up to `rows` rows. Called before every pass; allocates first and
  // records the capacity after, so a failed allocation leaves the op consistent.
  virtual void reserve(index_t rows) { (void)rows; }
  // Writes the output of the pass into out (n × out_size) and returns out, or returns x[0]
  // itself when the pass is the identity (dropout at inference).
  virtual const T* forward(const OpContext& c, const T* const* x, T* out) = 0;
  // From dy (n × out_size), the gradient of each input dx[k] (skipped where null) and of
  // each parameter pg[p] (overwritten). x and y are the last forward's inputs and output.
  // ws: backward_workspace(n) scratch elements.
  virtual void backward(const OpContext& c, const T* const* x, const T* y, const T* dy,
                        T* const* dx, T* const* pg, T* ws) = 0;

  // A loss term of the last forward, summed over its rows (activity regularization); the
  // driver adds it, divided by the rows, to the reported loss.
  virtual double penalty() const { return 0.0; }

  // ---- graph rewrites (the driver decides; see network.cpp)
  // The activation the op's output ends in, when it can hand out the value before it.
  virtual Act trailing_activation() const { return Act::linear; }
  // Forward keeps that pre-activation value apart from the output.
  virtual void keep_preactivation() {}
  // The pre-activation value of the last forward (x: its inputs), once kept.
  virtual const T* preactivation(const T* const* x) const {
    (void)x;
    return nullptr;
  }
  // Scratch elements backward needs for `rows` rows; the driver passes one shared buffer.
  virtual index_t backward_workspace(index_t rows) const {
    (void)rows;
    return 0;
  }
  // Backward receives the gradient of the pre-activation value instead of the output's (a
  // fused loss head, or a pooling op above that applied the ReLU derivative).
  void take_preactivation_gradient() { dy_is_preactivation_ = true; }
  // Pooling above a ReLU applies the ReLU's derivative in its own backward; true if taken.
  virtual bool absorb_input_relu() { return false; }

 protected:
  static index_t size_of(const std::vector<index_t>& s) {
    index_t p = 1;
    for (index_t v : s) p *= v;
    return p;
  }
  static index_t last_dim(const std::vector<index_t>& s) {
    return s.empty() || s.back() == 0 ? 1 : s.back();
  }
  const ParamSpec<T>& param(std::size_t k) const { return *params_[k]; }
  // Stochastic ops: the layer's own seed when it has one.
  void read_seed(const Attrs& at) {
    if (at.optional("seed")) seed_ = std::uint64_t(at.integer("seed"));
  }
  void expect_inputs(const char* kind, std::size_t n) const {
    if (in_shapes_.size() != n)
      throw std::invalid_argument(std::string(kind) + ": expected " + std::to_string(n) +
                                  " input(s), received " + std::to_string(in_shapes_.size()));
  }
  // The node's parameters must have these roles, in this order; a role ending in '?' may
  // be left out (only at the end): {"kernel", "bias?"}.
  void expect_params(const char* kind, std::initializer_list<const char*> expected) const {
    std::string want, got;
    std::size_t required = 0, i = 0;
    bool ok = roles_.size() <= expected.size();
    for (const char* e : expected) {
      std::string role = e;
      const bool optional = !role.empty() && role.back() == '?';
      if (optional) role.pop_back();
      required += optional ? 0 : 1;
      if (i < roles_.size() && roles_[i] != role) ok = false;
      want += (want.empty() ? "" : ", ") + std::string(e);
      ++i;
    }
    for (const auto& r : roles_) got += (got.empty() ? "" : ", ") + r;
    if (!ok || roles_.size() < required)
      throw std::invalid_argument(std::string(kind) + ": expected parameters (" + want +
                                  "), received (" + got + ")");
  }

  std::vector<std::vector<index_t>> in_shapes_;
  std::vector<index_t> out_shape_;
  std::vector<ParamSpec<T>*> params_;
  std::vector<std::string> roles_;  // each parameter's role: kernel, recurrent_kernel, bias...
  std::uint32_t layer_id_ = 0;
  std::uint64_t seed_ = 0;  // the layer's own seed, else the model's
  bool dy_is_preactivation_ = false;
};

// The sliding window of a convolution or pooling node (attributes in, out, kernel,
// strides, dilation, pad; every spatial pair as (height, width)), checked against itself
// and against the node's input shape (h, w, c), or (steps, c) for 1-D layers.
inline WindowGeometry window_from(const Attrs& at, const std::vector<index_t>& in_shape,
                                  const char* kind) {
  auto pair = [&](const char* key, std::size_t n) {
    const auto v = at.ints(key);
    if (v.size() != n)
      throw std::invalid_argument(std::string(kind) + ": window '" + key +
                                  "' has the wrong length");
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
    if (v < 1 || v > limit)
      throw std::invalid_argument(std::string(kind) + ": window sizes must lie in [1, 2^31]");
  checked_size({g.in_h, g.in_w, g.channels}, kind);
  checked_size({g.k_h, g.k_w, g.channels}, kind);
  checked_size({g.out_h, g.out_w, g.k_h, g.k_w, g.channels}, kind);
  // Every window holds at least one real cell (so a pool never averages nothing).
  const index_t span_h = (g.k_h - 1) * g.dil_h, span_w = (g.k_w - 1) * g.dil_w;
  if (g.pad_top < 0 || g.pad_left < 0 || g.pad_top > span_h || g.pad_left > span_w ||
      (g.out_h - 1) * g.stride_h - g.pad_top >= g.in_h ||
      (g.out_w - 1) * g.stride_w - g.pad_left >= g.in_w)
    throw std::invalid_argument(std::string(kind) +
                                ": window padding or output size is inconsistent with the input");
  index_t in_size = 1;
  for (index_t v : in_shape) in_size *= v;
  if (in_shape.empty() || in_shape.back() != g.channels || in_size != g.in_size())
    throw std::invalid_argument(std::string(kind) + ": window does not match the input shape");
  return g;
}

// ---- registry: each op file registers its kind by name.
template <class T>
using OpFactory = std::unique_ptr<Op<T>> (*)(const OpArgs<T>&);

template <class T>
std::map<std::string, OpFactory<T>>& op_registry() {
  static std::map<std::string, OpFactory<T>> registry;
  return registry;
}

template <class T>
struct RegisterOp {
  RegisterOp(const char* kind, OpFactory<T> make) { op_registry<T>()[kind] = make; }
};

template <template <class> class O, class T>
std::unique_ptr<Op<T>> make_op_of(const OpArgs<T>& a) {
  return std::make_unique<O<T>>(a);
}

// Registers op class template O (instantiated for float and double) under `kind`.
#define DROPNET_REGISTER_OP(kind, O)                                                \
  static const RegisterOp<float> register_##O##_float(kind, &make_op_of<O, float>); \
  static const RegisterOp<double> register_##O##_double(kind, &make_op_of<O, double>)

}  // namespace DROPNET_ISA
}  // namespace dropnet
