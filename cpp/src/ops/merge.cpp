// Merge ops of the functional API. Element-wise over inputs of one shape: "add",
// "subtract" (two inputs), "multiply", "average", "maximum", "minimum" (ties go to the
// earliest input, as folding Keras's pairwise maximum does). "concatenate" joins its inputs
// along attribute `axis` (a per-sample axis, batch excluded).
#include <algorithm>

#include "dropnet/kernels.hpp"
#include "dropnet/op.hpp"

DROPNET_ISA_BEGIN

namespace {

enum class Merge { add, subtract, multiply, average, maximum, minimum };

template <class T, Merge M>
class ElementwiseOp final : public Op<T> {
  using Op<T>::in_shapes_, Op<T>::out_shape_;

 public:
  explicit ElementwiseOp(const OpArgs<T>& a) : Op<T>(a) {
    a.node.attrs.finish("merge");
    if (in_shapes_.size() < 2 || (M == Merge::subtract && in_shapes_.size() != 2))
      throw std::invalid_argument(M == Merge::subtract ? "subtract: expected exactly 2 inputs"
                                                       : "merge: expected at least 2 inputs");
    this->expect_params("merge", {});
    for (const auto& s : in_shapes_)
      if (s != in_shapes_[0])
        throw std::invalid_argument("merge: every input must have the same shape");
    out_shape_ = in_shapes_[0];
  }

  const T* forward(const OpContext& c, const T* const* x, T* out) override {
    const index_t count = c.n * this->in_size(), K = index_t(in_shapes_.size());
    for (index_t i = 0; i < count; ++i) {
      T v = x[0][i];
      for (index_t k = 1; k < K; ++k) {
        const T u = x[k][i];
        if constexpr (M == Merge::add || M == Merge::average) v += u;
        if constexpr (M == Merge::subtract) v -= u;
        if constexpr (M == Merge::multiply) v *= u;
        if constexpr (M == Merge::maximum) v = u > v ? u : v;
        if constexpr (M == Merge::minimum) v = u < v ? u : v;
      }
      if constexpr (M == Merge::average) v /= T(K);
      out[i] = v;
    }
    return out;
  }

  void backward(const OpContext& c, const T* const* x, const T* y, const T* dy, T* const* dx,
                T* const*, T*) override {
    const index_t count = c.n * this->in_size(), K = index_t(in_shapes_.size());
    for (index_t k = 0; k < K; ++k) {
      T* d = dx[k];
      if (!d) continue;
      for (index_t i = 0; i < count; ++i) {
        T g = dy[i];
        if constexpr (M == Merge::subtract) g = k == 0 ? g : -g;
        if constexpr (M == Merge::average) g /= T(K);
        if constexpr (M == Merge::multiply) {
          for (index_t j = 0; j < K; ++j)
            if (j != k) g *= x[j][i];
        }
        if constexpr (M == Merge::maximum || M == Merge::minimum) {
          // The first input equal to the output takes the gradient.
          index_t first = 0;
          while (first < K && x[first][i] != y[i]) ++first;
          g = first == k ? g : T(0);
        }
        d[i] = g;
      }
    }
  }
};

template <class T>
using AddOp = ElementwiseOp<T, Merge::add>;
template <class T>
using SubtractOp = ElementwiseOp<T, Merge::subtract>;
template <class T>
using MultiplyOp = ElementwiseOp<T, Merge::multiply>;
template <class T>
using AverageOp = ElementwiseOp<T, Merge::average>;
template <class T>
using MaximumOp = ElementwiseOp<T, Merge::maximum>;
template <class T>
using MinimumOp = ElementwiseOp<T, Merge::minimum>;

DROPNET_REGISTER_OP("add", AddOp);
DROPNET_REGISTER_OP("subtract", SubtractOp);
DROPNET_REGISTER_OP("multiply", MultiplyOp);
DROPNET_REGISTER_OP("average", AverageOp);
DROPNET_REGISTER_OP("maximum", MaximumOp);
DROPNET_REGISTER_OP("minimum", MinimumOp);

// Each sample is outer × (Σ widths_k) with widths_k = axis size_k × inner; input k's block
// of every outer index is copied to its offset.
template <class T>
class ConcatenateOp final : public Op<T> {
  using Op<T>::in_shapes_, Op<T>::out_shape_;

 public:
  explicit ConcatenateOp(const OpArgs<T>& a) : Op<T>(a) {
    const index_t axis = a.node.attrs.integer("axis");
    a.node.attrs.finish("concatenate");
    this->expect_params("concatenate", {});
    if (in_shapes_.size() < 2)
      throw std::invalid_argument("concatenate: expected at least 2 inputs");
    const auto& s0 = in_shapes_[0];
    const index_t rank = index_t(s0.size());
    if (axis < 0 || axis >= rank)
      throw std::invalid_argument("concatenate: axis out of range for the inputs' rank");
    out_shape_ = s0;
    out_shape_[sz(axis)] = 0;
    outer_ = 1;
    for (index_t d = 0; d < axis; ++d) outer_ *= s0[sz(d)];
    for (const auto& s : in_shapes_) {
      if (index_t(s.size()) != rank)
        throw std::invalid_argument("concatenate: every input must have the same rank");
      for (index_t d = 0; d < rank; ++d)
        if (d != axis && s[sz(d)] != s0[sz(d)])
          throw std::invalid_argument(
              "concatenate: inputs must match on every axis but the concatenation axis");
      out_shape_[sz(axis)] += s[sz(axis)];
      widths_.push_back(outer_ ? this->size_of(s) / std::max<index_t>(outer_, 1) : 0);
    }
  }

  const T* forward(const OpContext& c, const T* const* x, T* out) override {
    const index_t total = this->out_size() / std::max<index_t>(outer_, 1);
    for (index_t r = 0; r < c.n * outer_; ++r) {
      index_t off = 0;
      for (std::size_t k = 0; k < widths_.size(); ++k) {
        std::copy(x[k] + r * widths_[k], x[k] + (r + 1) * widths_[k], out + r * total + off);
        off += widths_[k];
      }
    }
    return out;
  }

  void backward(const OpContext& c, const T* const*, const T*, const T* dy, T* const* dx, T* const*,
                T*) override {
    const index_t total = this->out_size() / std::max<index_t>(outer_, 1);
    for (index_t r = 0; r < c.n * outer_; ++r) {
      index_t off = 0;
      for (std::size_t k = 0; k < widths_.size(); ++k) {
        if (dx[k])
          std::copy(dy + r * total + off, dy + r * total + off + widths_[k],
                    dx[k] + r * widths_[k]);
        off += widths_[k];
      }
    }
  }

 private:
  index_t outer_ = 1;
  std::vector<index_t> widths_;
};

DROPNET_REGISTER_OP("concatenate", ConcatenateOp);

}  // namespace

DROPNET_ISA_END
