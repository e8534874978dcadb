"""Seeding: one global seed drives initializers, dropout masks and shuffling."""

from __future__ import annotations

import contextlib
import random
import threading

import numpy as np

_GLOBAL: np.random.Generator | None = None
_LOCAL = threading.local()  # per-thread override set by seed_scope


def set_random_seed(seed: int) -> None:
    """Seed dropnet (and Python's and NumPy's global generators, as Keras does).

    Models built after this call get the same initial weights, dropout masks and
    shuffles on every run, whatever the thread count.
    """
    global _GLOBAL
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"set_random_seed: expected an int, received {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"set_random_seed: expected a seed >= 0, received {seed}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    _GLOBAL = np.random.Generator(np.random.Philox(seed))


def next_seed() -> int:
    """A fresh 63-bit seed: from the innermost seed_scope of this thread, else the global
    sequence if seeded, else OS entropy."""
    scoped = getattr(_LOCAL, "generator", None)
    if scoped is not None:
        return int(scoped.integers(0, 2**63 - 1))
    if _GLOBAL is None:
        return int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> np.uint64(1))
    return int(_GLOBAL.integers(0, 2**63 - 1))


@contextlib.contextmanager
def seed_scope(seed: int):
    """Within the block, this thread's models and initializers draw their seeds from a
    sequence started at ``seed``, leaving the global sequence untouched. Estimators use it
    so that a fit with a given random_state is the same in any process or thread."""
    previous = getattr(_LOCAL, "generator", None)
    _LOCAL.generator = np.random.Generator(np.random.Philox(int(seed)))
    try:
        yield
    finally:
        _LOCAL.generator = previous


def generator(seed: int | None) -> np.random.Generator:
    """A NumPy generator for one initializer draw."""
    return np.random.Generator(np.random.Philox(next_seed() if seed is None else int(seed)))


def to_categorical(y, num_classes: int | None = None, dtype: str = "float32") -> np.ndarray:
    """One-hot encode integer class ids (Keras's ``to_categorical``)."""
    y = np.asarray(y)
    if y.dtype.kind not in "iub" and not (y.dtype.kind == "f" and np.all(y == np.round(y))):
        raise ValueError(f"to_categorical: expected integer class ids, received dtype {y.dtype}")
    ids = y.astype(np.int64).reshape(-1)
    if ids.size and ids.min() < 0:
        raise ValueError(f"to_categorical: expected class ids >= 0, received {ids.min()}")
    n = int(ids.max()) + 1 if num_classes is None else int(num_classes)
    if ids.size and ids.max() >= n:
        raise ValueError(f"to_categorical: class id {ids.max()} is out of range for {n} classes")
    out = np.zeros((ids.size, n), dtype=dtype)
    out[np.arange(ids.size), ids] = 1
    return out.reshape(y.shape + (n,)) if y.ndim > 1 and y.shape[-1] != 1 else out
