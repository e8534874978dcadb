"""The CNN core's shortcuts give the plain path's results: a ReLU differentiated inside the
pooling layer above it (bitwise equal to a separate Activation layer), the SIMD levels
(close to each other), and spatial-dropout masks through the per-channel fast path."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import isa_levels

import dropnet
from dropnet import _core
from dropnet.layers import (
    Activation,
    AveragePooling2D,
    Conv1D,
    Conv2D,
    Dense,
    Flatten,
    GlobalMaxPooling1D,
    Input,
    MaxPooling1D,
    MaxPooling2D,
    SpatialDropout1D,
    SpatialDropout2D,
)
from dropnet.models import Sequential


def _pair(shape, conv, pool, head):
    """(fused, plain): conv with relu then pool, and conv, Activation('relu'), pool."""
    dropnet.set_random_seed(11)
    fused = Sequential([Input(shape), conv(activation="relu"), pool(), *head()])
    plain = Sequential([Input(shape), conv(), Activation("relu"), pool(), *head()])
    for m in (fused, plain):
        m.compile(optimizer="sgd", loss="mse")
    plain.set_weights(fused.get_weights())
    return fused, plain


CASES = {
    "max2d": (
        (9, 7, 3),
        lambda **k: Conv2D(4, 3, padding="same", **k),
        lambda: MaxPooling2D(2, padding="same"),
        lambda: [Flatten(), Dense(2)],
    ),
    "avg2d-overlapping": (
        (8, 8, 2),
        lambda **k: Conv2D(3, 2, **k),
        lambda: AveragePooling2D(3, strides=2, padding="same"),
        lambda: [Flatten(), Dense(2)],
    ),
    "max1d-global": (
        (17, 3),
        lambda **k: Conv1D(5, 3, padding="causal", **k),
        lambda: MaxPooling1D(3, strides=1),
        lambda: [GlobalMaxPooling1D(), Dense(2)],
    ),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_relu_inside_pooling_backward_is_bitwise_the_plain_chain(rng, dtype, case):
    dropnet.backend.set_floatx(dtype)
    shape, conv, pool, head = CASES[case]
    fused, plain = _pair(shape, conv, pool, head)
    x = rng.standard_normal((6,) + shape).astype(dtype)
    y = rng.standard_normal((6, 2)).astype(dtype)
    lf, gf, dxf = fused._network(training=True).gradients(x, y, None, 2, True)
    lp, gp, dxp = plain._network(training=True).gradients(x, y, None, 2, True)
    assert lf == lp
    for a, b in zip(gf, gp):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(dxf, dxp)
    # (no shuffle: the two models draw different shuffle seeds)
    fused.fit(x, y, epochs=2, batch_size=3, shuffle=False, verbose=0)
    plain.fit(x, y, epochs=2, batch_size=3, shuffle=False, verbose=0)
    for a, b in zip(fused.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(a, b)


def _cnn():
    dropnet.set_random_seed(4)
    m = Sequential(
        [
            Input((12, 12, 3)),
            Conv2D(8, 3, padding="same", activation="relu"),
            MaxPooling2D(),
            SpatialDropout2D(0.3),
            Conv2D(16, 3, strides=2, activation="tanh"),
            Flatten(),
            Dense(10, activation="softmax"),
        ]
    )
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return m


def test_simd_levels_agree(rng):
    x = rng.standard_normal((32, 12, 12, 3)).astype(np.float32)
    y = rng.integers(0, 10, 32)
    results = {}
    for level in isa_levels():
        _core.set_cpu_capability(level)
        m = _cnn()
        m.fit(x, y, epochs=2, batch_size=8, verbose=0)
        results[level] = m.predict(x, verbose=0)
    base = results["baseline"]
    for level, out in results.items():
        np.testing.assert_allclose(out, base, atol=1e-5, err_msg=level)


@pytest.mark.parametrize(
    "layer,shape,axis",
    [
        (lambda: SpatialDropout2D(0.5), (5, 6, 40), (1, 2)),
        (lambda: SpatialDropout2D(0.5, data_format="channels_first"), (40, 5, 6), (2, 3)),
        (lambda: SpatialDropout1D(0.5), (9, 40), (1,)),
    ],
)
def test_spatial_masks_whole_maps(rng, layer, shape, axis):
    m = Sequential([Input(shape), layer()])
    x = rng.random((7,) + shape).astype(np.float32) + 0.5  # no zeros of its own
    y = m.predict(x, training=True, verbose=0)
    kept = y != 0
    # a map is dropped or kept whole, and kept values are exactly x / (1 - rate)
    assert np.all(kept.all(axis=axis) | (~kept).all(axis=axis))
    np.testing.assert_array_equal(y[kept], (x / np.float32(0.5))[kept])
    assert 0.3 < kept.all(axis=axis).mean() < 0.7
