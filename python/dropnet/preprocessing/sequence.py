"""Sequences to fixed-size arrays, with the behaviour of Keras 2's
``keras.preprocessing.sequence``: ``pad_sequences`` and ``TimeseriesGenerator`` (a
``Sequence`` that ``fit``, ``evaluate`` and ``predict`` take). The departures from Keras are
listed in docs/behaviour.md."""

from __future__ import annotations

import numbers
from collections.abc import Sized
from typing import Any

import numpy as np

from .._data import check_int
from ..utils import PyDataset

_SIDES = ("pre", "post")


def pad_sequences(
    sequences,
    maxlen: int | None = None,
    dtype="int32",
    padding: str = "pre",
    truncating: str = "pre",
    value=0.0,
) -> np.ndarray:
    """A (len(sequences), maxlen) array of the sequences, each cut to ``maxlen`` (default:
    the longest) and filled with ``value``: ``padding="pre"`` puts the fill before a shorter
    sequence, ``"post"`` after it; ``truncating="pre"`` drops the start of a longer one,
    ``"post"`` its end. The elements may themselves be arrays (a sequence of vectors gives
    (len(sequences), maxlen, *vector shape)), of one shape throughout. Values are converted
    to ``dtype`` as numpy converts them (floats to ``int32`` are truncated); strings need
    ``dtype=object`` or a string dtype.

    >>> pad_sequences([[1, 2, 3], [4]], maxlen=2, padding="post")
    array([[2, 3],
           [4, 0]], dtype=int32)
    """
    what = "pad_sequences"
    if isinstance(sequences, (str, bytes)) or not isinstance(sequences, Sized):
        raise TypeError(
            f"{what}(sequences): expected a list of sequences, received {type(sequences).__name__}"
        )
    if padding not in _SIDES:
        raise ValueError(f"{what}(padding): expected 'pre' or 'post', received {padding!r}")
    if truncating not in _SIDES:
        raise ValueError(f"{what}(truncating): expected 'pre' or 'post', received {truncating!r}")
    if maxlen is not None:
        maxlen = check_int(maxlen, f"{what}(maxlen)", 0)
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{what}(dtype): expected a numpy dtype, received {dtype!r}") from None
    if isinstance(value, str) and dt.kind not in "OUS":
        raise ValueError(
            f"{what}: the fill value {value!r} is a string but dtype is {dt}; use dtype=object "
            "(or a string dtype) for sequences of strings"
        )
    seqs: Any = sequences
    lengths = []
    sample_shape: tuple[int, ...] | None = None
    for pos, s in enumerate(seqs):
        if isinstance(s, (str, bytes)):
            raise TypeError(
                f"{what}: sequence {pos} is a {type(s).__name__}, expected a list of values "
                "(turn texts into ids first, e.g. with Tokenizer.texts_to_sequences)"
            )
        try:
            lengths.append(len(s))
        except TypeError:
            raise ValueError(
                f"{what}: expected a list of sequences, but item {pos} is "
                f"{type(s).__name__} {s!r}, which has no length"
            ) from None
        if sample_shape is None and len(s):
            try:
                sample_shape = np.asarray(s).shape[1:]
            except ValueError as exc:
                raise ValueError(f"{what}: sequence {pos} is not an array ({exc})") from None
    if maxlen is None:
        maxlen = max(lengths, default=0)
    shape = (len(lengths), maxlen, *(sample_shape or ()))
    try:
        x = np.full(shape, value, dtype=dt)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(
            f"{what}: the fill value {value!r} does not fit dtype {dt} ({exc})"
        ) from None
    if maxlen == 0:
        return x
    for pos, s in enumerate(seqs):
        if not lengths[pos]:
            continue
        kept: Any = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        try:
            kept = np.asarray(kept, dtype=dt)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"{what}: sequence {pos} could not be converted to {dt} ({exc})"
            ) from None
        if kept.shape[1:] != sample_shape:
            raise ValueError(
                f"{what}: the elements of sequence {pos} have shape {kept.shape[1:]}, expected "
                f"{sample_shape} as in the first non-empty sequence"
            )
        if padding == "post":
            x[pos, : len(kept)] = kept
        else:
            x[pos, maxlen - len(kept) :] = kept
    return x


