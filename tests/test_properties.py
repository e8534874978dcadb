"""Properties of the ops, drawn by hypothesis: they match the NumPy references, rows never
influence each other, one thread and two give the same bits, and softmax ignores a
constant added to a row."""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import predict

import dropnet
from dropnet import _core
from dropnet.layers import LSTM, Conv2D, Dense, Dropout, Flatten, Input, MaxPooling2D
from dropnet.models import Sequential

TOL = {np.float32: {"rtol": 2e-5, "atol": 1e-6}, np.float64: {"rtol": 1e-12, "atol": 1e-14}}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 70),
    cols=st.integers(1, 70),
    name=st.sampled_from(ref.ACTIVATIONS),
    seed=st.integers(0, 2**32 - 1),
)
def test_activations_match_reference(dtype, rows, cols, name, seed):
    z = (np.random.default_rng(seed).standard_normal((rows, cols)) * 3).astype(dtype)
    alpha = ref.default_alpha(name)
    y = _core.activation_forward(name, z, alpha)
    np.testing.assert_allclose(
        y, ref.activation_forward(name, z.astype(np.float64), alpha), **TOL[dtype]
    )


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 40),
    cols=st.integers(2, 70),
    seed=st.integers(0, 2**32 - 1),
    shift=st.floats(-500, 500),
)
def test_softmax_shift_invariance(rows, cols, seed, shift):
    z = np.random.default_rng(seed).standard_normal((rows, cols)) * 4
    y = _core.activation_forward("softmax", z)
    np.testing.assert_allclose(
        _core.activation_forward("softmax", z + shift), y, rtol=1e-9, atol=1e-15
    )
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-12)


def _models():
    dropnet.set_random_seed(5)
    dense = Sequential(
        [Input((13,)), Dense(33, activation="relu"), Dropout(0.3), Dense(4, activation="softmax")]
    )
    conv = Sequential(
        [
            Input((9, 9, 2)),
            Conv2D(6, 3, padding="same", activation="relu"),
            MaxPooling2D(),
            Flatten(),
            Dense(3),
        ]
    )
    lstm = Sequential([Input((7, 3)), LSTM(5, dropout=0.2, recurrent_dropout=0.2), Dense(2)])
    return {"dense": dense, "conv": conv, "lstm": lstm}


MODELS = _models()


@pytest.mark.parametrize("kind", sorted(MODELS))
@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 70), seed=st.integers(0, 2**32 - 1), training=st.booleans())
def test_rows_are_independent(kind, n, seed, training):
    """A row's output does not depend on the rows around it or the batch split, in
    inference and in Monte-Carlo mode (its masks follow its row index)."""
    m = MODELS[kind]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n,) + tuple(m.input_shape[1:])).astype(np.float32)
    net = m._network(training=False)
    mc = 7 if training else -1
    full = predict(net, x, mc)
    k = int(rng.integers(0, n))
    if not training:  # inference: any single row alone gives the same bits
        np.testing.assert_array_equal(predict(net, x[k : k + 1], mc), full[k : k + 1])
    # both modes: prefixes agree with the full batch
    np.testing.assert_array_equal(predict(net, x[: k + 1], mc), full[: k + 1])


@settings(max_examples=12, deadline=None)
@given(
    m=st.integers(60, 300),
    n=st.integers(8, 200),
    k=st.integers(60, 400),
    seed=st.integers(0, 2**32 - 1),
    trans_a=st.booleans(),
    trans_b=st.booleans(),
)
def test_gemm_one_thread_equals_two(m, n, k, seed, trans_a, trans_b):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(np.float32)
    outs = []
    for threads in (1, 2):
        _core.set_num_threads(threads)
        c = np.zeros((m, n), np.float32)
        _core.gemm(a, b, c, trans_a, trans_b)
        outs.append(c)
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], _ref_gemm(a, b, trans_a, trans_b))


def _ref_gemm(a, b, trans_a, trans_b):
    c = np.zeros(
        ((a.shape[1] if trans_a else a.shape[0]), (b.shape[0] if trans_b else b.shape[1])),
        np.float32,
    )
    _core.gemm(a, b, c, trans_a, trans_b, reference=True)
    return c


@pytest.mark.parametrize("kind", sorted(MODELS))
@settings(max_examples=6, deadline=None)
@given(n=st.integers(20, 200), seed=st.integers(0, 2**32 - 1))
def test_models_one_thread_equals_two(kind, n, seed):
    m = MODELS[kind]
    x = (
        np.random.default_rng(seed)
        .standard_normal((n,) + tuple(m.input_shape[1:]))
        .astype(np.float32)
    )
    net = m._network(training=False)
    outs = []
    for threads in (1, 2):
        _core.set_num_threads(threads)
        outs.append((predict(net, x, -1), predict(net, x, 3)))
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a, b)
