"""Conv1D/Conv2D and pooling against plain-NumPy float64 loops (hypothesis-drawn shapes,
strides, dilations and paddings, sizes 1, 7, 8, 9, 17, 33 and strides beyond the window),
finite-difference gradients of every variant, Keras's shapes, parameter counts and
errors, MaxNorm on conv kernels, saving, and bitwise equality on 1 and 2 threads."""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref
from hypothesis import given, settings
from hypothesis import strategies as st

import dropnet
from dropnet import _core
from dropnet.constraints import MaxNorm
from dropnet.layers import (
    AveragePooling1D,
    AveragePooling2D,
    Conv1D,
    Conv2D,
    Dense,
    Flatten,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    Input,
    MaxPooling1D,
    MaxPooling2D,
)
from dropnet.models import Sequential, load_model

SIZES = [1, 2, 3, 7, 8, 9, 17, 33]


# ----------------------------------------------------------------------------- references
def out_and_pad(n, k, s, d, padding):
    span = d * (k - 1) + 1
    if padding == "valid":
        return (n - span) // s + 1, 0
    if padding == "causal":
        return (n - 1) // s + 1, span - 1
    out = -(-n // s)
    return out, max((out - 1) * s + span - n, 0) // 2


def conv_reference(x, kernel, bias, strides, padding, dilation):
    """Channels-last cross-correlation over the spatial axes of x (n, *spatial, C)."""
    spatial = x.shape[1:-1]
    ks = kernel.shape[:-2]
    geo = [out_and_pad(n, k, s, d, padding) for n, k, s, d in zip(spatial, ks, strides, dilation)]
    out = np.zeros((x.shape[0], *[o for o, _ in geo], kernel.shape[-1]))
    for pos in np.ndindex(*[o for o, _ in geo]):
        acc = np.zeros((x.shape[0], kernel.shape[-1]))
        for kpos in np.ndindex(*ks):
            src = [
                p * s - pad + kk * d
                for p, s, (_, pad), kk, d in zip(pos, strides, geo, kpos, dilation)
            ]
            if all(0 <= v < n for v, n in zip(src, spatial)):
                acc += x[(slice(None), *src)] @ kernel[kpos]
        out[(slice(None), *pos)] = acc + (0 if bias is None else bias)
    return out


def pool_reference(x, pool, strides, padding, kind):
    spatial = x.shape[1:-1]
    geo = [out_and_pad(n, k, s, 1, padding) for n, k, s in zip(spatial, pool, strides)]
    out = np.zeros((x.shape[0], *[o for o, _ in geo], x.shape[-1]))
    for pos in np.ndindex(*[o for o, _ in geo]):
        cells = []
        for kpos in np.ndindex(*pool):
            src = [p * s - pad + kk for p, s, (_, pad), kk in zip(pos, strides, geo, kpos)]
            if all(0 <= v < n for v, n in zip(src, spatial)):
                cells.append(x[(slice(None), *src)])
        cells = np.stack(cells)
        out[(slice(None), *pos)] = cells.max(0) if kind == "max" else cells.mean(0)
    return out


# ----------------------------------------------------------------------------- strategies
@st.composite
def conv_cases(draw, rank):
    padding = draw(st.sampled_from(["valid", "same", "causal"] if rank == 1 else ["valid", "same"]))
    spatial = tuple(draw(st.sampled_from(SIZES)) for _ in range(rank))
    ks = tuple(draw(st.integers(1, 4)) for _ in range(rank))
    if draw(st.booleans()):
        strides, dilation = tuple(draw(st.integers(1, 5)) for _ in range(rank)), (1,) * rank
    else:
        strides, dilation = (1,) * rank, tuple(draw(st.integers(1, 3)) for _ in range(rank))
    for n, k, s, d in zip(spatial, ks, strides, dilation):
        if out_and_pad(n, k, s, d, padding)[0] < 1:
            padding = "same"  # 'valid' would leave no output; 'same' always has one
    channels, filters = draw(st.integers(1, 5)), draw(st.integers(1, 9))
    return spatial, channels, filters, ks, strides, dilation, padding


def _conv_model(rank, spatial, channels, filters, ks, strides, dilation, padding, rng, **kw):
    layer = (Conv1D if rank == 1 else Conv2D)(
        filters, ks, strides=strides, dilation_rate=dilation, padding=padding, **kw
    )
    m = Sequential([Input(spatial + (channels,)), layer])
    kernel, bias = m.get_weights()
    m.set_weights([kernel, rng.standard_normal(bias.shape)])
    return m


@pytest.mark.parametrize("rank", [1, 2])
@pytest.mark.parametrize("dtype,rtol", [("float64", 1e-10), ("float32", 2e-5)])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_conv_matches_reference(rank, dtype, rtol, data):
    dropnet.backend.set_floatx(dtype)
    spatial, channels, filters, ks, strides, dilation, padding = data.draw(conv_cases(rank))
    rng = np.random.default_rng(len(spatial) + sum(spatial) + filters)
    m = _conv_model(rank, spatial, channels, filters, ks, strides, dilation, padding, rng)
    x = rng.standard_normal((3,) + spatial + (channels,)).astype(dtype)
    kernel, bias = (w.astype(np.float64) for w in m.get_weights())
    expect = conv_reference(x.astype(np.float64), kernel, bias, strides, padding, dilation)
    got = m.predict(x, verbose=0)
    assert got.shape == expect.shape == (3,) + m.output_shape[1:]
    np.testing.assert_allclose(got, expect, rtol=rtol, atol=rtol * 10)


@st.composite
def pool_cases(draw, rank):
    padding = draw(st.sampled_from(["valid", "same"]))
    spatial = tuple(draw(st.sampled_from(SIZES)) for _ in range(rank))
    pool = tuple(draw(st.integers(1, 4)) for _ in range(rank))
    strides = draw(st.one_of(st.none(), st.tuples(*[st.integers(1, 5)] * rank)))
    eff = strides or pool
    if any(out_and_pad(n, k, s, 1, padding)[0] < 1 for n, k, s in zip(spatial, pool, eff)):
        padding = "same"
    return spatial, draw(st.integers(1, 6)), pool, strides, padding


@pytest.mark.parametrize("rank", [1, 2])
@pytest.mark.parametrize("kind", ["max", "avg"])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_pooling_matches_reference(rank, kind, data):
    dropnet.backend.set_floatx("float64")
    spatial, channels, pool, strides, padding = data.draw(pool_cases(rank))
    cls = {
        ("max", 1): MaxPooling1D,
        ("max", 2): MaxPooling2D,
        ("avg", 1): AveragePooling1D,
        ("avg", 2): AveragePooling2D,
    }[kind, rank]
    m = Sequential([Input(spatial + (channels,)), cls(pool, strides=strides, padding=padding)])
    rng = np.random.default_rng(sum(spatial) + channels)
    x = rng.standard_normal((2,) + spatial + (channels,))
    expect = pool_reference(x, pool, strides or pool, padding, kind)
    np.testing.assert_allclose(m.predict(x, verbose=0), expect, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    "cls,shape,axes",
    [
        (GlobalMaxPooling1D, (7, 3), (1,)),
        (GlobalAveragePooling1D, (7, 3), (1,)),
        (GlobalMaxPooling2D, (5, 4, 3), (1, 2)),
        (GlobalAveragePooling2D, (5, 4, 3), (1, 2)),
    ],
)
def test_global_pooling(rng, float64, cls, shape, axes):
    x = rng.standard_normal((4,) + shape)
    fn = np.max if "Max" in cls.__name__ else np.mean
    m = Sequential([Input(shape), cls()])
    np.testing.assert_allclose(m.predict(x, verbose=0), fn(x, axis=axes), rtol=1e-12)
    kept = Sequential([Input(shape), cls(keepdims=True)])
    assert kept.output_shape == (None,) + (1,) * len(axes) + (3,)


# ----------------------------------------------------------------------------- gradients
def _check_gradients(model, x, y):
    net = model._network(training=True)
    _, grads, dx = net.gradients(x, y, None, 1, True)

    def f():
        return net.gradients(x, y, None, 1, True)[0]

    for w, g in zip(model.weights, grads):
        np.testing.assert_allclose(
            g, ref.central_difference(f, w.value), rtol=2e-6, atol=1e-9, err_msg=w.name
        )
    np.testing.assert_allclose(
        dx.reshape(x.shape), ref.central_difference(f, x), rtol=2e-6, atol=1e-9
    )


GRAD_CASES = {
    "conv2d-valid": ((7, 6, 2), lambda: [Conv2D(3, 3, activation="tanh")]),
    "conv2d-same-stride2": (
        (7, 8, 2),
        lambda: [Conv2D(3, (3, 2), strides=2, padding="same", activation="tanh")],
    ),
    "conv2d-dilated": (
        (9, 9, 2),
        lambda: [Conv2D(2, 3, dilation_rate=2, padding="same", activation="softplus")],
    ),
    "conv2d-1x1": ((4, 4, 3), lambda: [Conv2D(2, 1, activation="sigmoid")]),
    "conv2d-stride-beyond-kernel": ((9, 9, 1), lambda: [Conv2D(2, 2, strides=3)]),
    "conv1d-causal-dilated": (
        (11, 3),
        lambda: [Conv1D(4, 3, padding="causal", dilation_rate=2, activation="tanh")],
    ),
    "conv1d-same-stride2": (
        (9, 2),
        lambda: [Conv1D(3, 4, strides=2, padding="same", activation="elu")],
    ),
    "maxpool2d-same": (
        (7, 5, 2),
        lambda: [Conv2D(2, 2, activation="tanh"), MaxPooling2D(2, padding="same")],
    ),
    "maxpool2d-overlap": ((8, 8, 1), lambda: [MaxPooling2D(3, strides=2)]),
    "avgpool2d-same": ((7, 7, 2), lambda: [AveragePooling2D(3, strides=2, padding="same")]),
    "maxpool1d": ((10, 3), lambda: [MaxPooling1D(3, strides=2, padding="same")]),
    "avgpool1d": ((10, 3), lambda: [AveragePooling1D(4, padding="same")]),
    "global-max2d": ((5, 4, 3), lambda: [GlobalMaxPooling2D()]),
    "global-avg1d": ((6, 3), lambda: [GlobalAveragePooling1D()]),
}


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("case", sorted(GRAD_CASES))
def test_finite_difference_gradients(case):
    shape, layers = GRAD_CASES[case]
    dropnet.set_random_seed(2)
    head = [] if "global" in case else [Flatten()]
    m = Sequential([Input(shape), *layers(), *head, Dense(2)])
    m.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(3)
    # distinct values (a permutation) so max pooling has no ties for the differences to cross
    size = int(np.prod((3,) + shape))
    x = rng.permutation(size).reshape((3,) + shape) * (2.0 / size) - 1.0
    _check_gradients(m, x, rng.standard_normal((3, 2)))


def test_max_pool_tie_goes_to_first_cell(float64):
    m = Sequential([Input((4, 4, 1)), MaxPooling2D(2), Flatten()])
    m.compile(optimizer="sgd", loss="mse")
    x = np.ones((1, 4, 4, 1))
    _, _, dx = m._network(training=True).gradients(x, np.zeros((1, 4)), None, 0, True)
    dx = dx.reshape(4, 4)
    expect = np.zeros((4, 4))
    expect[::2, ::2] = (
        2 * 1 / 4
    )  # d mse / d y = 2 (y - 0) / 4 outputs, routed to the window's first cell
    np.testing.assert_array_equal(dx, expect)


# ----------------------------------------------------------------------------- Keras surface
def test_shapes_parameters_and_summary():
    m = Sequential(
        [
            Input((28, 28, 1)),
            Conv2D(32, 3, activation="relu"),
            MaxPooling2D(),
            Conv2D(64, (3, 3), strides=2, padding="same"),
            Flatten(),
            Dense(10),
        ]
    )
    assert [layer.output_shape for layer in m.layers] == [
        (26, 26, 32),
        (13, 13, 32),
        (7, 7, 64),
        (3136,),
        (10,),
    ]
    assert m.layers[0].kernel.shape == (3, 3, 1, 32)
    assert m.count_params() == (9 * 32 + 32) + (9 * 32 * 64 + 64) + (3136 * 10 + 10)
    lines = []
    m.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "conv2d" in text and "(None, 26, 26, 32)" in text and "18,496" in text
    c1 = Sequential([Input((100, 4)), Conv1D(8, 5, padding="causal"), GlobalMaxPooling1D()])
    assert c1.layers[0].output_shape == (100, 8) and c1.output_shape == (None, 8)


@pytest.mark.parametrize(
    "build,match",
    [
        (lambda: Conv2D(0, 3), "filters"),
        (lambda: Conv2D(4, 0), "kernel_size"),
        (lambda: Conv2D(4, (3,)), "kernel_size"),
        (lambda: Conv2D(4, 3, padding="causal"), "padding"),
        (lambda: Conv1D(4, 3, padding="full"), "padding"),
        (lambda: Conv2D(4, 3, strides=2, dilation_rate=2), "dilation"),
        (lambda: Conv2D(4, 3, data_format="channels_first"), "channels_last"),
        (lambda: MaxPooling2D(0), "pool_size"),
        (lambda: AveragePooling1D(2, strides=-1), "strides"),
        (lambda: Sequential([Input((8,)), Conv2D(2, 3)]), "rank 4"),
        (lambda: Sequential([Input((8, 8, 1)), Conv1D(2, 3)]), "rank 3"),
        (lambda: Sequential([Input((2, 2, 1)), Conv2D(2, 3)]), "output size would be 0"),
        (lambda: Sequential([Input((1, 5)), MaxPooling1D(2)]), "output size would be 0"),
        (lambda: Sequential([Input((5,)), GlobalAveragePooling1D()]), "rank 3"),
    ],
)
def test_errors_name_the_problem(build, match):
    with pytest.raises((ValueError, TypeError), match=match):
        build()


def test_max_norm_over_conv_kernel_axes(rng):
    x = rng.standard_normal((32, 6, 6, 2)).astype(np.float32) * 5
    y = rng.integers(0, 3, 32)
    for axis in ([0, 1, 2], 0):
        dropnet.set_random_seed(1)
        m = Sequential(
            [
                Input((6, 6, 2)),
                Conv2D(4, 3, kernel_constraint=MaxNorm(0.2, axis=axis)),
                Flatten(),
                Dense(3, activation="softmax"),
            ]
        )
        m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        m.fit(x, y, epochs=3, verbose=0)
        k = m.layers[0].kernel.numpy()
        norms = np.sqrt((k.astype(np.float64) ** 2).sum(axis=tuple(np.atleast_1d(axis))))
        assert norms.max() <= 0.2 + 1e-6
        assert norms.max() > 0.199  # the constraint was active, not vacuous


def test_save_load_and_threads_bitwise(tmp_path, rng):
    x = rng.standard_normal((48, 10, 10, 3)).astype(np.float32)
    y = rng.integers(0, 4, 48)
    weights = []
    for threads in (1, 2):
        _core.set_num_threads(threads)
        dropnet.set_random_seed(9)
        m = Sequential(
            [
                Input((10, 10, 3)),
                Conv2D(8, 3, padding="same", activation="relu"),
                MaxPooling2D(),
                Conv2D(8, 3, strides=2),
                GlobalAveragePooling2D(),
                Dense(4, activation="softmax"),
            ]
        )
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        m.fit(x, y, epochs=2, batch_size=16, verbose=0)
        weights.append(m.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)
    path = tmp_path / "cnn.keras"
    m.save(path)
    np.testing.assert_array_equal(load_model(path).predict(x, verbose=0), m.predict(x, verbose=0))
