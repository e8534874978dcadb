"""Plain-NumPy float64 references for the core's kernels: activations, dense, losses,
optimizer updates, gradient clipping, learning-rate schedules, constraints, and the
expected statistics of the dropout family. Formulas follow Keras 3, as docs/behaviour.md
states them."""

from __future__ import annotations

import numpy as np

EPSILON = 1e-7
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
ALPHA_PRIME = -SELU_ALPHA * SELU_SCALE  # -1.7580993408473766, AlphaDropout's saturation value

ACTIVATIONS = (
    "linear",
    "relu",
    "sigmoid",
    "tanh",
    "softmax",
    "elu",
    "selu",
    "leaky_relu",
    "softplus",
    "hard_sigmoid",
    "softsign",
    "silu",
    "gelu",
    "exponential",
    "relu6",
    "mish",
    "hard_silu",
)


def default_alpha(name: str) -> float:
    """The alpha argument the kernels take: ELU's alpha, or the leaky-ReLU slope."""
    return {"elu": 1.0, "leaky_relu": 0.2}.get(name, 0.0)


# ----------------------------------------------------------------------------- activations
def _sigmoid(z):
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    e = np.exp(z[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def activation_forward(name: str, z, alpha: float | None = None) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    a = default_alpha(name) if alpha is None else alpha
    if name == "linear":
        return z.copy()
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, z, a * z)
    if name == "sigmoid":
        return _sigmoid(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "softmax":
        return _softmax(z)
    if name == "elu":
        return np.where(z > 0, z, a * np.expm1(np.minimum(z, 0.0)))
    if name == "selu":
        return SELU_SCALE * np.where(z > 0, z, SELU_ALPHA * np.expm1(np.minimum(z, 0.0)))
    if name == "softplus":
        return np.logaddexp(0.0, z)
    if name == "hard_sigmoid":
        return np.clip(z + 3.0, 0.0, 6.0) / 6.0
    if name == "softsign":
        return z / (np.abs(z) + 1.0)
    if name == "silu":
        return z * _sigmoid(z)
    if name == "gelu":
        return z * _normal_cdf(z)
    if name == "exponential":
        return np.exp(z)
    if name == "relu6":
        return np.clip(z, 0.0, 6.0)
    if name == "mish":
        return z * np.tanh(np.logaddexp(0.0, z))
    if name == "hard_silu":
        return z * np.clip(z + 3.0, 0.0, 6.0) / 6.0
    raise ValueError(name)


def _normal_cdf(z):
    from math import erf

    return 0.5 * (1.0 + np.vectorize(erf)(z / np.sqrt(2.0)))


def activation_backward(name: str, z, dy, alpha: float | None = None) -> np.ndarray:
    """dz = dy ⊙ act'(z); for softmax the row-wise Jacobian-transpose product."""
    z = np.asarray(z, dtype=np.float64)
    dy = np.asarray(dy, dtype=np.float64)
    a = default_alpha(name) if alpha is None else alpha
    if name == "linear":
        return dy.copy()
    if name == "relu":
        return np.where(z > 0, dy, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, dy, a * dy)
    if name == "sigmoid":
        s = _sigmoid(z)
        return dy * s * (1.0 - s)
    if name == "tanh":
        return dy * (1.0 - np.tanh(z) ** 2)
    if name == "softmax":
        s = _softmax(z)
        return s * (dy - np.sum(dy * s, axis=-1, keepdims=True))
    if name == "elu":
        return np.where(z > 0, dy, dy * a * np.exp(np.minimum(z, 0.0)))
    if name == "selu":
        return SELU_SCALE * np.where(z > 0, dy, dy * SELU_ALPHA * np.exp(np.minimum(z, 0.0)))
    if name == "softplus":
        return dy * _sigmoid(z)
    if name == "hard_sigmoid":
        return np.where(np.abs(z) < 3.0, dy / 6.0, 0.0)
    if name == "softsign":
        return dy / (1.0 + np.abs(z)) ** 2
    if name == "silu":
        s = _sigmoid(z)
        return dy * (s + z * s * (1.0 - s))
    if name == "gelu":
        return dy * (_normal_cdf(z) + z * np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi))
    if name == "exponential":
        return dy * np.exp(z)
    if name == "relu6":
        return np.where((z > 0) & (z < 6), dy, 0.0)
    if name == "mish":
        t = np.tanh(np.logaddexp(0.0, z))
        return dy * (t + z * (1.0 - t * t) * _sigmoid(z))
    if name == "hard_silu":
        return dy * (np.clip(z + 3.0, 0.0, 6.0) / 6.0 + np.where(np.abs(z) < 3.0, z / 6.0, 0.0))
    raise ValueError(name)


# ----------------------------------------------------------------------------- dense
def dense_forward(x, kernel, bias=None, activation="linear", alpha=None) -> np.ndarray:
    """y = act(x · kernel + bias) on the last axis; kernel is (in, units) as in Keras."""
    z = np.asarray(x, np.float64) @ np.asarray(kernel, np.float64)
    if bias is not None:
        z = z + np.asarray(bias, np.float64)
    return activation_forward(activation, z, alpha)


# ----------------------------------------------------------------------------- losses
def loss(name: str, from_logits: bool, head, y_true, sample_weight=None, **params) -> np.ndarray:
    """Per-sample loss (N,), weighted. head is logits when from_logits, else the model's
    output; probabilities are clipped to [1e-7, 1 - 1e-7] (categorical: rows normalized
    first), as Keras does. Each loss is Keras's over the last axis; a sample of several
    rows (a sequence's steps) averages over them. params: the loss's parameters (delta,
    gamma, alpha, apply_class_balancing, label_smoothing)."""
    h = np.asarray(head, np.float64)
    y = np.asarray(y_true, np.float64)
    if name == "sparse_categorical_crossentropy":
        y = np.eye(h.shape[-1])[y.reshape(h.shape[:-1]).astype(np.int64)]
        name = "categorical_crossentropy"
    y = y.reshape(h.shape)
    ls = params.get("label_smoothing", 0.0)
    if name == "categorical_crossentropy":
        y = y * (1.0 - ls) + ls / h.shape[-1]
    elif name in ("binary_crossentropy", "binary_focal_crossentropy"):
        y = y * (1.0 - ls) + ls / 2.0
    if name in ("binary_crossentropy", "binary_focal_crossentropy"):
        if from_logits:
            per = np.maximum(h, 0.0) - h * y + np.log1p(np.exp(-np.abs(h)))
            p = _sigmoid(h)
        else:
            p = h
            c = np.clip(h, EPSILON, 1.0 - EPSILON)
            per = -(y * np.log(c) + (1.0 - y) * np.log(1.0 - c))
        if name == "binary_focal_crossentropy":
            p_t = y * p + (1.0 - y) * (1.0 - p)
            per = (1.0 - p_t) ** params.get("gamma", 2.0) * per
            if params.get("apply_class_balancing", False):
                alpha = params.get("alpha", 0.25)
                per = (y * alpha + (1.0 - y) * (1.0 - alpha)) * per
        out = per.mean(axis=-1)
    elif name == "categorical_crossentropy":
        if from_logits:
            m = h.max(axis=-1, keepdims=True)
            log_p = h - m - np.log(np.sum(np.exp(h - m), axis=-1, keepdims=True))
        else:
            p = np.clip(h / h.sum(axis=-1, keepdims=True), EPSILON, 1.0 - EPSILON)
            log_p = np.log(p)
        out = -np.sum(y * log_p, axis=-1)
    elif name in ("mean_squared_error", "mse"):
        out = np.mean((h - y) ** 2, axis=-1)
    elif name in ("mean_absolute_error", "mae"):
        out = np.mean(np.abs(h - y), axis=-1)
    elif name == "mean_squared_logarithmic_error":
        logs = np.log(np.maximum(h, EPSILON) + 1.0) - np.log(np.maximum(y, EPSILON) + 1.0)
        out = np.mean(logs**2, axis=-1)
    elif name == "mean_absolute_percentage_error":
        out = 100.0 * np.mean(np.abs(y - h) / np.maximum(np.abs(y), EPSILON), axis=-1)
    elif name in ("hinge", "squared_hinge"):
        # the batch's labels turn to -1/1 only when every one of them is 0 or 1
        s = 2.0 * y - 1.0 if np.all((y == 0.0) | (y == 1.0)) else y
        margin = np.maximum(1.0 - s * h, 0.0)
        out = np.mean(margin if name == "hinge" else margin**2, axis=-1)
    elif name == "categorical_hinge":
        pos = np.sum(y * h, axis=-1)
        neg = np.max((1.0 - y) * h, axis=-1)
        out = np.maximum(neg - pos + 1.0, 0.0)
    elif name == "kl_divergence":
        t = np.clip(y, EPSILON, 1.0)
        out = np.sum(t * np.log(t / np.clip(h, EPSILON, 1.0)), axis=-1)
    elif name == "poisson":
        out = np.mean(h - y * np.log(h + EPSILON), axis=-1)
    elif name == "log_cosh":
        out = np.mean(np.log(np.cosh(h - y)), axis=-1)
    elif name == "huber":
        delta = params.get("delta", 1.0)
        e = np.abs(h - y)
        out = np.mean(np.where(e <= delta, 0.5 * e**2, delta * e - 0.5 * delta**2), axis=-1)
    elif name == "cosine_similarity":

        def unit(v):
            return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), EPSILON)

        out = -np.sum(unit(y) * unit(h), axis=-1)
    else:
        raise ValueError(name)
    out = out.reshape(out.shape[0], -1).mean(axis=1)
    if sample_weight is not None:
        out = out * np.asarray(sample_weight, np.float64).reshape(-1)
    return out


