// The graph driver: runs whole epochs (batches from a source → forward → loss → backward →
// clip → weight decay → update → moving average → constraints, then validation) of a model
// given as a graph of ops over numpy-owned parameters, telling a monitor about the events it
// asked for and, on a time budget, between batches. It knows no layer kind: each node's op
// comes from the registry (cpp/src/ops/), and the fusions are graph rewrites decided from
// what the ops report.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "dropnet/kernels.hpp"
#include "dropnet/names.hpp"
#include "dropnet/op.hpp"
#include "dropnet/philox.hpp"

DROPNET_ISA_BEGIN

namespace {

// Sequential words of one Philox stream, for draws that need a variable count (shuffles).
class WordStream {
 public:
  WordStream(std::uint64_t seed, std::uint64_t stream) : rng_(seed, stream) {}
  std::uint32_t next() { return rng_.word(pos_++); }
  // Uniform in [0, range) without bias (Lemire's multiply-shift with rejection).
  std::uint32_t below(std::uint32_t range) {
    std::uint64_t m = std::uint64_t(next()) * range;
    std::uint32_t low = std::uint32_t(m);
    if (low < range) {
      const std::uint32_t t = std::uint32_t(-range) % range;
      while (low < t) {
        m = std::uint64_t(next()) * range;
        low = std::uint32_t(m);
      }
    }
    return std::uint32_t(m >> 32);
  }

