"""The clocks every workload uses: per-call timers for kernels and single steps, and the
epoch clock of a training run (``Fit``: first epoch apart, the median of the later ones)."""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable


def time_per_call(fn: Callable[[], Any], min_time: float) -> tuple[float, int]:
    """Seconds per call of fn, from one batch of back-to-back calls lasting >= min_time,
    after two warm-up calls and as many calibration batches as needed."""
    fn()
    fn()
    iters = 1
    while True:
        start = time.perf_counter()
        for _ in range(iters):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            return elapsed / iters, iters
        iters = max(iters + 1, math.ceil(iters * 1.25 * min_time / max(elapsed, 1e-9)))


def median_call(fn: Callable[[], Any], calls: int) -> float:
    """Median seconds of `calls` calls after an untimed one (first touch of outputs)."""
    fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def mean_call(fn: Callable[[], Any], calls: int) -> float:
    """Mean seconds of `calls` back-to-back calls after up to 100 untimed ones."""
    for _ in range(min(calls, 100)):
        fn()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def steady_epochs(epoch_ends: list[float], start: float) -> dict[str, float | None]:
    """First-epoch time and the median of later epoch times, from end-of-epoch stamps (the
    first epoch carries set-up: construction, compilation, tracing)."""
    if not epoch_ends:
        return {"first_epoch_seconds": None, "steady_seconds_per_epoch": None}
    stamps = [start] + epoch_ends
    durations = [b - a for a, b in zip(stamps, stamps[1:])]
    return {
        "first_epoch_seconds": durations[0],
        "steady_seconds_per_epoch": statistics.median(durations[1:] or durations),
    }


@dataclass
class Fit:
    """One timed training run: when its clock started (before model construction, where the
    workload times that too), when each epoch ended and when training returned, with the
    training loss of every epoch and the last epoch's accuracy where they were recorded."""

    start: float
    end: float
    epoch_ends: list[float]
    losses: list[float] = field(default_factory=list)
    accuracy: float | None = None

    @property
    def steady(self) -> float:
        """The median epoch time after the first (raises if no epoch ended)."""
        value = steady_epochs(self.epoch_ends, self.start)["steady_seconds_per_epoch"]
        if value is None:
            raise RuntimeError("no epoch finished: nothing to time")
        return value

    def record(self, *names: str) -> dict[str, Any]:
        """The named figures (fit_seconds, first_loss, final_loss, final_acc), then the
        first-epoch and steady epoch times, as a workload's record carries them."""
        figures: dict[str, Callable[[], Any]] = {
            "fit_seconds": lambda: self.end - self.start,
            "first_loss": lambda: self.losses[0],
            "final_loss": lambda: self.losses[-1],
            "final_acc": lambda: self.accuracy,
        }
        return {**{n: figures[n]() for n in names}, **steady_epochs(self.epoch_ends, self.start)}


def epoch_clock(callback_base: type, stamps: list[float]) -> Any:
    """An instance of a framework's callback class (dropnet's or Keras's Callback) that
    appends time.perf_counter() to ``stamps`` at the end of every epoch."""

    class EpochClock(callback_base):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            stamps.append(time.perf_counter())

    return EpochClock()


def keras_style_fit(
    callback_base: type, model: Any, *args: Any, start: float | None, clock: bool, **kwargs: Any
) -> Fit:
    """model.fit(*args, verbose=0, **kwargs) of a model with Keras's API (dropnet's or
    Keras's), timed from `start` (now if None); with `clock`, a callback stamps each epoch's
    end (without, fit runs with no callbacks at all)."""
    stamps: list[float] = []
    if clock:
        kwargs["callbacks"] = [epoch_clock(callback_base, stamps)]
    start = time.perf_counter() if start is None else start
    history = model.fit(*args, verbose=0, **kwargs).history
    end = time.perf_counter()
    accuracy = float(history["accuracy"][-1]) if "accuracy" in history else None
    return Fit(start, end, stamps, [float(v) for v in history["loss"]], accuracy)