def batch_loss(name, from_logits, head, y_true, sample_weight=None, **params) -> float:
    """Σ wᵢℓᵢ / N (Keras's sum_over_batch_size)."""
    per = loss(name, from_logits, head, y_true, sample_weight, **params)
    return float(per.sum() / per.shape[0])


# ----------------------------------------------------------------------------- regularizers
def penalty(w, l1=0.0, l2=0.0) -> float:
    w = np.asarray(w, np.float64)
    return float(l1 * np.abs(w).sum() + l2 * np.square(w).sum())


# ----------------------------------------------------------------------------- clipping
def clip_gradients(grads, clipnorm=None, clipvalue=None, global_clipnorm=None):
    """Keras 3: clipnorm per variable, global_clipnorm over all, clipvalue element-wise."""
    grads = [np.asarray(g, np.float64).copy() for g in grads]
    if clipnorm:
        out = []
        for g in grads:
            n = np.sqrt(np.sum(g * g))
            out.append(g * clipnorm / n if n > clipnorm else g)
        grads = out
    if global_clipnorm:
        n = np.sqrt(sum(np.sum(g * g) for g in grads))
        if n > global_clipnorm:
            grads = [g * global_clipnorm / n for g in grads]
    if clipvalue:
        grads = [np.clip(g, -clipvalue, clipvalue) for g in grads]
    return grads


