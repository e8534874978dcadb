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


def normalize(x, axis: int = -1, order: int = 2) -> np.ndarray:
    """``x`` scaled to unit ``order``-norm along ``axis`` (zero vectors stay zero), as Keras's
    ``normalize``."""
    x = np.asarray(x)
    norms = np.atleast_1d(np.linalg.norm(x, order, axis))
    norms[norms == 0] = 1
    return x / np.expand_dims(norms, axis)


def plot_model(model, to_file="model.png", **kwargs):
    """Keras's ``plot_model`` (see dropnet.plotting.plot_model): a drawing of the layer graph,
    made with matplotlib."""
    from .plotting import plot_model as draw

    return draw(model, to_file, **kwargs)


class PyDataset:
    """Batches by index, for data that is not one array in memory (files, augmentation):
    subclasses define ``__len__`` (batches per epoch) and ``__getitem__(index)`` returning
    ``(x, y)`` or ``(x, y, sample_weight)`` (``x`` alone for predict), and may define
    ``on_epoch_begin``/``on_epoch_end``. ``fit``, ``evaluate`` and ``predict`` take one in
    place of arrays.

    ``workers`` threads (or processes, with ``use_multiprocessing``) fetch up to
    ``max_queue_size`` batches ahead while the core trains on the current one; ``workers=0``
    fetches each batch when it is needed, in the training thread.
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        from ._data import check_int

        self._workers = check_int(workers, "PyDataset(workers)", 0)
        self._use_multiprocessing = bool(use_multiprocessing)
        self._max_queue_size = check_int(max_queue_size, "PyDataset(max_queue_size)", 1)

    @property
    def workers(self) -> int:
        return getattr(self, "_workers", 1)

    @workers.setter
    def workers(self, value) -> None:
        self._workers = value

    @property
    def use_multiprocessing(self) -> bool:
        return getattr(self, "_use_multiprocessing", False)

    @use_multiprocessing.setter
    def use_multiprocessing(self, value) -> None:
        self._use_multiprocessing = bool(value)

    @property
    def max_queue_size(self) -> int:
        return getattr(self, "_max_queue_size", 10)

    @max_queue_size.setter
    def max_queue_size(self, value) -> None:
        self._max_queue_size = value

    @property
    def num_batches(self) -> int | None:
        return len(self) if hasattr(self, "__len__") else None

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def on_epoch_begin(self) -> None:
        """Called before each epoch."""

    def on_epoch_end(self) -> None:
        """Called after each epoch (shuffle file lists here)."""


Sequence = PyDataset  # Keras 2's name (keras.utils.Sequence)
