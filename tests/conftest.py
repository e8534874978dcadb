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
    _core.set_cpu_capability(isa.split()[0])
    dropnet.backend.set_floatx(floatx)


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


def isa_levels() -> list[str]:
    """Every instruction-set level built into the core that this CPU can run."""
    rank = {"baseline": 0, "x86-64-v3": 1, "x86-64-v4": 2}
    cfg = _core.config()
    best = cfg["isa_best"].split()[0]
    return [
        lv for lv in rank if rank[lv] <= rank[best] and (lv == "baseline" or lv in cfg["isa_built"])
    ]
