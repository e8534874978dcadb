"""Loss kernels: per-sample values against the NumPy reference (Keras formulas, from
logits and from clipped probabilities), and their gradients against central differences."""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref
from hypothesis import given, settings
from hypothesis import strategies as st

from dropnet import _core

DTYPES = [np.float32, np.float64]
LOSSES = [
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "mean_squared_error",
    "mean_absolute_error",
]
CASES = [
    (name, logits)
    for name in LOSSES
    for logits in (False, True)
    if not (logits and name in ("mean_squared_error", "mean_absolute_error"))
]


def make_case(rng, name, from_logits, n, c, dtype, weighted=False):
    if from_logits:
        head = rng.standard_normal((n, c)) * 2
    elif name == "binary_crossentropy":
        head = rng.uniform(0.05, 0.95, (n, c))
    elif name in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
        head = rng.uniform(0.1, 1.0, (n, c))  # unnormalized: the loss normalizes rows
    else:
        head = rng.standard_normal((n, c))
    if name == "sparse_categorical_crossentropy":
        y = rng.integers(0, c, n).astype(np.float64)
    elif name == "categorical_crossentropy":
        y = np.eye(c)[rng.integers(0, c, n)]
    elif name == "binary_crossentropy":
        y = rng.integers(0, 2, (n, c)).astype(np.float64)
    else:
        y = rng.standard_normal((n, c))
        if name == "mean_absolute_error":  # keep |head - y| away from the kink
            y = np.where(np.abs(head - y) < 1e-2, y + 0.1, y)
    w = rng.uniform(0.0, 2.0, n) if weighted else None
    cast = lambda a: None if a is None else np.ascontiguousarray(a, dtype=dtype)
    return cast(head), cast(y), cast(w)


def tol(dtype):
    return {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-13}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name, from_logits", CASES)
def test_loss_values_match_reference(name, from_logits, weighted, dtype, rng):
    head, y, w = make_case(
        rng, name, from_logits, 11, 5 if name != "binary_crossentropy" else 3, dtype, weighted
    )
    per, grad = _core.loss(name, from_logits, head, y, w)
    assert per.dtype == np.float64 and per.shape == (11,)
    assert grad.dtype == dtype and grad.shape == head.shape
    np.testing.assert_allclose(per, ref.loss(name, from_logits, head, y, w), **tol(dtype))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name, from_logits", CASES)
def test_loss_gradient_matches_central_differences_float64(name, from_logits, weighted, rng):
    head, y, w = make_case(rng, name, from_logits, 6, 4, np.float64, weighted)
    _, grad = _core.loss(name, from_logits, head, y, w)
    numeric = ref.central_difference(
        lambda: float(np.sum(_core.loss(name, from_logits, head, y, w)[0])), head
    )
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name, from_logits", CASES)
def test_loss_gradient_float32_matches_reference_differences(name, from_logits, weighted, rng):
    head, y, w = make_case(rng, name, from_logits, 6, 4, np.float32, weighted)
    _, grad = _core.loss(name, from_logits, head, y, w)
    h64 = head.astype(np.float64)
    w64 = None if w is None else w.astype(np.float64)
    numeric = ref.central_difference(
        lambda: float(np.sum(ref.loss(name, from_logits, h64, y, w64))), h64
    )
    np.testing.assert_allclose(grad, numeric, rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_loss_sparse_equals_categorical_with_one_hot(dtype, rng):
    for from_logits in (False, True):
        head, ids, _ = make_case(rng, "sparse_categorical_crossentropy", from_logits, 8, 6, dtype)
        onehot = np.eye(6, dtype=dtype)[ids.astype(int)]
        ps, gs = _core.loss("sparse_categorical_crossentropy", from_logits, head, ids)
        pc, gc = _core.loss("categorical_crossentropy", from_logits, head, onehot)
        np.testing.assert_allclose(ps, pc, rtol=1e-12)
        np.testing.assert_allclose(gs, gc, rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_loss_binary_from_probabilities_clips_at_epsilon(dtype):
    head = np.array([[0.0], [1.0], [0.0], [1.0]], dtype=dtype)
    y = np.array([[1.0], [0.0], [0.0], [1.0]], dtype=dtype)
    per, grad = _core.loss("binary_crossentropy", False, head, y)
    want = ref.loss("binary_crossentropy", False, head, y)
    np.testing.assert_allclose(per, want, rtol=1e-5)
    assert per[0] == pytest.approx(-np.log(1e-7), rel=1e-5)
    assert np.all(np.isfinite(grad))
    np.testing.assert_array_equal(grad, 0.0)  # clip has zero gradient outside [eps, 1 - eps]


@pytest.mark.parametrize("dtype", DTYPES)
def test_loss_categorical_from_probabilities_normalizes_rows(dtype):
    head = np.array([[2.0, 1.0, 1.0], [0.3, 0.3, 0.4]], dtype=dtype)
    y = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=dtype)
    per, _ = _core.loss("categorical_crossentropy", False, head, y)
    np.testing.assert_allclose(per, [-np.log(0.5), -np.log(0.4)], rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["binary_crossentropy", "categorical_crossentropy"])
def test_loss_from_logits_is_stable_for_large_logits(name, dtype):
    head = np.array([[200.0, -200.0], [-500.0, 500.0]], dtype=dtype)
    y = np.array([[0.0, 1.0], [0.0, 1.0]], dtype=dtype)
    per, grad = _core.loss(name, True, head, y)
    assert np.all(np.isfinite(per)) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(per, ref.loss(name, True, head, y), rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 20),
    c=st.integers(1, 9),
    seed=st.integers(0, 2**32 - 1),
    case=st.sampled_from(CASES),
)
def test_loss_sample_weight_scales_loss_and_gradient(dtype, n, c, seed, case):
    name, from_logits = case
    if name != "binary_crossentropy" and name.endswith("crossentropy") and c < 2:
        c = 2
    rng = np.random.default_rng(seed)
    head, y, w = make_case(rng, name, from_logits, n, c, dtype, weighted=True)
    p1, g1 = _core.loss(name, from_logits, head, y)
    pw, gw = _core.loss(name, from_logits, head, y, w)
    np.testing.assert_allclose(pw, p1 * w.astype(np.float64), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(gw, g1 * w[:, None], rtol=1e-5, atol=1e-7)
