"""The contract every workload fulfils: which jobs one repeat consists of (planned in the
parent), how a job is run for one framework (inside a child process), and how results read."""

from __future__ import annotations

import statistics
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable


class FrameworkMissing(Exception):
    """Raised inside a child when the framework (or one of its parts) cannot be imported."""


@dataclass(frozen=True)
class Options:
    """Command-line choices a workload may consult when planning its jobs."""

    repeats: int
    quick: bool
    threads: tuple[int, ...] | None  # None: the workload's default
    epochs: dict[str, int]  # per-framework epoch overrides ("*" = every peer)
    seed: int


@dataclass
class Job:
    """One child-process run: a framework measuring one or more cases on a thread count."""

    framework: str
    threads: int
    params: dict[str, Any]
    label: str = ""  # short text for progress lines
    env: dict[str, str | None] = field(default_factory=dict)  # extra child variables (None unsets)


@dataclass(frozen=True)
class Metric:
    """How a case's measured seconds are shown: value = to_value(seconds), in `unit`."""

    name: str
    unit: str
    to_value: Callable[[float], float]
    higher_is_better: bool = False


_WARMED: set[tuple[str, str]] = set()


def first_in_process(workload: str, framework: str) -> bool:
    """True the first time a worker process asks for this (workload, framework): one-off
    process costs (lazy imports, thread pools, first-call set-up) are paid once, untimed,
    by the caller's warm-up; later jobs in the same worker skip it."""
    key = (workload, framework)
    if key in _WARMED:
        return False
    _WARMED.add(key)
    return True


def pick_epochs(
    framework: str, opts: Options, default: dict[str, int], quick: dict[str, int]
) -> int:
    """Epochs for one framework: its --epochs override, else the peers' '*' override (never
    applied to dropnet), else the workload's quick or default count."""
    if framework in opts.epochs:
        return opts.epochs[framework]
    if framework != "dropnet" and "*" in opts.epochs:
        return opts.epochs["*"]
    return (quick if opts.quick else default)[framework]


def steady_epochs(epoch_ends: list[float], start: float) -> dict[str, float | None]:
    """First-epoch time and the median of later epoch times, from end-of-epoch stamps (the
    first epoch carries set-up: construction, compilation, tracing)."""
    if not epoch_ends:
        return {"first_epoch_seconds": None, "steady_seconds_per_epoch": None}
    stamps = [start] + epoch_ends
    durations = [b - a for a, b in zip(stamps, stamps[1:])]
    later = durations[1:] or durations
    return {
        "first_epoch_seconds": durations[0],
        "steady_seconds_per_epoch": statistics.median(later),
    }


def steady_epoch_seconds(epoch_ends: list[float], start: float) -> float:
    """The median epoch time after the first (raises if no epoch ended)."""
    value = steady_epochs(epoch_ends, start)["steady_seconds_per_epoch"]
    if value is None:
        raise RuntimeError("no epoch finished: nothing to time")
    return value


def epoch_clock(callback_base: type, stamps: list[float]) -> Any:
    """An instance of a framework's callback class (dropnet's or Keras's Callback) that
    appends time.perf_counter() to ``stamps`` at the end of every epoch."""

    class EpochClock(callback_base):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            stamps.append(time.perf_counter())

    return EpochClock()


@dataclass
class Headline:
    """One row of the report's summary table: a measure of one workload, the median value
    per framework at one thread count, accuracy where the workload has one, and the target."""

    workload: str
    measure: str
    unit: str
    higher_is_better: bool
    threads: int
    values: dict[str, float]  # framework -> median value (dropnet first)
    accuracy: dict[str, str] = field(default_factory=dict)  # framework -> formatted accuracy
    target: str = ""  # the goal in words, e.g. ">= 20x PyTorch"
    met: bool | None = None  # None: no target, or not measurable in this run
    note: str = ""
    fraction: float | None = None  # dropnet's figure as a share of a limit (fraction_of)
    fraction_of: str = ""  # e.g. "memcpy bandwidth", "best peer's sgemm"
    target_fraction: float | None = None  # the share of that limit aimed for

    def advantage(self, peer: str) -> float | None:
        """How many times better dropnet is than `peer` (> 1: dropnet faster or higher)."""
        ours, theirs = self.values.get("dropnet"), self.values.get(peer)
        if not ours or not theirs:
            return None
        return ours / theirs if self.higher_is_better else theirs / ours

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__}


