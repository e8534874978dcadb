"""train_on_batch's short path (arrays already in the model's dtype and layout skip the
conversions, the core checks their values): the same steps as the full path, and every
case it cannot take (other dtypes or shapes, sample weights, NaN, a new compile, a changed
learning rate, sparse targets, Python metrics) goes the full way."""

from __future__ import annotations

import numpy as np
import pytest

import dropnet
from dropnet import backend
from dropnet.layers import Dense, Dropout, Input
from dropnet.models import Sequential


def _model(loss="binary_crossentropy", units=1, activation="sigmoid"):
    dropnet.set_random_seed(4)
    m = Sequential(
        [
            Input((2,)),
            Dense(8, activation="relu"),
            Dropout(0.3),
            Dense(units, activation=activation),
        ]
    )
    m.compile("adam", loss)
    return m


def _data(rng, n=4):
    x = rng.standard_normal((n, 2)).astype(np.float32)
    return x, (x[:, :1] > 0).astype(np.float32)


def test_the_short_path_takes_the_same_steps(rng):
    x, y = _data(rng)
    short = _model()
    losses = [short.train_on_batch(x, y) for _ in range(5)]
    assert short._step is not None
    # The full path every time: float64 arrays are converted, so never short.
    full = _model()
    want = [full.train_on_batch(x.astype(np.float64), y.astype(np.float64)) for _ in range(5)]
    assert full._step is None
    assert losses == want
    for a, b in zip(short.get_weights(), full.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert short.optimizer.iterations == full.optimizer.iterations == 5
    logs = short.train_on_batch(x, y, return_dict=True)
    assert set(logs) == {"loss"}


def test_nan_raises_as_on_the_full_path(rng):
    m = _model()
    x, y = _data(rng)
    m.train_on_batch(x, y)
    before = [w.copy() for w in m.get_weights()]
    bad = x.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"NaN or infinite values \(first at index \(2, 1\)\)"):
        m.train_on_batch(bad, y)
    y_bad = y.copy()
    y_bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        m.train_on_batch(x, y_bad)
    for a, b in zip(before, m.get_weights()):
        np.testing.assert_array_equal(a, b)  # nothing ran
    assert m.optimizer.iterations == 1


def test_what_the_short_path_cannot_take_goes_the_full_way(rng):
    m = _model()
    x, y = _data(rng)
    m.train_on_batch(x, y)
    with pytest.raises(ValueError, match="expected input shape"):
        m.train_on_batch(np.zeros((4, 3), np.float32), y)
    with pytest.raises(ValueError, match="samples"):
        m.train_on_batch(x, y[:2])
    m.train_on_batch(np.asfortranarray(np.zeros((4, 2), np.float32)), y)  # converted
    m.train_on_batch(x, y, sample_weight=np.ones(4))
    backend.set_value(m.optimizer.lr, 0.5)  # a new rate reaches the next short step
    w = m.get_weights()[0].copy()
    m.train_on_batch(x, y)
    assert np.abs(m.get_weights()[0] - w).max() > 0.05
    m.compile("sgd", "mse")  # a new network: the full path again
    assert m.train_on_batch(x, y) == pytest.approx(
        float(np.mean((m.predict(x, verbose=0) - y) ** 2)), rel=0.5
    )


def test_sparse_targets_and_metric_functions_keep_their_checks(rng):
    m = _model("sparse_categorical_crossentropy", 3, "softmax")
    x, _ = _data(rng)
    labels = np.array([[0], [1], [2], [1]], np.float32)
    m.train_on_batch(x, labels)
    assert m._step is None
    with pytest.raises(ValueError, match=r"class ids in \[0, 3\)"):
        m.train_on_batch(x, np.array([[0], [1], [5], [1]], np.float32))

    def peak(y_true, y_pred):
        return np.abs(y_true - y_pred).max(axis=-1)

    b = _model()
    b.compile("adam", "binary_crossentropy", metrics=[peak])
    x, y = _data(rng)
    for _ in range(2):
        _, value = b.train_on_batch(x, y)
    assert b._step is None and 0.0 <= value <= 1.0