 private:
  RngStream rng_;
  std::uint64_t pos_ = 0;
};

std::string shape_text(const std::vector<index_t>& s) {
  std::string out = "(";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

// Which backward work a pass does, decided once per kind of pass (with or without input
// gradients): gradients flow only from tensors that depend on parameters (or on an input
// whose gradient is asked for), so nodes below the first layer with parameters skip
// backward. Gradient buffers ("slots") are reused once a tensor's gradient is consumed.
struct BackwardPlan {
  std::vector<char> run;                       // per node: its backward runs
  std::vector<std::vector<char>> need_dx;      // per node and input: that gradient is needed
  std::vector<std::vector<char>> accumulate;   // ... and adds to one already written
  std::vector<std::vector<char>> param_first;  // per node and parameter: writes it first
  std::vector<int> slot;                       // per tensor: its gradient buffer, or -1
  std::vector<char> head_accumulate;           // per head: adds to a gradient already written
  int slots = 0;
};

template <class T>
class GraphNetwork final : public Network<T> {
 public:
  explicit GraphNetwork(GraphSpec<T> spec) : s_(std::move(spec)) {
    const int nt = int(s_.tensors.size());
    auto tensor_ok = [&](int t) { return t >= 0 && t < nt; };
    for (const auto& shape : s_.tensors) {
      if (shape.size() > 6) throw std::invalid_argument("tensor shapes are limited to 6 axes");
      size_.push_back(checked_size(shape, "tensor shape"));
      max_width_ = std::max(max_width_, size_.back());
    }
    producer_.assign(sz(nt), -2);  // -2: not produced, -1: a model input
    consumers_.resize(sz(nt));
    if (s_.inputs.empty()) throw std::invalid_argument("the model has no inputs");
    for (int t : s_.inputs) {
      if (!tensor_ok(t) || producer_[sz(t)] != -2)
        throw std::invalid_argument("model inputs must be distinct tensors");
      producer_[sz(t)] = -1;
    }
    std::vector<int> uses(s_.params.size(), 0);
    for (std::size_t i = 0; i < s_.nodes.size(); ++i) {
      const NodeSpec& node = s_.nodes[i];
      const std::string who = "layer " + std::to_string(node.layer_id) + " (" + node.op + ")";
      if (node.layer_id >= kSecondMask)
        throw std::invalid_argument("too many layers (at most 32767)");
      OpArgs<T> args{node, {}, {}, {}, s_.seed};
      for (int t : node.inputs) {
        if (!tensor_ok(t) || producer_[sz(t)] == -2)
          throw std::invalid_argument(who + ": reads a tensor no earlier node produces");
        args.in_shapes.push_back(s_.tensors[sz(t)]);
        consumers_[sz(t)].push_back(int(i));
      }
      if (!tensor_ok(node.output) || producer_[sz(node.output)] != -2)
        throw std::invalid_argument(who + ": its output tensor is already produced");
      args.declared_out = s_.tensors[sz(node.output)];
      for (int p : node.params) {
        if (p < 0 || std::size_t(p) >= s_.params.size())
          throw std::invalid_argument(who + ": parameter index out of range");
        args.params.push_back(&s_.params[sz(p)]);
        ++uses[sz(p)];
      }
      const auto& registry = op_registry<T>();
      const auto found = registry.find(node.op);
      if (found == registry.end()) throw std::invalid_argument(who + ": unknown op kind");
      try {
        ops_.push_back(found->second(args));
      } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(who + ": " + e.what());
      }
      if (ops_.back()->out_shape() != args.declared_out)
        throw std::invalid_argument(
            who + ": the op's output shape " + shape_text(ops_.back()->out_shape()) +
            " does not match the declared " + shape_text(args.declared_out));
      producer_[sz(node.output)] = int(i);
    }
    for (std::size_t p = 0; p < uses.size(); ++p)
      if (!uses[p]) throw std::invalid_argument("a parameter is used by no layer");
    for (int t : s_.outputs)
      if (!tensor_ok(t) || producer_[sz(t)] == -2)
        throw std::invalid_argument("a model output is not produced by the graph");
    heads_on_.assign(sz(nt), 0);
    for (const HeadSpec& h : s_.heads) {
      if (h.output < 0 || std::size_t(h.output) >= s_.outputs.size())
        throw std::invalid_argument("a loss refers to a missing model output");
      ++heads_on_[sz(s_.outputs[sz(h.output)])];
    }
    // A node whose output nothing reads still runs forward (one output of a layer call that
    // returns several, unused by the model); no gradient reaches it.
    rewrite();
    plans_[0] = plan(false);
    plans_[1] = plan(true);
    node_in_.resize(s_.nodes.size());
    node_dx_.resize(s_.nodes.size());
    node_pg_.resize(s_.nodes.size());
    std::size_t max_params = 0;
    for (std::size_t i = 0; i < s_.nodes.size(); ++i) {
      node_in_[i].resize(s_.nodes[i].inputs.size());
      node_dx_[i].resize(s_.nodes[i].inputs.size());
      node_pg_[i].resize(s_.nodes[i].params.size());
      max_params = std::max(max_params, s_.nodes[i].params.size());
    }
    pacc_.resize(max_params);
    ptr_.assign(sz(nt), nullptr);
    grads_.resize(s_.params.size());  // allocated with the training buffers
    for (std::size_t p = 0; p < s_.params.size(); ++p)
      max_param_ = std::max(max_param_, s_.params[p].size);
    head_loss_.resize(s_.heads.size());
    for (const HeadSpec& h : s_.heads) metric_count_ += index_t(h.metrics.size());
    eval_sums_ = std::make_unique<Sums>(*this);
  }

  index_t results_per_pass() const override {
    const index_t H = index_t(s_.heads.size());
    return 1 + (H > 1 ? H : 0) + metric_count_;
  }

  index_t inference_rows() const override { return inference_chunk(); }

  index_t fit(BatchSource<T>& train, BatchSource<T>* val, const FitOptions& o,
              std::int64_t& iterations, double* history) override {
    this->stop_ = Stop::done;
    this->epochs_done_ = 0;
    const index_t per = results_per_pass();
    const index_t cols = per * (val ? 2 : 1);
    Sums sums(*this);
    logs_.assign(sz(cols), 0.0);
    Batchable<T> batch;
    for (index_t e = 0; e < o.epochs; ++e) {
      const index_t epoch = o.first_epoch + e;
      mark(Phase::train);
      Reply r = event(Event::epoch_begin, Phase::train, epoch, 0, 0, nullptr, 0);
      if (r == Reply::stop) return halt(Stop::monitor, e, epoch, 0);
      bool finishing = r == Reply::finish;
      train.begin(iterations);
      sums.clear();
      index_t b = 0;
      double rows = 0.0;
      while (o.steps < 0 || b < o.steps) {
        if (this->pacer_.due() &&
            tick(Phase::train, epoch, b, index_t(rows), &sums, rows) == Reply::stop)
          return halt(Stop::monitor, e, epoch, b);
        if (!train.next(batch)) {
          if (train.failed()) return halt(Stop::failed, e, epoch, b);
          if (o.steps >= 0 || b == 0) return halt(Stop::ran_out, e, epoch, b);
          break;
        }
        r = event(Event::batch_begin, Phase::train, epoch, b, index_t(rows), nullptr, 0);
        if (r == Reply::stop) return halt(Stop::monitor, e, epoch, b);
        finishing = finishing || r == Reply::finish;
        step(batch, iterations, sums);
        rows += double(batch.n);
        ++b;
        if (wants(Phase::train, Event::batch_end)) {
          sums.write(logs_.data(), rows, 0.0);
          r = event(Event::batch_end, Phase::train, epoch, b - 1, index_t(rows), logs_.data(), per);
          if (r == Reply::stop) return halt(Stop::monitor, e, epoch, b);
          finishing = finishing || r == Reply::finish;
        }
        if (finishing) break;
      }
      train.end();
      if (train.failed()) return halt(Stop::failed, e, epoch, b);
      double* h = history + e * cols;
      sums.write(h, rows, 0.0);
      if (val) {
        if (o.validate.empty() || o.validate[sz(e)]) {
          if (validate(*val, o.val_steps, h + per, epoch, *eval_sums_) != Stop::done) return e;
        } else {
          std::fill(h + per, h + cols, std::numeric_limits<double>::quiet_NaN());
        }
      }
      this->epochs_done_ = e + 1;
      r = event(Event::epoch_end, Phase::train, epoch, b, index_t(rows), h, cols);
      if (r == Reply::stop) return halt(Stop::monitor, e + 1, epoch, b);
      if (r == Reply::finish || finishing) return halt(Stop::finished, e + 1, epoch, b);
      if (o.stop_on_nan && !std::isfinite(h[0])) return halt(Stop::nan, e + 1, epoch, b);
    }
    return halt(Stop::done, o.epochs, o.first_epoch + o.epochs, 0);
  }

  void train_step(const Batchable<T>& batch, std::int64_t& iterations, double* out) override {
    Sums sums(*this);
    const double loss = step(batch, iterations, sums);
    sums.write(out, double(batch.n), 0.0);
    out[0] = loss;
  }

  index_t predict(BatchSource<T>& data, index_t steps, std::int64_t mc_call, index_t passes,
                  OutputSink<T>& sink) override {
    this->stop_ = Stop::done;
    const index_t chunk = inference_chunk();
    std::vector<const T*> xs(s_.inputs.size()), outs(s_.outputs.size() * (passes > 0 ? 2 : 1));
    Batchable<T> batch;
    index_t rows = 0, b = 0;
    mark(Phase::predict);
    if (event(Event::pass_begin, Phase::predict, 0, 0, 0, nullptr, 0) == Reply::stop)
      return halt(Stop::monitor, rows, 0, b, Phase::predict);
    data.begin(0);
    while (steps < 0 || b < steps) {
      if (!data.next(batch)) {
        if (data.failed()) return halt(Stop::failed, rows, 0, b, Phase::predict);
        if (steps >= 0) return halt(Stop::ran_out, rows, 0, b, Phase::predict);
        break;
      }
      if (event(Event::batch_begin, Phase::predict, 0, b, rows, nullptr, 0) == Reply::stop)
        return halt(Stop::monitor, rows, 0, b, Phase::predict);
      for (index_t r0 = 0; r0 < batch.n; r0 += chunk) {
        if (this->pacer_.due() &&
            tick(Phase::predict, 0, b, rows + r0, nullptr, 0.0) == Reply::stop)
          return halt(Stop::monitor, rows + r0, 0, b, Phase::predict);
        const index_t nb = std::min(chunk, batch.n - r0);
        const index_t at = rows + r0;  // Monte-Carlo masks are keyed by the row's position
        for (std::size_t k = 0; k < xs.size(); ++k) xs[k] = batch.x[k] + r0 * input_size(k);
        ensure_rows(nb, Need::predict);
        if (passes > 0) {
          if (!monte_carlo(xs, nb, at, mc_call, passes, b, rows + r0, outs))
            return halt(Stop::monitor, rows + r0, 0, b, Phase::predict);
        } else {
          OpContext c = mc_call >= 0 ? pass(nb, false, true, RngPurpose::mc_mask, mc_call, at)
                                     : pass(nb, false, false, RngPurpose::train_mask, 0, at);
          c.batch_row = r0;
          c.batch_rows = batch.n;
          forward(xs.data(), c);
          for (std::size_t k = 0; k < outs.size(); ++k) outs[k] = ptr_[sz(s_.outputs[k])];
        }
        sink.put(outs, nb);
      }
      rows += batch.n;
      ++b;
      if (event(Event::batch_end, Phase::predict, 0, b - 1, rows, nullptr, 0) == Reply::stop)
        return halt(Stop::monitor, rows, 0, b, Phase::predict);
    }
    data.end();
    if (data.failed()) return halt(Stop::failed, rows, 0, b, Phase::predict);
    if (event(Event::pass_end, Phase::predict, 0, b, rows, nullptr, 0) == Reply::stop)
      return halt(Stop::monitor, rows, 0, b, Phase::predict);
    return halt(Stop::done, rows, 0, b, Phase::predict);
  }

  // Mean and spread of `passes` Monte-Carlo passes (calls first, first + 1, ...) over nb
  // rows: Welford's running mean and squared deviations in float64 (no cancellation, and
  // exactly zero spread where every pass agrees), kept for these rows only. outs: the
  // means, then the standard deviations, per output. False if the monitor said stop.
  bool monte_carlo(const std::vector<const T*>& xs, index_t nb, index_t at, std::int64_t first,
                   index_t passes, index_t b, index_t done, std::vector<const T*>& outs) {
    const std::size_t no = s_.outputs.size();
    mc_sums_.resize(2 * no);
    mc_out_.resize(2 * no);
    for (std::size_t k = 0; k < no; ++k) {
      const std::size_t count = sz(nb * size_[sz(s_.outputs[k])]);
      mc_sums_[2 * k].assign(count, 0.0);
      mc_sums_[2 * k + 1].assign(count, 0.0);
    }
    for (index_t p = 0; p < passes; ++p) {
      if (p > 0 && this->pacer_.due() &&
          tick(Phase::predict, 0, b, done, nullptr, 0.0) == Reply::stop)
        return false;
      const OpContext c =
          pass(nb, false, true, RngPurpose::mc_mask, std::uint64_t(first + std::int64_t(p)), at);
      forward(xs.data(), c);
      const double seen = double(p + 1);
      for (std::size_t k = 0; k < no; ++k) {
        const T* o = ptr_[sz(s_.outputs[k])];
        double* mean = mc_sums_[2 * k].data();
        double* m2 = mc_sums_[2 * k + 1].data();
        const std::size_t count = mc_sums_[2 * k].size();
        for (std::size_t i = 0; i < count; ++i) {
          const double v = double(o[i]), d = v - mean[i];
          mean[i] += d / seen;
          m2[i] += d * (v - mean[i]);
        }
      }
    }
    for (std::size_t k = 0; k < no; ++k) {
      const std::vector<double>& mean = mc_sums_[2 * k];
      const std::vector<double>& m2 = mc_sums_[2 * k + 1];
      mc_out_[k].resize(mean.size());
      mc_out_[no + k].resize(mean.size());
      for (std::size_t i = 0; i < mean.size(); ++i) {
        mc_out_[k][i] = T(mean[i]);
        mc_out_[no + k][i] = T(std::sqrt(m2[i] / double(passes)));
      }
      outs[k] = mc_out_[k].data();
      outs[no + k] = mc_out_[no + k].data();
    }
    return true;
  }

  index_t evaluate(BatchSource<T>& data, index_t steps, double* out) override {
    // Own sums: an evaluate called from a callback may run inside fit's validation.
    Sums sums(*this);
    if (validate(data, steps, out, 0, sums) == Stop::done) halt(Stop::done, 0, 0, 0, Phase::test);
    return eval_rows_;
  }
  double gradients(const Batchable<T>& batch, std::int64_t step_idx, bool training,
                   std::vector<T*> grads, std::vector<T*> dx) override {
    ensure_rows(batch.n);
    OpContext c =
        pass(batch.n, training, training, RngPurpose::train_mask, std::uint64_t(step_idx), 0);
    c.update_state = false;  // a gradient check leaves moving statistics alone
    forward(batch.x.data(), c);
    Sums sums(*this);
    const bool want_dx = std::any_of(dx.begin(), dx.end(), [](T* p) { return p != nullptr; });
    const BackwardPlan& pl = plans_[want_dx ? 1 : 0];
    heads(batch.y.data(), batch.w, batch.n, 1.0 / double(batch.n), sums, &pl);
    backward(c, pl);
    double loss = activity() / double(batch.n);
    for (std::size_t h = 0; h < s_.heads.size(); ++h)
      loss += s_.heads[h].weight * head_loss_[h] / double(batch.n);
    loss += regularization(true);
    for (std::size_t p = 0; p < grads.size() && p < grads_.size(); ++p)
      if (grads[p]) std::copy(grads_[p].begin(), grads_[p].end(), grads[p]);
    for (std::size_t k = 0; k < dx.size() && k < s_.inputs.size(); ++k) {
      if (!dx[k]) continue;
      const int slot = pl.slot[sz(s_.inputs[k])];
      const index_t count = batch.n * input_size(k);
      if (want_dx && slot >= 0)
        std::copy(slots_[sz(slot)].data(), slots_[sz(slot)].data() + count, dx[k]);
      else
        std::fill(dx[k], dx[k] + count, T(0));
    }
    return loss;
  }

  void set_schedule(const ScheduleSpec& lr) override { s_.optimizer.lr = lr; }

  double learning_rate(std::int64_t it) const override {
    return schedule_value(s_.optimizer.lr, it);
  }

  void permutation(std::int64_t step, index_t n, index_t* perm) const override {
    for (index_t i = 0; i < n; ++i) perm[i] = i;
    if (n < 2) return;
    WordStream ws(s_.seed, stream_id(RngPurpose::shuffle, 0, std::uint64_t(step)));
    for (index_t i = n - 1; i > 0; --i) std::swap(perm[i], perm[ws.below(std::uint32_t(i + 1))]);
  }

 private:
  // Running sums of one pass over batches: each head's weighted loss, each metric's
  // weighted sum and weight, and the counts of the metrics that keep counts (AUC).
  struct Sums {
    explicit Sums(const GraphNetwork& g)
        : net(g),
          loss(g.s_.heads.size()),
          msum(sz(g.metric_count_)),
          wsum(sz(g.metric_count_)),
          counts(sz(g.metric_count_)) {
      std::size_t m = 0;
      for (std::size_t h = 0; h < g.s_.heads.size(); ++h)
        for (const MetricSpec& ms : g.s_.heads[h].metrics) {
          if (ms.kind == MetricKind::auc)
            counts[m].resize(sz(auc_count_size(ms, g.head_classes(h))));
          ++m;
        }
    }
    void clear() {
      std::fill(loss.begin(), loss.end(), 0.0);
      std::fill(msum.begin(), msum.end(), 0.0);
      std::fill(wsum.begin(), wsum.end(), 0.0);
      for (auto& c : counts) std::fill(c.begin(), c.end(), 0.0);
      total = 0.0;
      activity = 0.0;
    }
    // [total loss, per-head losses (several heads), metrics] averaged over `rows`; extra:
    // the regularization penalty added to the total.
    void write(double* out, double rows, double extra) const {
      const std::size_t H = loss.size();
      out[0] = (train ? total : weighted() + activity) / rows + extra;
      std::size_t k = 1;
      if (H > 1)
        for (std::size_t h = 0; h < H; ++h) out[k++] = loss[h] / rows;
      std::size_t m = 0;
      for (std::size_t h = 0; h < H; ++h)
        for (const MetricSpec& ms : net.s_.heads[h].metrics) {
          out[k++] = ms.kind == MetricKind::auc
                         ? auc_value(ms, counts[m].data(), net.head_classes(h))
                     : wsum[m] > 0 ? msum[m] / wsum[m]
                                   : 0.0;
          ++m;
        }
    }
    double weighted() const {
      double t = 0.0;
      for (std::size_t h = 0; h < loss.size(); ++h) t += net.s_.heads[h].weight * loss[h];
      return t;
    }
    const GraphNetwork& net;
    std::vector<double> loss, msum, wsum;
    std::vector<std::vector<double>> counts;  // per metric; empty for those without
    double total = 0.0;     // Σ batch loss × rows (training: penalties included per batch)
    double activity = 0.0;  // evaluation: Σ activity penalties (each a sum over its rows)
    bool train = false;
  };

  using Network<T>::wants;

  // Records why and where a call stopped; returns `done` (what the call reports).
  index_t halt(Stop why, index_t done, index_t epoch, index_t batch, Phase phase = Phase::train) {
    this->stop_ = why;
    this->stop_phase_ = phase;
    this->stop_epoch_ = epoch;
    this->stop_batch_ = batch;
    return done;
  }

  Reply event(Event ev, Phase ph, index_t epoch, index_t batch, index_t rows, const double* logs,
              index_t count) {
    if (!wants(ph, ev)) return Reply::go;
    return tell(ev, ph, epoch, batch, rows, logs, count);
  }

  Reply tell(Event ev, Phase ph, index_t epoch, index_t batch, index_t rows, const double* logs,
             index_t count) {
    Progress p;
    p.phase = ph;
    p.epoch = epoch;
    p.batch = batch;
    p.rows = rows;
    p.logs = logs;
    p.count = count;
    p.seconds = since(ph);
    return this->monitor_->on(ev, p);
  }

  // When the phase's current pass began (read only with a monitor: one clock read a pass).
  void mark(Phase ph) {
    if (this->monitor_) started_[int(ph)] = std::chrono::steady_clock::now();
  }
  double since(Phase ph) const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_[int(ph)])
        .count();
  }

  // A tick (the time budget is due): the running results so far, when there are any.
  Reply tick(Phase ph, index_t epoch, index_t batch, index_t rows, const Sums* sums, double denom) {
    if (!this->monitor_) return Reply::go;
    index_t count = 0;
    if (sums && denom > 0.0) {
      tick_logs_.resize(sz(results_per_pass()));
      sums->write(tick_logs_.data(), denom, 0.0);
      count = results_per_pass();
    }
    return tell(Event::tick, ph, epoch, batch, rows, count ? tick_logs_.data() : nullptr, count);
  }

  // One inference-mode pass over the source (at most `steps` batches) into out; the Stop
  // it ended with (also in stop_ when not done). Rows seen go to eval_rows_.
  Stop validate(BatchSource<T>& data, index_t steps, double* out, index_t epoch, Sums& sums) {
    sums.clear();
    std::vector<const T*> xs(s_.inputs.size()), ys(s_.heads.size());
    const index_t chunk = inference_chunk(), per = results_per_pass();
    index_t rows = 0, b = 0;
    eval_rows_ = 0;
    mark(Phase::test);
    if (event(Event::pass_begin, Phase::test, epoch, 0, 0, nullptr, 0) == Reply::stop)
      return stop_with(Stop::monitor, epoch, b);
    data.begin(0);
    Batchable<T> batch;
    while (steps < 0 || b < steps) {
      if (!data.next(batch)) {
        if (data.failed()) return stop_with(Stop::failed, epoch, b);
        if (steps >= 0 || b == 0) return stop_with(Stop::ran_out, epoch, b);
        break;
      }
      if (event(Event::batch_begin, Phase::test, epoch, b, rows, nullptr, 0) == Reply::stop)
        return stop_with(Stop::monitor, epoch, b);
      for (index_t r0 = 0; r0 < batch.n; r0 += chunk) {
        if (this->pacer_.due() &&
            tick(Phase::test, epoch, b, rows + r0, &sums, double(rows + r0)) == Reply::stop)
          return stop_with(Stop::monitor, epoch, b);
        const index_t nb = std::min(chunk, batch.n - r0);
        for (std::size_t k = 0; k < xs.size(); ++k) xs[k] = batch.x[k] + r0 * input_size(k);
        for (std::size_t h = 0; h < ys.size(); ++h) ys[h] = batch.y[h] + r0 * label_width(h);
        const T* w = batch.w ? batch.w + r0 : nullptr;
        OpContext c = pass(nb, false, false, RngPurpose::train_mask, 0, rows + r0);
        c.batch_row = r0;
        c.batch_rows = batch.n;
        ensure_rows(nb, Need::evaluate);
        forward(xs.data(), c);
        heads(ys.data(), w, nb, 1.0, sums, nullptr);
        sums.activity += activity();
      }
      rows += batch.n;
      ++b;
      if (wants(Phase::test, Event::batch_end)) {
        logs_.resize(std::max(logs_.size(), sz(per)));
        sums.write(logs_.data(), double(rows), 0.0);
        if (event(Event::batch_end, Phase::test, epoch, b - 1, rows, logs_.data(), per) ==
            Reply::stop)
          return stop_with(Stop::monitor, epoch, b);
      }
    }
    data.end();
    if (data.failed()) return stop_with(Stop::failed, epoch, b);
    sums.write(out, double(rows), regularization(false));
    eval_rows_ = rows;
    if (event(Event::pass_end, Phase::test, epoch, b, rows, out, per) == Reply::stop)
      return stop_with(Stop::monitor, epoch, b);
    return Stop::done;
  }

  Stop stop_with(Stop why, index_t epoch, index_t batch) {
    halt(why, 0, epoch, batch, Phase::test);
    return why;
  }

  OpContext pass(index_t n, bool training, bool stochastic, RngPurpose purpose, std::uint64_t step,
                 index_t row0) const {
    OpContext c;
    c.n = n;
    c.training = training;
    c.stochastic = stochastic;
    c.purpose = purpose;
    c.step = step;
    c.row0 = row0;
    c.batch_rows = n;
    return c;
  }

  index_t input_size(std::size_t k) const { return size_[sz(s_.inputs[k])]; }
  index_t head_width(std::size_t h) const { return size_[sz(s_.outputs[sz(s_.heads[h].output)])]; }
  // The size of the head's last axis (the classes of a categorical head).
  index_t head_classes(std::size_t h) const {
    const auto& shape = s_.tensors[sz(s_.outputs[sz(s_.heads[h].output)])];
    return shape.empty() ? 1 : shape.back();
  }
  index_t label_width(std::size_t h) const {
    return s_.heads[h].loss == LossKind::sparse_categorical_ce
               ? sparse_labels(head_width(h), head_classes(h))
               : head_width(h);
  }

  // Rows per inference pass. Rows are independent, so the split never changes outputs; the
  // loss and metric sums add up per pass, so it depends on the model alone (never on the
  // machine's caches), and evaluations give the same bits everywhere. Each pass re-reads
  // the weights, so it takes at least as many rows as its largest weight holds row widths
  // (a 2048-wide Dense layer: 1024 rows, the most a pass takes); beyond that, as few rows
  // as keep the widest tensor within 16 KiB (half of the smallest L1d in use), so that
  // consecutive ops pass it on without a trip to L2. Never fewer than 8, so the GEMMs of
  // narrow layers get rows to work on.
  index_t inference_chunk() const {
    const index_t row = index_t(sizeof(T)) * std::max<index_t>(max_width_, 1);
    const index_t l1_rows = (index_t(16) << 10) / row;
    const index_t weight_rows = max_param_ * index_t(sizeof(T)) / row;
    return std::clamp<index_t>(std::max(l1_rows, weight_rows), 8, 1024);
  }

  // ---- rewrites: fusions decided once from what the ops report.
  void rewrite() {
    head_fused_.assign(s_.heads.size(), 0);
    for (std::size_t h = 0; h < s_.heads.size(); ++h) {
      const HeadSpec& hs = s_.heads[h];
      const int t = s_.outputs[sz(hs.output)];
      const int p = producer_[sz(t)];
      if (hs.from_logits || p < 0 || !consumers_[sz(t)].empty() || heads_on_[sz(t)] != 1) continue;
      // Cross-entropy after a sigmoid/softmax runs on the logits (stable, gradient p - y).
      const Act act = ops_[sz(p)]->trailing_activation();
      if (act != Act::linear && act == logit_activation(hs.loss)) {
        head_fused_[h] = 1;
        ops_[sz(p)]->keep_preactivation();
        ops_[sz(p)]->take_preactivation_gradient();
      }
    }
    // A ReLU ending a layer with parameters, read only by a pooling op: the pooling op
    // applies the ReLU's derivative (it reads the ReLU's output anyway).
    for (std::size_t i = 0; i < s_.nodes.size(); ++i) {
      if (s_.nodes[i].inputs.size() != 1) continue;
      const int t = s_.nodes[i].inputs[0];
      const int p = producer_[sz(t)];
      if (p < 0 || consumers_[sz(t)].size() != 1 || heads_on_[sz(t)] != 0 || is_output(t)) continue;
      Op<T>& below = *ops_[sz(p)];
      if (below.has_params() && below.trailing_activation() == Act::relu &&
          ops_[i]->absorb_input_relu())
        below.take_preactivation_gradient();
    }
  }

  bool is_output(int t) const {
    return std::find(s_.outputs.begin(), s_.outputs.end(), t) != s_.outputs.end();
  }

  BackwardPlan plan(bool input_grads) const {
    const std::size_t N = s_.nodes.size(), nt = s_.tensors.size();
    BackwardPlan pl;
    // flows[t]: t depends on a parameter (or on an input whose gradient is asked for).
    std::vector<char> flows(nt, 0);
    if (input_grads)
      for (int t : s_.inputs) flows[sz(t)] = 1;
    for (std::size_t i = 0; i < N; ++i) {
      bool f = ops_[i]->has_params();
      for (int t : s_.nodes[i].inputs) f = f || flows[sz(t)];
      flows[sz(s_.nodes[i].output)] = f;
    }
    pl.run.assign(N, 0);
    pl.need_dx.resize(N);
    pl.accumulate.resize(N);
    pl.param_first.resize(N);
    pl.slot.assign(nt, -1);
    std::vector<char> params_seen(s_.params.size(), 0);
    std::vector<int> free_slots;
    auto take = [&]() {
      if (!free_slots.empty()) {
        const int s = free_slots.back();
        free_slots.pop_back();
        return s;
      }
      return pl.slots++;
    };
    // Heads write first (the loss gradient), then nodes in reverse order.
    pl.head_accumulate.assign(s_.heads.size(), 0);
    for (std::size_t h = 0; h < s_.heads.size(); ++h) {
      const int t = s_.outputs[sz(s_.heads[h].output)];
      if (pl.slot[sz(t)] >= 0)
        pl.head_accumulate[h] = 1;
      else
        pl.slot[sz(t)] = take();
    }
    for (std::size_t i = N; i-- > 0;) {
      const NodeSpec& node = s_.nodes[i];
      const int out = node.output;
      pl.need_dx[i].assign(node.inputs.size(), 0);
      pl.accumulate[i].assign(node.inputs.size(), 0);
      pl.param_first[i].assign(node.params.size(), 0);
      // The node's output has a gradient only if a head or a later node wrote one.
      if (!flows[sz(out)] || pl.slot[sz(out)] < 0) continue;
      pl.run[i] = 1;
      for (std::size_t k = 0; k < node.inputs.size(); ++k) {
        const int t = node.inputs[k];
        if (!flows[sz(t)]) continue;
        pl.need_dx[i][k] = 1;
        if (pl.slot[sz(t)] >= 0)
          pl.accumulate[i][k] = 1;
        else
          pl.slot[sz(t)] = take();
      }
      for (std::size_t j = 0; j < node.params.size(); ++j) {
        const int p = node.params[j];
        pl.param_first[i][j] = !params_seen[sz(p)];
        params_seen[sz(p)] = 1;
      }
      free_slots.push_back(pl.slot[sz(out)]);  // consumed by this node's backward
    }
    return pl;
  }

  // ---- buffers, in tiers: a pass in inference mode allocates only what it uses.
  // predict: the ops' own buffers and each tensor's values; evaluate: also each row's loss
  // and the loss kernels' gradient output; train: also the gradient slots, the
  // accumulation scratch and backward's workspace.
  enum class Need : int { predict = 0, evaluate = 1, train = 2 };

  void ensure_rows(index_t rows, Need need = Need::train) {
    for (int tier = 0; tier <= int(need); ++tier) {
      index_t& cap = cap_rows_[tier];
      if (rows <= cap) continue;
      // Everything is allocated before the capacity is recorded; a failed allocation gives
      // back what it grew and names the size it needed.
      try {
        grow(tier, rows);
      } catch (const std::bad_alloc&) {
        try {
          grow(tier, cap);
          shrink(tier);
        } catch (const std::bad_alloc&) {
        }
        throw OutOfMemory(tier == 2   ? "the activations and gradients of passes"
                          : tier == 1 ? "the losses of evaluation passes"
                                      : "the activations of inference passes",
                          double(bytes_for(tier, rows)), rows);
      }
      cap = rows;
    }
  }

  // The bytes a tier's per-row buffers take at `rows` rows (for the error message).
  index_t bytes_for(int tier, index_t rows) const {
    index_t per_row = 0;
    if (tier == 0) {
      for (std::size_t t = 0; t < s_.tensors.size(); ++t)
        if (producer_[t] >= 0) per_row += size_[t];
    } else if (tier == 1) {
      per_row = max_width_;
    } else {
      per_row = index_t(std::max(plans_[0].slots, plans_[1].slots) + 1) * max_width_;
    }
    return index_t(sizeof(T)) * rows * per_row;
  }

  void shrink(int tier) {
    if (tier == 0) {
      for (auto& v : vals_) v.shrink_to_fit();
    } else if (tier == 1) {
      head_grad_.shrink_to_fit();
      sample_loss_.shrink_to_fit();
    } else {
      for (auto& v : slots_) v.shrink_to_fit();
      for (auto& v : acc_) v.shrink_to_fit();
      ws_.shrink_to_fit();
    }
  }

  void grow(int tier, index_t rows) {
    if (tier == 0) {
      for (auto& op : ops_) op->reserve(rows);
      vals_.resize(s_.tensors.size());
      for (std::size_t t = 0; t < s_.tensors.size(); ++t)
        if (producer_[t] >= 0) vals_[t].resize(sz(rows * size_[t]));
      return;
    }
    if (tier == 1) {
      head_grad_.resize(sz(rows * max_width_));
      sample_loss_.resize(sz(rows));
      return;
    }
    const int nslots = std::max(plans_[0].slots, plans_[1].slots);
    slots_.resize(sz(nslots));
    for (auto& s : slots_) s.resize(sz(rows * max_width_));
    std::size_t max_inputs = 1;
    index_t ws = 0;
    for (std::size_t i = 0; i < ops_.size(); ++i) {
      max_inputs = std::max(max_inputs, s_.nodes[i].inputs.size());
      ws = std::max(ws, ops_[i]->backward_workspace(rows));
    }
    acc_.resize(max_inputs);
    for (auto& a : acc_) a.resize(sz(rows * max_width_));
    ws_.resize(sz(ws));
    for (auto& p : pacc_) p.resize(sz(max_param_));
    for (std::size_t p = 0; p < grads_.size(); ++p)
      if (grads_[p].size() != sz(s_.params[p].size)) grads_[p].assign(sz(s_.params[p].size), T(0));
  }

  // ---- passes
  // (The caller has ensured the buffers for c.n rows.)
  void forward(const T* const* x, const OpContext& c) {
    for (std::size_t k = 0; k < s_.inputs.size(); ++k) ptr_[sz(s_.inputs[k])] = x[k];
    for (std::size_t i = 0; i < ops_.size(); ++i) {
      const NodeSpec& node = s_.nodes[i];
      auto& in = node_in_[i];
      for (std::size_t k = 0; k < in.size(); ++k) in[k] = ptr_[sz(node.inputs[k])];
      ptr_[sz(node.output)] = ops_[i]->forward(c, in.data(), vals_[sz(node.output)].data());
    }
  }

  // Each head's loss of the last forward against labels y[h] (sums into `sums`); with
  // `grad`, also the loss gradient (scaled by weight·grad_scale) into the output's slot.
  void heads(const T* const* y, const T* w, index_t n, double grad_scale, Sums& sums,
             const BackwardPlan* grad) {
    const BackwardPlan& pl = grad ? *grad : plans_[0];
    for (std::size_t h = 0; h < s_.heads.size(); ++h) {
      const HeadSpec& hs = s_.heads[h];
      const int t = s_.outputs[sz(hs.output)];
      const T* head = ptr_[sz(t)];
      if (head_fused_[h]) {
        const int p = producer_[sz(t)];
        head = ops_[sz(p)]->preactivation(node_in_[sz(p)].data());
      }
      // Without `grad` the gradient is still written (the kernel computes both) into a
      // scratch buffer, so inference never touches the slots a backward may be using.
      T* g = grad ? (pl.head_accumulate[h] ? acc_[0].data() : slots_[sz(pl.slot[sz(t)])].data())
                  : head_grad_.data();
      loss_forward_backward<T>(hs.loss, head_fused_[h] || hs.from_logits, hs.params, head, y[h], w,
                               n, head_width(h), head_classes(h), sample_loss_.data(), g,
                               hs.weight * grad_scale);
      if (grad && pl.head_accumulate[h])
        add(slots_[sz(pl.slot[sz(t)])].data(), g, n * size_[sz(t)]);
      double sum = 0.0;
      for (index_t i = 0; i < n; ++i) sum += sample_loss_[sz(i)];
      head_loss_[h] = sum;
      sums.loss[h] += sum;
    }
    std::size_t m0 = 0;
    for (std::size_t h = 0; h < s_.heads.size(); ++h) {
      const HeadSpec& hs = s_.heads[h];
      const T* p = ptr_[sz(s_.outputs[sz(hs.output)])];
      for (std::size_t m = 0; m < hs.metrics.size(); ++m, ++m0) {
        const MetricSpec& ms = hs.metrics[m];
        double ws = 0.0;
        if (ms.kind == MetricKind::auc)
          auc_counts<T>(ms, p, y[h], w, n, head_width(h), head_classes(h), sums.counts[m0].data());
        else if (ms.kind == MetricKind::loss)
          sums.msum[m0] += loss_metric(h, ms, y[h], w, n, &ws);
        else
          sums.msum[m0] += metric_sum<T>(ms, p, y[h], w, n, head_width(h), head_classes(h), &ws);
        sums.wsum[m0] += ws;
      }
    }
  }

  // A loss as a metric of head h: Σ w_i ℓ_i (Σ w_i to wsum; negated if asked), from the logits when
  // the head's loss runs on them and this loss reads the same ones. Its gradient goes to the
  // scratch buffer the head losses are done with.
  double loss_metric(std::size_t h, const MetricSpec& ms, const T* y, const T* w, index_t n,
                     double* wsum) {
    const int t = s_.outputs[sz(s_.heads[h].output)];
    const T* head = ptr_[sz(t)];
    bool from_logits = ms.from_logits;
    if (head_fused_[h] && logit_activation(ms.loss) == logit_activation(s_.heads[h].loss)) {
      const int p = producer_[sz(t)];
      head = ops_[sz(p)]->preactivation(node_in_[sz(p)].data());
      from_logits = true;
    }
    loss_forward_backward<T>(ms.loss, from_logits, ms.params, head, y, w, n, head_width(h),
                             head_classes(h), sample_loss_.data(), head_grad_.data(), 1.0);
    double sum = 0.0, ws = 0.0;
    for (index_t i = 0; i < n; ++i) {
      sum += sample_loss_[sz(i)];
      ws += w ? double(w[i]) : 1.0;
    }
    *wsum = ws;
    return ms.negate ? -sum : sum;
  }

  // The activation whose logits a loss reads when the output ends in it (linear: none).
  static Act logit_activation(LossKind loss) {
    switch (loss) {
      case LossKind::binary_ce:
      case LossKind::binary_focal_ce:
        return Act::sigmoid;
      case LossKind::categorical_ce:
      case LossKind::sparse_categorical_ce:
        return Act::softmax;
      default:
        return Act::linear;
    }
  }

  static void add(T* to, const T* from, index_t count) {
    for (index_t i = 0; i < count; ++i) to[i] += from[i];
  }

  void backward(const OpContext& c, const BackwardPlan& pl) {
    for (std::size_t i = ops_.size(); i-- > 0;) {
      if (!pl.run[i]) continue;
      const NodeSpec& node = s_.nodes[i];
      T** dx = node_dx_[i].data();
      for (std::size_t k = 0; k < node.inputs.size(); ++k)
        dx[k] = !pl.need_dx[i][k]     ? nullptr
                : pl.accumulate[i][k] ? acc_[k].data()
                                      : slots_[sz(pl.slot[sz(node.inputs[k])])].data();
      // A parameter a later node (in graph order) also uses already holds that node's
      // gradient: this node's goes to scratch and is added.
      T** pg = node_pg_[i].data();
      for (std::size_t j = 0; j < node.params.size(); ++j)
        pg[j] = pl.param_first[i][j] ? grads_[sz(node.params[j])].data() : pacc_[j].data();
      const T* dy = slots_[sz(pl.slot[sz(node.output)])].data();
      ops_[i]->backward(c, node_in_[i].data(), ptr_[sz(node.output)], dy, dx, pg, ws_.data());
      for (std::size_t k = 0; k < node.inputs.size(); ++k)
        if (pl.need_dx[i][k] && pl.accumulate[i][k])
          add(slots_[sz(pl.slot[sz(node.inputs[k])])].data(), acc_[k].data(),
              c.n * size_[sz(node.inputs[k])]);
      for (std::size_t j = 0; j < node.params.size(); ++j)
        if (!pl.param_first[i][j])
          add(grads_[sz(node.params[j])].data(), pacc_[j].data(),
              s_.params[sz(node.params[j])].size);
    }
  }

  // Σ the ops' activity penalties of the last forward (sums over its rows).
  double activity() const {
    double total = 0.0;
    for (const auto& op : ops_) total += op->penalty();
    return total;
  }

  // Σ penalties; with `grad`, adds each penalty's gradient to the parameter gradients.
  double regularization(bool grad) {
    double total = 0.0;
    for (std::size_t p = 0; p < s_.params.size(); ++p) {
      const ParamSpec<T>& ps = s_.params[p];
      const RegularizerSpec& rg = ps.regularizer;
      if (rg.l1 == 0.0 && rg.l2 == 0.0) continue;
      double a = 0.0, q = 0.0;
      for (index_t k = 0; k < ps.size; ++k) {
        const double v = double(ps.value[k]);
        a += std::fabs(v);
        q += v * v;
      }
      total += rg.l1 * a + rg.l2 * q;
      if (grad) {
        T* g = grads_[p].data();
        const T l1 = T(rg.l1), l2x2 = T(2.0 * rg.l2);
        for (index_t k = 0; k < ps.size; ++k) {
          const T v = ps.value[k];
          g[k] += l1 * T((v > T(0)) - (v < T(0))) + l2x2 * v;
        }
      }
    }
    return total;
  }

  // One optimizer step on a batch; adds the batch's losses and metrics to sums and returns
  // its loss (mean + penalties).
  double step(const Batchable<T>& batch, std::int64_t& iterations, Sums& sums) {
    const index_t nb = batch.n;
    ensure_rows(nb);
    const OpContext c = pass(nb, true, true, RngPurpose::train_mask, std::uint64_t(iterations), 0);
    forward(batch.x.data(), c);
    heads(batch.y.data(), batch.w, nb, 1.0 / double(nb), sums, &plans_[0]);
    double loss = activity() / double(nb);
    for (std::size_t h = 0; h < s_.heads.size(); ++h)
      loss += s_.heads[h].weight * head_loss_[h] / double(nb);
    backward(c, plans_[0]);
    loss += regularization(true);
    sums.total += loss * double(nb);
    sums.train = true;
    clip_gradients();
    const double lr = learning_rate(iterations);
    ++iterations;
    for (std::size_t p = 0; p < s_.params.size(); ++p) {
      ParamSpec<T>& ps = s_.params[p];
      if (!ps.trainable) continue;
      if (ps.weight_decay > 0.0) decay_weights<T>(ps.weight_decay * lr, ps.value, ps.size);
      optimizer_update<T>(s_.optimizer, lr, iterations, ps.value, grads_[p].data(), ps.slots.data(),
                          ps.size);
      if (s_.optimizer.use_ema)
        update_average<T>(s_.optimizer, iterations, ps.value, ps.average, ps.size);
      if (ps.constraint.kind != ConstraintKind::none)
        apply_constraint<T>(ps.constraint, ps.shape.data(), int(ps.shape.size()), ps.value);
    }
    return loss;
  }

  void clip_gradients() {
    const OptimizerSpec& o = s_.optimizer;
    if (o.clipnorm > 0.0) {
      for (auto& g : grads_) scale_by_norm(g, std::sqrt(sum_sq(g)), o.clipnorm);
    }
    if (o.global_clipnorm > 0.0) {
      double total = 0.0;
      for (auto& g : grads_) total += sum_sq(g);
      const double norm = std::sqrt(total);
      for (auto& g : grads_) scale_by_norm(g, norm, o.global_clipnorm);
    }
    if (o.clipvalue > 0.0) {
      const T c = T(o.clipvalue);
      for (auto& g : grads_)
        for (T& v : g) v = std::min(std::max(v, -c), c);
    }
  }
  static double sum_sq(const std::vector<T>& g) {
    double s = 0.0;
    for (T v : g) s += double(v) * double(v);
    return s;
  }
  static void scale_by_norm(std::vector<T>& g, double norm, double limit) {
    if (norm <= limit) return;
    const T f = T(limit / norm);
    for (T& v : g) v *= f;
  }

  GraphSpec<T> s_;
  std::vector<std::unique_ptr<Op<T>>> ops_;
  std::vector<index_t> size_;  // per tensor: elements per sample
  std::vector<int> producer_;  // per tensor: producing node, -1 for model inputs
  std::vector<std::vector<int>> consumers_;
  std::vector<int> heads_on_;                       // per tensor: losses computed on it
  std::vector<char> head_fused_;                    // per head: computed from the producer's logits
  BackwardPlan plans_[2];                           // without / with input gradients
  std::vector<std::vector<const T*>> node_in_;      // per node: its inputs in the last forward
  std::vector<std::vector<T*>> node_dx_, node_pg_;  // per node: backward's output pointers
  std::vector<const T*> ptr_;                       // per tensor: its values in the last forward
  std::vector<std::vector<T>> vals_;                // per tensor: storage for what its node writes
  std::vector<std::vector<T>> slots_, acc_;         // gradient buffers; accumulation scratch
  std::vector<std::vector<T>> grads_;               // per parameter
  std::vector<T> ws_, head_grad_;             // backward's workspace; loss gradients nothing reads
  std::vector<std::vector<double>> mc_sums_;  // Monte-Carlo: per output, running mean and M2
  std::vector<std::vector<T>> mc_out_;        // Monte-Carlo: per output, mean then spread
  std::vector<std::vector<T>> pacc_;  // per parameter position: a shared parameter's scratch
  std::vector<double> sample_loss_, head_loss_;
  std::vector<double> logs_, tick_logs_;  // results handed to the monitor
  std::unique_ptr<Sums> eval_sums_;       // fit's validation sums, reused
  index_t max_width_ = 1, max_param_ = 0, metric_count_ = 0, eval_rows_ = 0;
  index_t cap_rows_[3] = {0, 0, 0};                     // rows each tier of buffers holds
  std::chrono::steady_clock::time_point started_[3]{};  // per phase: its pass began
};

}  // namespace

template <class T>
std::unique_ptr<Network<T>> make_network(GraphSpec<T> spec) {
  return std::make_unique<GraphNetwork<T>>(std::move(spec));
}

template std::unique_ptr<Network<float>> make_network<float>(GraphSpec<float>);
template std::unique_ptr<Network<double>> make_network<double>(GraphSpec<double>);

std::vector<std::string> op_kinds() {
  std::vector<std::string> out;
  for (const auto& entry : op_registry<float>()) out.push_back(entry.first);
  return out;
}

DROPNET_ISA_END
