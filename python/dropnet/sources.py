"""Where batches come from: arrays (the core gathers their rows; memory-mapped arrays are read
in place), Python generators and iterables, and ``PyDataset``/``Sequence`` objects. The core
pulls each batch from a Python source with the GIL taken only for that; the sources here
fetch the next batches in background threads (or processes) while the core computes."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import queue
import threading
from collections.abc import Iterable, Iterator

import numpy as np

from .utils import PyDataset

# A source's pull() returns this at the end of a pass.
_END = object()


def is_source(x) -> bool:
    """True for data given as batches (a generator, an iterable, a PyDataset/Sequence)
    rather than as arrays (ndarray, list or tuple of arrays, dict, DataFrame)."""
    if x is None or isinstance(x, (np.ndarray, list, tuple, dict, str, bytes)):
        return False
    if hasattr(x, "to_numpy") or hasattr(x, "__array__") or hasattr(x, "__array_interface__"):
        return False
    if isinstance(x, PyDataset):
        return True
    return isinstance(x, (Iterator, Iterable)) or (
        hasattr(x, "__getitem__") and hasattr(x, "__len__")
    )


def is_sequence(x) -> bool:
    """True for batches by index (a PyDataset/Sequence, or any object with ``__len__`` and
    ``__getitem__`` that is not array data)."""
    return is_source(x) and (
        isinstance(x, PyDataset)
        or (hasattr(x, "__getitem__") and hasattr(x, "__len__") and not isinstance(x, Iterator))
    )


def source_kind(x) -> str:
    if is_sequence(x):
        return type(x).__name__
    return "generator" if isinstance(x, Iterator) else type(x).__name__


def unpack(item, what: str = ""):
    """(x, y, sample_weight) from what a source yields: a tuple of one to three items, or
    x alone (anything else, a list being several inputs), as Keras unpacks them."""
    if isinstance(item, tuple):
        if not 1 <= len(item) <= 3:
            raise ValueError(
                f"{what + ': ' if what else ''}expected (x, y) or (x, y, sample_weight), "
                f"received a tuple of {len(item)} items"
            )
        return item + (None,) * (3 - len(item))
    return item, None, None


class Pull:
    """The object the core pulls batches from: ``begin(step)``, ``pull()`` → ``(xs, ys, w)``
    or None at the end of a pass, ``end()``. ``convert(item, where)`` turns a yielded item
    into the model's checked arrays; ``fetch`` supplies raw items."""

    def __init__(
        self, data, convert, shuffle: bool, seed: int, limit: int | None, what: str, opts: dict
    ):
        self.data = data
        self.convert = convert
        self.kind = source_kind(data)
        self.what = what
        self.epoch = 0
        self.batch = 0
        self.limit = limit  # pulls at most this many batches in all (None: no limit)
        self.pulled = 0
        self._fetch = _make_fetcher(data, shuffle, seed, limit, opts)

    # -- the core's side
    def begin(self, step) -> None:
        self.batch = 0
        self._fetch.begin(int(step), self.remaining())

    def remaining(self) -> int | None:
        return None if self.limit is None else self.limit - self.pulled

    def pull(self):
        if self.limit is not None and self.pulled >= self.limit:
            return None
        item = self._fetch.next()
        if item is _END:
            return None
        where = (
            f"{self.what}: batch {self.batch + 1} of epoch {self.epoch + 1} from the {self.kind}"
        )
        self.batch += 1
        self.pulled += 1
        try:
            return self.convert(item, where)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{where}: {exc}") from None

    def end(self) -> None:
        self.epoch += 1
        self._fetch.end()

    def close(self) -> None:
        self._fetch.close()


def _make_fetcher(data, shuffle: bool, seed: int, limit: int | None, opts: dict):
    """Fetching as the call's options say (Keras 2's workers, use_multiprocessing and
    max_queue_size arguments), else as the PyDataset says: workers threads (or processes)
    fetch up to max_queue_size batches ahead; workers=0 fetches in the training thread. A
    generator is read by one background thread (workers=0: none)."""

    def opt(name, default):
        value = opts.get(name)
        return getattr(data, name, default) if value is None else value

    workers = int(opt("workers", 1) or 0)
    depth = max(int(opt("max_queue_size", 10) or 1), 1)
    if is_sequence(data):
        processes = bool(workers and opt("use_multiprocessing", False))
        return _SequenceFetcher(data, shuffle, seed, workers, depth, processes=processes)
    return _IterFetcher(data, depth=depth, limit=limit, thread=workers > 0)


