"""The kernels the benchmark measures against the machine's limits: the stand-alone dropout
forward/backward (the Dropout layer's element-wise path), the team-parallel copy and the
FMA-peak probe."""

import numpy as np
import pytest

import dropnet
from dropnet import _core

SIZES = [1, 31, 32, 33, 63, 64, 65, 1000, 4099, 70_001]


@pytest.fixture(autouse=True)
def _restore_threads():
    before = _core.num_threads()
    yield
    dropnet.set_num_threads(before)


@pytest.mark.parametrize("count", SIZES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rate", [0.0, 0.2, 0.5, 0.9])
def test_dropout_forward_matches_mask_and_scaling(count, dtype, rate):
    x = np.random.default_rng(count).standard_normal(count).astype(dtype)
    y, words = _core.dropout_forward(x, rate, seed=7, stream=3)
    keep = _core.dropout_mask([count], [count], rate, 7, 3)
    assert words.dtype == np.uint32 and words.size == (count + 31) // 32
    unpacked = np.unpackbits(words.view(np.uint8), bitorder="little")[:count].astype(bool)
    np.testing.assert_array_equal(unpacked, keep)
    expected = np.where(keep, x / dtype(1.0 - rate), dtype(0))
    np.testing.assert_array_equal(y, expected)
    dy = np.random.default_rng(count + 1).standard_normal(count).astype(dtype)
    dx = _core.dropout_backward(dy, words, rate)
    np.testing.assert_array_equal(dx, np.where(keep, dy / dtype(1.0 - rate), dtype(0)))


def test_dropout_forward_is_bitwise_the_same_on_any_thread_count():
    x = np.random.default_rng(0).standard_normal((513, 257)).astype(np.float32)
    results = []
    for threads in (1, 2):
        dropnet.set_num_threads(threads)
        results.append(_core.dropout_forward(x, 0.3, 11, 1))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_dropout_forward_writes_into_given_buffers():
    x = np.ones((64, 64), np.float32)
    out = np.full_like(x, np.nan)
    mask = np.zeros(x.size // 32, np.uint32)
    y, words = _core.dropout_forward(x, 0.5, 1, 0, out=out, mask=mask)
    assert np.shares_memory(y, out) and np.shares_memory(words, mask)
    assert set(np.unique(out)) <= {0.0, 2.0} and np.isfinite(out).all()
    dx = np.empty_like(x)
    back = _core.dropout_backward(out, mask, 0.5, out=dx)
    assert np.shares_memory(back, dx)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda x: _core.dropout_forward(x, 1.0, 0), ValueError),
        (lambda x: _core.dropout_forward(x, -0.1, 0), ValueError),
        (lambda x: _core.dropout_forward(x.astype(np.int32), 0.5, 0), TypeError),
        (lambda x: _core.dropout_forward(x[:, ::2], 0.5, 0), ValueError),
        (lambda x: _core.dropout_forward(x, 0.5, 0, out=np.empty(3, np.float32)), ValueError),
        (lambda x: _core.dropout_forward(x, 0.5, 0, mask=np.empty(1, np.uint32)), ValueError),
        (lambda x: _core.dropout_forward(x, 0.5, 0, mask=np.empty(8, np.int64)), TypeError),
        (lambda x: _core.dropout_backward(x, np.empty(1, np.uint32), 0.5), ValueError),
    ],
)
def test_dropout_kernels_reject_bad_input(call, error):
    with pytest.raises(error):
        call(np.ones((8, 32), np.float32))


@pytest.mark.parametrize("nbytes", [0, 1, 4097, 3 << 20])
def test_copy_copies_every_byte(nbytes):
    src = np.random.default_rng(nbytes).integers(0, 256, nbytes, dtype=np.uint8)
    dst = np.zeros_like(src)
    _core.copy(src, dst)
    np.testing.assert_array_equal(src, dst)


def test_copy_rejects_mismatched_arrays():
    with pytest.raises(ValueError, match="same number of bytes"):
        _core.copy(np.zeros(4, np.float32), np.zeros(5, np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.copy(np.zeros((4, 4), np.float32)[:, ::2], np.zeros(8, np.float32))


def test_fma_peak_reports_a_positive_rate():
    assert _core.fma_peak(0.01) > 0.1
    with pytest.raises(ValueError, match="seconds"):
        _core.fma_peak(0.0)
