// Op "embedding": each input value is a row index into `embeddings` (input_dim, output_dim);
// the output appends an axis of output_dim. Indices in [−input_dim, −1] count from the end
// (as Keras's take); any other value outside [0, input_dim), or one that is not a whole
// number, is an error naming it. Gradient: the rows' output gradients added into the rows
// they came from, in input order (the same bits on any thread count); no input gradient.
// Attributes: input_dim, output_dim.
#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>

#include "dropnet/kernels.hpp"
#include "dropnet/op.hpp"

DROPNET_ISA_BEGIN

namespace {

template <class T>
class EmbeddingOp final : public Op<T> {
  using Op<T>::in_shapes_, Op<T>::out_shape_;

 public:
  explicit EmbeddingOp(const OpArgs<T>& a) : Op<T>(a) {
    const Attrs& at = a.node.attrs;
    this->expect_inputs("embedding", 1);
    this->expect_params("embedding", {"embeddings"});
    rows_ = at.integer("input_dim");
    width_ = at.integer("output_dim");
    at.finish("embedding");
    if (rows_ < 1 || width_ < 1)
      throw std::invalid_argument("embedding: input_dim and output_dim must be >= 1");
    if (this->param(0).size != rows_ * width_)
      throw std::invalid_argument("embedding: embeddings shape does not match the dimensions");
    out_shape_ = in_shapes_[0];
    out_shape_.push_back(width_);
  }

  const T* forward(const OpContext& c, const T* const* x, T* out) override {
    const index_t count = c.n * this->in_size();
    const T* table = this->param(0).value;
    for (index_t k = 0; k < count; ++k)
      std::copy_n(table + row(x[0][k]) * width_, width_, out + k * width_);
    return out;
  }

  void backward(const OpContext& c, const T* const* x, const T*, const T* dy, T* const* dx,
                T* const* pg, T*) override {
    const index_t count = c.n * this->in_size();
    std::fill(pg[0], pg[0] + rows_ * width_, T(0));
    for (index_t k = 0; k < count; ++k) {
      T* g = pg[0] + row(x[0][k]) * width_;
      const T* d = dy + k * width_;
      for (index_t j = 0; j < width_; ++j) g[j] += d[j];
    }
    if (dx[0]) std::fill(dx[0], dx[0] + count, T(0));
  }

 private:
  // The table row of input value v.
  index_t row(T v) const {
    const double d = double(v);
    if (!(d >= -double(rows_) && d < double(rows_)) || d != std::floor(d)) {
      std::ostringstream msg;
      msg << "Embedding: input value " << d << " is not a row index: expected a whole number in ["
          << -rows_ << ", " << rows_ << ") (input_dim=" << rows_ << ")";
      throw std::invalid_argument(msg.str());
    }
    const index_t i = index_t(d);
    return i < 0 ? i + rows_ : i;
  }

  index_t rows_ = 1, width_ = 1;
};

DROPNET_REGISTER_OP("embedding", EmbeddingOp);

}  // namespace

DROPNET_ISA_END
