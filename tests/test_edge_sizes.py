"""Every kernel at the sizes where SIMD tails, register tiles and thread splits change:
1, 7, 8, 9, 63, 64, 65 on each axis in turn (the others held small), forward and backward
through the core. Results are checked against NumPy where a reference is cheap and for
finiteness and shape everywhere; the CI's sanitizer run executes this file to catch any
out-of-bounds access or undefined behaviour at these sizes."""

from __future__ import annotations

import numpy as np
import pytest

import dropnet
from dropnet import _core
from dropnet.layers import (
    LSTM,
    AveragePooling2D,
    Conv1D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Input,
    MaxPooling2D,
    SpatialDropout2D,
)
from dropnet.models import Sequential

EDGES = [1, 7, 8, 9, 63, 64, 65]


@pytest.mark.parametrize("axis", ["M", "N", "K"])
@pytest.mark.parametrize("size", EDGES)
@pytest.mark.parametrize(
    "trans_a,trans_b", [(False, False), (True, False), (False, True), (True, True)]
)
def test_gemm_edges(rng, axis, size, trans_a, trans_b):
    dims = {"M": 9, "N": 8, "K": 7, axis: size}
    M, N, K = dims["M"], dims["N"], dims["K"]
    a = rng.standard_normal((K, M) if trans_a else (M, K)).astype(np.float32)
    b = rng.standard_normal((N, K) if trans_b else (K, N)).astype(np.float32)
    c = np.ones((M, N), np.float32)
    _core.gemm(a, b, c, trans_a, trans_b, True)
    expect = 1.0 + (a.T if trans_a else a).astype(np.float64) @ (b.T if trans_b else b)
    np.testing.assert_allclose(c, expect, rtol=1e-4, atol=1e-4)


def _run(model, x, y):
    net = model._network(training=True)
    loss, grads, dx = net.gradients(x, y, None, 1, True)
    assert np.isfinite(loss)
    for g, w in zip(grads, model.weights):
        assert g.shape == w.value.shape and np.all(np.isfinite(g))
    assert dx.size == x.size and np.all(np.isfinite(dx))
    out = model.predict(x, verbose=0)
    assert out.shape[0] == x.shape[0] and np.all(np.isfinite(out))
    model.fit(x, y, epochs=1, batch_size=7, verbose=0)


def _model(shape, *layers):
    dropnet.set_random_seed(1)
    m = Sequential([Input(shape), *layers])
    m.compile(optimizer="adam", loss="mse")
    return m


def _xy(rng, m, n, shape):
    x = rng.standard_normal((n,) + shape).astype(np.float32)
    return x, rng.standard_normal((n,) + m.output_shape[1:]).astype(np.float32)


@pytest.mark.parametrize("axis", ["n", "features", "units"])
@pytest.mark.parametrize("size", EDGES)
def test_dense_and_dropout_edges(rng, axis, size):
    d = {"n": 5, "features": 6, "units": 9, axis: size}
    m = _model(
        (d["features"],), Dropout(0.3), Dense(d["units"], activation="relu"), Dropout(0.5), Dense(3)
    )
    _run(m, *_xy(rng, m, d["n"], (d["features"],)))


@pytest.mark.parametrize("axis", ["n", "height", "width", "channels", "filters", "kernel"])
@pytest.mark.parametrize("size", EDGES)
def test_conv_pool_edges(rng, axis, size):
    d = {"n": 3, "height": 9, "width": 8, "channels": 2, "filters": 5, "kernel": 3, axis: size}
    k = min(d["kernel"], d["height"], d["width"]) if axis != "kernel" else d["kernel"]
    shape = (d["height"], d["width"], d["channels"])
    if axis == "kernel":
        shape = (max(size, 9), max(size, 8), 2)
    m = _model(
        shape,
        Conv2D(d["filters"], k, padding="same", activation="relu"),
        MaxPooling2D(2, padding="same"),
        SpatialDropout2D(0.2),
        Conv2D(4, min(k, 2), strides=2, padding="same"),
        AveragePooling2D(2, padding="same"),
        Flatten(),
        Dense(2),
    )
    _run(m, *_xy(rng, m, d["n"], shape))


@pytest.mark.parametrize("axis", ["steps", "channels", "filters"])
@pytest.mark.parametrize("size", EDGES)
def test_conv1d_edges(rng, axis, size):
    d = {"steps": 10, "channels": 3, "filters": 4, axis: size}
    m = _model(
        (d["steps"], d["channels"]),
        Conv1D(d["filters"], 3, padding="causal", dilation_rate=2),
        Flatten(),
        Dense(2),
    )
    _run(m, *_xy(rng, m, 4, (d["steps"], d["channels"])))


@pytest.mark.parametrize("axis", ["n", "steps", "features", "units"])
@pytest.mark.parametrize("size", EDGES)
def test_lstm_edges(rng, axis, size):
    d = {"n": 4, "steps": 6, "features": 3, "units": 5, axis: size}
    m = _model(
        (d["steps"], d["features"]),
        LSTM(d["units"], dropout=0.2, recurrent_dropout=0.3, return_sequences=True),
        LSTM(3, dropout=0.1),
        Dense(1),
    )
    _run(m, *_xy(rng, m, d["n"], (d["steps"], d["features"])))
