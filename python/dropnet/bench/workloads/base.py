"""The contract every workload fulfils: which jobs one repeat consists of (planned in the
parent), what a job measures for one framework (inside that framework's worker, through its
adapter in ``..frameworks``), and how the results read: the table's metric, the report's
headline rows, extra tables and figures. Also the helpers the workloads share for that."""

from __future__ import annotations

import statistics
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable

from .. import frameworks

Records = list[dict[str, Any]]  # a job's records, or those of a group
Runs = list[dict[str, Any]]  # the results of a workload's jobs, each with its records
Summary = list[dict[str, Any]]  # per (case, framework, threads): medians, ranges, ratios
Details = dict[str, Any]  # what a workload's extra_report adds to its JSON file


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
    """One worker run: a framework measuring one or more cases on a thread count."""

    framework: str
    threads: int
    params: dict[str, Any]
    label: str = ""  # short text for progress lines


@dataclass(frozen=True)
class Metric:
    """How a case's measured seconds are shown: value = to_value(seconds), in `unit`."""

    name: str
    unit: str
    to_value: Callable[[float], float]
    higher_is_better: bool = False


def throughput(unit: str, name: str = "throughput") -> Metric:
    """Seconds per item shown as items per second."""
    return Metric(name, unit, lambda s: 1.0 / s, higher_is_better=True)


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

    def add_accuracy(self, runs: Runs, key: str, frameworks: list[str] | None = None) -> None:
        """Accuracy per framework (default: every one in the row): the mean of record field
        `key` (list fields flattened) over the repeats of this row's case, as a percentage.
        Call it while `measure` is still the case name."""
        at = [r for r in runs if r["threads"] == self.threads]
        for fw in list(self.values) if frameworks is None else frameworks:
            recs = grouped([r for r in at if r["framework"] == fw], "case").get((self.measure,), [])
            values = [
                v
                for rec in recs
                if rec.get(key) is not None
                for v in (rec[key] if isinstance(rec[key], list) else [rec[key]])
            ]
            if values:
                self.accuracy[fw] = f"{100.0 * statistics.fmean(values):.1f}%"

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__}


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


def grouped(runs: Runs, *keys: str) -> dict[tuple[Any, ...], Records]:
    """Every record of the runs, grouped by `keys`: record fields, or the run's own
    (framework, threads) for keys the record does not have; groups in order of appearance."""
    out: dict[tuple[Any, ...], Records] = {}
    for run in runs:
        for rec in run.get("records", []):
            out.setdefault(tuple(rec[k] if k in rec else run[k] for k in keys), []).append(rec)
    return out


def median(records: Records, key: str) -> float:
    """The median of one field over records."""
    return statistics.median(r[key] for r in records)


def medians(summary: Summary) -> dict[tuple[str, str, int], float]:
    """(case, framework, threads) -> the median value of a workload's summary."""
    return {(s["case"], s["framework"], s["threads"]): s["value_median"] for s in summary}


def default_headlines(workload: str, summary: Summary) -> list[Headline]:
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
    # Frameworks whose runs record only their versions (no thread settings), or None: the
    # runs record no framework facts at all.
    brief_info: tuple[str, ...] | None = ()

    def default_threads(self, cores: int) -> tuple[int, ...]:
        return (cores,)

    def unavailable(self) -> str | None:
        """Why this workload cannot run here (missing data, say), or None."""
        return None

    @abstractmethod
    def plan(self, opts: Options, frameworks: list[str], threads: tuple[int, ...]) -> list[Job]:
        """The jobs of one repeat, in run order (frameworks interleaved innermost)."""

    def jobs(
        self,
        frameworks: list[str],
        threads: tuple[int, ...],
        job: Callable[[str], tuple[dict[str, Any], str]],
    ) -> list[Job]:
        """One job per thread count and framework (frameworks innermost); `job(framework)`
        gives its parameters and label."""
        return [Job(fw, t, *job(fw)) for t in threads for fw in frameworks]

    def run(self, framework: str, threads: int, params: dict[str, Any]) -> dict[str, Any]:
        """Worker side: {"records": [{"case": str, "seconds": float, ...}], "info": {...}}.
        `seconds` is the per-unit time the table reports (per epoch, per call, ...)."""
        fw = frameworks.load(framework)
        out: dict[str, Any] = {"records": self.measure(fw, threads, params)}
        if self.brief_info is not None:
            out["info"] = {**fw.info(brief=framework in self.brief_info), **self.facts(fw)}
        return out

    @abstractmethod
    def measure(self, fw: ModuleType, threads: int, params: dict[str, Any]) -> Records:
        """The records of one job, measured with the framework's adapter `fw`."""

    def facts(self, fw: ModuleType) -> dict[str, Any]:
        """Workload-specific facts recorded with the framework's info after the job."""
        return {}

    @abstractmethod
    def metric(self, case: str) -> Metric:
        """How the seconds of `case` are displayed."""

    def extra_report(self, summary: Summary, runs: Runs) -> tuple[str, Details]:
        """Workload-specific text printed after the main table, plus data for the JSON."""
        return "", {}

    def headlines(self, summary: Summary, details: Details, runs: Runs) -> list[Headline]:
        """The rows this workload contributes to the report's summary table; `details` is
        the data extra_report returned, `runs` the raw results."""
        return default_headlines(self.name, summary)

    def figures(self, details: Details, runs: Runs, prefix: str) -> list[str]:
        """Workload-specific figures written next to the report (paths start with prefix)."""
        return []
