"""Philox4x32-10 against Random123's known answers, and the dropout keep masks built on it:
keep fraction, rate edge cases, broadcasting and row independence."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import isa_levels
from hypothesis import given, settings
from hypothesis import strategies as st

from dropnet import _core

# Random123 kat_vectors: counter (4 words), key (2 words) -> output (4 words).
KNOWN_ANSWERS = [
    (
        (0x00000000, 0x00000000, 0x00000000, 0x00000000),
        (0x00000000, 0x00000000),
        (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8),
    ),
    (
        (0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF),
        (0xFFFFFFFF, 0xFFFFFFFF),
        (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD),
    ),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


def levels():
    """Every instruction-set level built into the core that this CPU can run."""
    return isa_levels()


@pytest.mark.parametrize("counter, key, expected", KNOWN_ANSWERS)
def test_philox4x32_10_matches_random123_known_answers(counter, key, expected):
    assert tuple(_core.philox4x32_10(list(counter), list(key))) == expected


def test_philox4x32_10_rejects_wrong_word_counts():
    with pytest.raises(ValueError):
        _core.philox4x32_10([0, 0, 0], [0, 0])
    with pytest.raises(ValueError):
        _core.philox4x32_10([0, 0, 0, 0], [0])


@settings(max_examples=40, deadline=None)
@given(
    rate=st.floats(0.02, 0.98),
    n=st.integers(1, 64),
    width=st.integers(1, 300),
    seed=st.integers(0, 2**63 - 1),
    stream=st.integers(0, 2**40),
)
def test_dropout_mask_keep_fraction_within_5_sigma(rate, n, width, seed, stream):
    mask = _core.dropout_mask([n, width], [n, width], rate, seed, stream)
    assert mask.shape == (n, width) and mask.dtype == np.bool_
    count = mask.size
    sigma = np.sqrt(rate * (1.0 - rate) / count)
    assert abs(mask.mean() - (1.0 - rate)) <= 5 * sigma + 1.0 / count


def test_dropout_mask_keep_fraction_large_sample():
    for rate in (0.1, 0.25, 0.5, 0.8):
        mask = _core.dropout_mask([1000, 1000], [1000, 1000], rate, 12345, 7)
        sigma = np.sqrt(rate * (1 - rate) / mask.size)
        assert abs(mask.mean() - (1 - rate)) < 5 * sigma


@pytest.mark.parametrize("rate, expected", [(0.0, True), (1.0, False)])
def test_dropout_mask_rate_edges_keep_all_or_none(rate, expected):
    mask = _core.dropout_mask([17, 33], [17, 33], rate, 3)
    assert np.all(mask == expected)


def test_dropout_mask_deterministic_in_seed_and_stream():
    a = _core.dropout_mask([8, 100], [8, 100], 0.5, 42, 1)
    b = _core.dropout_mask([8, 100], [8, 100], 0.5, 42, 1)
    c = _core.dropout_mask([8, 100], [8, 100], 0.5, 43, 1)
    d = _core.dropout_mask([8, 100], [8, 100], 0.5, 42, 2)
    np.testing.assert_array_equal(a, b)
    assert np.mean(a != c) > 0.3
    assert np.mean(a != d) > 0.3


def test_dropout_mask_bits_are_uncorrelated_between_neighbours():
    mask = _core.dropout_mask([1, 200000], [1, 200000], 0.5, 99).reshape(-1).astype(np.float64)
    x = mask - mask.mean()
    for lag in (1, 2, 3, 4, 5, 32):
        corr = np.mean(x[:-lag] * x[lag:]) / np.mean(x * x)
        assert abs(corr) < 5 / np.sqrt(mask.size)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(2, 40),
    width=st.sampled_from([1, 3, 7, 8, 9, 17, 32, 33, 100]),
    data=st.data(),
    rate=st.floats(0.05, 0.95),
    seed=st.integers(0, 2**32),
)
def test_dropout_mask_rows_with_row0_equal_slices_of_bigger_mask(rows, width, data, rate, seed):
    level = data.draw(st.sampled_from(levels()))
    _core.set_cpu_capability(level)
    full = _core.dropout_mask([rows, width], [rows, width], rate, seed, 5)
    r0 = data.draw(st.integers(0, rows - 1))
    r1 = data.draw(st.integers(r0 + 1, rows))
    part = _core.dropout_mask([r1 - r0, width], [r1 - r0, width], rate, seed, 5, r0)
    np.testing.assert_array_equal(part, full[r0:r1])
    for r in range(r0, r1):
        one = _core.dropout_mask([1, width], [1, width], rate, seed, 5, r)
        np.testing.assert_array_equal(one[0], full[r])


def test_dropout_mask_same_bits_for_every_simd_level():
    masks = []
    for level in levels():
        _core.set_cpu_capability(level)
        masks.append(_core.dropout_mask([37, 45], [37, 45], 0.3, 11, 3, 5))
    for m in masks[1:]:
        np.testing.assert_array_equal(m, masks[0])


def test_dropout_mask_same_bits_for_one_and_two_threads():
    _core.set_num_threads(1)
    a = _core.dropout_mask([512, 1024], [512, 1024], 0.4, 8, 1)
    _core.set_num_threads(2)
    b = _core.dropout_mask([512, 1024], [512, 1024], 0.4, 8, 1)
    np.testing.assert_array_equal(a, b)


@settings(max_examples=30, deadline=None)
@given(
    shape=st.lists(st.integers(1, 6), min_size=2, max_size=4),
    data=st.data(),
    rate=st.floats(0.1, 0.9),
)
def test_dropout_mask_shape_is_noise_shape(shape, data, rate):
    noise = [data.draw(st.sampled_from([1, d])) for d in shape]
    mask = _core.dropout_mask(shape, noise, rate, 1234, 0)
    assert mask.shape == tuple(noise)


def test_dropout_mask_broadcast_rows_do_not_depend_on_row0():
    a = _core.dropout_mask([4, 10], [1, 10], 0.5, 77, 0, 0)
    b = _core.dropout_mask([4, 10], [1, 10], 0.5, 77, 0, 3)
    np.testing.assert_array_equal(a, b)


def test_dropout_mask_rejects_bad_noise_shape():
    with pytest.raises(ValueError):
        _core.dropout_mask([4, 10], [4, 5], 0.5, 1)
    with pytest.raises(ValueError):
        _core.dropout_mask([4, 10], [4], 0.5, 1)


@pytest.mark.parametrize("width", [32, 64, 96, 160, 1000])
@pytest.mark.parametrize("row0", [0, 3, (2**34) // 32 - 2])  # the last: block counters cross 2^32
def test_dropout_mask_wide_simd_passes_match_every_level(width, row0):
    """AVX-512 builds draw 64 mask bits per pass, AVX2 32, the baseline one at a time:
    whole masks (odd and even word counts, counters wrapping their low word) agree."""
    masks = []
    for level in levels():
        _core.set_cpu_capability(level)
        masks.append(_core.dropout_mask([3, width], [3, width], 0.37, 2024, 9, row0))
    for m in masks[1:]:
        np.testing.assert_array_equal(m, masks[0])
    assert 0.5 < masks[0].mean() < 0.75