# ----------------------------------------------------------------------------- schedules
def exponential_decay(step, initial, decay_steps, decay_rate, staircase=False) -> float:
    p = step / decay_steps
    if staircase:
        p = np.floor(p)
    return initial * decay_rate**p


def inverse_time_decay(step, initial, decay_steps, decay_rate, staircase=False) -> float:
    p = step / decay_steps
    if staircase:
        p = np.floor(p)
    return initial / (1.0 + decay_rate * p)


def keras2_decay(step, initial, decay) -> float:
    return initial / (1.0 + decay * step)


# ----------------------------------------------------------------------------- optimizers
# Each update takes the weight, its gradient, a dict of slots (created on first use),
# the step t (counted from 1) and this step's learning rate; it returns the new weight
# and updates the slots in place.
def sgd_update(w, g, state, t, lr, momentum=0.0, nesterov=False):
    w = np.asarray(w, np.float64)
    if momentum == 0.0:
        return w - lr * g
    m = state.setdefault("m", np.zeros_like(w))
    m[...] = momentum * m - lr * g
    if nesterov:
        return w + momentum * m - lr * g
    return w + m


def adam_update(w, g, state, t, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
    w = np.asarray(w, np.float64)
    m = state.setdefault("m", np.zeros_like(w))
    v = state.setdefault("v", np.zeros_like(w))
    m += (g - m) * (1.0 - beta_1)
    v += (g * g - v) * (1.0 - beta_2)
    alpha = lr * np.sqrt(1.0 - beta_2**t) / (1.0 - beta_1**t)
    if amsgrad:
        vh = state.setdefault("v_hat", np.zeros_like(w))
        vh[...] = np.maximum(vh, v)
        return w - alpha * m / (np.sqrt(vh) + epsilon)
    return w - alpha * m / (np.sqrt(v) + epsilon)


def rmsprop_update(w, g, state, t, lr, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False):
    w = np.asarray(w, np.float64)
    vel = state.setdefault("velocity", np.zeros_like(w))
    vel[...] = rho * vel + (1.0 - rho) * g * g
    if centered:
        avg = state.setdefault("average_gradient", np.zeros_like(w))
        avg[...] = rho * avg + (1.0 - rho) * g
        denominator = vel - avg * avg + epsilon
    else:
        denominator = vel + epsilon
    increment = lr * g / np.sqrt(denominator)
    if momentum > 0:
        mom = state.setdefault("momentum", np.zeros_like(w))
        mom[...] = momentum * mom + increment
        return w - mom
    return w - increment


def adagrad_update(w, g, state, t, lr, initial_accumulator_value=0.1, epsilon=1e-7):
    w = np.asarray(w, np.float64)
    acc = state.setdefault("accumulator", np.full_like(w, initial_accumulator_value))
    acc += g * g
    return w - lr * g / np.sqrt(acc + epsilon)


def adadelta_update(w, g, state, t, lr, rho=0.95, epsilon=1e-7):
    """Keras: accumulate g², step = −√(Δ-acc + ε)/√(g-acc + ε)·g, accumulate step², w += lr·step."""
    w = np.asarray(w, np.float64)
    ag = state.setdefault("accumulated_grad", np.zeros_like(w))
    ad = state.setdefault("accumulated_delta", np.zeros_like(w))
    ag[...] = rho * ag + (1.0 - rho) * g * g
    delta = -np.sqrt(ad + epsilon) / np.sqrt(ag + epsilon) * g
    ad[...] = rho * ad + (1.0 - rho) * delta * delta
    return w + lr * delta


def adamax_update(w, g, state, t, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    w = np.asarray(w, np.float64)
    m = state.setdefault("m", np.zeros_like(w))
    u = state.setdefault("u", np.zeros_like(w))
    m += (g - m) * (1.0 - beta_1)
    u[...] = np.maximum(beta_2 * u, np.abs(g))
    return w - lr * m / ((1.0 - beta_1**t) * (u + epsilon))


def nadam_momentum(t, beta_1):
    return beta_1 * (1.0 - 0.5 * 0.96**t)


def nadam_update(w, g, state, t, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """Keras's Nadam, with its running product P of the momentum schedule carried from step
    to step (a state first seen at step t starts from the product of steps 1..t-1)."""
    w = np.asarray(w, np.float64)
    m = state.setdefault("m", np.zeros_like(w))
    v = state.setdefault("v", np.zeros_like(w))
    if "product" not in state:
        state["product"] = 1.0
        for i in range(1, t):
            state["product"] = state["product"] * nadam_momentum(i, beta_1)
    mu, mu_next = nadam_momentum(t, beta_1), nadam_momentum(t + 1, beta_1)
    state["product"] = state["product"] * mu
    product = state["product"]
    m += (g - m) * (1.0 - beta_1)
    v += (g * g - v) * (1.0 - beta_2)
    m_hat = mu_next * m / (1.0 - product * mu_next) + (1.0 - mu) * g / (1.0 - product)
    v_hat = v / (1.0 - beta_2**t)
    return w - m_hat * lr / (np.sqrt(v_hat) + epsilon)


def lion_update(w, g, state, t, lr, beta_1=0.9, beta_2=0.99):
    w = np.asarray(w, np.float64)
    m = state.setdefault("m", np.zeros_like(w))
    out = w - lr * np.sign(beta_1 * m + (1.0 - beta_1) * g)
    m[...] = beta_2 * m + (1.0 - beta_2) * g
    return out


UPDATES = {
    "SGD": sgd_update,
    "Adam": adam_update,
    "RMSprop": rmsprop_update,
    "Adagrad": adagrad_update,
    "Adadelta": adadelta_update,
    "Adamax": adamax_update,
    "Nadam": nadam_update,
    "Lion": lion_update,
}


def weight_decay(w, rate, lr):
    """Decoupled weight decay before the update: θ − θ·rate·lr."""
    w = np.asarray(w, np.float64)
    return w - w * rate * lr


def ema_update(w, state, t, momentum=0.99):
    """The moving average after step t (from 1): μ = 0 at the first step."""
    mu = 0.0 if t == 1 else momentum
    average = state.setdefault("average", np.zeros_like(w))
    average[...] = mu * average + (1.0 - mu) * np.asarray(w, np.float64)
    return average


# ----------------------------------------------------------------------------- constraints
def _norms(w, axis):
    return np.sqrt(np.sum(np.square(w), axis=axis, keepdims=True))


def max_norm(w, max_value=2.0, axis=0):
    n = _norms(w, axis)
    return w * (np.clip(n, 0.0, max_value) / (EPSILON + n))


def unit_norm(w, axis=0):
    return w / (EPSILON + _norms(w, axis))


def min_max_norm(w, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
    n = _norms(w, axis)
    desired = rate * np.clip(n, min_value, max_value) + (1.0 - rate) * n
    return w * (desired / (EPSILON + n))


def non_neg(w):
    return w * (w >= 0)


# ----------------------------------------------------------------------------- dropout family
def dropout_moments(x, rate):
    """Per-element mean and variance of inverted dropout's output."""
    x = np.asarray(x, np.float64)
    if rate >= 1.0:
        return np.zeros_like(x), np.zeros_like(x)
    return x, x * x * rate / (1.0 - rate)


def gaussian_dropout_moments(x, rate):
    x = np.asarray(x, np.float64)
    return x, x * x * rate / (1.0 - rate)


def gaussian_noise_moments(x, stddev):
    x = np.asarray(x, np.float64)
    return x, np.full_like(x, stddev * stddev)


def alpha_dropout_coefficients(rate):
    a = ((1.0 - rate) * (1.0 + rate * ALPHA_PRIME**2)) ** -0.5
    b = -a * ALPHA_PRIME * rate
    return a, b


def alpha_dropout_moments(x, rate):
    """Per-element mean and variance of y = a·(keep ? x : α′) + b."""
    x = np.asarray(x, np.float64)
    a, b = alpha_dropout_coefficients(rate)
    keep = 1.0 - rate
    mean = a * (keep * x + rate * ALPHA_PRIME) + b
    var = a * a * keep * rate * (x - ALPHA_PRIME) ** 2
    return mean, var


# ----------------------------------------------------------------------------- numerics
def central_difference(f, x, h=1e-6) -> np.ndarray:
    """∂f/∂x for a scalar f of the float64 array x (perturbed in place, then restored)."""
    grad = np.zeros(x.shape, np.float64)
    flat = x.reshape(-1)
    out = grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        fp = f()
        flat[i] = old - h
        fm = f()
        flat[i] = old
        out[i] = (fp - fm) / (2.0 * h)
    return grad


def predict(net, x, mc_call=-1):
    """A core network's outputs for whole arrays (one batch, no hooks)."""
    xs = x if isinstance(x, list) else [x]
    out, _, stop, _, error, _ = net.predict(
        (xs, None, None, xs[0].shape[0], False, False, "x", 0), -1, mc_call, 0, None
    )
    assert error is None and stop == 0
    return out


def evaluate(net, x, y, w=None):
    """A core network's loss and metrics for whole arrays."""
    xs = x if isinstance(x, list) else [x]
    ys = y if isinstance(y, list) else [y]
    out, _, stop, _, error = net.evaluate(
        (xs, ys, w, xs[0].shape[0], False, False, "x", 0), -1, None
    )
    assert error is None and stop == 0
    return out


def check_gradients(model, x, y, input_gradient=True, rtol=1e-6, atol=1e-9):
    """A compiled float64 model's training-mode gradients (of every trainable weight, and of
    the input unless ``input_gradient`` is False) against central differences of its loss.
    Non-trainable weights must get zero gradients. Returns the core network."""
    net = model._network(training=True)
    _, grads, dx = net.gradients(x, y, None, 1, True)

    def f():
        return net.gradients(x, y, None, 1, True)[0]

    for w, g in zip(model.weights, grads):
        if not w.trainable:
            assert not g.any(), w.name
            continue
        np.testing.assert_allclose(
            g, central_difference(f, w.value), rtol=rtol, atol=atol, err_msg=w.name
        )
    if input_gradient:
        np.testing.assert_allclose(
            np.reshape(dx, np.shape(x)), central_difference(f, x), rtol=rtol, atol=atol
        )
    return net


def weights_per_thread_count(build, x, y, threads=(1, 2), **fit_kwargs):
    """The trained weights (as bytes) of a model made by ``build()`` (compiled, seeded inside
    so every call starts alike) and fitted on each thread count in turn. The conftest fixture
    puts the thread count back after the test."""
    import dropnet

    runs = []
    for t in threads:
        model = build()
        dropnet.set_num_threads(t)
        model.fit(x, y, verbose=0, **fit_kwargs)
        runs.append([w.tobytes() for w in model.get_weights()])
    return runs, model


# ----------------------------------------------------------------------------- recurrent
def rnn_activation(name: str):
    """A recurrent cell's activation and its derivative through the output."""
    return {
        "tanh": (np.tanh, lambda y: 1 - y * y),
        "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda y: y * (1 - y)),
        "relu": (lambda z: np.maximum(z, 0), lambda y: (y > 0).astype(y.dtype)),
        "linear": (lambda z: z, lambda y: np.ones_like(y)),
    }[name]


def run_steps(cell, x, h0, go_backwards=False, step_mask=None):
    """Keras's recurrence around cell(x_t, h) -> new h over x (n, T, D): the outputs of
    every processed step (n, T, U) and the final states. At a step whose step_mask (n, T,
    input order) is 0 the state is carried; an output repeats the previous one, zero
    before a row's first unmasked step."""
    n, T, _ = x.shape
    xs = x[:, ::-1] if go_backwards else x
    mask = np.ones((n, T)) if step_mask is None else np.asarray(step_mask, np.float64)
    mask = mask[:, ::-1] if go_backwards else mask
    h = np.array(h0, np.float64)
    seen = np.zeros((n, 1), bool)
    outs = []
    for t in range(T):
        keep = mask[:, t : t + 1] != 0
        h = np.where(keep, cell(xs[:, t], h), h)
        seen |= keep
        outs.append(np.where(seen, h, 0.0))
    return np.stack(outs, 1), h


def rnn_core_network(op, attrs, steps, features, out_shape, params, roles, step_mask=False, lr=0.0):
    """A core network of one recurrent node on (steps, features) inputs (and, with step_mask,
    a second input (steps,)): parameters given as float64 arrays with their roles (a
    state_h parameter not trainable), an mse head, plain SGD at learning rate lr."""
    from dropnet import _core

    def param(value, role):
        return {
            "value": value,
            "slots": [],
            "trainable": role != "state_h",
            "constraint": None,
            "regularizer": None,
            "weight_decay": 0.0,
        }

    tensors = [[steps, features]] + ([[steps]] if step_mask else []) + [list(out_shape)]
    inputs = list(range(len(tensors) - 1))
    return _core.Network(
        {
            "dtype": "float64",
            "seed": 3,
            "tensors": tensors,
            "inputs": inputs,
            "outputs": [len(tensors) - 1],
            "params": [param(v, r) for v, r in zip(params, roles)],
            "nodes": [
                {
                    "op": op,
                    "inputs": inputs,
                    "output": len(tensors) - 1,
                    "params": list(range(len(params))),
                    "roles": list(roles),
                    "layer_id": 1,
                    "attrs": attrs,
                }
            ],
            "heads": [
                {
                    "output": 0,
                    "loss": "mean_squared_error",
                    "from_logits": False,
                    "loss_params": {},
                    "weight": 1.0,
                    "metrics": [],
                }
            ],
            "optimizer": {
                "kind": "sgd",
                "lr": {"kind": "constant", "initial": lr},
                "clipnorm": 0.0,
                "clipvalue": 0.0,
                "global_clipnorm": 0.0,
                "momentum": 0.0,
                "nesterov": False,
                "use_ema": False,
            },
        }
    )