def record_values(
    runs: list[dict[str, Any]], case: str, framework: str, threads: int, key: str
) -> list[float]:
    """Every value of record field `key` (list fields flattened) for one case, framework
    and thread count, over the repeats."""
    out: list[float] = []
    for run in runs:
        if run["framework"] != framework or run["threads"] != threads:
            continue
        for rec in run.get("records", []):
            if rec["case"] == case and rec.get(key) is not None:
                value = rec[key]
                out.extend(value if isinstance(value, list) else [value])
    return out


def accuracy_by_framework(
    runs: list[dict[str, Any]], case: str, threads: int, key: str, frameworks: list[str]
) -> dict[str, str]:
    """framework -> mean of `key` over the repeats, as a percentage."""
    out: dict[str, str] = {}
    for fw in frameworks:
        values = record_values(runs, case, fw, threads, key)
        if values:
            out[fw] = f"{100.0 * statistics.fmean(values):.1f}%"
    return out


def default_headlines(workload: str, summary: list[dict[str, Any]]) -> list[Headline]:
    """One Headline per case, at the largest thread count measured for it."""
    top: dict[str, int] = {}
    for s in summary:
        top[s["case"]] = max(top.get(s["case"], 0), s["threads"])
    rows: dict[str, Headline] = {}
    for s in summary:
        if s["threads"] != top[s["case"]]:
            continue
        row = rows.setdefault(
            s["case"],
            Headline(workload, s["case"], s["unit"], s["higher_is_better"], s["threads"], {}),
        )
        row.values[s["framework"]] = s["value_median"]
    for row in rows.values():  # dropnet first, then the peers in the order measured
        row.values = dict(sorted(row.values.items(), key=lambda kv: kv[0] != "dropnet"))
    return list(rows.values())


class Workload(ABC):
    name: str = ""
    description: str = ""
    frameworks: tuple[str, ...] = ()  # first one is dropnet; the rest are peers

    def default_threads(self, cores: int) -> tuple[int, ...]:
        return (cores,)

    def unavailable(self) -> str | None:
        """Why this workload cannot run here (missing data, say), or None."""
        return None

    @abstractmethod
    def plan(self, opts: Options, frameworks: list[str], threads: tuple[int, ...]) -> list[Job]:
        """The jobs of one repeat, in run order (frameworks interleaved innermost)."""

    @abstractmethod
    def run(self, framework: str, threads: int, params: dict[str, Any]) -> dict[str, Any]:
        """Child side. Returns {"records": [{"case": str, "seconds": float, ...}], "info": {...}}.
        `seconds` is the per-unit time the table reports (per epoch, per call, ...)."""

    @abstractmethod
    def metric(self, case: str) -> Metric:
        """How the seconds of `case` are displayed."""

    def extra_report(
        self, summary: list[dict[str, Any]], runs: list[dict[str, Any]]
    ) -> tuple[str, dict[str, Any]]:
        """Workload-specific text printed after the main table, plus data for the JSON."""
        return "", {}

    def headlines(
        self, summary: list[dict[str, Any]], details: dict[str, Any], runs: list[dict[str, Any]]
    ) -> list[Headline]:
        """The rows this workload contributes to the report's summary table; `details` is
        the data extra_report returned, `runs` the raw results."""
        return default_headlines(self.name, summary)

    def figures(
        self, details: dict[str, Any], runs: list[dict[str, Any]], prefix: str
    ) -> list[str]:
        """Workload-specific figures written next to the report (paths start with prefix)."""
        return []
