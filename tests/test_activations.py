"""Activation kernels (forward and backward) against the NumPy reference, and their
backward against central differences of their forward in float64."""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref
from hypothesis import given, settings
from hypothesis import strategies as st

from dropnet import _core

DTYPES = [np.float32, np.float64]
TOL = {np.float32: {"rtol": 2e-6, "atol": 2e-6}, np.float64: {"rtol": 1e-12, "atol": 1e-13}}
# Where each activation has a kink (one-sided derivatives differ there).
KINKS = {
    "relu": (0.0,),
    "leaky_relu": (0.0,),
    "elu": (0.0,),
    "selu": (0.0,),
    "hard_sigmoid": (-3.0, 3.0),
    "hard_silu": (-3.0, 3.0),
    "relu6": (0.0, 6.0),
}


def inputs(rng, shape, name, dtype, scale=2.0):
    z = rng.standard_normal(shape) * scale
    for kink in KINKS.get(name, ()):  # stay away from the kinks
        z = np.where(np.abs(z - kink) < 1e-2, kink + 0.5, z)
    return z.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ref.ACTIVATIONS)
def test_activation_forward_matches_reference(name, dtype, rng):
    z = inputs(rng, (13, 17), name, dtype)
    alpha = ref.default_alpha(name)
    y = _core.activation_forward(name, z, alpha)
    assert y.dtype == dtype and y.shape == z.shape
    np.testing.assert_allclose(
        y, ref.activation_forward(name, z.astype(np.float64), alpha), **TOL[dtype]
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ref.ACTIVATIONS)
def test_activation_backward_matches_reference(name, dtype, rng):
    z = inputs(rng, (9, 33), name, dtype)
    dy = rng.standard_normal(z.shape).astype(dtype)
    alpha = ref.default_alpha(name)
    y = _core.activation_forward(name, z, alpha)
    dz = _core.activation_backward(name, z, y, dy, alpha)
    assert dz.dtype == dtype
    want = ref.activation_backward(name, z.astype(np.float64), dy.astype(np.float64), alpha)
    np.testing.assert_allclose(dz, want, rtol=TOL[dtype]["rtol"] * 4, atol=TOL[dtype]["atol"] * 4)


@pytest.mark.parametrize("name", ref.ACTIVATIONS)
def test_activation_backward_matches_central_differences_float64(name, rng):
    z = inputs(rng, (4, 7), name, np.float64)
    dy = rng.standard_normal(z.shape)
    alpha = ref.default_alpha(name)
    y = _core.activation_forward(name, z, alpha)
    dz = _core.activation_backward(name, z, y, dy, alpha)
    numeric = ref.central_difference(
        lambda: float(np.sum(dy * _core.activation_forward(name, z, alpha))), z
    )
    np.testing.assert_allclose(dz, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", ref.ACTIVATIONS)
def test_activation_reference_backward_matches_central_differences(name, rng):
    z = inputs(rng, (3, 5), name, np.float64)
    dy = rng.standard_normal(z.shape)
    numeric = ref.central_difference(lambda: float(np.sum(dy * ref.activation_forward(name, z))), z)
    np.testing.assert_allclose(ref.activation_backward(name, z, dy), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=25, deadline=None)
@given(
    alpha=st.floats(0.01, 3.0),
    name=st.sampled_from(["leaky_relu", "elu"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_activation_alpha_argument_matches_reference(dtype, alpha, name, seed):
    rng = np.random.default_rng(seed)
    z = inputs(rng, (5, 9), name, dtype)
    y = _core.activation_forward(name, z, alpha)
    np.testing.assert_allclose(
        y, ref.activation_forward(name, z.astype(np.float64), alpha), **TOL[dtype]
    )
    dy = np.ones_like(z)
    dz = _core.activation_backward(name, z, y, dy, alpha)
    np.testing.assert_allclose(
        dz,
        ref.activation_backward(name, z.astype(np.float64), dy.astype(np.float64), alpha),
        rtol=TOL[dtype]["rtol"] * 4,
        atol=TOL[dtype]["atol"] * 4,
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["sigmoid", "tanh", "softmax", "softplus", "elu", "selu"])
def test_activation_forward_is_finite_for_extreme_inputs(name, dtype):
    z = np.array([[-1000.0, -80.0, -1.0, 0.0, 1.0, 80.0, 1000.0]], dtype=dtype)
    alpha = ref.default_alpha(name)
    y = _core.activation_forward(name, z, alpha)
    assert np.all(np.isfinite(y)) or name in (
        "softplus",
        "selu",
        "elu",
    )  # unbounded above: inf is exact
    with np.errstate(over="ignore"):
        want = ref.activation_forward(name, z.astype(np.float64), alpha)
    np.testing.assert_allclose(y, want.astype(dtype), rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_softmax_rows_sum_to_one(dtype, rng):
    z = (rng.standard_normal((50, 9)) * 20).astype(dtype)
    y = _core.activation_forward("softmax", z)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6 if dtype == np.float32 else 1e-14)
    assert np.all(y >= 0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ref.ACTIVATIONS)
def test_activation_one_thread_equals_two_threads_bitwise(name, dtype, rng):
    z = inputs(rng, (2048, 64), name, dtype)
    dy = rng.standard_normal(z.shape).astype(dtype)
    alpha = ref.default_alpha(name)
    _core.set_num_threads(1)
    y1 = _core.activation_forward(name, z, alpha)
    d1 = _core.activation_backward(name, z, y1, dy, alpha)
    _core.set_num_threads(2)
    y2 = _core.activation_forward(name, z, alpha)
    d2 = _core.activation_backward(name, z, y2, dy, alpha)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(d1, d2)


def test_activation_rejects_unknown_name():
    with pytest.raises(ValueError, match="swish"):
        _core.activation_forward("swish", np.zeros((2, 2), np.float32))