class TimeseriesGenerator(PyDataset):
    """Batches of windows over a series, for training on a series held in one array
    (Keras 2's ``TimeseriesGenerator``). Target row ``r`` runs over ``start_index + length``
    .. ``end_index`` (inclusive; default ``len(data) - 1``) in steps of ``stride``; its
    input is ``data[r - length : r : sampling_rate]`` (the ``length`` rows before it, every
    ``sampling_rate``-th one), reversed in time with ``reverse=True``, and its target
    ``targets[r]``. Batches hold ``batch_size`` consecutive target rows; with
    ``shuffle=True`` each batch is instead ``batch_size`` rows drawn at random (with
    replacement) from the whole range by numpy's global generator, which
    ``dropnet.set_random_seed`` seeds.

    ``gen[i]`` is the ``(x, y)`` of batch ``i``; ``len(gen)`` the number of batches.
    ``model.fit(gen, epochs=...)`` trains on it (``workers``, ``use_multiprocessing`` and
    ``max_queue_size`` as for any ``PyDataset``).
    """

    def __init__(
        self,
        data,
        targets,
        length: int,
        sampling_rate: int = 1,
        stride: int = 1,
        start_index: int = 0,
        end_index: int | None = None,
        shuffle: bool = False,
        reverse: bool = False,
        batch_size: int = 128,
        **kwargs,
    ):
        super().__init__(**kwargs)
        what = "TimeseriesGenerator"
        for name, arr in (("data", data), ("targets", targets)):
            if isinstance(arr, (str, bytes)) or not isinstance(arr, Sized):
                raise TypeError(
                    f"{what}({name}): expected an array or list indexed by time, received "
                    f"{type(arr).__name__}"
                )
        if len(data) != len(targets):
            raise ValueError(
                f"{what}: data and targets must have the same length; data has {len(data)} "
                f"rows, targets {len(targets)}"
            )
        self.data = data
        self.targets = targets
        self.length = check_int(length, f"{what}(length)", 1)
        self.sampling_rate = check_int(sampling_rate, f"{what}(sampling_rate)", 1)
        self.stride = check_int(stride, f"{what}(stride)", 1)
        self.batch_size = check_int(batch_size, f"{what}(batch_size)", 1)
        start_index = check_int(start_index, f"{what}(start_index)", 0)
        last = len(data) - 1
        if end_index is None:
            end_index = last
        elif isinstance(end_index, bool) or not isinstance(end_index, numbers.Integral):
            raise TypeError(f"{what}(end_index): expected None or an int, received {end_index!r}")
        elif end_index > last:
            raise ValueError(
                f"{what}(end_index): expected at most len(data) - 1 = {last}, received {end_index}"
            )
        # Keras's attribute: the first target row, after the first full window.
        self.start_index = start_index + self.length
        self.end_index = int(end_index)
        if self.start_index > self.end_index:
            raise ValueError(
                f"{what}: start_index + length = {self.start_index} > end_index = "
                f"{self.end_index}: no row is left to be a target (the series has {len(data)} "
                f"rows, each window {self.length})"
            )
        self.shuffle = bool(shuffle)
        self.reverse = bool(reverse)

    def __len__(self) -> int:
        span = self.batch_size * self.stride
        return (self.end_index - self.start_index + span) // span

    def _rows(self, index: int) -> np.ndarray:
        if self.shuffle:
            return np.random.randint(self.start_index, self.end_index + 1, size=self.batch_size)
        first = self.start_index + self.batch_size * self.stride * index
        stop = min(first + self.batch_size * self.stride, self.end_index + 1)
        return np.arange(first, stop, self.stride)

    def __getitem__(self, index):
        n = len(self)
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise TypeError(f"TimeseriesGenerator: expected an int batch index, received {index!r}")
        if not -n <= index < n:
            raise IndexError(f"TimeseriesGenerator: batch {index} out of range for {n} batches")
        rows = self._rows(int(index) % n)
        samples = np.array([self.data[r - self.length : r : self.sampling_rate] for r in rows])
        targets = np.array([self.targets[r] for r in rows])
        if self.reverse:
            samples = samples[:, ::-1, ...]
        return samples, targets

    def get_config(self) -> dict:
        """The arguments (the data and targets as given)."""
        return {
            "data": self.data,
            "targets": self.targets,
            "length": self.length,
            "sampling_rate": self.sampling_rate,
            "stride": self.stride,
            "start_index": self.start_index - self.length,
            "end_index": self.end_index,
            "shuffle": self.shuffle,
            "reverse": self.reverse,
            "batch_size": self.batch_size,
        }
