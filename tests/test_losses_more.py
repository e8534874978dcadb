"""The losses beyond the cross-entropies and mse/mae (Keras 3's set, with Keras 2's names):
kernel values against the NumPy reference, gradients against central differences, whole
float64 models (2-D and sequence outputs) with sample weights, names, classes, functions
and their parameters through compile and model files."""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref

import dropnet
from dropnet import _core, losses
from dropnet.layers import LSTM, Dense, Input
from dropnet.models import Sequential, load_model

DTYPES = [np.float32, np.float64]
# (core name, from_logits, parameters)
CASES = [
    ("mean_squared_logarithmic_error", False, {}),
    ("hinge", False, {}),
    ("squared_hinge", False, {}),
    ("categorical_hinge", False, {}),
    ("kl_divergence", False, {}),
    ("mean_absolute_percentage_error", False, {}),
    ("poisson", False, {}),
    ("log_cosh", False, {}),
    ("huber", False, {}),
    ("huber", False, {"delta": 0.4}),
    ("cosine_similarity", False, {}),
    ("binary_focal_crossentropy", False, {}),
    ("binary_focal_crossentropy", True, {}),
    (
        "binary_focal_crossentropy",
        False,
        {"gamma": 1.5, "alpha": 0.3, "apply_class_balancing": True, "label_smoothing": 0.1},
    ),
    (
        "binary_focal_crossentropy",
        True,
        {"gamma": 0.5, "alpha": 0.6, "apply_class_balancing": True, "label_smoothing": 0.2},
    ),
    ("binary_crossentropy", False, {"label_smoothing": 0.2}),
    ("binary_crossentropy", True, {"label_smoothing": 0.2}),
    ("categorical_crossentropy", False, {"label_smoothing": 0.1}),
    ("categorical_crossentropy", True, {"label_smoothing": 0.1}),
]


def case_id(case):
    name, logits, params = case
    return name + ("-logits" if logits else "") + "".join(f"-{k}={v}" for k, v in params.items())


def make_case(rng, name, from_logits, shape, binary_hinge=True):
    """(head, y_true) of `shape`, kept away from each loss's kinks and clips."""
    if from_logits:
        head = rng.standard_normal(shape) * 2
    elif name in ("binary_focal_crossentropy", "binary_crossentropy", "kl_divergence"):
        head = rng.uniform(0.05, 0.95, shape)
    elif name in ("mean_squared_logarithmic_error", "poisson", "categorical_crossentropy"):
        head = rng.uniform(0.1, 3.0, shape)
    else:
        head = rng.standard_normal(shape)
    if name in ("binary_focal_crossentropy", "binary_crossentropy"):
        y = rng.integers(0, 2, shape).astype(np.float64)
    elif name in ("hinge", "squared_hinge"):
        y = rng.integers(0, 2, shape).astype(np.float64)
        if not binary_hinge:
            y = 2 * y - 1
        s = 2 * y - 1 if binary_hinge else y
        head = np.where(np.abs(1 - s * head) < 1e-2, head + 0.1, head)
    elif name in ("categorical_hinge", "categorical_crossentropy"):
        y = np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])]
        if name == "categorical_hinge":  # keep the margin and the runner-up clear of ties
            head = np.round(head, 1) + rng.uniform(0, 0.05, shape)
    elif name == "kl_divergence":
        e = np.exp(rng.standard_normal(shape))
        y = e / e.sum(axis=-1, keepdims=True)
    elif name == "mean_squared_logarithmic_error":
        y = rng.uniform(0.0, 3.0, shape)
    elif name == "poisson":
        y = rng.integers(0, 5, shape).astype(np.float64)
    elif name == "mean_absolute_percentage_error":
        y = rng.choice([-1.0, 1.0], shape) * rng.uniform(0.5, 2.0, shape)
        head = np.where(np.abs(head - y) < 1e-2, head + 0.1, head)
    else:
        y = rng.standard_normal(shape)
        if name == "huber":
            head = np.where(np.abs(np.abs(head - y) - 0.4) < 1e-2, head + 0.05, head)
            head = np.where(np.abs(np.abs(head - y) - 1.0) < 1e-2, head + 0.05, head)
    return head, y


