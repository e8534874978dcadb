"""BatchNormalization and LayerNormalization: forward against NumPy float64 references, the
moving statistics as Keras updates them, gradients against finite differences, inference
mode under Monte-Carlo dropout, frozen layers, saving, thread counts and bad arguments."""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref

import dropnet
from dropnet import optimizers
from dropnet.layers import BatchNormalization, Dense, Dropout, Flatten, Input, LayerNormalization
from dropnet.models import Sequential, load_model


def _bn_reference(x, gamma, beta, mean, var, eps, axis):
    shape = [1] * x.ndim
    shape[axis] = -1
    r = lambda v: np.reshape(v, shape)
    return (x - r(mean)) / np.sqrt(r(var) + eps) * r(gamma) + r(beta)


def _randomized(model, rng):
    model.set_weights([rng.uniform(0.5, 1.5, w.shape) for w in model.get_weights()])


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize(("shape", "axis"), [((5,), -1), ((4, 3), -1), ((3, 4, 2), 1), ((3, 4), 1)])
def test_batchnorm_inference_matches_the_reference(shape, axis):
    rng = np.random.default_rng(0)
    m = Sequential([Input(shape), BatchNormalization(axis=axis, epsilon=0.01)])
    _randomized(m, rng)
    gamma, beta, mean, var = m.get_weights()
    x = rng.standard_normal((7, *shape)) * 2 + 0.5
    expect = _bn_reference(x, gamma, beta, mean, var, 0.01, axis)
    np.testing.assert_allclose(m.predict(x, verbose=0), expect, rtol=1e-12, atol=1e-12)


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize(("shape", "axis"), [((5,), -1), ((3, 4, 2), 1)])
def test_a_training_step_uses_batch_statistics_and_moves_the_stored_ones(shape, axis):
    rng = np.random.default_rng(1)
    m = Sequential([Input(shape), BatchNormalization(axis=axis, momentum=0.9)])
    m.compile(optimizers.SGD(0.0), "mse")
    _randomized(m, rng)
    _, _, mean0, var0 = m.get_weights()
    x = rng.standard_normal((16, *shape)) * 3 + 1
    reduce = tuple(a for a in range(x.ndim) if a != (axis % x.ndim))
    m.train_on_batch(x, np.zeros_like(x))
    _, _, mean1, var1 = m.get_weights()
    np.testing.assert_allclose(mean1, 0.9 * mean0 + 0.1 * x.mean(axis=reduce), rtol=1e-12)
    # Keras moves the variance toward the batch's biased variance
    np.testing.assert_allclose(var1, 0.9 * var0 + 0.1 * x.var(axis=reduce), rtol=1e-12)


def _check_gradients(model, x, y):
    before = [w.copy() for w in model.get_weights()]
    ref.check_gradients(model, x, y)  # (the moving statistics get zero gradients)
    for a, b in zip(before, model.get_weights()):  # a gradient check moves no statistics
        np.testing.assert_array_equal(a, b)


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize(
    "layer",
    [
        lambda: BatchNormalization(),
        lambda: BatchNormalization(axis=1, center=False),
        lambda: BatchNormalization(scale=False),
        lambda: LayerNormalization(),
        lambda: LayerNormalization(axis=[-2, -1], scale=False),
    ],
)
def test_normalization_gradients_match_finite_differences(layer):
    dropnet.set_random_seed(3)
    m = Sequential([Input((3, 4)), Dense(4, activation="tanh"), layer(), Flatten(), Dense(2)])
    m.compile("sgd", "mse")
    rng = np.random.default_rng(4)
    for w in m.weights:  # gamma and beta away from 1 and 0
        if w.role in ("gamma", "beta"):
            w.value[...] = rng.uniform(0.5, 1.5, w.shape)
    _check_gradients(m, rng.standard_normal((5, 3, 4)), rng.standard_normal((5, 2)))


@pytest.mark.usefixtures("float64")
def test_a_frozen_batchnorm_normalizes_with_its_moving_statistics_and_keeps_them():
    rng = np.random.default_rng(5)
    bn = BatchNormalization()
    m = Sequential([Input((4,)), bn, Dense(1)])
    _randomized(Sequential([Input((4,)), bn]), rng)
    bn.trainable = False
    m.compile(optimizers.SGD(0.1), "mse")
    before = bn.get_weights()
    x = rng.standard_normal((32, 4))
    m.fit(x, x.sum(axis=1), epochs=2, verbose=0)
    for a, b in zip(before, bn.get_weights()):
        np.testing.assert_array_equal(a, b)
    gamma, beta, mean, var = before
    _check_gradients(m, x[:4], rng.standard_normal((4, 1)))
    hidden = Sequential([Input((4,)), bn]).predict(x, verbose=0)
    np.testing.assert_allclose(hidden, _bn_reference(x, gamma, beta, mean, var, 1e-3, -1))


