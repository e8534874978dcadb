"""Shared fixtures: float64 models, thread count and SIMD level restored after each test."""

from __future__ import annotations

import numpy as np
import pytest

import dropnet
from dropnet import _core


@pytest.fixture
def float64():
    """Build models in float64 for the duration of a test (finite differences need it)."""
    previous = dropnet.backend.floatx()
    dropnet.backend.set_floatx("float64")
    try:
        yield
    finally:
        dropnet.backend.set_floatx(previous)


@pytest.fixture(autouse=True)
def _restore_global_state():
    """Tests that change threads, the SIMD level or the float type leave them as found."""
    threads = _core.num_threads()
    isa = _core.config()["isa"]
    floatx = dropnet.backend.floatx()
    yield
    _core.set_num_threads(threads)
    _core.set_cpu_capability("x86-64-v3" if isa.startswith("x86-64-v3") else "baseline")
    dropnet.backend.set_floatx(floatx)


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)