def kernel(name, from_logits, head, y, w=None, **params):
    return _core.loss(name, from_logits, head, y, w, **params)


def tol(dtype):
    return {"rtol": 2e-5, "atol": 2e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-13}


# ----------------------------------------------------------------------------- kernels
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(9, 4), (5, 3, 4)], ids=["2d", "sequence"])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_loss_kernel_values_match_reference(case, shape, dtype, rng):
    name, logits, params = case
    head, y = make_case(rng, name, logits, shape)
    w = rng.uniform(0.0, 2.0, shape[0])
    head, y, w = (np.ascontiguousarray(a, dtype=dtype) for a in (head, y, w))
    per, grad = kernel(name, logits, head, y, w, **params)
    assert per.shape == (shape[0],) and grad.shape == head.shape and grad.dtype == dtype
    np.testing.assert_allclose(per, ref.loss(name, logits, head, y, w, **params), **tol(dtype))


@pytest.mark.parametrize("shape", [(6, 4), (3, 2, 4)], ids=["2d", "sequence"])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_loss_kernel_gradient_matches_central_differences(case, shape, rng):
    name, logits, params = case
    head, y = make_case(rng, name, logits, shape)
    w = rng.uniform(0.2, 2.0, shape[0])
    _, grad = kernel(name, logits, head, y, w, **params)
    numeric = ref.central_difference(
        lambda: float(np.sum(kernel(name, logits, head, y, w, **params)[0])), head
    )
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", ["hinge", "squared_hinge"])
def test_hinge_turns_labels_to_plus_minus_one_only_when_all_are_0_or_1(name, rng):
    head = rng.standard_normal((6, 3))
    zero_one = rng.integers(0, 2, (6, 3)).astype(np.float64)
    per01, _ = kernel(name, False, head, zero_one)
    perpm, _ = kernel(name, False, head, 2 * zero_one - 1)
    np.testing.assert_allclose(per01, perpm, rtol=1e-15)  # 0/1 labels are read as -1/1
    mixed = zero_one.copy()
    mixed[0, 0] = -1.0  # one label that is neither 0 nor 1: every label is taken as it is
    per, _ = kernel(name, False, head, mixed)
    margin = np.maximum(1 - mixed * head, 0)
    want = np.mean(margin if name == "hinge" else margin**2, axis=-1)
    np.testing.assert_allclose(per, want, rtol=1e-14)
    assert not np.allclose(per, perpm)


def test_focal_with_gamma_zero_is_binary_crossentropy(rng):
    for logits in (False, True):
        head, y = make_case(rng, "binary_focal_crossentropy", logits, (7, 3))
        focal, gf = kernel("binary_focal_crossentropy", logits, head, y, gamma=0.0)
        bce, gb = kernel("binary_crossentropy", logits, head, y)
        np.testing.assert_allclose(focal, bce, rtol=1e-14)
        np.testing.assert_allclose(gf, gb, rtol=1e-12, atol=1e-15)


def test_focal_matches_hand_computed_value():
    # y = 1, p = 0.8: p_t = 0.8, (1 - 0.8)^2 · -log(0.8) · alpha 0.25
    per, _ = kernel(
        "binary_focal_crossentropy",
        False,
        np.array([[0.8]]),
        np.array([[1.0]]),
        apply_class_balancing=True,
    )
    assert per[0] == pytest.approx(0.25 * 0.04 * -np.log(0.8), rel=1e-14)


def test_cosine_similarity_of_a_zero_vector_is_zero_and_parallel_is_minus_one():
    head = np.array([[0.0, 0.0, 0.0], [2.0, 4.0, -1.0], [1.0, 0.0, 0.0]])
    y = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, -0.5], [-3.0, 0.0, 0.0]])
    per, _ = kernel("cosine_similarity", False, head, y)
    np.testing.assert_allclose(per, [0.0, -1.0, 1.0], atol=1e-15)