def test_monte_carlo_dropout_keeps_batchnorm_in_inference_mode():
    dropnet.set_random_seed(6)
    m = Sequential([Input((3,)), BatchNormalization(), Dropout(0.5)])
    _randomized(m, np.random.default_rng(6))
    x = np.tile(np.array([[0.3, -1.0, 2.0]], np.float32), (200, 1))  # identical rows
    plain = m.predict(x, verbose=0)
    noisy = m.predict(x, training=True, verbose=0)
    # Batch statistics of identical rows would give zeros (Keras's training=True); here each
    # value is the inference value, dropped or scaled by 1 / (1 - rate).
    assert np.all((noisy == 0) | np.isclose(noisy, 2 * plain, rtol=1e-6))
    assert 0.3 < np.mean(noisy == 0) < 0.7
    mean, std = m.predict_mc(x[:1], n=400)
    np.testing.assert_allclose(mean, plain[:1], rtol=0.15)
    assert np.all(std > 0)


def test_layernorm_matches_the_reference():
    rng = np.random.default_rng(7)
    m = Sequential([Input((3, 5)), LayerNormalization(axis=[-2, -1], epsilon=0.01)])
    gamma, beta = (rng.uniform(0.5, 1.5, (3, 5)) for _ in range(2))
    m.set_weights([gamma, beta])
    x = rng.standard_normal((6, 3, 5)).astype(np.float32) * 4
    mean = x.astype(np.float64).mean(axis=(1, 2), keepdims=True)
    var = x.astype(np.float64).var(axis=(1, 2), keepdims=True)
    expect = (x - mean) / np.sqrt(var + 0.01) * gamma + beta
    np.testing.assert_allclose(m.predict(x, verbose=0), expect, rtol=2e-5, atol=2e-5)


def test_batchnorm_model_trains_saves_and_loads_bitwise(tmp_path):
    dropnet.set_random_seed(8)
    m = Sequential(
        [
            Input((6,)),
            Dense(16),
            BatchNormalization(momentum=0.9),
            Dropout(0.2),
            LayerNormalization(),
            Dense(1, activation="sigmoid"),
        ]
    )
    m.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(8)
    x = rng.standard_normal((256, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.float32)
    hist = m.fit(x, y, epochs=30, batch_size=32, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    assert m.evaluate(x, y, verbose=0)[1] > 0.9
    m.save(tmp_path / "bn.dropnet")
    back = load_model(tmp_path / "bn.dropnet")
    for a, b in zip(m.get_weights(), back.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(back.predict(x, verbose=0), m.predict(x, verbose=0))
    assert back.layers[1].get_config() == m.layers[1].get_config()


def test_batchnorm_training_is_the_same_on_any_thread_count():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((128, 3, 4)).astype(np.float32)
    y = rng.standard_normal((128, 1)).astype(np.float32)

    def build():
        dropnet.set_random_seed(9)
        m = Sequential([Input((3, 4)), BatchNormalization(axis=1), Flatten(), Dense(8), Dense(1)])
        m.compile("adam", "mse")
        return m

    runs, _ = ref.weights_per_thread_count(build, x, y, epochs=3, batch_size=16)
    assert runs[0] == runs[1]


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: BatchNormalization(momentum=1.5), ValueError, "momentum"),
        (lambda: BatchNormalization(epsilon=0), ValueError, "epsilon"),
        (lambda: BatchNormalization(axis="last"), TypeError, "axis"),
        (lambda: LayerNormalization(axis=[-1, 1.5]), TypeError, "axis"),
        (lambda: LayerNormalization(rms_scaling=True), ValueError, "rms_scaling"),
    ],
)
def test_bad_arguments_name_the_problem(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize(
    ("layer", "match"),
    [
        (lambda: BatchNormalization(axis=0), "batch axis"),
        (lambda: BatchNormalization(axis=3), "out of range"),
        (lambda: LayerNormalization(axis=1), "last axes"),
    ],
)
def test_axes_the_input_does_not_have_are_refused_when_built(layer, match):
    with pytest.raises(ValueError, match=match):
        Sequential([Input((3, 4)), layer()])


def test_summary_counts_the_moving_statistics_as_non_trainable(capsys):
    m = Sequential([Input((5,)), Dense(8), BatchNormalization(), Dense(1)])
    m.summary()
    out = capsys.readouterr().out
    assert "Total params: 89" in out  # 48 + 4·8 + 9
    assert "Trainable params: 73" in out and "Non-trainable params: 16" in out
