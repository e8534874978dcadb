"""The core's GEMM against NumPy in float64, against its own plain reference (bitwise),
across thread counts and SIMD levels (bitwise), and row by row (bitwise)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import isa_levels
from hypothesis import given, settings
from hypothesis import strategies as st

from dropnet import _core

EDGE = [1, 2, 7, 8, 9, 16, 17, 33]
DTYPES = [np.float32, np.float64]


def levels():
    """Every instruction-set level built into the core that this CPU can run."""
    return isa_levels()


def operands(rng, m, n, k, trans_a, trans_b, dtype):
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    c = rng.standard_normal((m, n)).astype(dtype)
    return a, b, c


def run(a, b, c, trans_a, trans_b, accumulate, reference=False):
    out = c.copy()
    _core.gemm(a, b, out, trans_a, trans_b, accumulate, reference)
    return out


def expected(a, b, c, trans_a, trans_b, accumulate):
    a64 = a.astype(np.float64).T if trans_a else a.astype(np.float64)
    b64 = b.astype(np.float64).T if trans_b else b.astype(np.float64)
    out = a64 @ b64
    bound = np.abs(a64) @ np.abs(b64)
    if accumulate:
        out = out + c.astype(np.float64)
        bound = bound + np.abs(c.astype(np.float64))
    return out, bound


shapes = st.tuples(
    st.sampled_from(EDGE) | st.integers(1, 40),
    st.sampled_from(EDGE) | st.integers(1, 40),
    st.sampled_from(EDGE) | st.integers(1, 70),
)


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=60, deadline=None)
@given(
    shape=shapes,
    trans_a=st.booleans(),
    trans_b=st.booleans(),
    accumulate=st.booleans(),
    level=st.sampled_from(levels()),
    seed=st.integers(0, 2**32 - 1),
)
def test_gemm_matches_numpy_float64(shape, trans_a, trans_b, accumulate, dtype, level, seed):
    _core.set_cpu_capability(level)
    m, n, k = shape
    a, b, c = operands(np.random.default_rng(seed), m, n, k, trans_a, trans_b, dtype)
    got = run(a, b, c, trans_a, trans_b, accumulate)
    want, bound = expected(a, b, c, trans_a, trans_b, accumulate)
    eps = np.finfo(dtype).eps
    assert got.dtype == dtype and got.shape == (m, n)
    assert np.all(np.abs(got - want) <= 2 * (k + 2) * eps * bound + 1e-30)


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=60, deadline=None)
@given(
    shape=shapes,
    trans_a=st.booleans(),
    trans_b=st.booleans(),
    accumulate=st.booleans(),
    level=st.sampled_from(levels()),
    seed=st.integers(0, 2**32 - 1),
)
def test_gemm_optimized_equals_reference_bitwise(
    shape, trans_a, trans_b, accumulate, dtype, level, seed
):
    _core.set_cpu_capability(level)
    m, n, k = shape
    a, b, c = operands(np.random.default_rng(seed), m, n, k, trans_a, trans_b, dtype)
    fast = run(a, b, c, trans_a, trans_b, accumulate)
    ref = run(a, b, c, trans_a, trans_b, accumulate, reference=True)
    np.testing.assert_array_equal(fast, ref)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "trans_a, trans_b", [(False, False), (True, False), (False, True), (True, True)]
)
@pytest.mark.parametrize("n", [3, 65])
def test_gemm_one_thread_equals_two_threads_bitwise(dtype, trans_a, trans_b, n):
    rng = np.random.default_rng(5)
    a, b, c = operands(rng, 257, n, 129, trans_a, trans_b, dtype)
    _core.set_num_threads(1)
    one = run(a, b, c, trans_a, trans_b, True)
    _core.set_num_threads(2)
    two = run(a, b, c, trans_a, trans_b, True)
    np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=30, deadline=None)
@given(
    shape=shapes,
    trans_a=st.booleans(),
    trans_b=st.booleans(),
    level=st.sampled_from(levels()),
    seed=st.integers(0, 2**32 - 1),
)
def test_gemm_rows_equal_rows_computed_one_at_a_time_bitwise(
    shape, trans_a, trans_b, dtype, level, seed
):
    _core.set_cpu_capability(level)
    m, n, k = shape
    a, b, c = operands(np.random.default_rng(seed), m, n, k, trans_a, trans_b, dtype)
    whole = run(a, b, c, trans_a, trans_b, False)
    for i in range(m):
        row_a = np.ascontiguousarray(a[:, i : i + 1] if trans_a else a[i : i + 1])
        row = run(row_a, b, np.ascontiguousarray(c[i : i + 1]), trans_a, trans_b, False)
        np.testing.assert_array_equal(row[0], whole[i])


def test_gemm_rows_independent_of_batch_size_large():
    rng = np.random.default_rng(1)
    for n in (1, 5, 64, 300):
        a = rng.standard_normal((700, 96)).astype(np.float32)
        b = rng.standard_normal((96, n)).astype(np.float32)
        whole = _core.matmul(a, b)
        for lo, hi in ((0, 1), (3, 10), (100, 613), (699, 700)):
            np.testing.assert_array_equal(
                _core.matmul(np.ascontiguousarray(a[lo:hi]), b), whole[lo:hi]
            )


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_matches_numpy(dtype):
    rng = np.random.default_rng(2)
    a = rng.standard_normal((33, 17)).astype(dtype)
    b = rng.standard_normal((17, 9)).astype(dtype)
    got = _core.matmul(a, b)
    assert got.dtype == dtype
    np.testing.assert_allclose(
        got,
        a.astype(np.float64) @ b.astype(np.float64),
        rtol=1e-5 if dtype == np.float32 else 1e-13,
        atol=1e-5 if dtype == np.float32 else 1e-13,
    )


def test_gemm_simd_levels_agree_with_each_other_within_rounding():
    rng = np.random.default_rng(3)
    a, b, c = operands(rng, 33, 17, 65, False, False, np.float32)
    outs = []
    for level in levels():
        _core.set_cpu_capability(level)
        outs.append(run(a, b, c, False, False, False))
    for o in outs[1:]:
        np.testing.assert_allclose(o, outs[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_zero_k_writes_zeros_or_keeps_c(dtype):
    a = np.zeros((3, 0), dtype)
    b = np.zeros((0, 4), dtype)
    c = np.ones((3, 4), dtype)
    np.testing.assert_array_equal(run(a, b, c, False, False, False), np.zeros((3, 4)))
    np.testing.assert_array_equal(run(a, b, c, False, False, True), np.ones((3, 4)))


def test_gemm_rejects_mismatched_shapes_and_dtypes():
    a = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError):
        _core.gemm(a, np.zeros((5, 2), np.float32), np.zeros((3, 2), np.float32))
    with pytest.raises(TypeError):
        _core.gemm(a, np.zeros((4, 2), np.float64), np.zeros((3, 2), np.float32))
    with pytest.raises(ValueError):
        _core.gemm(a, np.zeros((4, 2), np.float32), np.zeros((2, 3), np.float32).T)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "trans_a, trans_b", [(False, False), (True, False), (False, True), (True, True)]
)
@pytest.mark.parametrize("accumulate", [False, True])
def test_gemm_packed_blocks_continue_each_chain_bitwise(dtype, trans_a, trans_b, accumulate):
    # k spans several cache blocks (768 floats / 256 doubles per block in the AVX-512 build,
    # fewer elsewhere), rows several row blocks and columns several panels with a ragged
    # edge: every block boundary must continue the chains exactly as the plain loop does.
    rng = np.random.default_rng(9)
    a, b, c = operands(rng, 130, 100, 1600, trans_a, trans_b, dtype)
    for threads in (1, 2):
        _core.set_num_threads(threads)
        out = run(a, b, c, trans_a, trans_b, accumulate)
        ref = run(a, b, c, trans_a, trans_b, accumulate, reference=True)
        np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_blocking_comes_from_the_cpu_caches(dtype):
    """The packed path's blocks follow the cache sizes the OS reports: whole register
    tiles, a packed A panel or B panel within L1d, an A block within L2."""
    for level in levels():
        _core.set_cpu_capability(level)
        b = _core.gemm_blocking(dtype)
        size = 4 if dtype == "float32" else 8
        assert b["l1d"] >= 4096 and b["l2"] >= b["l1d"] and b["l3_per_core"] > 0
        assert b["kc"] % 64 == 0 and 128 <= b["kc"] <= 1024
        assert b["mc"] % b["mr"] == 0 and b["nc"] % b["nr"] == 0
        assert min(b["mr"], b["nr"]) * b["kc"] * size <= b["l1d"]
        assert b["mc"] * b["kc"] * size <= b["l2"]
    with pytest.raises(ValueError, match="expected dtype 'float32' or 'float64', received 'int8'"):
        _core.gemm_blocking("int8")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a", [False, True])
def test_narrow_outputs_equal_reference_for_every_row_count(dtype, trans_a):
    """The narrow-output path (N < 8) groups rows (or columns of a transposed A) into
    blocks; every remainder of a block gives the reference's bits."""
    rng = np.random.default_rng(5)
    for level in levels():
        _core.set_cpu_capability(level)
        for m in range(1, 40):
            for n, k in ((1, 500), (3, 9), (7, 30)):
                a, b, c = operands(rng, m, n, k, trans_a, False, dtype)
                np.testing.assert_array_equal(
                    run(a, b, c, trans_a, False, True), run(a, b, c, trans_a, False, True, True)
                )


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_transposed_b_too_large_to_keep_is_read_while_alive(dtype):
    """One row panel against a transposed B of more than 1 MiB: its dense copy goes in a
    buffer freed when the call returns, and the product reads it only while it exists
    (a Dense layer's input gradient, a wide input under a narrow layer)."""
    rng = np.random.default_rng(11)
    a, b, c = operands(rng, 2, 100_000, 3, False, True, dtype)
    for level in levels():
        _core.set_cpu_capability(level)
        for _ in range(3):  # other work between calls reuses the freed memory
            scratch = [np.full((1000, 1000), 7.0, dtype) for _ in range(3)]
            got = run(a, b, c, False, True, False)
            del scratch
            want, bound = expected(a, b, c, False, True, False)
            assert np.all(np.abs(got - want) <= 10 * np.finfo(dtype).eps * bound + 1e-30)
            np.testing.assert_array_equal(got, run(a, b, c, False, True, False, True))