def test_log_cosh_is_stable_for_large_errors():
    per, grad = kernel("log_cosh", False, np.array([[800.0, -800.0]]), np.zeros((1, 2)))
    assert per[0] == pytest.approx(800.0 - np.log(2.0), rel=1e-15)
    np.testing.assert_allclose(grad, [[0.5, -0.5]], rtol=1e-15)


@pytest.mark.parametrize("name", ["kl_divergence", "mean_squared_logarithmic_error", "poisson"])
def test_clipped_losses_are_finite_at_zero_predictions(name):
    head = np.array([[0.0, 1.0], [0.0, 0.0]])
    y = np.array([[1.0, 0.0], [0.5, 0.5]])
    per, grad = kernel(name, False, head, y)
    assert np.all(np.isfinite(per)) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(per, ref.loss(name, False, head, y), rtol=1e-12)


# ----------------------------------------------------------------------------- models
def loss_object(name, logits, params):
    cls = losses._CLASSES[name]
    if issubclass(cls, losses._FromLogits):
        return cls(from_logits=logits, **params)
    return cls(**params)


def last_activation(name, logits):
    if logits:
        return "linear"
    if name in ("binary_focal_crossentropy", "binary_crossentropy"):
        return "sigmoid"
    if name in ("kl_divergence", "categorical_crossentropy"):
        return "softmax"
    if name in ("mean_squared_logarithmic_error", "poisson"):
        return "softplus"
    return "linear"


def labels(rng, name, shape):
    return make_case(rng, name, False, shape)[1]


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("sequence", [False, True], ids=["2d", "sequence"])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_model_gradients_match_central_differences(case, sequence, rng):
    name, logits, params = case
    dropnet.set_random_seed(5)
    if sequence:
        model = Sequential([Input((3, 2)), LSTM(4, return_sequences=True)])
        shape = (4, 3, 3)
    else:
        model = Sequential([Input((3,)), Dense(4, activation="tanh")])
        shape = (4, 3)
    model.add(Dense(3, activation=last_activation(name, logits)))
    model.compile("sgd", loss_object(name, logits, params))
    x = rng.standard_normal((shape[0],) + model.input_shape[1:])
    y = labels(rng, name, shape)
    # (MAPE's values are ~100 times the others': so is the differences' round-off)
    atol = 1e-6 if name == "mean_absolute_percentage_error" else 1e-8
    ref.check_gradients(model, x, y, rtol=2e-6, atol=atol)


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("sequence", [False, True], ids=["2d", "sequence"])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_model_loss_matches_reference_with_sample_weights(case, sequence, rng):
    name, logits, params = case
    dropnet.set_random_seed(6)
    steps = (5,) if sequence else ()
    model = Sequential([Input(steps + (3,)), Dense(4, activation=last_activation(name, logits))])
    model.compile("sgd", loss_object(name, logits, params))
    x = rng.standard_normal((10,) + steps + (3,))
    y = labels(rng, name, (10,) + steps + (4,))
    w = rng.uniform(0.0, 2.0, 10)
    got = model.evaluate(x, y, sample_weight=w, batch_size=10, verbose=0)
    pred = model.predict(x, verbose=0)
    if logits:
        want = ref.batch_loss(name, True, pred, y, w, **params)
    else:  # a sigmoid or softmax output is read from its logits: the same loss
        want = ref.batch_loss(name, False, pred, y, w, **params)
    assert got == pytest.approx(want, rel=1e-10)


@pytest.mark.usefixtures("float64")
def test_model_hinge_rule_applies_to_each_batch(rng):
    model = Sequential([Input((2,)), Dense(1)])
    model.compile("sgd", "hinge")
    x = rng.standard_normal((4, 2))
    y = np.array([[0.0], [1.0], [-1.0], [1.0]])  # the first batch of two is all 0/1
    pred = model.predict(x, verbose=0)
    got = model.evaluate(x, y, batch_size=2, verbose=0)
    first = ref.batch_loss("hinge", False, pred[:2], y[:2])
    second = ref.batch_loss("hinge", False, pred[2:], y[2:])
    assert got == pytest.approx((first + second) / 2, rel=1e-12)


