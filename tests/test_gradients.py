"""Whole-model gradients in float64: every parameter's and the input's gradient from the
core (net.gradients) against central differences of the core's own loss, with dropout
masks held fixed by the step; and loss values against the NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref

import dropnet
from dropnet import losses, regularizers
from dropnet.layers import (
    AlphaDropout,
    Dense,
    Dropout,
    Flatten,
    GaussianDropout,
    GaussianNoise,
    SpatialDropout1D,
    SpatialDropout2D,
)
from dropnet.models import Sequential

pytestmark = pytest.mark.usefixtures("float64")


def build(layers, loss="mse", seed=7):
    dropnet.set_random_seed(seed)
    model = Sequential(layers)
    model.compile(optimizer="sgd", loss=loss)
    return model


def check_gradients(model, x, y, w=None, step=3, training=True, rtol=2e-6, atol=1e-8):
    net = model._network(training=True)
    loss, grads, dx = net.gradients(x, y, w, step, training)
    assert len(grads) == len(model.weights)

    def f():
        return net.gradients(x, y, w, step, training)[0]

    for weight, g in zip(model.weights, grads):
        assert g.shape == weight.value.shape and g.dtype == np.float64
        numeric = ref.central_difference(f, weight.value)
        np.testing.assert_allclose(g, numeric, rtol=rtol, atol=atol, err_msg=weight.name)
    numeric_dx = ref.central_difference(f, x)
    np.testing.assert_allclose(dx.reshape(x.shape), numeric_dx, rtol=rtol, atol=atol, err_msg="dx")
    return loss, grads, dx


def data(rng, n=5, shape=(4,), out=3, kind="regression"):
    x = rng.standard_normal((n,) + shape)
    if kind == "binary":
        y = rng.integers(0, 2, (n, out)).astype(np.float64)
    elif kind == "categorical":
        y = np.eye(out)[rng.integers(0, out, n)]
    elif kind == "sparse":
        y = rng.integers(0, out, n).astype(np.float64)
    else:
        y = rng.standard_normal((n, out))
    return x, y


@pytest.mark.parametrize("activation", ref.ACTIVATIONS)
def test_gradients_dense_hidden_activation_match_central_differences(activation, rng):
    model = build([Dense(6, activation=activation, input_dim=4), Dense(3)])
    x, y = data(rng)
    check_gradients(model, x, y)


@pytest.mark.parametrize("activation", ref.ACTIVATIONS)
def test_gradients_dense_output_activation_match_central_differences(activation, rng):
    model = build([Dense(3, activation=activation, input_dim=4)], loss="mse")
    x, y = data(rng)
    check_gradients(model, x, y)


def test_gradients_dense_without_bias_match_central_differences(rng):
    model = build(
        [Dense(6, activation="tanh", use_bias=False, input_dim=4), Dense(3, use_bias=False)]
    )
    x, y = data(rng)
    _, grads, _ = check_gradients(model, x, y)
    assert len(grads) == 2


def test_gradients_dense_wide_layers_match_central_differences(rng):
    # fan-in > 64 and units >= 8 take the GEMM path rather than the fused small path
    model = build(
        [Dense(9, activation="elu", input_dim=70), Dense(17, activation="tanh"), Dense(2)]
    )
    x, y = data(rng, n=3, shape=(70,), out=2)
    check_gradients(model, x, y)


LOSS_CASES = [
    # (last activation, loss, label kind, flatten after the last Dense?)
    ("sigmoid", "binary_crossentropy", "binary", False),
    ("sigmoid", "binary_crossentropy", "binary", True),
    ("linear", losses.BinaryCrossentropy(from_logits=True), "binary", False),
    ("softmax", "categorical_crossentropy", "categorical", False),
    ("softmax", "categorical_crossentropy", "categorical", True),
    ("linear", losses.CategoricalCrossentropy(from_logits=True), "categorical", False),
    ("softmax", "sparse_categorical_crossentropy", "sparse", False),
    ("softmax", "sparse_categorical_crossentropy", "sparse", True),
    ("linear", losses.SparseCategoricalCrossentropy(from_logits=True), "sparse", False),
    ("linear", "mse", "regression", False),
    ("tanh", "mae", "regression", False),
]


def loss_id(case):
    act, loss, _, flat = case
    name = loss if isinstance(loss, str) else type(loss).__name__ + "(from_logits)"
    return f"{act}-{name}" + ("-probabilities" if flat else "")


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case", LOSS_CASES, ids=loss_id)
def test_gradients_each_loss_match_central_differences(case, weighted, rng):
    act, loss, kind, flatten = case
    layers = [Dense(5, activation="tanh", input_dim=4), Dense(3, activation=act)]
    if flatten:  # the loss then sees probabilities, not logits (clipped path)
        layers.append(Flatten())
    model = build(layers, loss=loss)
    x, y = data(rng, n=6, kind=kind)
    w = rng.uniform(0.2, 2.0, 6) if weighted else None
    check_gradients(model, x, y, w)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case", LOSS_CASES, ids=loss_id)
def test_gradients_loss_value_matches_reference(case, weighted, rng):
    act, loss, kind, flatten = case
    layers = [Dense(5, activation="tanh", input_dim=4), Dense(3, activation=act)]
    if flatten:
        layers.append(Flatten())
    model = build(layers, loss=loss)
    x, y = data(rng, n=6, kind=kind)
    w = rng.uniform(0.2, 2.0, 6) if weighted else None
    got = model._network(training=True).gradients(x, y, w, 0, True)[0]
    k1, b1, k2, b2 = (v.value for v in model.weights)
    hidden = ref.dense_forward(x, k1, b1, "tanh")
    name, from_logits = losses.get(loss)
    if from_logits:
        head = ref.dense_forward(hidden, k2, b2, "linear")
    else:
        head = ref.dense_forward(hidden, k2, b2, act)
    want = ref.batch_loss(name, from_logits, head, y, w)
    assert got == pytest.approx(want, rel=1e-12, abs=1e-14)


def test_gradients_fused_and_probability_paths_agree(rng):
    x, y = data(rng, n=6, kind="categorical")
    fused = build([Dense(3, activation="softmax", input_dim=4)], loss="categorical_crossentropy")
    plain = build(
        [Dense(3, activation="softmax", input_dim=4), Flatten()], loss="categorical_crossentropy"
    )
    plain.set_weights(fused.get_weights())
    lf, gf, _ = fused._network(training=True).gradients(x, y, None, 0, True)
    lp, gp, _ = plain._network(training=True).gradients(x, y, None, 0, True)
    assert lf == pytest.approx(lp, rel=1e-10)
    for a, b in zip(gf, gp):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-12)


DROPOUT_LAYERS = [
    lambda: Dropout(0.4),
    lambda: Dropout(0.5, noise_shape=(None, 1)),
    lambda: AlphaDropout(0.3),
    lambda: GaussianDropout(0.3),
    lambda: GaussianNoise(0.5),
]


@pytest.mark.parametrize(
    "make_layer",
    DROPOUT_LAYERS,
    ids=["Dropout", "Dropout-noise_shape", "AlphaDropout", "GaussianDropout", "GaussianNoise"],
)
def test_gradients_through_dropout_layers_with_fixed_step(make_layer, rng):
    model = build([Dense(8, activation="tanh", input_dim=4), make_layer(), Dense(3)])
    x, y = data(rng, n=7)
    net = model._network(training=True)
    loss_a = net.gradients(x, y, None, 11, True)[0]
    assert net.gradients(x, y, None, 11, True)[0] == loss_a  # masks fixed by the step
    assert net.gradients(x, y, None, 12, True)[0] != loss_a  # and fresh for another step
    check_gradients(model, x, y, step=11)


def test_gradients_spatial_dropout_match_central_differences(rng):
    model = build(
        [
            Dense(6, activation="tanh", input_shape=(5, 4)),
            SpatialDropout1D(0.5),
            Flatten(),
            Dense(2),
        ]
    )
    x, y = data(rng, n=4, shape=(5, 4), out=2)
    check_gradients(model, x, y, step=2)
    model = build(
        [
            Dense(3, activation="sigmoid", input_shape=(3, 3, 2)),
            SpatialDropout2D(0.4),
            Flatten(),
            Dense(2),
        ]
    )
    x, y = data(rng, n=3, shape=(3, 3, 2), out=2)
    check_gradients(model, x, y, step=5)


def test_gradients_dropout_inference_mode_equals_model_without_dropout(rng):
    x, y = data(rng, n=5)
    with_dropout = build([Dense(6, activation="relu", input_dim=4), Dropout(0.5), Dense(3)])
    without = build([Dense(6, activation="relu", input_dim=4), Dense(3)])
    without.set_weights(with_dropout.get_weights())
    la, ga, dxa = with_dropout._network(training=True).gradients(x, y, None, 4, False)
    lb, gb, dxb = without._network(training=True).gradients(x, y, None, 4, False)
    assert la == lb
    for a, b in zip(ga, gb):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(dxa, dxb)


def test_gradients_dropout_training_drops_some_hidden_units(rng):
    model = build([Dense(50, activation="tanh", input_dim=4), Dropout(0.5), Dense(1)])
    x, y = data(rng, n=1, out=1)
    _, grads, _ = model._network(training=True).gradients(x, y, None, 0, True)
    dropped = np.sum(grads[2][:, 0] == 0.0)  # kernel rows of dropped hidden units get no gradient
    assert 10 <= dropped <= 40


@pytest.mark.parametrize(
    "reg",
    [regularizers.L1(0.01), regularizers.L2(0.02), regularizers.L1L2(0.01, 0.03)],
    ids=["L1", "L2", "L1L2"],
)
def test_gradients_with_regularizers_match_central_differences(reg, rng):
    model = build(
        [
            Dense(6, activation="tanh", input_dim=4, kernel_regularizer=reg, bias_regularizer=reg),
            Dense(3, kernel_regularizer=reg),
        ]
    )
    x, y = data(rng)
    loss, _, _ = check_gradients(model, x, y)
    k1, b1, k2, b2 = (v.value for v in model.weights)
    head = ref.dense_forward(ref.dense_forward(x, k1, b1, "tanh"), k2, b2)
    want = ref.batch_loss("mean_squared_error", False, head, y)
    want += sum(ref.penalty(w, reg.l1, reg.l2) for w in (k1, b1, k2))
    assert loss == pytest.approx(want, rel=1e-12)


def test_gradients_input_gradient_of_single_dense_is_analytic(rng):
    model = build([Dense(3, input_dim=4)], loss="mse")
    x, y = data(rng, n=5)
    _, (gk, gb), dx = model._network(training=True).gradients(x, y, None, 0, True)
    k, b = model.weights[0].value, model.weights[1].value
    dhead = 2.0 * (x @ k + b - y) / (y.shape[1] * x.shape[0])
    np.testing.assert_allclose(dx.reshape(x.shape), dhead @ k.T, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gk, x.T @ dhead, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gb, dhead.sum(axis=0), rtol=1e-12, atol=1e-14)


def test_gradients_one_thread_equals_two_threads_bitwise(rng):
    from dropnet import _core

    model = build(
        [
            Dense(300, activation="relu", input_dim=40),
            Dropout(0.3),
            Dense(64, activation="tanh"),
            Dense(3),
        ]
    )
    x, y = data(rng, n=257, shape=(40,))
    net = model._network(training=True)
    _core.set_num_threads(1)
    l1, g1, d1 = net.gradients(x, y, None, 2, True)
    _core.set_num_threads(2)
    l2, g2, d2 = net.gradients(x, y, None, 2, True)
    assert l1 == l2
    for a, b in zip(g1, g2):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(d1, d2)