class _SequenceFetcher:
    """Items of a PyDataset by index, in order or in the epoch's shuffled order; workers
    fetch up to ``depth`` items ahead."""

    def __init__(self, data, shuffle, seed, workers, depth, processes=False):
        self.data, self.shuffle, self.seed = data, shuffle, seed
        self.workers, self.depth = workers, depth
        self.pool: concurrent.futures.Executor | None = None
        if workers:
            if processes:
                ctx = multiprocessing.get_context("fork")
                global _FORKED_DATA
                _FORKED_DATA = data  # read by the forked workers
                self.pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx)
                self._get = _forked_getitem
            else:
                self.pool = concurrent.futures.ThreadPoolExecutor(workers)
                self._get = data.__getitem__
        self.order: list[int] = []
        self.pos = 0
        self.pending: list[concurrent.futures.Future] = []

    def begin(self, step: int, remaining: int | None) -> None:
        n = len(self.data)
        if hasattr(self.data, "on_epoch_begin"):
            self.data.on_epoch_begin()
        order = np.arange(n)
        if self.shuffle and n > 1:
            order = np.random.default_rng([self.seed, step]).permutation(n)
        count = n if remaining is None else min(n, remaining)
        self.order = [int(i) for i in order[:count]]
        self.pos = 0
        self._fill()

    def _fill(self) -> None:
        if self.pool is None:
            return
        while len(self.pending) < self.depth and self.pos + len(self.pending) < len(self.order):
            index = self.order[self.pos + len(self.pending)]
            self.pending.append(self.pool.submit(self._get, index))

    def next(self):
        if self.pos >= len(self.order):
            return _END
        if self.pool is None:
            item = self.data[self.order[self.pos]]
        else:
            item = self.pending.pop(0).result()
        self.pos += 1
        self._fill()
        return item

    def end(self) -> None:
        self._drain()
        if hasattr(self.data, "on_epoch_end"):
            self.data.on_epoch_end()

    def _drain(self) -> None:
        for f in self.pending:
            f.cancel()
        for f in self.pending:
            if not f.cancelled():
                concurrent.futures.wait([f])
        self.pending = []

    def close(self) -> None:
        self._drain()
        if self.pool is not None:
            self.pool.shutdown(wait=True)
            self.pool = None


_FORKED_DATA = None


def _forked_getitem(index):
    assert _FORKED_DATA is not None
    return _FORKED_DATA[index]


class _IterFetcher:
    """Items of a generator or iterable, fetched by a background thread up to ``depth``
    ahead (never more than ``limit`` in all, when the number of batches used is known), or
    in the training thread without one. An iterator is consumed across epochs; any other
    iterable is iterated afresh each epoch (and continued across epochs when the steps per
    epoch are fewer than it holds)."""

    def __init__(self, data, depth: int, limit: int | None, thread: bool = True):
        self.data = data
        self.use_thread = thread
        self.limit = limit
        self.fetched = 0
        self.one_shot = isinstance(data, Iterator)
        self.depth = depth
        self.it: Iterator | None = iter(data) if self.one_shot else None
        self.exhausted = False
        self.q: queue.Queue = queue.Queue(maxsize=depth)
        self.thread: threading.Thread | None = None
        self.stop = threading.Event()

    def begin(self, step: int, remaining: int | None) -> None:
        if not self.one_shot and (self.it is None or self.exhausted):
            self._join()
            self.it = iter(self.data)
            self.exhausted = False
            self.q = queue.Queue(maxsize=self.depth)
        if self.use_thread and self.thread is None and not self.exhausted:
            self.stop.clear()
            self.thread = threading.Thread(target=self._run, name="dropnet-source", daemon=True)
            self.thread.start()

    def _fetch_one(self):
        assert self.it is not None
        if self.limit is not None and self.fetched >= self.limit:
            return _END
        try:
            item = next(self.it)
        except StopIteration:
            return _END
        self.fetched += 1
        return item

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                item = self._fetch_one()
                self._put(("end", None) if item is _END else ("item", item))
                if item is _END:
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the training thread, raised there
            self._put(("error", exc))

    def _put(self, entry) -> None:
        while not self.stop.is_set():
            try:
                self.q.put(entry, timeout=0.05)
                return
            except queue.Full:
                continue

    def next(self):
        if self.exhausted:
            return _END
        if not self.use_thread:
            item = self._fetch_one()
            self.exhausted = item is _END
            return item
        kind, value = self.q.get()
        if kind == "item":
            return value
        self.exhausted = True
        self.thread = None
        if kind == "end":
            return _END
        raise value

    def end(self) -> None:
        pass

    def _join(self) -> None:
        if self.thread is not None:
            self.stop.set()
            self.thread.join()
            self.thread = None

    def close(self) -> None:
        self._join()