def test_model_trains_with_each_new_loss(rng):
    # float32 end to end: the loss falls over a few epochs of a learnable problem
    x = rng.standard_normal((64, 4)).astype(np.float32)
    for name, logits, params in CASES:
        dropnet.set_random_seed(1)
        model = Sequential([Input((4,)), Dense(3, activation=last_activation(name, logits))])
        model.compile("adam", loss_object(name, logits, params))
        y = labels(np.random.default_rng(0), name, (64, 3))
        history = model.fit(x, y, epochs=8, batch_size=64, verbose=0).history["loss"]
        assert np.all(np.isfinite(history)), name
        assert history[-1] < history[0], name


# ----------------------------------------------------------------------------- names
@pytest.mark.parametrize(
    "given, kind",
    [
        ("msle", "mean_squared_logarithmic_error"),
        ("MSLE", "mean_squared_logarithmic_error"),
        ("mape", "mean_absolute_percentage_error"),
        ("MAPE", "mean_absolute_percentage_error"),
        ("kld", "kl_divergence"),
        ("KLD", "kl_divergence"),
        ("kl_divergence", "kl_divergence"),
        ("kullback_leibler_divergence", "kl_divergence"),
        ("logcosh", "log_cosh"),
        ("log_cosh", "log_cosh"),
        ("huber", "huber"),
        ("huber_loss", "huber"),
        ("cosine_similarity", "cosine_similarity"),
        ("cosine_proximity", "cosine_similarity"),
        ("hinge", "hinge"),
        ("squared_hinge", "squared_hinge"),
        ("categorical_hinge", "categorical_hinge"),
        ("poisson", "poisson"),
        ("binary_focal_crossentropy", "binary_focal_crossentropy"),
        ("bce", "binary_crossentropy"),
        ("BCE", "binary_crossentropy"),
        ("Hinge", "hinge"),
        ("KLDivergence", "kl_divergence"),
        ("LogCosh", "log_cosh"),
        ("Huber", "huber"),
        ("CosineSimilarity", "cosine_similarity"),
        ("BinaryFocalCrossentropy", "binary_focal_crossentropy"),
        (losses.Huber, "huber"),
        (losses.huber, "huber"),
        (losses.huber_loss, "huber"),
        (losses.kld, "kl_divergence"),
        (losses.logcosh, "log_cosh"),
        (losses.mse, "mean_squared_error"),
        (losses.Poisson(), "poisson"),
    ],
)
def test_loss_names_classes_and_functions_compile(given, kind):
    model = Sequential([Input((3,)), Dense(2)])
    model.compile("sgd", given)
    assert model._heads[0].loss == kind


def test_loss_custom_python_function_names_the_built_in_losses():
    def my_loss(y_true, y_pred):
        return np.mean((y_true - y_pred) ** 2, axis=-1)

    model = Sequential([Input((3,)), Dense(2)])
    with pytest.raises(ValueError) as info:
        model.compile("sgd", my_loss)
    msg = str(info.value)
    assert "my_loss" in msg and "dropnet.losses.huber" in msg and "log_cosh" in msg


@pytest.mark.parametrize(
    "make, error, text",
    [
        (lambda: losses.CosineSimilarity(axis=1), ValueError, "axis"),
        (
            lambda: losses.cosine_similarity(np.ones((2, 2)), np.ones((2, 2)), axis=0),
            ValueError,
            "axis",
        ),
        (lambda: losses.Huber(delta="1"), TypeError, "delta"),
        (lambda: losses.Huber(delta=-1.0), ValueError, "delta"),
        (lambda: losses.BinaryFocalCrossentropy(gamma=float("nan")), ValueError, "gamma"),
        (lambda: losses.BinaryCrossentropy(label_smoothing=1.5), ValueError, "label_smoothing"),
        (lambda: losses.CategoricalCrossentropy(axis=0), ValueError, "axis"),
        (lambda: losses.SparseCategoricalCrossentropy(ignore_class=0), ValueError, "ignore_class"),
        (lambda: losses.Hinge(reduction="sum"), ValueError, "reduction"),
    ],
)
def test_loss_bad_parameters_raise_clearly(make, error, text):
    with pytest.raises(error, match=text):
        make()


