// Op "time_distributed" (TimeDistributed around a layer that works on whole samples: Conv2D,
// pooling, Flatten, ...): the inner op run on every step of (steps, ...) samples with one set
// of parameters. A pass of n samples is a pass of n·steps rows of the inner op over the very
// same memory, so nothing is copied; the inner op's masks stay independent per step (row r
// of sample s is row s·steps + r). Attributes: op (the inner op's kind) and the inner op's
// own attributes, each prefixed "inner.".
#include <memory>

#include "dropnet/kernels.hpp"
#include "dropnet/op.hpp"

DROPNET_ISA_BEGIN

namespace {

template <class T>
class TimeDistributedOp final : public Op<T> {
  using Op<T>::in_shapes_, Op<T>::out_shape_;

 public:
  explicit TimeDistributedOp(const OpArgs<T>& a) : Op<T>(a), node_(a.node) {
    this->expect_inputs("time_distributed", 1);
    node_.op = a.node.attrs.text("op");
    node_.attrs = a.node.attrs.nested("inner.");
    a.node.attrs.finish("time_distributed");
    if (in_shapes_[0].size() < 2)
      throw std::invalid_argument("time_distributed: expected (steps, ...) inputs");
    if (node_.op == "time_distributed")
      throw std::invalid_argument("time_distributed: cannot wrap itself");
    steps_ = in_shapes_[0][0];
    OpArgs<T> inner{node_, {}, {}, a.params, a.model_seed};
    inner.in_shapes.push_back(std::vector<index_t>(in_shapes_[0].begin() + 1, in_shapes_[0].end()));
    if (!a.declared_out.empty())
      inner.declared_out.assign(a.declared_out.begin() + 1, a.declared_out.end());
    const auto& registry = op_registry<T>();
    const auto found = registry.find(node_.op);
    if (found == registry.end())
      throw std::invalid_argument("time_distributed: unknown inner op '" + node_.op + "'");
    inner_ = found->second(inner);
    out_shape_ = inner_->out_shape();
    out_shape_.insert(out_shape_.begin(), steps_);
  }

  void reserve(index_t rows) override { inner_->reserve(rows * steps_); }

  const T* forward(const OpContext& c, const T* const* x, T* out) override {
    return inner_->forward(steps(c), x, out);
  }

  void backward(const OpContext& c, const T* const* x, const T* y, const T* dy, T* const* dx,
                T* const* pg, T* ws) override {
    inner_->backward(steps(c), x, y, dy, dx, pg, ws);
  }

  double penalty() const override { return inner_->penalty(); }
  index_t backward_workspace(index_t rows) const override {
    return inner_->backward_workspace(rows * steps_);
  }

 private:
  // The pass as the inner op sees it: one row per step.
  OpContext steps(const OpContext& c) const {
    OpContext s = c;
    s.n = c.n * steps_;
    s.row0 = c.row0 * steps_;
    s.batch_row = c.batch_row * steps_;
    s.batch_rows = c.batch_rows * steps_;
    return s;
  }

  NodeSpec node_;  // the inner op's node (its attributes un-prefixed); outlives inner_'s use
  index_t steps_ = 1;
  std::unique_ptr<Op<T>> inner_;
};

DROPNET_REGISTER_OP("time_distributed", TimeDistributedOp);

}  // namespace

DROPNET_ISA_END