# ----------------------------------------------------------------------------- functions, objects
def test_loss_functions_return_per_row_values(rng):
    p = rng.uniform(0.1, 0.9, (4, 3, 2))
    y = rng.integers(0, 2, (4, 3, 2)).astype(np.float64)
    for name, fn in [("huber", losses.huber), ("log_cosh", losses.logcosh)]:
        got = fn(y, p)
        assert got.shape == (4, 3)
        want = ref.loss(name, False, p.reshape(12, 2), y.reshape(12, 2)).reshape(4, 3)
        np.testing.assert_allclose(got, want, rtol=1e-12)
    got = losses.binary_focal_crossentropy(y, p, gamma=1.0, label_smoothing=0.1)
    want = ref.loss(
        "binary_focal_crossentropy",
        False,
        p.reshape(12, 2),
        y.reshape(12, 2),
        gamma=1.0,
        label_smoothing=0.1,
    )
    np.testing.assert_allclose(got.reshape(-1), want, rtol=1e-12)


def test_loss_objects_are_callable_with_sample_weights(rng):
    p = rng.standard_normal((5, 3))
    y = rng.standard_normal((5, 3))
    w = rng.uniform(0, 1, 5)
    got = losses.Huber(delta=0.5)(y, p, sample_weight=w)
    assert got == pytest.approx(ref.batch_loss("huber", False, p, y, w, delta=0.5), rel=1e-12)


@pytest.mark.parametrize(
    "loss",
    [
        losses.Huber(delta=0.3, name="h"),
        losses.BinaryFocalCrossentropy(True, 0.4, 1.5, True, 0.05),
        losses.BinaryCrossentropy(label_smoothing=0.2),
        losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
        losses.CosineSimilarity(),
        losses.KLDivergence(),
    ],
    ids=lambda loss: type(loss).__name__,
)
def test_loss_config_round_trips(loss):
    back = type(loss).from_config(loss.get_config())
    assert back.get_config() == loss.get_config()
    assert losses.spec(back) == losses.spec(loss)


@pytest.mark.parametrize(
    "loss, last",
    [
        (losses.Huber(delta=0.3), "linear"),
        (losses.BinaryFocalCrossentropy(True, 0.4, 1.5, True, 0.05), "linear"),
        (losses.BinaryFocalCrossentropy(gamma=3.0), "sigmoid"),
        (losses.CategoricalCrossentropy(label_smoothing=0.1), "softmax"),
        ("kld", "softmax"),
    ],
    ids=["huber", "focal-logits", "focal", "cce-smoothing", "kld"],
)
@pytest.mark.parametrize("outputs", [1, 2])
def test_loss_parameters_survive_save_and_load(loss, last, outputs, tmp_path, rng):
    dropnet.set_random_seed(3)
    inp = Input((4,))
    outs = [Dense(3, activation=last)(inp) for _ in range(outputs)]
    model = dropnet.models.Model(inp, outs if outputs > 1 else outs[0])
    model.compile("adam", [loss] * outputs if outputs > 1 else loss)
    x = rng.standard_normal((16, 4)).astype(np.float32)
    y = rng.uniform(0, 1, (16, 3)).astype(np.float32)
    y = (y / y.sum(axis=1, keepdims=True)).astype(np.float32)
    ys = [y] * outputs if outputs > 1 else y
    model.fit(x, ys, epochs=1, verbose=0)
    model.save(tmp_path / "m.dropnet")
    back = load_model(tmp_path / "m.dropnet")
    assert [(h.loss, h.from_logits, h.params) for h in back._heads] == [
        (h.loss, h.from_logits, h.params) for h in model._heads
    ]
    np.testing.assert_array_equal(
        np.atleast_1d(back.evaluate(x, ys, verbose=0)),
        np.atleast_1d(model.evaluate(x, ys, verbose=0)),
    )
